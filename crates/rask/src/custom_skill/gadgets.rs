//! `[skill]` as a gadget skill, without code: the custom interfaces it uses, the directive
//! launch sends to every gadget (and whether it then listens for their events), directives
//! sent by intents with slot values in their payloads, what each gadget event does at home
//! (publish it on MQTT with the gadget's id and name, press a doorbell, say something), and
//! what to say when no gadget is connected.
//!
//! Payload templates are JSON, parsed when rask starts; `{slot}` is replaced inside their
//! strings only, so that a slot's words can never make the JSON invalid.

use std::collections::BTreeMap;
use std::time::Duration;

use rask_model::custom::{FilterMatchAction, RequestBody};
use rask_skill::gadgets::{EventHandler, GADGETS_KEY, Gadget};
use rask_skill::{HandlerError, HandlerInput, ResponseBuilder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Home, Publish, err, fill};
use crate::config::ConfigError;

/// The most of an event's payload published (its JSON text).
pub const MAX_EVENT_PAYLOAD: usize = 4096;

/// A directive to every gadget with its interface.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct GadgetDirective {
    /// The custom interface, such as `Custom.Robot`: one of `skill.interfaces`.
    pub namespace: String,
    /// The directive's name, such as `Spin`.
    pub name: String,
    /// Its payload, JSON; `{slot}` is replaced inside its strings.
    #[serde(default = "empty_object")]
    pub payload: String,
}

fn empty_object() -> String {
    "{}".into()
}

/// `listen`: the event handler launch starts.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// The event names passed on (empty: every event of the skill's interfaces).
    #[serde(default)]
    pub events: Vec<String>,
    /// How long, in seconds (1 to 90).
    #[serde(default = "sixty")]
    pub seconds: u64,
    /// Stop at the first event passed (`SEND_AND_TERMINATE`).
    #[serde(default)]
    pub until_first: bool,
    /// What Alexa says when the time is up; the session then ends.
    #[serde(default)]
    pub expired: Option<String>,
}

fn sixty() -> u64 {
    60
}

/// `[[skill.gadget_events]]`: what one kind of gadget event does.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct GadgetEventSection {
    /// The event's name, such as `Spun`.
    pub name: String,
    /// Only from this interface (default: any of `skill.interfaces`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Publish to `[mqtt]`'s broker; `{gadget_id}`, `{gadget}` (its name), `{event}` and
    /// `{payload}` (the event's payload, JSON) work in topic and payload.
    #[serde(default)]
    pub publish: Option<Publish>,
    /// Press this `[[devices]]` doorbell.
    #[serde(default)]
    pub press: Option<String>,
    /// What Alexa says; the same names work.
    #[serde(default)]
    pub say: Option<String>,
}

/// The gadget parts of `[skill]`, checked and parsed.
#[derive(Debug, Clone, Default)]
pub struct GadgetSkill {
    pub(super) interfaces: Vec<String>,
    pub(super) no_gadget: String,
    pub(super) launch_directive: Option<(GadgetDirective, Value)>,
    pub(super) listen: Option<Listen>,
    pub(super) events: Vec<GadgetEventSection>,
    /// Each event's publish payload, when it is JSON: filled by structure, not by text.
    pub(super) event_payloads: Vec<Option<Value>>,
}

/// What Alexa says when Endpoint Enumeration fails.
pub const UNREACHABLE: &str = "Sorry, I cannot reach your gadgets right now.";

/// Every problem of the gadget keys, each naming its key.
pub fn check(s: &super::SkillSection, doorbells: &[&str], mqtt: bool, alexa: bool) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (i, interface) in s.interfaces.iter().enumerate() {
        if !interface.starts_with("Custom.") || interface.len() <= "Custom.".len() {
            errors.push(err(
                format!("skill.interfaces[{i}]"),
                format!("{interface:?} is not a custom interface (Custom.…)"),
            ));
        }
    }
    let gadget_keys = s.launch_directive.is_some()
        || s.listen.is_some()
        || !s.gadget_events.is_empty()
        || s.intents.iter().any(|i| i.gadget_directive.is_some());
    if gadget_keys && s.interfaces.is_empty() {
        errors.push(err(
            "skill.interfaces",
            "name the custom interfaces the skill's gadgets have (such as [\"Custom.Robot\"])",
        ));
    }
    let mut directive = |key: String, d: &GadgetDirective| {
        if !s.interfaces.contains(&d.namespace) {
            errors.push(err(
                format!("{key}.namespace"),
                format!("{:?} is not one of skill.interfaces", d.namespace),
            ));
        }
        if d.name.is_empty() {
            errors.push(err(format!("{key}.name"), "name the directive"));
        }
        if let Err(e) = serde_json::from_str::<Value>(&d.payload) {
            errors.push(err(format!("{key}.payload"), format!("not JSON: {e}")));
        }
    };
    if let Some(d) = &s.launch_directive {
        directive("skill.launch_directive".into(), d);
    }
    for (i, intent) in s.intents.iter().enumerate() {
        if let Some(d) = &intent.gadget_directive {
            directive(format!("skill.intents[{i}].gadget_directive"), d);
        }
    }
    if let Some(l) = &s.listen
        && !(1..=90).contains(&l.seconds)
    {
        errors.push(err(
            "skill.listen.seconds",
            format!(
                "{} is not 1 to 90: Alexa runs an event handler 90 s at most",
                l.seconds
            ),
        ));
    }
    for (i, e) in s.gadget_events.iter().enumerate() {
        let key = |k: &str| format!("skill.gadget_events[{i}].{k}");
        if e.name.is_empty() {
            errors.push(err(key("name"), "name the event"));
        }
        if let Some(ns) = &e.namespace
            && !s.interfaces.contains(ns)
        {
            errors.push(err(
                key("namespace"),
                format!("{ns:?} is not one of skill.interfaces"),
            ));
        }
        if let Some(d) = &e.press
            && (!alexa || !doorbells.contains(&d.as_str()))
        {
            errors.push(err(
                key("press"),
                format!("{d:?} is not a [[devices]] doorbell (and pressing needs [alexa])"),
            ));
        }
        if let Some(p) = &e.publish {
            if !mqtt {
                errors.push(err(key("publish"), "publishing needs [mqtt] (docs/config.md)"));
            }
            if p.topic.is_empty() || p.topic.contains(['+', '#']) {
                errors.push(err(
                    key("publish.topic"),
                    format!("{:?} is not a topic one can publish to", p.topic),
                ));
            }
        }
    }
    errors
}

impl GadgetSkill {
    /// The gadget parts of a checked `[skill]`; `None` when it uses no gadget.
    pub fn of(s: &super::SkillSection) -> Option<GadgetSkill> {
        if s.interfaces.is_empty() {
            return None;
        }
        Some(GadgetSkill {
            interfaces: s.interfaces.clone(),
            no_gadget: s.no_gadget.clone(),
            launch_directive: s.launch_directive.clone().map(|d| {
                let v = serde_json::from_str(&d.payload).unwrap_or_else(|_| json!({}));
                (d, v)
            }),
            listen: s.listen.clone(),
            events: s.gadget_events.clone(),
            event_payloads: s
                .gadget_events
                .iter()
                .map(|e| {
                    e.publish
                        .as_ref()
                        .and_then(|p| serde_json::from_str(&p.payload).ok())
                })
                .collect(),
        })
    }

    /// The event handler launch starts.
    fn handler(&self, l: &Listen) -> EventHandler {
        let mut filter = json!({"in": [{"var": "header.namespace"}, self.interfaces]});
        if !l.events.is_empty() {
            filter = json!({"and": [filter, {"in": [{"var": "header.name"}, l.events]}]});
        }
        let action = if l.until_first {
            FilterMatchAction::SendAndTerminate
        } else {
            FilterMatchAction::Send
        };
        EventHandler::new(Duration::from_secs(l.seconds)).filter(filter, action)
    }

    /// Launch: the directive to every gadget, the event handler; with no gadget, says so and
    /// goes on with the launch speech.
    pub async fn launch(
        &self,
        input: &HandlerInput,
        launch: &str,
        reprompt: &str,
    ) -> Result<ResponseBuilder, HandlerError> {
        let gadgets = match self.gadgets(input).await {
            Ok(g) => g,
            Err(b) => return Ok(b),
        };
        if gadgets.is_empty() {
            return Ok(ResponseBuilder::new()
                .speak(format!("{} {launch}", self.no_gadget))
                .reprompt(reprompt.to_owned()));
        }
        let mut b = ResponseBuilder::new().speak(launch.to_owned());
        if let Some((d, payload)) = &self.launch_directive {
            let to = ids(&gadgets, &d.namespace);
            b = b.send_gadget_directive(
                to,
                &d.namespace,
                &d.name,
                fill_json(payload, input, &BTreeMap::new()),
            );
        }
        Ok(match &self.listen {
            Some(l) => b.start_event_handler(&self.handler(l)),
            None => b.reprompt(reprompt.to_owned()),
        })
    }

    /// An intent's directive to every gadget with its interface, added to `b`; with no gadget,
    /// the no-gadget speech instead of `b`.
    pub async fn directive(
        &self,
        input: &HandlerInput,
        d: &GadgetDirective,
        defaults: &BTreeMap<String, String>,
        b: ResponseBuilder,
    ) -> Result<ResponseBuilder, HandlerError> {
        let gadgets = match self.gadgets(input).await {
            Ok(g) => g,
            Err(b) => return Ok(b),
        };
        let to = ids(&gadgets, &d.namespace);
        if to.is_empty() {
            return Ok(ResponseBuilder::new()
                .speak(self.no_gadget.clone())
                .end_session(Some(true)));
        }
        let payload = serde_json::from_str(&d.payload).unwrap_or_else(|_| json!({}));
        Ok(b.send_gadget_directive(to, &d.namespace, &d.name, fill_json(&payload, input, defaults)))
    }

    /// The gadgets with any of the skill's interfaces, or the answer to give when they cannot
    /// be listed.
    async fn gadgets(&self, input: &HandlerInput) -> Result<Vec<Gadget>, ResponseBuilder> {
        let mut all: Vec<Gadget> = Vec::new();
        for interface in &self.interfaces {
            match input.gadgets(interface).await {
                Ok(found) => {
                    for g in found {
                        if !all.iter().any(|a| a.endpoint_id == g.endpoint_id) {
                            all.push(g);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(request_id = %rask_model::limits::logged(input.request_id()), "the Echo's gadgets could not be listed: {e}");
                    return Err(ResponseBuilder::new().speak(UNREACHABLE).end_session(Some(true)));
                }
            }
        }
        Ok(all)
    }

    /// `CustomInterfaceController.EventsReceived`: each event's actions, in order.
    pub async fn events_received(
        &self,
        input: &HandlerInput,
        home: &Home,
    ) -> Result<ResponseBuilder, HandlerError> {
        let RequestBody::EventsReceived(received) = input.body() else {
            return Ok(ResponseBuilder::new());
        };
        let known: Vec<Gadget> = input
            .session_attribute(GADGETS_KEY)
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let mut said = Vec::new();
        let mut pressed = std::collections::HashSet::new();
        for event in &received.events {
            let id = &event.endpoint.endpoint_id;
            let Some(gadget) = known.iter().find(|g| &g.endpoint_id == id) else {
                tracing::warn!(
                    "a gadget event from {}, which is not one of this session's gadgets, was ignored",
                    rask_model::limits::logged(id)
                );
                continue;
            };
            let payload = event.payload.to_string();
            for (action, json_payload) in self.events.iter().zip(&self.event_payloads).filter(|(a, _)| {
                a.name == event.header.name
                    && a.namespace
                        .as_ref()
                        .is_none_or(|ns| *ns == event.header.namespace)
            }) {
                let vars = [
                    ("gadget_id", gadget.endpoint_id.as_str()),
                    ("gadget", gadget.friendly_name.as_str()),
                    ("event", event.header.name.as_str()),
                    ("payload", payload.as_str()),
                ];
                if let (Some(p), Some(m)) = (&action.publish, &home.publisher) {
                    if payload.len() > MAX_EVENT_PAYLOAD {
                        tracing::warn!(
                            gadget = %gadget.endpoint_id,
                            "a {} event's payload is {} bytes, over {MAX_EVENT_PAYLOAD}: not published",
                            rask_model::limits::logged(&event.header.name),
                            payload.len()
                        );
                    } else {
                        // A name is its owner's words: in a topic it cannot add a level or a
                        // wildcard, in JSON it stays one string.
                        let safe: Vec<(&str, String)> = vars
                            .iter()
                            .map(|(k, v)| (*k, v.replace(['/', '+', '#'], "_")))
                            .collect();
                        let topic_vars: Vec<(&str, &str)> =
                            safe.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        let body = match json_payload {
                            Some(template) => fill_event_json(template, &vars, &event.payload).to_string(),
                            None => substitute(&p.payload, &vars),
                        };
                        m.publish(&substitute(&p.topic, &topic_vars), body).await?;
                    }
                }
                // One press per device per request, however many events ask for it.
                if let (Some(device), Some(t)) = (&action.press, &home.triggers)
                    && pressed.insert(device.clone())
                {
                    t.press(device).await?;
                }
                if let Some(text) = &action.say {
                    let short: Vec<(&str, &str)> =
                        vars.iter().filter(|(k, _)| *k != "payload").copied().collect();
                    said.push(substitute(text, &short));
                }
            }
        }
        let mut b = ResponseBuilder::new();
        if !said.is_empty() {
            b = b.speak(said.join(" "));
        }
        // Its one event passed, the handler is over: so is the session.
        if self.listen.as_ref().is_some_and(|l| l.until_first) {
            b = b.end_session(Some(true));
        }
        Ok(b)
    }

    /// `CustomInterfaceController.Expired`: the time is up.
    pub fn expired(&self) -> ResponseBuilder {
        let b = ResponseBuilder::new().end_session(Some(true));
        match self.listen.as_ref().and_then(|l| l.expired.clone()) {
            Some(text) => b.speak(text),
            None => b,
        }
    }
}

fn ids(gadgets: &[Gadget], interface: &str) -> Vec<String> {
    gadgets
        .iter()
        .filter(|g| g.supports(interface))
        .map(|g| g.endpoint_id.clone())
        .collect()
}

/// `template` with each `{name}` replaced by its value, in one pass (a value holding `{event}`
/// is not expanded again); unknown names are left as they are.
fn substitute(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let found = after.find('}').and_then(|close| {
            let name = &after[..close];
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (close, *v))
        });
        match found {
            Some((close, value)) => {
                out.push_str(&rask_model::limits::cut_to(value, MAX_EVENT_PAYLOAD));
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A JSON payload template filled by structure: a string that is just `{payload}` becomes the
/// event's payload itself; in other strings the names are replaced, as text.
fn fill_event_json(template: &Value, vars: &[(&str, &str)], payload: &Value) -> Value {
    match template {
        Value::String(s) if s == "{payload}" => payload.clone(),
        Value::String(s) if s.contains('{') => Value::String(substitute(s, vars)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| fill_event_json(v, vars, payload)).collect())
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), fill_event_json(v, vars, payload)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The payload with `{slot}` replaced inside its strings.
fn fill_json(template: &Value, input: &HandlerInput, defaults: &BTreeMap<String, String>) -> Value {
    match template {
        Value::String(s) if s.contains('{') => Value::String(fill(s, input, defaults)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, input, defaults)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), fill_json(v, input, defaults)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_in_once_and_stay_inside_their_string() {
        let name = r#"x", "cmd": "unlock {event}"#;
        let vars = [("gadget", name), ("event", "Spun"), ("payload", "{}")];
        assert_eq!(
            substitute("{gadget} did {event} {other}", &vars),
            format!("{name} did Spun {{other}}")
        );
        let template: Value = serde_json::from_str(r#"{"robot": "{gadget}", "event": "{payload}"}"#).unwrap();
        let filled = fill_event_json(&template, &vars, &json!({"turns": 3}));
        assert_eq!(filled, json!({"robot": name, "event": {"turns": 3}}));
    }
}
