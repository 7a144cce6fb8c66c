//! A verdict on any JSON document: which kind of Alexa message it is, and every rule it breaks.
//!
//! This is what `rask validate` prints and what the simulator records for each message it
//! receives. Smart Home events are checked against the official schema (with the `schema`
//! feature) and rask's own rules; directives, which the schema does not cover, by
//! [`crate::smarthome::rules`]; custom-skill envelopes, Skill Messaging and Proactive Events
//! bodies by their types and Alexa's limits. An unknown kind, namespace or name is not valid.

use std::collections::HashSet;
use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

use crate::custom::{RequestBody, RequestEnvelope, ResponseDirective, ResponseEnvelope};
use crate::messaging::SkillMessageRequest;
use crate::proactive::ProactiveEventRequest;
use crate::smarthome::{EventMessage, EventPayload, rules};
use crate::{limits, timestamp};

/// One broken rule: where (a JSON pointer), which rule, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// JSON pointer to the offending value; `""` is the whole document.
    pub path: String,
    /// The rule, such as `required`, `pattern`, `enum`, `range` or `known directive`.
    pub rule: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(path: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            path: path.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "/" } else { &self.path };
        write!(f, "{path}: {} [{}]", self.message, self.rule)
    }
}

/// The kinds of message rask knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `{"directive": ...}`: Alexa to a smart-home skill.
    SmartHomeDirective,
    /// `{"event": ...}`: a smart-home skill to Alexa.
    SmartHomeEvent,
    /// `{version, session?, context, request}`: Alexa to a custom skill.
    CustomSkillRequest,
    /// `{version, response}`: a custom skill to Alexa.
    CustomSkillResponse,
    /// `{data, expiresAfterSeconds?}`: a Skill Messaging API body.
    SkillMessage,
    /// `{timestamp, referenceId, expiryTime, event, relevantAudience}`: a Proactive Events body.
    ProactiveEvent,
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SmartHomeDirective => "smart-home directive",
            Self::SmartHomeEvent => "smart-home event",
            Self::CustomSkillRequest => "custom-skill request",
            Self::CustomSkillResponse => "custom-skill response",
            Self::SkillMessage => "Skill Messaging request",
            Self::ProactiveEvent => "Proactive Events request",
        })
    }
}

/// The verdict on one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What the document looks like; `None` if it is no Alexa message rask knows.
    pub kind: Option<MessageKind>,
    /// The message's own name where it has one: `Alexa.PowerController.TurnOn`, `IntentRequest`.
    pub name: Option<String>,
    /// Every broken rule; empty means valid.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether the document is a valid message of a kind rask knows.
    pub fn is_valid(&self) -> bool {
        self.kind.is_some() && self.findings.is_empty()
    }

    /// "smart-home event Alexa.Response" and the like.
    pub fn describe(&self) -> String {
        match (&self.kind, &self.name) {
            (Some(k), Some(n)) => format!("{k} {n}"),
            (Some(k), None) => k.to_string(),
            (None, _) => "not an Alexa message rask knows".to_owned(),
        }
    }
}

/// Text that is not JSON: where the parser stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct JsonError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What the parser expected.
    pub message: String,
}

/// Checks a document given as text: first that it is JSON, then [`check_value`].
pub fn check_text(text: &str) -> Result<Report, JsonError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        JsonError {
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    Ok(check_value(&value))
}

/// Decides what kind of message `value` is and checks it.
pub fn check_value(value: &Value) -> Report {
    let Some(o) = value.as_object() else {
        return unknown("the document is not a JSON object");
    };
    // A proactive event has an `event` too: its own keys say which it is.
    let proactive_keys = ["referenceId", "relevantAudience", "expiryTime"]
        .iter()
        .any(|k| o.contains_key(*k));
    if o.contains_key("directive") {
        directive(value)
    } else if proactive_keys {
        proactive(value)
    } else if o.contains_key("event") {
        event(value)
    } else if o.contains_key("request") && o.contains_key("context") {
        custom_request(value)
    } else if o.contains_key("response") {
        custom_response(value)
    } else if o.contains_key("data") {
        skill_message(value)
    } else {
        unknown("expected a top-level \"directive\", \"event\", \"request\" or \"response\"")
    }
}

fn unknown(why: &str) -> Report {
    Report {
        kind: None,
        name: None,
        findings: vec![Finding::new("", "kind", why)],
    }
}

fn header_name(v: &Value, top: &str) -> Option<String> {
    let h = &v[top]["header"];
    Some(format!("{}.{}", h["namespace"].as_str()?, h["name"].as_str()?))
}

/// Reads `value` as `T`, reporting a failure with the JSON path serde stopped at.
fn typed<T: DeserializeOwned>(value: &Value, rule: &str) -> Result<T, Finding> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let pointer = if path == "." {
            String::new()
        } else {
            format!("/{}", path.replace('.', "/"))
        };
        Finding::new(pointer, rule, e.into_inner().to_string())
    })
}

fn directive(value: &Value) -> Report {
    Report {
        kind: Some(MessageKind::SmartHomeDirective),
        name: header_name(value, "directive"),
        findings: rules::check_directive(value),
    }
}

fn event(value: &Value) -> Report {
    let name = header_name(value, "event");
    let mut findings = Vec::new();
    let h = &value["event"]["header"];
    let (namespace, ev_name) = (
        h["namespace"].as_str().unwrap_or(""),
        h["name"].as_str().unwrap_or(""),
    );

    #[cfg(feature = "schema")]
    {
        use crate::schema::{SchemaVerdict, SmartHomeSchema};
        match SmartHomeSchema::get().validate(value) {
            SchemaVerdict::Valid | SchemaVerdict::NoDefinition { .. } => {}
            SchemaVerdict::Invalid(f) => findings.extend(f),
        }
    }

    if !EventPayload::is_known(namespace, ev_name) {
        #[cfg(feature = "schema")]
        let in_schema = crate::schema::SmartHomeSchema::get().defines(namespace, ev_name);
        #[cfg(not(feature = "schema"))]
        let in_schema = false;
        if !in_schema && name.is_some() {
            findings.push(Finding::new(
                "/event/header",
                "known event",
                format!("{namespace}.{ev_name} is not a Smart Home event rask knows"),
            ));
        }
    }

    let mut own = Vec::new();
    match typed::<EventMessage>(value, "shape") {
        Err(f) => own.push(f),
        Ok(m) => own.extend(event_rules(&m)),
    }
    // The schema usually names the same problem first: keep its rule, and add rask's
    // explanation where rask has one for that field.
    for f in own {
        match findings.iter_mut().find(|s| s.path == f.path) {
            Some(s) if !s.message.contains(&f.message) => s.message = format!("{}; {}", s.message, f.message),
            Some(_) => {}
            None => findings.push(f),
        }
    }
    Report {
        kind: Some(MessageKind::SmartHomeEvent),
        name,
        findings,
    }
}

/// rask's own rules on an event: the ones the schema lacks, and all of them without it.
fn event_rules(m: &EventMessage) -> Vec<Finding> {
    let mut f = Vec::new();
    let h = &m.event.header;
    if h.payload_version != "3" {
        f.push(Finding::new(
            "/event/header/payloadVersion",
            "payloadVersion",
            "must be \"3\"",
        ));
    }
    if let Err(e) = limits::check_message_id(&h.message_id) {
        f.push(Finding::new(
            "/event/header/messageId",
            "messageId",
            e.to_string(),
        ));
    }
    if let Some(e) = &m.event.endpoint {
        if let Err(err) = limits::check_endpoint_id(&e.endpoint_id) {
            f.push(Finding::new(
                "/event/endpoint/endpointId",
                "endpointId",
                err.to_string(),
            ));
        }
    }
    let endpoints = match &m.event.payload {
        EventPayload::DiscoverResponse(p) => Some(&p.endpoints),
        EventPayload::AddOrUpdateReport(p) => Some(&p.endpoints),
        EventPayload::DoorbellPress(p) => {
            if !timestamp::is_alexa_utc(&p.timestamp, 0) {
                f.push(Finding::new(
                    "/event/payload/timestamp",
                    "pattern",
                    "a DoorbellPress timestamp is UTC with whole seconds, like 2026-11-23T10:15:30Z",
                ));
            }
            None
        }
        EventPayload::DeleteReport(p) => {
            for (i, e) in p.endpoints.iter().enumerate() {
                if let Err(err) = limits::check_endpoint_id(&e.endpoint_id) {
                    f.push(Finding::new(
                        format!("/event/payload/endpoints/{i}/endpointId"),
                        "endpointId",
                        err.to_string(),
                    ));
                }
            }
            if p.scope.token.is_empty() {
                f.push(Finding::new(
                    "/event/payload/scope/token",
                    "minLength",
                    "the token is empty",
                ));
            }
            None
        }
        _ => None,
    };
    if let Some(endpoints) = endpoints {
        if endpoints.len() > limits::MAX_DISCOVERED_ENDPOINTS {
            f.push(Finding::new(
                "/event/payload/endpoints",
                "maxItems",
                format!(
                    "{} endpoints; Alexa accepts at most {}",
                    endpoints.len(),
                    limits::MAX_DISCOVERED_ENDPOINTS
                ),
            ));
        }
        let mut ids = HashSet::new();
        for (i, e) in endpoints.iter().enumerate() {
            if let Err(err) = e.check_limits() {
                f.push(Finding::new(
                    format!("/event/payload/endpoints/{i}"),
                    "limits",
                    err.to_string(),
                ));
            }
            if !ids.insert(e.endpoint_id.as_str()) {
                f.push(Finding::new(
                    format!("/event/payload/endpoints/{i}/endpointId"),
                    "uniqueEndpointId",
                    format!("endpointId {:?} appears twice", e.endpoint_id),
                ));
            }
        }
    }
    f
}

fn custom_request(value: &Value) -> Report {
    let mut findings = Vec::new();
    let mut name = value["request"]["type"].as_str().map(str::to_owned);
    match typed::<RequestEnvelope>(value, "shape") {
        Err(f) => findings.push(f),
        Ok(r) => {
            name = Some(r.request.body.kind().to_owned());
            if r.version != "1.0" {
                findings.push(Finding::new(
                    "/version",
                    "const",
                    format!("version must be \"1.0\", is {:?}", r.version),
                ));
            }
            if let RequestBody::Other { kind, .. } = &r.request.body {
                findings.push(Finding::new(
                    "/request/type",
                    "known request type",
                    format!("{kind} is not a request type rask knows"),
                ));
            }
            if timestamp::parse(&r.request.timestamp).is_none() {
                findings.push(Finding::new(
                    "/request/timestamp",
                    "format",
                    "not an ISO-8601 date-time",
                ));
            }
            if let Some(s) = &r.session {
                if s.application.application_id != r.application_id() {
                    findings.push(Finding::new(
                        "/session/application/applicationId",
                        "consistent",
                        "session and context name different skills",
                    ));
                }
            }
        }
    }
    Report {
        kind: Some(MessageKind::CustomSkillRequest),
        name,
        findings,
    }
}

fn custom_response(value: &Value) -> Report {
    let mut findings = Vec::new();
    match typed::<ResponseEnvelope>(value, "shape") {
        Err(f) => findings.push(f),
        Ok(r) => {
            if r.version != "1.0" {
                findings.push(Finding::new(
                    "/version",
                    "const",
                    format!("version must be \"1.0\", is {:?}", r.version),
                ));
            }
            for e in r.check_limits() {
                findings.push(Finding::new("/response", "limits", e.to_string()));
            }
            let speeches = [
                ("/response/outputSpeech", r.response.output_speech.as_ref()),
                (
                    "/response/reprompt/outputSpeech",
                    r.response.reprompt.as_ref().map(|p| &p.output_speech),
                ),
            ];
            for (path, s) in speeches {
                if let Some(crate::custom::OutputSpeech::Ssml { ssml, .. }) = s {
                    let t = ssml.trim();
                    if !(t.starts_with("<speak>") && t.ends_with("</speak>")) {
                        findings.push(Finding::new(
                            format!("{path}/ssml"),
                            "ssml",
                            "SSML must be wrapped in <speak>…</speak>",
                        ));
                    }
                }
            }
            for (i, d) in r.response.directives.iter().enumerate() {
                let path = format!("/response/directives/{i}");
                match d {
                    ResponseDirective::SendDirective(s) => {
                        if s.endpoint.endpoint_id.is_empty() {
                            findings.push(Finding::new(
                                format!("{path}/endpoint/endpointId"),
                                "minLength",
                                "a gadget directive names one gadget",
                            ));
                        }
                        if !s.header.namespace.starts_with("Custom.") {
                            findings.push(Finding::new(
                                format!("{path}/header/namespace"),
                                "pattern",
                                "skills may send gadgets only Custom.* interfaces",
                            ));
                        }
                    }
                    ResponseDirective::StartEventHandler(s)
                        if s.expiration.duration_in_milliseconds > 90_000 =>
                    {
                        findings.push(Finding::new(
                            format!("{path}/expiration/durationInMilliseconds"),
                            "maximum",
                            "an event handler lives at most 90000 ms",
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    Report {
        kind: Some(MessageKind::CustomSkillResponse),
        name: None,
        findings,
    }
}

fn skill_message(value: &Value) -> Report {
    let findings = match typed::<SkillMessageRequest>(value, "shape") {
        Err(f) => vec![f],
        Ok(m) => m.check(),
    };
    Report {
        kind: Some(MessageKind::SkillMessage),
        name: None,
        findings,
    }
}

fn proactive(value: &Value) -> Report {
    let mut name = value["event"]["name"].as_str().map(str::to_owned);
    let findings = match typed::<ProactiveEventRequest>(value, "shape") {
        Err(f) => vec![f],
        Ok(m) => {
            name = Some(m.event.name.clone());
            m.check(OffsetDateTime::now_utc())
        }
    };
    Report {
        kind: Some(MessageKind::ProactiveEvent),
        name,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_json_names_line_and_column() {
        let e = check_text("{\n  \"event\": {\n    \"header\": ,\n}").unwrap_err();
        assert_eq!((e.line, e.column), (3, 15));
        assert!(e.message.contains("expected value"), "{}", e.message);
    }

    #[test]
    fn unknown_documents_are_not_valid() {
        let r = check_value(&json!({"hello": "world"}));
        assert!(!r.is_valid());
        assert_eq!(r.kind, None);
        assert!(!check_value(&json!(42)).is_valid());
    }

    #[test]
    fn unknown_event_names_are_not_valid() {
        let r = check_value(&json!({"event": {
            "header": {"namespace": "Alexa.Teleporter", "name": "Beam", "payloadVersion": "3", "messageId": "m"},
            "payload": {}}}));
        assert!(!r.is_valid());
        assert!(
            r.findings.iter().any(|f| f.rule == "known event"),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn shape_errors_carry_a_path() {
        let r = check_value(&json!({"version": "1.0", "response": {"outputSpeech": {"type": "PlainText"}}}));
        assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
        assert_eq!(r.findings[0].path, "/response/outputSpeech");
        assert!(r.findings[0].message.contains("text"));
    }

    #[test]
    fn custom_requests_of_unknown_type_are_reported() {
        let r = check_value(&json!({"version": "1.0",
            "context": {"System": {"application": {"applicationId": "a"}, "user": {"userId": "u"}}},
            "request": {"type": "AlexaSkillEvent.SkillEnabled", "requestId": "r", "timestamp": "2026-11-23T10:00:00Z"}}));
        assert_eq!(r.name.as_deref(), Some("AlexaSkillEvent.SkillEnabled"));
        assert_eq!(r.findings[0].rule, "known request type");
    }

    #[test]
    fn duplicate_endpoint_ids() {
        let ep = json!({"endpointId": "a", "manufacturerName": "m", "friendlyName": "f", "description": "d",
                        "displayCategories": ["LIGHT"], "capabilities": [{"type": "AlexaInterface", "interface": "Alexa", "version": "3"}]});
        let r = check_value(&json!({"event": {
            "header": {"namespace": "Alexa.Discovery", "name": "Discover.Response", "payloadVersion": "3", "messageId": "m"},
            "payload": {"endpoints": [ep, ep]}}}));
        assert!(
            r.findings.iter().any(|f| f.rule == "uniqueEndpointId"),
            "{:?}",
            r.findings
        );
    }
}
