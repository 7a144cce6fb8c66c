//! Events: what a smart-home skill sends to Alexa, as a directive's answer or on its own
//! through the Event Gateway.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;

use super::directive::Directive;
use super::discovery::DiscoveryEndpoint;
use super::error::ErrorPayload;
use super::header::{Empty, EventEndpoint, Header, Scope};
use super::interfaces::OpenPayload;
use super::property::Property;
use crate::timestamp;
use crate::wire_enum::wire_enum;

/// A whole event message: `{"event": {...}, "context"?: {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    /// The event.
    pub event: Event,
    /// The endpoint's current state, for responses, state reports and change reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

/// `context`: the state of the endpoint the event is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Every property the endpoint reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<Property>>,
}

/// An event: header, optional endpoint, and a payload typed by namespace and name.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Namespace, name, message id and correlation token.
    pub header: Header,
    /// The endpoint the event is about.
    pub endpoint: Option<EventEndpoint>,
    /// The payload.
    pub payload: EventPayload,
}

wire_enum! {
    /// Why a property changed or an event happened.
    CauseType {
        AppInteraction = "APP_INTERACTION",
        PhysicalInteraction = "PHYSICAL_INTERACTION",
        PeriodicPoll = "PERIODIC_POLL",
        RuleTrigger = "RULE_TRIGGER",
        VoiceInteraction = "VOICE_INTERACTION",
        InvalidCredentials = "INVALID_CREDENTIALS",
        SubscriptionExpired = "SUBSCRIPTION_EXPIRED",
    }
}

/// `{"type": CAUSE}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The cause.
    #[serde(rename = "type")]
    pub kind: CauseType,
}

/// Payload of `DoorbellPress`, `ActivationStarted` and `DeactivationStarted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampedCause {
    /// What caused it.
    pub cause: Cause,
    /// When, in UTC; `DoorbellPress` allows no fractional seconds.
    pub timestamp: String,
}

/// Payload of `Alexa.ChangeReport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeReportPayload {
    /// The change.
    pub change: Change,
}

/// What changed and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Why it changed.
    pub cause: Cause,
    /// The properties that changed; unchanged ones go in `context`.
    pub properties: Vec<Property>,
}

/// Payload of `Alexa.DeferredResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeferredResponsePayload {
    /// How long until the real response arrives through the Event Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_deferral_in_seconds: Option<u32>,
}

/// Payload of `Discover.Response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoverResponsePayload {
    /// The user's endpoints, at most 300.
    pub endpoints: Vec<DiscoveryEndpoint>,
}

/// Payload of `AddOrUpdateReport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddOrUpdateReportPayload {
    /// New or changed endpoints, at most 300.
    pub endpoints: Vec<DiscoveryEndpoint>,
    /// The user's LWA token.
    pub scope: Scope,
}

/// Payload of `DeleteReport`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReportPayload {
    /// The endpoints that are gone.
    pub endpoints: Vec<DeletedEndpoint>,
    /// The user's LWA token.
    pub scope: Scope,
}

/// An endpoint removed by `DeleteReport`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedEndpoint {
    /// Its id.
    pub endpoint_id: String,
}

/// An event's payload, typed by (namespace, name). `Unknown` keeps anything else as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    /// `Alexa.Response`.
    Response(OpenPayload),
    /// `Alexa.CameraStreamController.Response`: the streams.
    CameraStreamsResponse(OpenPayload),
    /// `Alexa.StateReport`.
    StateReport(OpenPayload),
    /// `Alexa.ChangeReport`.
    ChangeReport(ChangeReportPayload),
    /// `Alexa.DeferredResponse`.
    DeferredResponse(DeferredResponsePayload),
    /// `ErrorResponse` of `Alexa` or of an interface.
    ErrorResponse(ErrorPayload),
    /// `Alexa.Authorization.AcceptGrant.Response`.
    AcceptGrantResponse(Empty),
    /// `Alexa.Discovery.Discover.Response`.
    DiscoverResponse(DiscoverResponsePayload),
    /// `Alexa.Discovery.AddOrUpdateReport`.
    AddOrUpdateReport(AddOrUpdateReportPayload),
    /// `Alexa.Discovery.DeleteReport`.
    DeleteReport(DeleteReportPayload),
    /// `Alexa.DoorbellEventSource.DoorbellPress`.
    DoorbellPress(TimestampedCause),
    /// `Alexa.SceneController.ActivationStarted`.
    ActivationStarted(TimestampedCause),
    /// `Alexa.SceneController.DeactivationStarted`.
    DeactivationStarted(TimestampedCause),
    /// An event this version does not know.
    Unknown(Value),
}

/// Namespaces whose `ErrorResponse` this version knows.
const ERROR_NAMESPACES: &[&str] = &[
    "Alexa",
    "Alexa.Authorization",
    "Alexa.ThermostatController",
    "Alexa.SecurityPanelController",
    "Alexa.Cooking",
];

impl EventPayload {
    /// Every (namespace, name) pair this version knows.
    pub const KNOWN: &'static [(&'static str, &'static str)] = &[
        ("Alexa", "Response"),
        ("Alexa.CameraStreamController", "Response"),
        ("Alexa", "StateReport"),
        ("Alexa", "ChangeReport"),
        ("Alexa", "DeferredResponse"),
        ("Alexa", "ErrorResponse"),
        ("Alexa.Authorization", "ErrorResponse"),
        ("Alexa.ThermostatController", "ErrorResponse"),
        ("Alexa.SecurityPanelController", "ErrorResponse"),
        ("Alexa.Cooking", "ErrorResponse"),
        ("Alexa.Authorization", "AcceptGrant.Response"),
        ("Alexa.Discovery", "Discover.Response"),
        ("Alexa.Discovery", "AddOrUpdateReport"),
        ("Alexa.Discovery", "DeleteReport"),
        ("Alexa.DoorbellEventSource", "DoorbellPress"),
        ("Alexa.SceneController", "ActivationStarted"),
        ("Alexa.SceneController", "DeactivationStarted"),
    ];

    /// Whether `namespace.name` is an event this version knows.
    pub fn is_known(namespace: &str, name: &str) -> bool {
        Self::KNOWN.contains(&(namespace, name))
    }

    /// Reads the payload of the event `namespace.name`.
    pub fn from_parts(namespace: &str, name: &str, payload: Value) -> Result<Self, serde_json::Error> {
        use serde_json::from_value as v;
        Ok(match (namespace, name) {
            ("Alexa", "Response") => Self::Response(v(payload)?),
            ("Alexa.CameraStreamController", "Response") => Self::CameraStreamsResponse(v(payload)?),
            ("Alexa", "StateReport") => Self::StateReport(v(payload)?),
            ("Alexa", "ChangeReport") => Self::ChangeReport(v(payload)?),
            ("Alexa", "DeferredResponse") => Self::DeferredResponse(v(payload)?),
            (ns, "ErrorResponse") if ERROR_NAMESPACES.contains(&ns) => Self::ErrorResponse(v(payload)?),
            ("Alexa.Authorization", "AcceptGrant.Response") => Self::AcceptGrantResponse(v(payload)?),
            ("Alexa.Discovery", "Discover.Response") => Self::DiscoverResponse(v(payload)?),
            ("Alexa.Discovery", "AddOrUpdateReport") => Self::AddOrUpdateReport(v(payload)?),
            ("Alexa.Discovery", "DeleteReport") => Self::DeleteReport(v(payload)?),
            ("Alexa.DoorbellEventSource", "DoorbellPress") => Self::DoorbellPress(v(payload)?),
            ("Alexa.SceneController", "ActivationStarted") => Self::ActivationStarted(v(payload)?),
            ("Alexa.SceneController", "DeactivationStarted") => Self::DeactivationStarted(v(payload)?),
            _ => Self::Unknown(payload),
        })
    }
}

impl Serialize for EventPayload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Response(p) | Self::CameraStreamsResponse(p) | Self::StateReport(p) => p.serialize(s),
            Self::ChangeReport(p) => p.serialize(s),
            Self::DeferredResponse(p) => p.serialize(s),
            Self::ErrorResponse(p) => p.serialize(s),
            Self::AcceptGrantResponse(p) => p.serialize(s),
            Self::DiscoverResponse(p) => p.serialize(s),
            Self::AddOrUpdateReport(p) => p.serialize(s),
            Self::DeleteReport(p) => p.serialize(s),
            Self::DoorbellPress(p) | Self::ActivationStarted(p) | Self::DeactivationStarted(p) => {
                p.serialize(s)
            }
            Self::Unknown(v) => v.serialize(s),
        }
    }
}

#[derive(Serialize)]
struct EventRef<'a> {
    header: &'a Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a EventEndpoint>,
    payload: &'a EventPayload,
}

#[derive(Deserialize)]
struct EventRaw {
    header: Header,
    #[serde(default)]
    endpoint: Option<EventEndpoint>,
    payload: Value,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EventRef {
            header: &self.header,
            endpoint: self.endpoint.as_ref(),
            payload: &self.payload,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = EventRaw::deserialize(d)?;
        let payload = EventPayload::from_parts(&raw.header.namespace, &raw.header.name, raw.payload)
            .map_err(|e| {
                D::Error::custom(format_args!(
                    "payload of {}.{}: {e}",
                    raw.header.namespace, raw.header.name
                ))
            })?;
        Ok(Event {
            header: raw.header,
            endpoint: raw.endpoint,
            payload,
        })
    }
}

/// Builders for the events a skill sends most.
impl EventMessage {
    fn answer(directive: &Directive, namespace: &str, name: &str, payload: EventPayload) -> Self {
        EventMessage {
            event: Event {
                header: Header::new(namespace, name)
                    .with_correlation_token(directive.header.correlation_token.clone()),
                endpoint: directive.endpoint.as_ref().map(|e| EventEndpoint {
                    scope: None,
                    endpoint_id: e.endpoint_id.clone(),
                    cookie: None,
                }),
                payload,
            },
            context: None,
        }
    }

    /// `Alexa.Response` to a directive, with the endpoint's properties in `context`.
    pub fn response(directive: &Directive, properties: Vec<Property>) -> Self {
        let mut m = Self::answer(
            directive,
            "Alexa",
            "Response",
            EventPayload::Response(OpenPayload::new()),
        );
        m.context = Some(Context {
            properties: Some(properties),
        });
        m
    }

    /// `Alexa.StateReport` answering `ReportState`.
    pub fn state_report(directive: &Directive, properties: Vec<Property>) -> Self {
        let mut m = Self::answer(
            directive,
            "Alexa",
            "StateReport",
            EventPayload::StateReport(OpenPayload::new()),
        );
        m.context = Some(Context {
            properties: Some(properties),
        });
        m
    }

    /// `ErrorResponse` to a directive, in the namespace the error type belongs to.
    pub fn error(directive: &Directive, error: ErrorPayload) -> Self {
        let namespace = error.kind.namespace();
        Self::answer(
            directive,
            namespace,
            "ErrorResponse",
            EventPayload::ErrorResponse(error),
        )
    }

    /// `Alexa.DeferredResponse`: the real answer follows through the Event Gateway.
    pub fn deferred(directive: &Directive, estimated_seconds: Option<u32>) -> Self {
        let mut m = Self::answer(
            directive,
            "Alexa",
            "DeferredResponse",
            EventPayload::DeferredResponse(DeferredResponsePayload {
                estimated_deferral_in_seconds: estimated_seconds,
            }),
        );
        m.event.endpoint = None;
        m
    }

    /// `AcceptGrant.Response`.
    pub fn accept_grant_response(directive: &Directive) -> Self {
        Self::answer(
            directive,
            "Alexa.Authorization",
            "AcceptGrant.Response",
            EventPayload::AcceptGrantResponse(Empty {}),
        )
    }

    /// `Discover.Response` listing `endpoints`.
    pub fn discover_response(endpoints: Vec<DiscoveryEndpoint>) -> Self {
        EventMessage {
            event: Event {
                header: Header::new("Alexa.Discovery", "Discover.Response"),
                endpoint: None,
                payload: EventPayload::DiscoverResponse(DiscoverResponsePayload { endpoints }),
            },
            context: None,
        }
    }

    /// `AddOrUpdateReport` for the Event Gateway.
    pub fn add_or_update_report(endpoints: Vec<DiscoveryEndpoint>, lwa_token: impl Into<String>) -> Self {
        EventMessage {
            event: Event {
                header: Header::new("Alexa.Discovery", "AddOrUpdateReport"),
                endpoint: None,
                payload: EventPayload::AddOrUpdateReport(AddOrUpdateReportPayload {
                    endpoints,
                    scope: Scope::bearer(lwa_token),
                }),
            },
            context: None,
        }
    }

    /// `DeleteReport` for the Event Gateway.
    pub fn delete_report(
        endpoint_ids: impl IntoIterator<Item = String>,
        lwa_token: impl Into<String>,
    ) -> Self {
        EventMessage {
            event: Event {
                header: Header::new("Alexa.Discovery", "DeleteReport"),
                endpoint: None,
                payload: EventPayload::DeleteReport(DeleteReportPayload {
                    endpoints: endpoint_ids
                        .into_iter()
                        .map(|endpoint_id| DeletedEndpoint { endpoint_id })
                        .collect(),
                    scope: Scope::bearer(lwa_token),
                }),
            },
            context: None,
        }
    }

    /// `DoorbellPress` for the Event Gateway: a physical press at `at`, on behalf of the
    /// user whose LWA token is `lwa_token`.
    pub fn doorbell_press(
        endpoint_id: impl Into<String>,
        lwa_token: impl Into<String>,
        at: OffsetDateTime,
    ) -> Self {
        EventMessage {
            event: Event {
                header: Header::new("Alexa.DoorbellEventSource", "DoorbellPress"),
                endpoint: Some(EventEndpoint::new(endpoint_id, Some(lwa_token.into()))),
                payload: EventPayload::DoorbellPress(TimestampedCause {
                    cause: Cause {
                        kind: CauseType::PhysicalInteraction,
                    },
                    timestamp: timestamp::seconds(at),
                }),
            },
            context: Some(Context::default()),
        }
    }

    /// `Alexa.ChangeReport` for the Event Gateway: `changed` properties and why, with the
    /// endpoint's other properties in `context`.
    pub fn change_report(
        endpoint_id: impl Into<String>,
        lwa_token: impl Into<String>,
        cause: CauseType,
        changed: Vec<Property>,
        unchanged: Vec<Property>,
    ) -> Self {
        EventMessage {
            event: Event {
                header: Header::new("Alexa", "ChangeReport"),
                endpoint: Some(EventEndpoint::new(endpoint_id, Some(lwa_token.into()))),
                payload: EventPayload::ChangeReport(ChangeReportPayload {
                    change: Change {
                        cause: Cause { kind: cause },
                        properties: changed,
                    },
                }),
            },
            context: Some(Context {
                properties: Some(unchanged),
            }),
        }
    }

    /// The same message with its scope set to `token`, the user's LWA token, which the Event
    /// Gateway wants in the body too: the endpoint's scope, or the payload's for
    /// `AddOrUpdateReport` and `DeleteReport`.
    pub fn with_scope_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        match &mut self.event.payload {
            EventPayload::AddOrUpdateReport(p) => p.scope = Scope::bearer(token),
            EventPayload::DeleteReport(p) => p.scope = Scope::bearer(token),
            _ => {
                if let Some(e) = self.event.endpoint.as_mut() {
                    e.scope = Some(Scope::bearer(token));
                }
            }
        }
        self
    }
}

/// How a message stored with an empty scope token serializes its scope.
const EMPTY_SCOPE: &str = r#""scope":{"type":"BearerToken","token":""}"#;

/// The serialized message `stored` (written with an empty scope token, as the outbox keeps
/// events) with its scope token set to `token`, without parsing the message again: what
/// [`EventMessage::with_scope_token`] and serializing give, for a fraction of the work on the
/// delivery path. `None` unless the empty scope is found exactly once (outside strings, where
/// quotes are escaped, it can only be the scope itself); parse the message then.
pub fn splice_scope_token(stored: &str, token: &str) -> Option<Vec<u8>> {
    let at = stored.find(EMPTY_SCOPE)?;
    let after = at + EMPTY_SCOPE.len();
    if stored[after..].contains(EMPTY_SCOPE) {
        return None;
    }
    let quoted = serde_json::to_string(token).ok()?;
    let mut out = Vec::with_capacity(stored.len() + quoted.len());
    // Up to the token's empty string, then the token, quoted and escaped as JSON.
    out.extend_from_slice(&stored.as_bytes()[..after - 3]);
    out.extend_from_slice(quoted.as_bytes());
    out.extend_from_slice(&stored.as_bytes()[after - 1..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smarthome::{DirectiveMessage, ErrorType};
    use serde_json::json;
    use time::macros::datetime;

    fn directive() -> Directive {
        serde_json::from_value::<DirectiveMessage>(json!({"directive": {
            "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "payloadVersion": "3",
                       "messageId": "m-1", "correlationToken": "corr"},
            "endpoint": {"scope": {"type": "BearerToken", "token": "tok"}, "endpointId": "lamp"},
            "payload": {}
        }}))
        .unwrap()
        .directive
    }

    #[test]
    fn answers_echo_the_correlation_token() {
        let r = EventMessage::response(&directive(), vec![]);
        assert_eq!(r.event.header.correlation_token.as_deref(), Some("corr"));
        assert_eq!(r.event.endpoint.as_ref().unwrap().endpoint_id, "lamp");
        let e = EventMessage::error(
            &directive(),
            ErrorPayload::new(ErrorType::AcceptGrantFailed, "no"),
        );
        assert_eq!(e.event.header.namespace, "Alexa.Authorization");
    }

    #[test]
    fn the_scope_token_goes_where_each_event_carries_it() {
        let add = EventMessage::add_or_update_report(vec![], "").with_scope_token("Atza|a");
        let v = serde_json::to_value(&add).unwrap();
        assert_eq!(v["event"]["payload"]["scope"]["token"], "Atza|a");
        let gone = EventMessage::delete_report(["x".to_owned()], "").with_scope_token("Atza|d");
        let v = serde_json::to_value(&gone).unwrap();
        assert_eq!(v["event"]["payload"]["scope"]["token"], "Atza|d");
        let press = EventMessage::doorbell_press("door", "", datetime!(2026-01-02 03:04:05 UTC))
            .with_scope_token("Atza|p");
        assert_eq!(
            serde_json::to_value(&press).unwrap()["event"]["endpoint"]["scope"]["token"],
            "Atza|p"
        );
    }

    #[test]
    fn doorbell_press_has_a_whole_second_timestamp() {
        let m = EventMessage::doorbell_press("door", "Atza|x", datetime!(2026-01-02 03:04:05.678 UTC));
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["event"]["payload"]["timestamp"], "2026-01-02T03:04:05Z");
        assert_eq!(v["event"]["payload"]["cause"]["type"], "PHYSICAL_INTERACTION");
        assert_eq!(v["event"]["endpoint"]["scope"]["token"], "Atza|x");
    }

    #[test]
    fn a_token_spliced_into_a_stored_event_is_what_parsing_gives() {
        let at = datetime!(2026-12-07 10:00:00 UTC);
        let token = "Atza|IwEB\"odd\\token";
        let press = EventMessage::doorbell_press("front-door", "", at);
        let stored = serde_json::to_string(&press).unwrap();
        let spliced: serde_json::Value =
            serde_json::from_slice(&splice_scope_token(&stored, token).unwrap()).unwrap();
        let parsed = serde_json::to_value(press.with_scope_token(token)).unwrap();
        assert_eq!(spliced, parsed);
        // A message whose scope is not empty, or not found once, is left to parsing.
        let set = serde_json::to_string(&EventMessage::doorbell_press("d", "tok", at)).unwrap();
        assert_eq!(splice_scope_token(&set, token), None);
        let twice = format!("[{stored},{stored}]");
        assert_eq!(splice_scope_token(&twice, token), None);
    }
}
