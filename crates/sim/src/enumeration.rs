//! Endpoint Enumeration: `GET {region}/v1/endpoints` with a request's `apiAccessToken`,
//! listing the gadgets paired with that user's Echo.

use std::time::Instant;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Sim;
use crate::faults::Target;
use crate::http;
use crate::log::Entry;
use crate::region::Region;

/// `GET /v1/endpoints`.
pub async fn get_endpoints(
    State(sim): State<Sim>,
    Extension(region): Extension<Region>,
    headers: HeaderMap,
) -> Response {
    let mut entry = Entry::new("endpoints", 200, Value::Null);
    entry.region = Some(region.to_string());
    entry.name = Some("GetEndpoints".into());
    if let Some(injected) = crate::faults::inject(&sim, Target::Endpoints).await {
        if let Some(r) = injected.raw_response(&sim, entry.clone()) {
            return r;
        }
        return refuse(&sim, entry, injected.status, "injected by rask sim (fault)");
    }
    let Some(token) = http::bearer(&headers) else {
        return refuse(&sim, entry, 401, "The request has no bearer token");
    };
    let w = sim.world();
    let Some((skill_id, user)) = w.api_token_user(token, Instant::now()) else {
        drop(w);
        return refuse(&sim, entry, 401, "The apiAccessToken is invalid or has expired");
    };
    let gadgets = match w.user(&user) {
        Ok(u) if u.region == region => u.gadgets.clone(),
        _ => {
            drop(w);
            return refuse(&sim, entry, 403, "The token does not belong to this region");
        }
    };
    drop(w);
    entry.skill_id = Some(skill_id);
    entry.user = Some(user);
    sim.world().log.push(entry);
    http::json(StatusCode::OK, &json!({ "endpoints": gadgets }))
}

fn refuse(sim: &Sim, entry: Entry, status: u16, message: &str) -> Response {
    let mut entry = entry.error(format!("{status}: {message}"));
    entry.status = status;
    sim.world().log.push(entry);
    error(status, message)
}

/// `{"code", "message"}`: Amazon's model for this API has `code` as a string, "a domain
/// specific error code" (Skill Messaging's has a number). Amazon names no values; the sim's
/// are the status's name (docs/sim.md).
pub fn error(status: u16, message: &str) -> Response {
    let code = match status {
        400 => "INVALID_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        429 => "TOO_MANY_REQUESTS",
        500 => "INTERNAL_SERVER_ERROR",
        503 => "SERVICE_UNAVAILABLE",
        _ => "ERROR",
    };
    http::json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &json!({"code": code, "message": message}),
    )
}
