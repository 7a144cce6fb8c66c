//! Directives: what Alexa sends to a smart-home skill.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::header::{DirectiveEndpoint, Empty, Header};
use super::interfaces::*;

/// A whole directive message: `{"directive": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectiveMessage {
    /// The directive.
    pub directive: Directive,
}

/// A directive: header, optional endpoint, and a payload typed by the header's namespace and
/// name.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    /// Namespace, name, message id, correlation token.
    pub header: Header,
    /// The target endpoint; absent for `Discover` and `AcceptGrant`.
    pub endpoint: Option<DirectiveEndpoint>,
    /// The payload.
    pub payload: DirectivePayload,
}

impl Directive {
    /// The linked user's bearer token, wherever this directive carries it: the endpoint's
    /// scope, `Discover`'s payload scope, or `AcceptGrant`'s grantee.
    pub fn bearer_token(&self) -> Option<&str> {
        match &self.payload {
            DirectivePayload::Discover(p) => Some(p.scope.token.as_str()),
            DirectivePayload::AcceptGrant(p) => Some(p.grantee.token.as_str()),
            _ => self
                .endpoint
                .as_ref()
                .and_then(|e| e.scope.as_ref())
                .map(|s| s.token.as_str()),
        }
    }

    /// The endpoint id, when the directive targets one.
    pub fn endpoint_id(&self) -> Option<&str> {
        self.endpoint.as_ref().map(|e| e.endpoint_id.as_str())
    }
}

macro_rules! directive_payloads {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $ns:literal / $name:literal; )*) => {
        /// A directive's payload, typed by (namespace, name). `Unknown` keeps any other
        /// directive's payload as sent.
        #[derive(Debug, Clone, PartialEq)]
        pub enum DirectivePayload {
            $( $(#[$doc])* #[doc = concat!("`", $ns, ".", $name, "`")] $variant($ty), )*
            /// A directive this version does not know.
            Unknown(Value),
        }

        impl DirectivePayload {
            /// Every (namespace, name) pair this version knows.
            pub const KNOWN: &'static [(&'static str, &'static str)] = &[ $( ($ns, $name), )* ];

            /// Reads the payload of the directive `namespace.name`.
            pub fn from_parts(namespace: &str, name: &str, payload: Value) -> Result<Self, serde_json::Error> {
                Ok(match (namespace, name) {
                    $( ($ns, $name) => Self::$variant(serde_json::from_value(payload)?), )*
                    _ => Self::Unknown(payload),
                })
            }

            /// The (namespace, name) this payload belongs to; `None` for `Unknown`.
            pub fn kind(&self) -> Option<(&'static str, &'static str)> {
                match self {
                    $( Self::$variant(_) => Some(($ns, $name)), )*
                    Self::Unknown(_) => None,
                }
            }

            /// Whether `namespace.name` is a directive this version knows.
            pub fn is_known(namespace: &str, name: &str) -> bool {
                Self::KNOWN.contains(&(namespace, name))
            }
        }

        impl Serialize for DirectivePayload {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$variant(p) => p.serialize(s), )*
                    Self::Unknown(v) => v.serialize(s),
                }
            }
        }
    };
}

directive_payloads! {
    ReportState(Empty) = "Alexa" / "ReportState";
    Discover(DiscoverPayload) = "Alexa.Discovery" / "Discover";
    AcceptGrant(AcceptGrantPayload) = "Alexa.Authorization" / "AcceptGrant";
    TurnOn(Empty) = "Alexa.PowerController" / "TurnOn";
    TurnOff(Empty) = "Alexa.PowerController" / "TurnOff";
    SetBrightness(SetBrightness) = "Alexa.BrightnessController" / "SetBrightness";
    AdjustBrightness(AdjustBrightness) = "Alexa.BrightnessController" / "AdjustBrightness";
    InitializeCameraStreams(InitializeCameraStreams) = "Alexa.CameraStreamController" / "InitializeCameraStreams";
    ChangeChannel(ChangeChannel) = "Alexa.ChannelController" / "ChangeChannel";
    SkipChannels(SkipChannels) = "Alexa.ChannelController" / "SkipChannels";
    SetColor(SetColor) = "Alexa.ColorController" / "SetColor";
    SetColorTemperature(SetColorTemperature) = "Alexa.ColorTemperatureController" / "SetColorTemperature";
    IncreaseColorTemperature(Empty) = "Alexa.ColorTemperatureController" / "IncreaseColorTemperature";
    DecreaseColorTemperature(Empty) = "Alexa.ColorTemperatureController" / "DecreaseColorTemperature";
    SelectInput(SelectInput) = "Alexa.InputController" / "SelectInput";
    Lock(Empty) = "Alexa.LockController" / "Lock";
    Unlock(Empty) = "Alexa.LockController" / "Unlock";
    SetPercentage(SetPercentage) = "Alexa.PercentageController" / "SetPercentage";
    AdjustPercentage(AdjustPercentage) = "Alexa.PercentageController" / "AdjustPercentage";
    Play(Empty) = "Alexa.PlaybackController" / "Play";
    Pause(Empty) = "Alexa.PlaybackController" / "Pause";
    Stop(Empty) = "Alexa.PlaybackController" / "Stop";
    Next(Empty) = "Alexa.PlaybackController" / "Next";
    Previous(Empty) = "Alexa.PlaybackController" / "Previous";
    Rewind(Empty) = "Alexa.PlaybackController" / "Rewind";
    FastForward(Empty) = "Alexa.PlaybackController" / "FastForward";
    StartOver(Empty) = "Alexa.PlaybackController" / "StartOver";
    SetPowerLevel(SetPowerLevel) = "Alexa.PowerLevelController" / "SetPowerLevel";
    AdjustPowerLevel(AdjustPowerLevel) = "Alexa.PowerLevelController" / "AdjustPowerLevel";
    Activate(Empty) = "Alexa.SceneController" / "Activate";
    Deactivate(Empty) = "Alexa.SceneController" / "Deactivate";
    SetVolume(SetVolume) = "Alexa.Speaker" / "SetVolume";
    AdjustVolume(AdjustVolume) = "Alexa.Speaker" / "AdjustVolume";
    SetMute(SetMute) = "Alexa.Speaker" / "SetMute";
    StepSpeakerAdjustVolume(AdjustVolumeSteps) = "Alexa.StepSpeaker" / "AdjustVolume";
    StepSpeakerSetMute(SetMute) = "Alexa.StepSpeaker" / "SetMute";
    SetTargetTemperature(SetTargetTemperature) = "Alexa.ThermostatController" / "SetTargetTemperature";
    AdjustTargetTemperature(AdjustTargetTemperature) = "Alexa.ThermostatController" / "AdjustTargetTemperature";
    SetThermostatMode(SetThermostatMode) = "Alexa.ThermostatController" / "SetThermostatMode";
    ResumeSchedule(OpenPayload) = "Alexa.ThermostatController" / "ResumeSchedule";
    SetRangeValue(SetRangeValue) = "Alexa.RangeController" / "SetRangeValue";
    AdjustRangeValue(AdjustRangeValue) = "Alexa.RangeController" / "AdjustRangeValue";
    SetMode(SetMode) = "Alexa.ModeController" / "SetMode";
    AdjustMode(AdjustMode) = "Alexa.ModeController" / "AdjustMode";
    ToggleTurnOn(Empty) = "Alexa.ToggleController" / "TurnOn";
    ToggleTurnOff(Empty) = "Alexa.ToggleController" / "TurnOff";
}

#[derive(Serialize)]
struct DirectiveRef<'a> {
    header: &'a Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a DirectiveEndpoint>,
    payload: &'a DirectivePayload,
}

#[derive(Deserialize)]
struct DirectiveRaw {
    header: Header,
    #[serde(default)]
    endpoint: Option<DirectiveEndpoint>,
    payload: Value,
}

impl Serialize for Directive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DirectiveRef {
            header: &self.header,
            endpoint: self.endpoint.as_ref(),
            payload: &self.payload,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Directive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = DirectiveRaw::deserialize(d)?;
        let payload = DirectivePayload::from_parts(&raw.header.namespace, &raw.header.name, raw.payload)
            .map_err(|e| {
                D::Error::custom(format_args!(
                    "payload of {}.{}: {e}",
                    raw.header.namespace, raw.header.name
                ))
            })?;
        Ok(Directive {
            header: raw.header,
            endpoint: raw.endpoint,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_by_namespace_and_name() {
        let m: DirectiveMessage = serde_json::from_value(json!({"directive": {
            "header": {"namespace": "Alexa.BrightnessController", "name": "SetBrightness",
                       "payloadVersion": "3", "messageId": "m-1", "correlationToken": "c"},
            "endpoint": {"scope": {"type": "BearerToken", "token": "tok"}, "endpointId": "light-1"},
            "payload": {"brightness": 40}
        }}))
        .unwrap();
        assert_eq!(
            m.directive.payload,
            DirectivePayload::SetBrightness(SetBrightness { brightness: 40 })
        );
        assert_eq!(m.directive.bearer_token(), Some("tok"));
        assert_eq!(m.directive.endpoint_id(), Some("light-1"));
    }

    #[test]
    fn unknown_directives_are_kept_raw() {
        let v = json!({"directive": {
            "header": {"namespace": "Alexa.Cooking", "name": "SetCookingMode",
                       "payloadVersion": "3", "messageId": "m-1"},
            "payload": {"cookingMode": {"value": "DEFROST"}}
        }});
        let m: DirectiveMessage = serde_json::from_value(v.clone()).unwrap();
        assert!(matches!(m.directive.payload, DirectivePayload::Unknown(_)));
        assert_eq!(serde_json::to_value(&m).unwrap(), v);
    }

    #[test]
    fn a_payload_of_the_wrong_shape_names_the_directive() {
        let err = serde_json::from_value::<DirectiveMessage>(json!({"directive": {
            "header": {"namespace": "Alexa.BrightnessController", "name": "SetBrightness",
                       "payloadVersion": "3", "messageId": "m-1"},
            "payload": {"brightness": "bright"}
        }}))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("Alexa.BrightnessController.SetBrightness"),
            "{err}"
        );
    }
}
