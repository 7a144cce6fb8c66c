//! Out-of-session delivery: the worker that takes Skill Messaging messages and Proactive
//! Events from their outbox to Amazon, in each call's own region, retrying 429 and 5xx as Amazon
//! advises (backing off, never past the call's own expiry), and recording what Amazon said.
//!
//! What to do after each answer is [`after`], a plain decision; the worker only carries it out,
//! as a [`crate::pipeline`] (a hung call holds up no other).
//! A call is sent twice only when its outcome is not stored before its claim runs out (rask
//! dies between Amazon's 202 and the settle, say; [`crate::pipeline`] lists the ways); the
//! receiving skill deduplicates (Amazon may deliver a message more than once anyway).

use std::sync::Arc;
use std::time::Duration;

use rask_cloud::services::{OutOfSession, ServiceError, Stage};
use rask_model::check::Finding;
use rask_model::messaging::SkillMessageRequest;
use rask_model::proactive::ProactiveEventRequest;
use rask_model::region::Region;
use rask_store::service_outbox::{NewServiceCall, ServiceCall, ServiceOutcome};
use rask_store::{Store, StoreError, now_ms};
use tokio::sync::Notify;

use crate::pipeline::{self, Entrance, Limits, Work};

/// How many calls one turn claims.
pub const BATCH: i64 = 64;

/// The first wait after a retryable failure; it doubles with each attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What follows an attempt made at `now`, the call's `attempts`-th before it, which must be
/// done by `expires_at`.
pub fn after(result: &Result<(), ServiceError>, attempts: i64, now: i64, expires_at: i64) -> ServiceOutcome {
    match result {
        Ok(()) => ServiceOutcome::Sent("Amazon accepted it (202)".into()),
        // Amazon has this event for this audience: an attempt whose 202 rask never recorded
        // (it stopped in between), or another sender with the same referenceId.
        Err(ServiceError::Duplicate(m)) => ServiceOutcome::Sent(format!(
            "Amazon has an event with this referenceId for this audience already (409): {m}"
        )),
        Err(e) if e.retryable() => {
            let wait = FIRST_BACKOFF
                .saturating_mul(1u32 << attempts.clamp(0, 16) as u32)
                .min(MAX_BACKOFF);
            let at = now + wait.as_millis() as i64;
            if at >= expires_at {
                ServiceOutcome::Failed(format!("{e}; it expires before another attempt"))
            } else {
                ServiceOutcome::Retry {
                    at,
                    why: e.to_string(),
                }
            }
        }
        Err(e) => ServiceOutcome::Failed(e.to_string()),
    }
}

/// A message for the outbox: checked now, so that a caller hears at once what is wrong.
/// Its useful life is its `expiresAfterSeconds`.
pub fn message_call(
    skill_id: &str,
    user_id: &str,
    region: Region,
    message: &SkillMessageRequest,
    dedupe_key: Option<String>,
    now: i64,
) -> Result<NewServiceCall, Finding> {
    if let Some(p) = message.check().into_iter().next() {
        return Err(p);
    }
    if user_id.is_empty() {
        return Err(Finding::new("/user", "required", "the message needs a user"));
    }
    Ok(NewServiceCall {
        id: rask_store::row_id(),
        kind: "message".into(),
        skill_id: skill_id.to_owned(),
        user_id: user_id.to_owned(),
        region: region.as_str().to_owned(),
        stage: String::new(),
        body: serde_json::to_string(message).map_err(|e| Finding::new("", "json", e.to_string()))?,
        dedupe_key,
        created_at: now,
        expires_at: now + message.effective_expiry() as i64 * 1000,
    })
}

/// A proactive event for the outbox, checked now. Its useful life ends at its `expiryTime`.
/// `live` picks the live stage over development.
pub fn event_call(
    skill_id: &str,
    region: Region,
    live: bool,
    event: &ProactiveEventRequest,
    now: i64,
) -> Result<NewServiceCall, Finding> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(now as i128 * 1_000_000)
        .map_err(|e| Finding::new("", "clock", e.to_string()))?;
    if let Some(p) = event.check(at).into_iter().next() {
        return Err(p);
    }
    let expires = rask_model::timestamp::parse(&event.expiry_time)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .ok_or_else(|| Finding::new("/expiryTime", "format", "expiryTime is not a date-time"))?;
    Ok(NewServiceCall {
        id: rask_store::row_id(),
        kind: "event".into(),
        skill_id: skill_id.to_owned(),
        user_id: event.relevant_audience.user().unwrap_or_default().to_owned(),
        region: region.as_str().to_owned(),
        stage: if live { "live" } else { "development" }.into(),
        body: serde_json::to_string(event).map_err(|e| Finding::new("", "json", e.to_string()))?,
        // The same referenceId to the same audience is the same event (Amazon says 409).
        dedupe_key: Some(format!(
            "event:{}:{}:{}",
            region.as_str(),
            event.relevant_audience.user().unwrap_or("*"),
            event.reference_id
        )),
        created_at: now,
        expires_at: expires,
    })
}

/// The worker.
#[derive(Clone)]
pub struct ServiceDelivery {
    store: Store,
    client: OutOfSession,
    claimer: Arc<str>,
    /// The way in for calls stored already claimed by this worker, and its waker.
    entrance: Arc<Entrance<ServiceCall>>,
    /// How long a claimed call is this worker's.
    pub lease: Duration,
}

impl ServiceDelivery {
    /// A worker for the store's out-of-session outbox.
    pub fn new(store: Store, client: OutOfSession) -> Self {
        let claimer: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        ServiceDelivery {
            store,
            client,
            entrance: Entrance::new(claimer.clone(), BATCH as usize),
            claimer,
            // Renewed every third of itself while the call is in flight; after a crash, its
            // calls come free for another worker this soon.
            lease: Duration::from_secs(12),
        }
    }

    /// Wakes the worker when a call was stored.
    pub fn waker(&self) -> Arc<Notify> {
        self.entrance.waker()
    }

    /// The way in for calls stored already claimed by this worker ([`Entrance::reserve`]), so
    /// that they are sent without a claim's round trip; taken only once the worker runs.
    pub fn entrance(&self) -> Arc<Entrance<ServiceCall>> {
        self.entrance.clone()
    }

    /// Runs the pipeline until the process ends ([`crate::pipeline`]); returns its tasks.
    pub fn spawn(self) -> Vec<tokio::task::JoinHandle<()>> {
        let limits = Limits {
            concurrency: BATCH as usize,
            batch: BATCH as usize,
            settle_group: 4 * BATCH as usize,
            poll: Duration::from_millis(500),
            lease: self.lease,
        };
        let entrance = self.entrance.clone();
        pipeline::spawn(self, limits, entrance)
    }

    /// Claims what is due, sends it and records the outcomes, all before returning; returns
    /// how many calls it tried. For tests and tools that step the worker by hand.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        pipeline::run_once(self, BATCH as usize).await
    }

    async fn attempt(&self, call: &ServiceCall) -> ServiceOutcome {
        let now = now_ms();
        if now >= call.expires_at {
            return ServiceOutcome::Failed("it expired before Amazon took it".into());
        }
        let Some(region) = Region::parse(&call.region) else {
            return ServiceOutcome::Failed(format!("no region {:?}", call.region));
        };
        let result = match call.kind.as_str() {
            "message" => match serde_json::from_str::<SkillMessageRequest>(&call.body) {
                Ok(m) => self.client.send_message(region, &call.user_id, &m).await,
                Err(e) => Err(ServiceError::Invalid(format!(
                    "the stored message cannot be read: {e}"
                ))),
            },
            "event" => match serde_json::from_str::<ProactiveEventRequest>(&call.body) {
                Ok(ev) => {
                    let stage = if call.stage == "live" {
                        Stage::Live
                    } else {
                        Stage::Development
                    };
                    self.client.send_event(region, stage, &ev).await
                }
                Err(e) => Err(ServiceError::Invalid(format!(
                    "the stored event cannot be read: {e}"
                ))),
            },
            other => Err(ServiceError::Invalid(format!("no kind {other:?}"))),
        };
        after(&result, call.attempts, now_ms(), call.expires_at)
    }
}

impl Work for ServiceDelivery {
    type Claimed = ServiceCall;
    type Row = ServiceCall;
    type Done = (ServiceCall, ServiceOutcome);

    const NAME: &'static str = "out-of-session delivery";

    fn id(call: &ServiceCall) -> String {
        call.id.clone()
    }

    async fn claim(&self, limit: usize) -> Result<Vec<ServiceCall>, StoreError> {
        self.store
            .claim_service_calls(
                &self.claimer,
                now_ms(),
                self.lease.as_millis() as i64,
                limit as i64,
            )
            .await
    }

    async fn deliver(&self, call: ServiceCall) -> (ServiceCall, ServiceOutcome) {
        let outcome = self.attempt(&call).await;
        let label = match &outcome {
            ServiceOutcome::Sent(_) => "sent",
            ServiceOutcome::Retry { .. } => "retry",
            ServiceOutcome::Failed(_) => "failed",
        };
        // The kinds this worker knows; anything else is failed by `attempt` as "no kind".
        let kind = if matches!(call.kind.as_str(), "message" | "event") {
            call.kind.as_str()
        } else {
            "other"
        };
        crate::metrics::metrics().delivery(kind, crate::metrics::region_label(&call.region), label);
        match &outcome {
            ServiceOutcome::Sent(_) => {
                tracing::debug!(call = %call.id, "out-of-session call accepted by Amazon")
            }
            ServiceOutcome::Retry { why, .. } => {
                tracing::warn!(call = %call.id, "out-of-session call to be retried: {why}")
            }
            ServiceOutcome::Failed(why) => {
                tracing::warn!(call = %call.id, "out-of-session call given up: {why}")
            }
        }
        (call, outcome)
    }

    async fn settle(&self, done: &[(ServiceCall, ServiceOutcome)]) -> Result<(), StoreError> {
        self.store.settle_service_calls(done).await
    }

    async fn adopt(&self, calls: Vec<ServiceCall>) -> Vec<ServiceCall> {
        calls
    }

    async fn renew(&self, ids: &[String]) -> Result<(), StoreError> {
        let now = now_ms();
        self.store
            .renew_service_claims(&self.claimer, ids, now, now + self.lease.as_millis() as i64)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retried_with_growing_waits_never_past_expiry_and_refusals_are_final() {
        let busy = Err(ServiceError::Throttled("slow down".into()));
        assert_eq!(
            after(&busy, 0, 1_000, 100_000),
            ServiceOutcome::Retry {
                at: 2_000,
                why: busy.clone().unwrap_err().to_string()
            }
        );
        assert!(matches!(
            after(&busy, 3, 1_000, 100_000),
            ServiceOutcome::Retry { at: 9_000, .. }
        ));
        assert!(matches!(
            after(&busy, 30, 1_000, 1_000_000),
            ServiceOutcome::Retry { at: 61_000, .. }
        ));
        assert!(
            matches!(after(&busy, 3, 1_000, 5_000), ServiceOutcome::Failed(_)),
            "would be past expiry"
        );
        assert!(matches!(
            after(&Err(ServiceError::UnknownUser("who".into())), 0, 1_000, 100_000),
            ServiceOutcome::Failed(_)
        ));
        assert!(matches!(
            after(&Ok(()), 5, 1_000, 100_000),
            ServiceOutcome::Sent(_)
        ));
        assert!(
            matches!(
                after(&Err(ServiceError::Duplicate("seen".into())), 0, 1_000, 100_000),
                ServiceOutcome::Sent(_)
            ),
            "a 409 after a lost 202 is the event Amazon has"
        );
    }
}
