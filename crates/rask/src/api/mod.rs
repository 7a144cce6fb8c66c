//! rask's HTTP API for other services (a shop's order system, a weather feed):
//!
//! - `POST /api/v1/messages`: a Skill Messaging message for one user of `[skill]`;
//! - `POST /api/v1/notifications`: a Proactive Event for one user or everyone;
//! - `GET /api/v1/calls/{id}`: what became of a call;
//! - `GET /api/v1/openapi.json`: this API's OpenAPI 3.1 description.
//!
//! Callers authenticate with `Authorization: Bearer <key>`, a key of `[[api_keys]]`
//! ([`keys`]). A call is in the outbox before the caller hears `202` with its id; every refusal
//! is a 4xx with `{"error", "field", "message"}` naming what to change.

pub mod cli;
pub mod keys;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rask_home::service_queue::{Queued, Refusal, ServiceQueue};
use rask_model::messaging::SkillMessageRequest;
use rask_store::Store;
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub use keys::{Action, ApiKeySection, Keys};

/// The largest body the API reads (an event with many locales is a few KB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The OpenAPI description, served as is.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the API's handlers share.
#[derive(Clone)]
pub struct Api {
    keys: Arc<Keys>,
    queue: ServiceQueue,
    store: Store,
}

/// The API's routes.
pub fn router(keys: Keys, queue: ServiceQueue, store: Store) -> Router {
    let api = Api {
        keys: Arc::new(keys),
        queue,
        store,
    };
    Router::new()
        .route("/api/v1/messages", post(message))
        .route("/api/v1/notifications", post(notification))
        .route("/api/v1/calls/{id}", get(call))
        .route(
            "/api/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .with_state(api)
}

/// A refusal: `{"error", "field", "message"}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: String,
    message: String,
}

fn refuse(status: StatusCode, code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        field: field.to_owned(),
        message: message.into(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "field": self.field, "message": self.message});
        let mut r = (self.status, axum::Json(body)).into_response();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        r
    }
}

impl Api {
    /// The caller's key name, if it may do `action`.
    fn authorize(&self, headers: &HeaderMap, action: Action) -> Result<String, ApiError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match self.keys.authorize(presented, action) {
            Ok(name) => Ok(name.to_owned()),
            Err(keys::Denied::Unauthorized) => Err(refuse(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "",
                "send Authorization: Bearer <key>, a key of [[api_keys]]",
            )),
            Err(keys::Denied::Forbidden { key }) => Err(refuse(
                StatusCode::FORBIDDEN,
                "forbidden",
                "",
                format!(
                    "the key {key:?} may not send {}: add it to its actions",
                    action.as_str()
                ),
            )),
            Err(keys::Denied::TooMany) => Err(refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "",
                "more calls a second than the key's per_second",
            )),
        }
    }
}

/// The body as a JSON object, or the answer that says why not.
fn object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "",
            format!("the body is {} bytes; at most {MAX_BODY_BYTES}", body.len()),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid",
            "",
            "the body must be a JSON object",
        )),
        Err(e) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid",
            "",
            format!("the body is not JSON: {e}"),
        )),
    }
}

fn refusal(r: Refusal) -> ApiError {
    let status = match &r {
        Refusal::Invalid(_) => StatusCode::BAD_REQUEST,
        Refusal::UnknownUser { .. } | Refusal::NoRegion { .. } => StatusCode::NOT_FOUND,
        Refusal::Disabled { .. } | Refusal::Unsubscribed { .. } => StatusCode::CONFLICT,
        Refusal::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    if let Refusal::Store(e) = &r {
        tracing::error!(error = %e, "the API could not queue a call");
    }
    refuse(status, r.code(), r.field(), r.to_string())
}

fn queued(calls: &[Queued]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|q| json!({"id": q.id, "region": q.region.as_str(), "duplicate": q.duplicate}))
            .collect(),
    )
}

/// `POST /api/v1/messages` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MessageBody {
    user: String,
    data: Map<String, Value>,
    #[serde(default)]
    expires_after_seconds: Option<u64>,
    #[serde(default)]
    key: Option<String>,
}

async fn message(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let name = api.authorize(&headers, Action::Messages)?;
    let raw = object(&body)?;
    let b: MessageBody = serde_json::from_value(Value::Object(raw))
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, "invalid", "", e.to_string()))?;
    let mut m = SkillMessageRequest::new(b.data);
    m.expires_after_seconds = b.expires_after_seconds;
    let q = api.queue.message(&b.user, &m, b.key).await.map_err(refusal)?;
    tracing::debug!(key = %name, call = %q.id, region = q.region.as_str(), "API: message queued");
    let body = json!({"id": q.id, "region": q.region.as_str(), "duplicate": q.duplicate});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

async fn notification(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let name = api.authorize(&headers, Action::Notifications)?;
    let mut raw = object(&body)?;
    let invalid = |field: &str, message: &str| refuse(StatusCode::BAD_REQUEST, "invalid", field, message);
    let live = match raw.remove("live") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err(invalid("/live", "live is true or false")),
    };
    let user = match raw.remove("user") {
        None => None,
        Some(Value::String(u)) => Some(u),
        Some(_) => return Err(invalid("/user", "user is the user's id, a string")),
    };
    let everyone = matches!(raw.remove("everyone"), Some(Value::Bool(true)));
    let event = crate::notify::event_for(Value::Object(raw), user.as_deref(), everyone)
        .map_err(|f| invalid(&f.path, &f.message))?;
    let calls = api.queue.notify(&event, live).await.map_err(refusal)?;
    tracing::debug!(key = %name, calls = calls.len(), "API: proactive event queued");
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"calls": queued(&calls)}))).into_response())
}

async fn call(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // Either action may read what became of a call: it says no more than the caller sent.
    if let Err(first) = api.authorize(&headers, Action::Messages) {
        if let Err(second) = api.authorize(&headers, Action::Notifications) {
            return Err(if second.status == StatusCode::UNAUTHORIZED {
                second
            } else {
                first
            });
        }
    }
    let c = api
        .store
        .service_call(&id)
        .await
        .map_err(|e| refusal(Refusal::Store(e)))?
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "not_found", "/id", "no call with this id"))?;
    let body = json!({
        "id": c.id, "kind": c.kind, "region": c.region, "status": c.status,
        "attempts": c.attempts, "outcome": c.outcome,
    });
    Ok(axum::Json(body).into_response())
}
