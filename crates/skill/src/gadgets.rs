//! Gadgets (the Alexa Gadgets Toolkit), driven from a custom skill as Amazon describes it:
//!
//! - [`HandlerInput::gadgets`] finds the gadgets paired with the user's Echo through Endpoint
//!   Enumeration once per session, keeps them in the session attributes (`rask.gadgets`) and
//!   never calls again in that session; only gadgets with a `Custom.` interface are kept;
//! - [`crate::ResponseBuilder::send_gadget_directive`] sends one directive per gadget;
//! - [`EventHandler`] starts an event handler; the skill keeps its token in the session
//!   attributes (`rask.eventHandlerToken`) by itself, drops it on `StopEventHandler`,
//!   `Expired` or the one event of a `SEND_AND_TERMINATE` handler, and answers
//!   `EventsReceived` and `Expired` for any other token without running a handler (they are
//!   from a handler this session no longer runs), counting them.

use std::sync::OnceLock;
use std::time::Duration;

use rask_cloud::enumeration::{self, EnumerationError};
use rask_model::custom::{EventFilter, Expiration, FilterMatchAction, StartEventHandler};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::input::HandlerInput;

/// The session attribute that holds the session's gadgets.
pub const GADGETS_KEY: &str = "rask.gadgets";

/// The session attribute that holds the running event handler's token.
pub const EVENT_HANDLER_KEY: &str = "rask.eventHandlerToken";

/// The session attribute that says the running handler ends with its first event
/// (`SEND_AND_TERMINATE`).
pub const EVENT_HANDLER_ONCE_KEY: &str = "rask.eventHandlerOnce";

/// The most gadgets kept for a session: their ids ride in every answer's session attributes,
/// which count towards Alexa's 24 KB.
pub const MAX_GADGETS: usize = 16;

/// The longest an event handler may run, as Alexa takes it.
pub const MAX_EVENT_HANDLER: Duration = Duration::from_millis(90_000);

/// A gadget paired with the user's Echo, as kept for the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gadget {
    /// Where its directives go (`amzn1.ask.endpoint.…`).
    pub endpoint_id: String,
    /// The name its owner gave it.
    pub friendly_name: String,
    /// Its custom interfaces (`Custom.…`).
    pub interfaces: Vec<String>,
}

impl Gadget {
    /// Whether it has `interface`.
    pub fn supports(&self, interface: &str) -> bool {
        self.interfaces.iter().any(|i| i == interface)
    }
}

/// Why the gadgets could not be found.
#[derive(Debug, Error)]
pub enum GadgetError {
    /// The request carries no `apiEndpoint` and `apiAccessToken` to ask with.
    #[error("the request has no apiEndpoint and apiAccessToken to list the Echo's gadgets with")]
    NoApiAccess,
    /// Endpoint Enumeration refused or failed.
    #[error(transparent)]
    Enumeration(#[from] EnumerationError),
}

/// The client Endpoint Enumeration is called with; its deadline is the call's own.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| rask_cloud::http_client(enumeration::TIMEOUT * 2))
}

impl HandlerInput {
    /// The gadgets paired with the user's Echo that have `interface` (such as `Custom.Robot`).
    /// The first call in a session asks Endpoint Enumeration and keeps the answer in the
    /// session attributes; every later call in the session reads it from there. Empty when no
    /// such gadget is paired: say so to the user.
    pub async fn gadgets(&self, interface: &str) -> Result<Vec<Gadget>, GadgetError> {
        let known = self
            .session_attribute(GADGETS_KEY)
            .and_then(|v| serde_json::from_value::<Vec<Gadget>>(v).ok());
        let all = match known {
            Some(all) => all,
            None => {
                let (Some(api), Some(token)) = (self.api_endpoint(), self.api_access_token()) else {
                    return Err(GadgetError::NoApiAccess);
                };
                let listed = enumeration::get_endpoints(client(), api, token).await?;
                let short = |s: &str, n: usize| -> String { s.chars().take(n).collect() };
                let all: Vec<Gadget> = listed
                    .iter()
                    .map(|e| Gadget {
                        endpoint_id: short(&e.endpoint_id, 256),
                        friendly_name: short(&e.friendly_name, 64),
                        interfaces: e.custom_interfaces().take(8).map(|i| short(i, 64)).collect(),
                    })
                    .filter(|g| !g.interfaces.is_empty())
                    .take(MAX_GADGETS)
                    .collect();
                self.set_session_attribute(GADGETS_KEY, serde_json::to_value(&all).unwrap_or_default());
                all
            }
        };
        Ok(all.into_iter().filter(|g| g.supports(interface)).collect())
    }

    /// The token of the event handler this session runs, if any.
    pub fn event_handler_token(&self) -> Option<String> {
        self.session_attribute(EVENT_HANDLER_KEY)
            .and_then(|v| v.as_str().map(str::to_owned))
    }
}

/// An event handler to start: which gadget events reach the skill, and for how long.
#[derive(Debug, Clone)]
pub struct EventHandler {
    token: String,
    filter: Option<EventFilter>,
    duration: Duration,
    expiration_payload: Option<Value>,
}

impl EventHandler {
    /// A handler passing every event for `duration` (at most 90 s), with a fresh token.
    pub fn new(duration: Duration) -> Self {
        EventHandler {
            token: uuid::Uuid::new_v4().to_string(),
            filter: None,
            duration,
            expiration_payload: None,
        }
    }

    /// Only events matching `expression` (JsonLogic, over each event: `header.namespace`,
    /// `header.name`, `endpoint.endpointId`, `payload`); `SEND_AND_TERMINATE` stops the
    /// handler at the first match.
    pub fn filter(mut self, expression: Value, action: FilterMatchAction) -> Self {
        self.filter = Some(EventFilter {
            filter_expression: expression,
            filter_match_action: action,
        });
        self
    }

    /// Sent back in `CustomInterfaceController.Expired` when the duration runs out.
    pub fn expiration_payload(mut self, payload: Value) -> Self {
        self.expiration_payload = Some(payload);
        self
    }

    /// Its token, echoed in each of its events.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The directive.
    pub fn directive(&self) -> StartEventHandler {
        StartEventHandler {
            token: self.token.clone(),
            event_filter: self.filter.clone(),
            expiration: Expiration {
                duration_in_milliseconds: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
                expiration_payload: self.expiration_payload.clone(),
            },
        }
    }
}
