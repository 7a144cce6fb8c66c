//! The parts every directive and event share: header, endpoint and scope.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only payload version of the Smart Home API this crate speaks.
pub const PAYLOAD_VERSION: &str = "3";

/// A fresh message id: a UUID v4, as Amazon recommends.
pub fn new_message_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A directive's or event's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// The interface, such as `Alexa.PowerController`.
    pub namespace: String,
    /// The directive or event name, such as `TurnOn` or `Response`.
    pub name: String,
    /// For multi-instance interfaces (RangeController, ModeController, ToggleController).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Always `"3"`.
    pub payload_version: String,
    /// Unique per message, 1–127 characters `[A-Za-z0-9-]`.
    pub message_id: String,
    /// Opaque token Alexa sends with a directive; the answer must carry it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_token: Option<String>,
}

impl Header {
    /// A header with a fresh message id and no correlation token.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Header {
            namespace: namespace.into(),
            name: name.into(),
            instance: None,
            payload_version: PAYLOAD_VERSION.to_owned(),
            message_id: new_message_id(),
            correlation_token: None,
        }
    }

    /// The same header with a correlation token (`None` leaves it out).
    pub fn with_correlation_token(mut self, token: Option<String>) -> Self {
        self.correlation_token = token;
        self
    }

    /// The same header with an interface instance.
    pub fn with_instance(mut self, instance: Option<String>) -> Self {
        self.instance = instance;
        self
    }
}

/// The bearer token that says on whose behalf a message is sent.
///
/// In directives it is the skill's own account-linking token; in events sent to the Event
/// Gateway it is the user's Login with Amazon token from `AcceptGrant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Always `BearerToken` (`BearerTokenWithPartition` exists for some device types).
    #[serde(rename = "type")]
    pub kind: String,
    /// The token.
    pub token: String,
    /// Present with `BearerTokenWithPartition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Present with `BearerTokenWithPartition`.
    #[serde(default, rename = "userId", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl Scope {
    /// A `BearerToken` scope.
    pub fn bearer(token: impl Into<String>) -> Self {
        Scope {
            kind: "BearerToken".to_owned(),
            token: token.into(),
            partition: None,
            user_id: None,
        }
    }
}

/// The endpoint a directive is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectiveEndpoint {
    /// The linked user's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The endpoint id from discovery.
    pub endpoint_id: String,
    /// The cookie from discovery, returned unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<BTreeMap<String, String>>,
}

/// The endpoint an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEndpoint {
    /// For events sent to the Event Gateway: the user's LWA token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The endpoint id from discovery.
    pub endpoint_id: String,
    /// The cookie, when the skill chooses to send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<BTreeMap<String, String>>,
}

impl EventEndpoint {
    /// An endpoint with an id and, when given, a bearer scope.
    pub fn new(endpoint_id: impl Into<String>, token: Option<String>) -> Self {
        EventEndpoint {
            scope: token.map(Scope::bearer),
            endpoint_id: endpoint_id.into(),
            cookie: None,
        }
    }
}

impl From<&DirectiveEndpoint> for EventEndpoint {
    fn from(d: &DirectiveEndpoint) -> Self {
        EventEndpoint {
            scope: d.scope.clone(),
            endpoint_id: d.endpoint_id.clone(),
            cookie: None,
        }
    }
}

/// An empty payload, `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}
