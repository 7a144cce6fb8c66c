//! The Alexa Event Gateway: `POST {region}/v3/events`.
//!
//! Checks, in the order Amazon's answers imply: the bearer token (a live LWA token of a user
//! who granted this skill, in the region whose URL was called), the body against the official
//! schema and rask's rules, and that the token in the body's scope is the bearer token. Answers
//! 202 with no body, or the documented status with Amazon's error body:
//! `{"header":{"namespace":"System","name":"Exception","messageId"},"payload":{"code","description"}}`.

use std::time::Instant;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rask_model::check::{self, MessageKind};
use serde_json::{Value, json};

use crate::Sim;
use crate::faults::Target;
use crate::http::{self, body_for_log};
use crate::log::Entry;
use crate::region::Region;
use crate::world::GatewayRefusal;

/// Largest event the gateway takes (Amazon does not publish a byte limit; 1 MiB).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Events a skill may send to the gateway; the others are answers to directives only.
const GATEWAY_EVENTS: &[(&str, &str)] = &[
    ("Alexa", "ChangeReport"),
    ("Alexa", "Response"),
    ("Alexa", "StateReport"),
    ("Alexa", "ErrorResponse"),
    ("Alexa.DoorbellEventSource", "DoorbellPress"),
    ("Alexa.Discovery", "AddOrUpdateReport"),
    ("Alexa.Discovery", "DeleteReport"),
    ("Alexa.SceneController", "ActivationStarted"),
    ("Alexa.SceneController", "DeactivationStarted"),
    ("Alexa.CameraStreamController", "Response"),
];

/// The documented error code for a status, where a fault names none.
pub fn default_code(status: u16) -> &'static str {
    match status {
        400 => "INVALID_REQUEST_EXCEPTION",
        401 => "INVALID_ACCESS_TOKEN_EXCEPTION",
        403 => "SKILL_NEVER_ENABLED_EXCEPTION",
        404 => "ACCOUNT_NOT_FOUND_EXCEPTION",
        413 => "REQUEST_ENTITY_TOO_LARGE_EXCEPTION",
        429 => "THROTTLING_EXCEPTION",
        503 => "SERVICE_UNAVAILABLE_EXCEPTION",
        _ => "INTERNAL_SERVICE_EXCEPTION",
    }
}

/// Amazon's error body.
pub fn error_body(code: &str, description: &str) -> Value {
    json!({
        "header": {"namespace": "System", "name": "Exception", "messageId": uuid::Uuid::new_v4().to_string()},
        "payload": {"code": code, "description": description}
    })
}

struct Refusal {
    status: u16,
    code: &'static str,
    description: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, description: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            description: description.into(),
        }
    }
}

impl From<GatewayRefusal> for Refusal {
    fn from(r: GatewayRefusal) -> Self {
        match r {
            GatewayRefusal::InvalidToken(d) => Refusal::new(401, "INVALID_ACCESS_TOKEN_EXCEPTION", d),
            GatewayRefusal::NotEnabled(d) => Refusal::new(403, "SKILL_NEVER_ENABLED_EXCEPTION", d),
            GatewayRefusal::InsufficientPermission(d) => {
                Refusal::new(403, "INSUFFICIENT_PERMISSION_EXCEPTION", d)
            }
            GatewayRefusal::SkillNotFound(d) => Refusal::new(404, "SKILL_NOT_FOUND_EXCEPTION", d),
            GatewayRefusal::AccountNotFound(d) => Refusal::new(404, "ACCOUNT_NOT_FOUND_EXCEPTION", d),
        }
    }
}

/// `POST /v3/events`.
pub async fn post_event(
    State(sim): State<Sim>,
    Extension(region): Extension<Region>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut entry = Entry::new("gateway", 202, body_for_log(&body));
    entry.region = Some(region.to_string());
    entry.name = header_name(&entry.body);

    if let Some(injected) = crate::faults::inject(&sim, Target::Gateway).await {
        let status = injected.status;
        let code = injected
            .code
            .clone()
            .unwrap_or_else(|| default_code(status).to_owned());
        if let Some(r) = injected.raw_response(&sim, entry.clone()) {
            return r;
        }
        return refuse(&sim, entry, status, &code, "injected by rask sim", true);
    }

    match decide(&sim, region, &headers, &body, &mut entry) {
        Ok(()) => {
            sim.world().log.push(entry);
            StatusCode::ACCEPTED.into_response()
        }
        Err(r) => refuse(&sim, entry, r.status, r.code, &r.description, false),
    }
}

fn decide(
    sim: &Sim,
    region: Region,
    headers: &HeaderMap,
    body: &[u8],
    entry: &mut Entry,
) -> Result<(), Refusal> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(Refusal::new(
            413,
            "REQUEST_ENTITY_TOO_LARGE_EXCEPTION",
            format!(
                "The event is {} bytes; the limit is {MAX_EVENT_BYTES}",
                body.len()
            ),
        ));
    }
    let token = http::bearer(headers).ok_or_else(|| {
        Refusal::new(
            401,
            "INVALID_ACCESS_TOKEN_EXCEPTION",
            "The request has no bearer token",
        )
    })?;
    let (skill_id, user) = sim
        .world()
        .gateway_user(token, region, Instant::now())
        .map_err(Refusal::from)?;
    entry.skill_id = Some(skill_id);
    entry.user = Some(user);

    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::new(
            400,
            "INVALID_REQUEST_EXCEPTION",
            format!("The body is not JSON: {e}"),
        )
    })?;
    let report = check::check_value(&value);
    if report.kind != Some(MessageKind::SmartHomeEvent) {
        return Err(Refusal::new(
            400,
            "INVALID_REQUEST_EXCEPTION",
            "The body is not a Smart Home event",
        ));
    }
    if !report.findings.is_empty() {
        entry.findings = report.findings.iter().map(Into::into).collect();
        let first = &report.findings[0];
        return Err(Refusal::new(
            400,
            "INVALID_REQUEST_EXCEPTION",
            format!("{} ({} findings)", first, report.findings.len()),
        ));
    }
    let h = &value["event"]["header"];
    let kind = (
        h["namespace"].as_str().unwrap_or(""),
        h["name"].as_str().unwrap_or(""),
    );
    if !GATEWAY_EVENTS.contains(&kind) {
        return Err(Refusal::new(
            400,
            "INVALID_REQUEST_EXCEPTION",
            format!("{}.{} is not sent to the Event Gateway", kind.0, kind.1),
        ));
    }
    let scope_token = value["event"]["endpoint"]["scope"]["token"]
        .as_str()
        .or_else(|| value["event"]["payload"]["scope"]["token"].as_str());
    match scope_token {
        None => Err(Refusal::new(
            400,
            "INVALID_REQUEST_EXCEPTION",
            "The event carries no scope token (event.endpoint.scope or payload.scope)",
        )),
        Some(t) if t != token => Err(Refusal::new(
            400,
            "INVALID_REQUEST_EXCEPTION",
            "The scope token in the body is not the bearer token of the request",
        )),
        Some(_) => Ok(()),
    }
}

fn refuse(sim: &Sim, entry: Entry, status: u16, code: &str, description: &str, injected: bool) -> Response {
    let note = if injected { " (fault injected)" } else { "" };
    let mut entry = entry.error(format!("{code}: {description}{note}"));
    entry.status = status;
    sim.world().log.push(entry);
    http::json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &error_body(code, description),
    )
}

fn header_name(body: &Value) -> Option<String> {
    let h = &body["event"]["header"];
    Some(format!("{}.{}", h["namespace"].as_str()?, h["name"].as_str()?))
}
