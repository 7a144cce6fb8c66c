//! `CustomInterfaceController`: directives to gadgets and the events they send back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire_enum::wire_enum;

/// The gadget a directive is for, or an event came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GadgetEndpoint {
    /// The id from the Endpoint Enumeration API.
    pub endpoint_id: String,
}

/// A custom interface's namespace and directive or event name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GadgetHeader {
    /// The custom interface, such as `Custom.Robot`.
    pub namespace: String,
    /// The directive or event name, such as `Spin`.
    pub name: String,
}

/// `CustomInterfaceController.SendDirective`: one directive to one gadget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendDirective {
    /// Which custom interface and directive.
    pub header: GadgetHeader,
    /// Which gadget.
    pub endpoint: GadgetEndpoint,
    /// Free-form JSON for the gadget.
    pub payload: Value,
}

wire_enum! {
    /// What happens when an event matches the filter.
    FilterMatchAction { Send = "SEND", SendAndTerminate = "SEND_AND_TERMINATE" }
}

/// Which gadget events reach the skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFilter {
    /// A JsonLogic expression over the event.
    pub filter_expression: Value,
    /// Whether the handler stops after the first match.
    pub filter_match_action: FilterMatchAction,
}

/// When an event handler runs out, and what the skill then receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiration {
    /// How long the handler lives (at most 90 000 ms).
    pub duration_in_milliseconds: u64,
    /// Returned in `CustomInterfaceController.Expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_payload: Option<Value>,
}

/// `CustomInterfaceController.StartEventHandler`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartEventHandler {
    /// Unique per handler; echoed in every event. Keep it in session attributes.
    pub token: String,
    /// Which events to pass on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_filter: Option<EventFilter>,
    /// When the handler ends.
    pub expiration: Expiration,
}

/// `CustomInterfaceController.StopEventHandler`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopEventHandler {
    /// The token of the handler to stop.
    pub token: String,
}

/// One event from a gadget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GadgetEvent {
    /// Custom interface and event name.
    pub header: GadgetHeader,
    /// The gadget that sent it.
    pub endpoint: GadgetEndpoint,
    /// The gadget's payload.
    pub payload: Value,
}

/// `CustomInterfaceController.EventsReceived` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsReceived {
    /// The handler's token; events with another token are stale.
    pub token: String,
    /// The events.
    pub events: Vec<GadgetEvent>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `CustomInterfaceController.Expired` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expired {
    /// The handler's token.
    pub token: String,
    /// The payload given in `StartEventHandler`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_payload: Option<Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
