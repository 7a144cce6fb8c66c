//! Device webhooks, each with `Authorization: Bearer <the device's secret>`:
//!
//! - `POST /hooks/devices/{id}/press`: a doorbell press becomes one `DoorbellPress` per user
//!   whose grant is active, written to the outbox before the trigger is answered (202):
//!   nothing accepted is lost;
//! - `POST /hooks/devices/{id}/state`: what a device reports, in the body, read as its MQTT
//!   state message would be (a plain value or a JSON object, optionally with a `cause`);
//!   stored before the answer (200 with what changed), and reported to Alexa as changes.
//!
//! An unknown device, a device without a secret and a wrong secret get the same 401, so that
//! the answers do not tell a stranger which ids exist; after [`FAILURES_PER_ADDRESS`] such
//! failures in 15 minutes, an address is answered 429 until its window has passed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rask_link::ratelimit::{Limits, RateLimiter};
use rask_link::secret::Secret;
use rask_link::web::Remote;
use rask_model::smarthome::{CauseType, EventMessage};
use rask_store::outbox::{NewEvent, Pending};
use rask_store::{Store, now_ms};
use serde_json::json;
use tokio::sync::Notify;

use crate::capabilities::read_state;
use crate::devices::{Device, DeviceKind, Registry};
use crate::pipeline::Entrance;
use crate::state::{DeviceStates, stated_cause};
use rask_store::device_state::Hearing;

/// What a press that no user hears is answered with.
pub const NOBODY_GRANTED: &str =
    "no user has granted events yet, or every grant is revoked: nobody was told (see rask status)";

/// Refused webhook calls an address may make per 15 minutes.
pub const FAILURES_PER_ADDRESS: u32 = 20;

/// How long a doorbell press is worth announcing (seed 001: 30 s).
pub const DOORBELL_LIFE: Duration = Duration::from_secs(30);

/// What the trigger routes need.
#[derive(Clone)]
pub struct Triggers {
    store: Store,
    registry: Arc<Registry>,
    secrets: Arc<HashMap<String, Secret>>,
    /// A press's useful life.
    pub doorbell_life: Duration,
    wake: Arc<Notify>,
    /// The local delivery worker's way in, when it runs in this process.
    entrance: Option<Arc<Entrance<Pending>>>,
    states: Option<DeviceStates>,
    limiter: Arc<RateLimiter>,
}

impl Triggers {
    /// Triggers for `registry`'s devices, each authenticated by its secret; `wake` is the
    /// delivery worker's.
    pub fn new(
        store: Store,
        registry: Registry,
        secrets: HashMap<String, Secret>,
        wake: Arc<Notify>,
    ) -> Self {
        Triggers {
            store,
            registry: Arc::new(registry),
            secrets: Arc::new(secrets),
            doorbell_life: DOORBELL_LIFE,
            wake,
            entrance: None,
            states: None,
            limiter: Arc::new(RateLimiter::new(Limits {
                per_account: u32::MAX,
                per_address: FAILURES_PER_ADDRESS,
                window: Duration::from_secs(15 * 60),
            })),
        }
    }

    /// Hands the events this stores straight to the delivery worker behind `entrance` (in
    /// this process), claimed in its name as they are written, while it has room for them:
    /// they are sent without waiting for a claim. The rest are stored for any worker.
    pub fn handing_to(mut self, entrance: Arc<Entrance<Pending>>) -> Self {
        self.entrance = Some(entrance);
        self
    }

    /// Stores `events` (all or none) and sees that a worker sends them: the local one takes
    /// what it has room for at once, the rest are claimed from the outbox.
    async fn queue(&self, mut events: Vec<NewEvent>) -> Result<(), rask_store::StoreError> {
        let reserved = self.entrance.as_ref().and_then(|e| e.reserve(events.len()));
        let Some(reserved) = reserved else {
            self.store.enqueue(&events).await?;
            self.wake.notify_one();
            return Ok(());
        };
        let rest = events.split_off(reserved.rows());
        let (store, wake) = (self.store.clone(), self.wake.clone());
        // Its own task, so that a caller who stops waiting (a webhook's client hanging up)
        // cannot leave rows stored as the worker's but never handed to it.
        let stored = tokio::spawn(async move {
            store
                .enqueue_claimed(&events, &rest, reserved.claimer(), reserved.claimed_until())
                .await?;
            reserved.hand(
                events
                    .into_iter()
                    .map(|event| (event.id.clone(), Pending::from(event)))
                    .collect(),
            );
            if !rest.is_empty() {
                wake.notify_one();
            }
            Ok(())
        });
        stored
            .await
            .map_err(|e| rask_store::StoreError::Batch(format!("the outbox write stopped: {e}")))?
    }

    /// Takes device states on `/state` into `states`.
    pub fn with_states(mut self, states: DeviceStates) -> Self {
        self.states = Some(states);
        self
    }

    /// Puts the dropped event `id` back in the outbox (while it is within its useful life) and
    /// wakes the delivery worker.
    pub async fn resend(&self, id: &str) -> Result<rask_store::activity::Resend, rask_store::StoreError> {
        let r = self.store.resend_event(id, now_ms()).await?;
        if r == rask_store::activity::Resend::Queued {
            self.wake.notify_one();
        }
        Ok(r)
    }

    /// Announces every device to `user_id` again (AddOrUpdateReport) and wakes the delivery
    /// worker; returns how many reports were queued.
    pub async fn rediscover(&self, user_id: &str) -> Result<usize, rask_store::StoreError> {
        let events = crate::discovery::full_report(&self.registry, user_id, now_ms());
        let n = events.len();
        self.queue(events).await?;
        Ok(n)
    }

    /// Queues a test `ChangeReport` of `device`'s state for every granted user
    /// ([`crate::reports::test_report`]); `Ok(None)` when the device has no state to report.
    pub async fn test_change_report(&self, device: &str) -> Result<Option<usize>, rask_store::StoreError> {
        let (Some(d), Some(states)) = (self.registry.get(device), &self.states) else {
            return Ok(None);
        };
        let now = now_ms();
        let state = states.read(device).await?;
        let Some(report) = crate::reports::test_report(d, &state, now) else {
            return Ok(None);
        };
        let event = serde_json::to_string(&report).unwrap_or_default();
        let events: Vec<NewEvent> = self
            .store
            .granted_users()
            .await?
            .into_iter()
            .map(|user_id| NewEvent {
                id: rask_store::row_id(),
                user_id,
                endpoint_id: device.to_owned(),
                kind: "ChangeReport".into(),
                event: event.clone(),
                created_at: now,
                expires_at: now + crate::reports::CHANGE_REPORT_LIFE.as_millis() as i64,
            })
            .collect();
        let n = events.len();
        self.queue(events).await?;
        Ok(Some(n))
    }

    /// Queues a press of `device` for every granted user; returns how many events were queued.
    pub async fn press(&self, device: &str) -> Result<usize, rask_store::StoreError> {
        let now = now_ms();
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(now as i128 * 1_000_000)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        let users = self.store.granted_users().await?;
        let events: Vec<NewEvent> = users
            .into_iter()
            .map(|user_id| NewEvent {
                id: rask_store::row_id(),
                event: serde_json::to_string(&EventMessage::doorbell_press(device, "", at))
                    .unwrap_or_default(),
                user_id,
                endpoint_id: device.to_owned(),
                kind: "DoorbellPress".into(),
                created_at: now,
                expires_at: now + self.doorbell_life.as_millis() as i64,
            })
            .collect();
        let n = events.len();
        self.queue(events).await?;
        Ok(n)
    }
}

/// The `/hooks/devices/{id}/{trigger}` route.
pub fn router(t: Triggers) -> Router {
    Router::new()
        .route("/hooks/devices/{id}/{trigger}", post(hook))
        .with_state(t)
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

async fn hook(
    State(t): State<Triggers>,
    Remote(remote): Remote,
    Path((id, trigger)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let began = std::time::Instant::now();
    if let Err(wait) = t.limiter.begin_address(&remote, began) {
        let mut r = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": format!("too many refused calls from this address; try again in {} s", wait.as_secs().max(1))}),
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or("");
    let known = t.registry.get(&id).zip(t.secrets.get(&id));
    let Some((device, _)) = known.filter(|(_, secret)| secret.matches(token.trim())) else {
        let why = match (t.registry.get(&id), t.secrets.get(&id)) {
            (None, _) => "no such device",
            (Some(_), None) => "the device has no secret configured (devices[].secret_env)",
            (Some(_), Some(_)) => "a wrong or missing device secret",
        };
        tracing::warn!(
            device = %rask_model::limits::logged(&id),
            remote = %rask_model::limits::logged(&remote),
            "a device webhook was refused: {why}"
        );
        // The same answer whatever the reason: a stranger learns nothing of which ids exist.
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "unknown device or wrong device secret (Authorization: Bearer <the device's secret>)"}),
        );
    };
    t.limiter.succeeded_address(&remote, began);
    // Known and authenticated: named on every line logged for this request.
    tracing::Span::current().record("device", id.as_str());
    match (trigger.as_str(), device.kind) {
        ("press", DeviceKind::Doorbell) => match t.press(&id).await {
            Ok(n) => {
                tracing::info!(device = %id, events = n, "doorbell press queued");
                if n == 0 {
                    // Accepted (the device did nothing wrong), but heard by nobody: say so.
                    answer(
                        StatusCode::ACCEPTED,
                        json!({"queued": 0, "message": NOBODY_GRANTED}),
                    )
                } else {
                    answer(StatusCode::ACCEPTED, json!({"queued": n}))
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a press could not be queued");
                answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "the press could not be stored; try again"}),
                )
            }
        },
        ("state", kind) if !kind.properties().is_empty() => state(&t, device, &body).await,
        (other, kind) => answer(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("a {} has no {other:?} webhook", kind.name())}),
        ),
    }
}

async fn state(t: &Triggers, device: &Device, body: &[u8]) -> Response {
    let Some(states) = &t.states else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "device states are not taken by this server"}),
        );
    };
    let w = &device.wiring;
    let values = read_state(
        device.kind.properties(),
        body,
        |p| w.state_field(p),
        &w.temperature_scale,
    );
    if values.is_empty() {
        let fields: Vec<String> = device
            .kind
            .properties()
            .iter()
            .map(|p| w.state_field(*p))
            .collect();
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": format!(
                "the body holds no value rask can read for a {} (a plain value, or JSON with {})",
                device.kind.name(),
                fields.join(", ")
            )}),
        );
    }
    let cause = stated_cause(body).unwrap_or(CauseType::PhysicalInteraction);
    match states
        .record(&device.id, values, cause, now_ms(), Hearing::Now)
        .await
    {
        Ok(changed) => {
            let changed: Vec<&str> = changed.iter().map(|p| p.field()).collect();
            answer(StatusCode::OK, json!({"changed": changed}))
        }
        Err(e) => {
            tracing::error!(error = %e, "a device state could not be stored");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "the state could not be stored; try again"}),
            )
        }
    }
}
