//! The Echo's side of gadgets: what a skill's answer does to the user's paired gadgets, and the
//! gadgets' events back to the skill.
//!
//! - Each `CustomInterfaceController.SendDirective` of an answer reaches its gadget, kept in
//!   that gadget's inbox (`GET /sim/users/{user}/gadgets/{endpointId}/directives`).
//! - An answer Alexa would refuse for its gadget directives (to a gadget the user has not
//!   paired, to an interface that is not `Custom.`, an event handler over 90 s) or its size
//!   (over 24 KB) is not acted on: the sim ends the session with a `SessionEndedRequest`,
//!   reason `ERROR`, error `INVALID_RESPONSE`, as Alexa does.
//! - `StartEventHandler` starts the session's event handler (a new one replaces the old);
//!   `StopEventHandler` with its token stops it; when its duration runs out the skill gets
//!   `CustomInterfaceController.Expired` with the expiration payload.
//! - A gadget's event (`POST /sim/users/{user}/gadgets/{endpointId}/events`) reaches the skill
//!   as `CustomInterfaceController.EventsReceived` while a handler runs and its filter matches
//!   (the JsonLogic of [`crate::jsonlogic`]); `SEND_AND_TERMINATE` ends the handler with it.

use std::time::Duration;

use rask_model::check::Finding;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::custom::{self, RequestSpec};
use super::{DriverError, Exchange};
use crate::Sim;
use crate::log::FindingView;
use crate::world::WorldError;

/// Numbers each handler start.
static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many directives a gadget's inbox keeps, the latest.
pub const INBOX: usize = 100;

/// The event handler a session runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHandlerState {
    /// Its token, echoed in each event.
    pub token: String,
    /// Its JsonLogic filter, if any.
    pub filter: Option<Value>,
    /// `SEND_AND_TERMINATE`: ends with the first event passed.
    pub terminate: bool,
    /// What `Expired` carries.
    pub expiration_payload: Option<Value>,
    /// How long it runs.
    pub duration_ms: u64,
    /// Which start this is: a handler started again with the same token is another one,
    /// and the first one's timer must not end it.
    #[serde(skip)]
    pub start: u64,
}

/// An event a gadget sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GadgetEventSpec {
    /// The custom interface, such as `Custom.Robot`: one the gadget has.
    pub namespace: String,
    /// The event's name, such as `Spun`.
    pub name: String,
    /// Its payload.
    #[serde(default)]
    pub payload: Value,
}

/// What became of a gadget's event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOutcome {
    /// Whether it was sent to the skill.
    pub delivered: bool,
    /// Why not, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The skill's answer, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
}

/// Findings for directives to gadgets the user has not paired (the other directive rules are
/// the response check's).
pub(crate) fn unpaired(sim: &Sim, user: &str, answer: &Value) -> Vec<Finding> {
    let Some(directives) = answer["response"]["directives"].as_array() else {
        return Vec::new();
    };
    let paired: Vec<String> = match sim.world().user(user) {
        Ok(u) => u.gadgets.iter().map(|g| g.endpoint_id.clone()).collect(),
        Err(_) => return Vec::new(),
    };
    directives
        .iter()
        .enumerate()
        .filter(|(_, d)| d["type"] == "CustomInterfaceController.SendDirective")
        .filter_map(|(i, d)| {
            let id = d["endpoint"]["endpointId"].as_str().unwrap_or_default();
            (!paired.iter().any(|p| p == id)).then(|| {
                Finding::new(
                    format!("/response/directives/{i}/endpoint/endpointId"),
                    "gadget",
                    format!(
                        "{:?} is not a gadget paired with this Echo (Endpoint Enumeration lists them)",
                        rask_model::limits::cut_to(id, 80)
                    ),
                )
            })
        })
        .collect()
}

/// Whether Alexa refuses the answer for what it asks of gadgets or for its size.
pub(crate) fn refused(findings: &[FindingView]) -> bool {
    findings
        .iter()
        .any(|f| f.path.starts_with("/response/directives") || f.rule == "limits")
}

/// Carries out a valid answer's gadget directives for the session of (`skill_id`, `user`).
pub(crate) fn act(sim: &Sim, skill_id: &str, user: &str, answer: &Value) {
    let Some(directives) = answer["response"]["directives"].as_array() else {
        return;
    };
    for d in directives {
        match d["type"].as_str() {
            Some("CustomInterfaceController.SendDirective") => {
                let id = d["endpoint"]["endpointId"].as_str().unwrap_or_default();
                sim.world().deliver_to_gadget(user, id, d.clone());
            }
            Some("CustomInterfaceController.StartEventHandler") => {
                let state = EventHandlerState {
                    token: d["token"].as_str().unwrap_or_default().to_owned(),
                    filter: d["eventFilter"].get("filterExpression").cloned(),
                    terminate: d["eventFilter"]["filterMatchAction"] == "SEND_AND_TERMINATE",
                    expiration_payload: d["expiration"].get("expirationPayload").cloned(),
                    duration_ms: d["expiration"]["durationInMilliseconds"].as_u64().unwrap_or(0),
                    start: STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                };
                if let Ok(e) = sim.world().enablement_mut(skill_id, user)
                    && let Some(s) = e.session.as_mut()
                {
                    s.event_handler = Some(state.clone());
                }
                expire_later(sim.clone(), skill_id.to_owned(), user.to_owned(), state);
            }
            Some("CustomInterfaceController.StopEventHandler") => {
                let token = d["token"].as_str().unwrap_or_default();
                if let Ok(e) = sim.world().enablement_mut(skill_id, user)
                    && let Some(s) = e.session.as_mut()
                    && s.event_handler.as_ref().is_some_and(|h| h.token == token)
                {
                    s.event_handler = None;
                }
            }
            _ => {}
        }
    }
}

/// When the handler's duration runs out and it still runs: `Expired` to the skill.
fn expire_later(sim: Sim, skill_id: String, user: String, state: EventHandlerState) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(state.duration_ms)).await;
        let still = {
            let mut w = sim.world();
            match w
                .enablement_mut(&skill_id, &user)
                .ok()
                .and_then(|e| e.session.as_mut())
            {
                Some(s) if s.event_handler.as_ref() == Some(&state) => {
                    s.event_handler = None;
                    true
                }
                _ => false,
            }
        };
        if still {
            let mut fields = json!({"token": state.token});
            if let Some(p) = &state.expiration_payload {
                fields["expirationPayload"] = p.clone();
            }
            let spec = RequestSpec::gadget("CustomInterfaceController.Expired", fields);
            if let Err(e) = custom::send(&sim, &skill_id, &user, &spec).await {
                tracing::warn!("the sim could not send Expired: {e}");
            }
        }
    });
}

/// A gadget of `user` sends an event: to the skill whose session runs an event handler, if
/// its filter lets the event through.
pub async fn gadget_event(
    sim: &Sim,
    user: &str,
    endpoint_id: &str,
    event: &GadgetEventSpec,
) -> Result<EventOutcome, DriverError> {
    let invalid = |why: String| DriverError::World(WorldError::Invalid(why));
    let (running, gadget) = {
        let w = sim.world();
        let u = w.user(user)?;
        let gadget = u
            .gadgets
            .iter()
            .find(|g| g.endpoint_id == endpoint_id)
            .cloned()
            .ok_or_else(|| invalid(format!("{user} has no gadget {endpoint_id:?}")))?;
        let running = u.skills.iter().find_map(|(skill, e)| {
            e.session
                .as_ref()
                .and_then(|s| s.event_handler.clone())
                .map(|h| (skill.clone(), h))
        });
        (running, gadget)
    };
    let has_interface = gadget
        .capabilities
        .iter()
        .any(|c| c["interface"].as_str() == Some(event.namespace.as_str()));
    if !event.namespace.starts_with("Custom.") || !has_interface {
        return Err(invalid(format!(
            "{endpoint_id} has no custom interface {:?} to send an event on",
            event.namespace
        )));
    }
    let Some((skill_id, handler)) = running else {
        return Ok(EventOutcome {
            delivered: false,
            reason: Some("no skill session runs an event handler".into()),
            exchange: None,
        });
    };
    let event = json!({
        "header": {"namespace": event.namespace, "name": event.name},
        "endpoint": {"endpointId": endpoint_id},
        "payload": event.payload,
    });
    if let Some(filter) = &handler.filter {
        match crate::jsonlogic::matches(filter, &event) {
            Ok(true) => {}
            Ok(false) => {
                return Ok(EventOutcome {
                    delivered: false,
                    reason: Some("the event handler's filter does not pass it".into()),
                    exchange: None,
                });
            }
            Err(e) => {
                return Ok(EventOutcome {
                    delivered: false,
                    reason: Some(e.to_string()),
                    exchange: None,
                });
            }
        }
    }
    // Still the handler the filter was read from, and ended here if it ends with this event:
    // one check under one lock, so that two events cannot both pass a SEND_AND_TERMINATE
    // handler, nor one end a handler started meanwhile.
    let still = {
        let mut w = sim.world();
        match w
            .enablement_mut(&skill_id, user)
            .ok()
            .and_then(|e| e.session.as_mut())
        {
            Some(s) if s.event_handler.as_ref() == Some(&handler) => {
                if handler.terminate {
                    s.event_handler = None;
                }
                true
            }
            _ => false,
        }
    };
    if !still {
        return Ok(EventOutcome {
            delivered: false,
            reason: Some("the event handler ended or changed meanwhile".into()),
            exchange: None,
        });
    }
    let spec = RequestSpec::gadget(
        "CustomInterfaceController.EventsReceived",
        json!({"token": handler.token, "events": [event]}),
    );
    let ex = custom::send(sim, &skill_id, user, &spec).await?;
    Ok(EventOutcome {
        delivered: true,
        reason: None,
        exchange: Some(ex),
    })
}
