//! The custom-skill request envelope: what Alexa posts to a skill's endpoint.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use super::gadgets::{EventsReceived, Expired};

/// `{version, session?, context, request}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// `"1.0"`.
    pub version: String,
    /// Absent for out-of-session requests such as `Messaging.MessageReceived`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    /// The device, user and API access details.
    pub context: RequestContext,
    /// The request itself.
    pub request: Request,
}

impl RequestEnvelope {
    /// The skill id this request is for, from `context.System` (or the session).
    pub fn application_id(&self) -> &str {
        &self.context.system.application.application_id
    }

    /// The linked user's account-linking token, if the account is linked.
    pub fn access_token(&self) -> Option<&str> {
        self.context.system.user.access_token.as_deref()
    }
}

/// `context`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestContext {
    /// `context.System`.
    #[serde(rename = "System")]
    pub system: SystemState,
    /// Other context objects (`AudioPlayer`, `Viewport`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `context.System`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemState {
    /// The skill.
    pub application: Application,
    /// The Amazon user.
    pub user: User,
    /// The Echo device; absent for out-of-session requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    /// The recognised speaker, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
    /// Base URL of the Alexa APIs for this user's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// Token for the Alexa APIs during this request (valid about an hour; do not store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_access_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The skill: `{applicationId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `amzn1.ask.skill.…`.
    pub application_id: String,
}

/// The Amazon user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Per skill; changes when the skill is disabled and enabled again.
    pub user_id: String,
    /// The account-linking access token, when the account is linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// `{consentToken}` for permissions the user granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Value>,
}

/// The Echo device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Per skill and device.
    pub device_id: String,
    /// Interfaces the device supports, such as `AudioPlayer` or `CustomInterfaceController`.
    #[serde(default)]
    pub supported_interfaces: Map<String, Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A recognised speaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// Per skill.
    pub person_id: String,
    /// Person-level account-linking token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// `session`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// True on the first request of a session.
    pub new: bool,
    /// Stable for the session.
    pub session_id: String,
    /// The skill.
    pub application: Application,
    /// What the skill put in `sessionAttributes` last time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    /// The Amazon user.
    pub user: User,
}

/// The request: common fields and a body typed by `type`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Unique per request.
    pub request_id: String,
    /// When Alexa sent it; checked within 150 s by request verification.
    pub timestamp: String,
    /// Such as `en-US`; absent on some system requests.
    pub locale: Option<String>,
    /// The typed body.
    pub body: RequestBody,
}

/// A request's body by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    /// `LaunchRequest`: the user opened the skill with no intent.
    Launch {
        /// Fields this version does not model, such as `shouldLinkResultBeReturned`.
        extra: Map<String, Value>,
    },
    /// `IntentRequest`.
    Intent(IntentRequest),
    /// `SessionEndedRequest`.
    SessionEnded(SessionEndedRequest),
    /// `Messaging.MessageReceived`: a Skill Messaging API message.
    MessageReceived(MessageReceived),
    /// `CustomInterfaceController.EventsReceived`.
    EventsReceived(EventsReceived),
    /// `CustomInterfaceController.Expired`.
    Expired(Expired),
    /// Any other type, kept as sent.
    Other {
        /// The `type`.
        kind: String,
        /// Every other field.
        fields: Map<String, Value>,
    },
}

impl RequestBody {
    /// Request types this version models.
    pub const KNOWN: &'static [&'static str] = &[
        "LaunchRequest",
        "IntentRequest",
        "SessionEndedRequest",
        "Messaging.MessageReceived",
        "CustomInterfaceController.EventsReceived",
        "CustomInterfaceController.Expired",
    ];

    /// The `type` on the wire.
    pub fn kind(&self) -> &str {
        match self {
            Self::Launch { .. } => "LaunchRequest",
            Self::Intent(_) => "IntentRequest",
            Self::SessionEnded(_) => "SessionEndedRequest",
            Self::MessageReceived(_) => "Messaging.MessageReceived",
            Self::EventsReceived(_) => "CustomInterfaceController.EventsReceived",
            Self::Expired(_) => "CustomInterfaceController.Expired",
            Self::Other { kind, .. } => kind,
        }
    }
}

/// `IntentRequest` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentRequest {
    /// STARTED, IN_PROGRESS or COMPLETED, with a dialog model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialog_state: Option<String>,
    /// The intent and its slots.
    pub intent: Intent,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// Such as `AMAZON.HelpIntent` or the skill's own.
    pub name: String,
    /// NONE, CONFIRMED or DENIED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_status: Option<String>,
    /// Slots by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<BTreeMap<String, Slot>>,
}

impl Intent {
    /// The spoken value of slot `name`, if filled.
    pub fn slot_value(&self, name: &str) -> Option<&str> {
        self.slots.as_ref()?.get(name)?.value.as_deref()
    }
}

/// A slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// The slot name.
    pub name: String,
    /// What the user said, when filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// NONE, CONFIRMED or DENIED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_status: Option<String>,
    /// Entity resolution results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolutions: Option<Resolutions>,
    /// Multi-value slots and the like, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_value: Option<Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `resolutions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolutions {
    /// One entry per authority (the skill's slot type, dynamic entities).
    pub resolutions_per_authority: Vec<Resolution>,
}

/// One authority's resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    /// The authority, such as `amzn1.er-authority.echo-sdk.<skill>.<type>`.
    pub authority: String,
    /// `{code: ER_SUCCESS_MATCH | ER_SUCCESS_NO_MATCH | ER_ERROR_TIMEOUT | ...}`.
    pub status: Value,
    /// Matched values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<ResolutionValue>>,
}

/// `{value: {name, id}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolutionValue {
    /// The canonical value.
    pub value: Value,
}

/// `SessionEndedRequest` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEndedRequest {
    /// USER_INITIATED, ERROR or EXCEEDED_MAX_REPROMPTS.
    pub reason: String,
    /// What went wrong, when `reason` is ERROR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SessionEndedError>,
}

/// The error of a `SessionEndedRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEndedError {
    /// INVALID_RESPONSE, DEVICE_COMMUNICATION_ERROR, INTERNAL_SERVICE_ERROR, ENDPOINT_TIMEOUT.
    #[serde(rename = "type")]
    pub kind: String,
    /// A description.
    #[serde(default)]
    pub message: String,
}

/// `Messaging.MessageReceived` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageReceived {
    /// The `data` the sender gave the Skill Messaging API.
    pub message: Map<String, Value>,
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.body.kind().to_owned()));
        m.insert("requestId".into(), Value::String(self.request_id.clone()));
        m.insert("timestamp".into(), Value::String(self.timestamp.clone()));
        if let Some(l) = &self.locale {
            m.insert("locale".into(), Value::String(l.clone()));
        }
        let body = match &self.body {
            RequestBody::Launch { extra } => Value::Object(extra.clone()),
            RequestBody::Intent(b) => serde_json::to_value(b).map_err(serde::ser::Error::custom)?,
            RequestBody::SessionEnded(b) => serde_json::to_value(b).map_err(serde::ser::Error::custom)?,
            RequestBody::MessageReceived(b) => serde_json::to_value(b).map_err(serde::ser::Error::custom)?,
            RequestBody::EventsReceived(b) => serde_json::to_value(b).map_err(serde::ser::Error::custom)?,
            RequestBody::Expired(b) => serde_json::to_value(b).map_err(serde::ser::Error::custom)?,
            RequestBody::Other { fields, .. } => Value::Object(fields.clone()),
        };
        if let Value::Object(fields) = body {
            m.extend(fields);
        }
        m.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut m = Map::deserialize(d)?;
        let mut take_str = |key: &str| -> Result<Option<String>, D::Error> {
            match m.remove(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(D::Error::custom(format_args!("request.{key} must be a string"))),
            }
        };
        let kind = take_str("type")?.ok_or_else(|| D::Error::missing_field("type"))?;
        let request_id = take_str("requestId")?.ok_or_else(|| D::Error::missing_field("requestId"))?;
        let timestamp = take_str("timestamp")?.ok_or_else(|| D::Error::missing_field("timestamp"))?;
        let locale = take_str("locale")?;
        fn typed<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            kind: &str,
            rest: Map<String, Value>,
        ) -> Result<T, E> {
            serde_json::from_value(Value::Object(rest)).map_err(|e| E::custom(format_args!("{kind}: {e}")))
        }
        let body = match kind.as_str() {
            "LaunchRequest" => RequestBody::Launch { extra: m },
            "IntentRequest" => RequestBody::Intent(typed(&kind, m)?),
            "SessionEndedRequest" => RequestBody::SessionEnded(typed(&kind, m)?),
            "Messaging.MessageReceived" => RequestBody::MessageReceived(typed(&kind, m)?),
            "CustomInterfaceController.EventsReceived" => RequestBody::EventsReceived(typed(&kind, m)?),
            "CustomInterfaceController.Expired" => RequestBody::Expired(typed(&kind, m)?),
            _ => RequestBody::Other {
                kind: kind.clone(),
                fields: m,
            },
        };
        Ok(Request {
            request_id,
            timestamp,
            locale,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(request: Value) -> Value {
        json!({
            "version": "1.0",
            "session": {"new": true, "sessionId": "amzn1.echo-api.session.1",
                        "application": {"applicationId": "amzn1.ask.skill.1"},
                        "attributes": {"k": "v"},
                        "user": {"userId": "amzn1.ask.account.U", "accessToken": "link-token"}},
            "context": {"System": {
                "application": {"applicationId": "amzn1.ask.skill.1"},
                "user": {"userId": "amzn1.ask.account.U", "accessToken": "link-token"},
                "device": {"deviceId": "amzn1.ask.device.D",
                           "supportedInterfaces": {"CustomInterfaceController": {}}},
                "apiEndpoint": "https://api.amazonalexa.com",
                "apiAccessToken": "eyJ"},
                "Viewport": {"shape": "RECTANGLE"}},
            "request": request
        })
    }

    #[test]
    fn intent_request_with_slots_round_trips() {
        let v = envelope(json!({
            "type": "IntentRequest", "requestId": "r-1", "timestamp": "2026-11-23T10:00:00Z",
            "locale": "en-US", "dialogState": "STARTED",
            "intent": {"name": "AddItem", "confirmationStatus": "NONE", "slots": {
                "item": {"name": "item", "value": "milk", "confirmationStatus": "NONE",
                         "resolutions": {"resolutionsPerAuthority": [{
                             "authority": "amzn1.er-authority.echo-sdk.x.Item",
                             "status": {"code": "ER_SUCCESS_MATCH"},
                             "values": [{"value": {"name": "milk", "id": "MILK"}}]}]}}}}
        }));
        let e: RequestEnvelope = serde_json::from_value(v.clone()).unwrap();
        let RequestBody::Intent(i) = &e.request.body else {
            panic!("not an intent")
        };
        assert_eq!(i.intent.slot_value("item"), Some("milk"));
        assert_eq!(e.access_token(), Some("link-token"));
        assert_eq!(serde_json::to_value(&e).unwrap(), v);
    }

    #[test]
    fn unknown_request_types_are_kept() {
        let v = envelope(json!({"type": "AlexaSkillEvent.SkillEnabled", "requestId": "r",
                                 "timestamp": "2026-11-23T10:00:00Z", "eventCreationTime": "x"}));
        let e: RequestEnvelope = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(e.request.body.kind(), "AlexaSkillEvent.SkillEnabled");
        assert!(matches!(e.request.body, RequestBody::Other { .. }));
        assert_eq!(serde_json::to_value(&e).unwrap(), v);
    }

    #[test]
    fn session_ended_and_messages() {
        let v = envelope(
            json!({"type": "SessionEndedRequest", "requestId": "r", "timestamp": "t",
            "locale": "en-US", "reason": "ERROR",
            "error": {"type": "INVALID_RESPONSE", "message": "bad"}}),
        );
        let e: RequestEnvelope = serde_json::from_value(v).unwrap();
        let RequestBody::SessionEnded(s) = e.request.body else {
            panic!()
        };
        assert_eq!(s.error.unwrap().kind, "INVALID_RESPONSE");

        let mut v = envelope(json!({"type": "Messaging.MessageReceived", "requestId": "r",
            "timestamp": "t", "message": {"listId": "L1"}}));
        v.as_object_mut().unwrap().remove("session");
        let e: RequestEnvelope = serde_json::from_value(v.clone()).unwrap();
        assert!(e.session.is_none());
        assert_eq!(serde_json::to_value(&e).unwrap(), v);
    }

    #[test]
    fn a_request_without_type_is_an_error_not_a_panic() {
        let err = serde_json::from_value::<RequestEnvelope>(envelope(json!({"requestId": "r"}))).unwrap_err();
        assert!(err.to_string().contains("type"), "{err}");
    }
}
