//! What a caller (`rask message`, `rask notify`, the HTTP API, a Rust program) asks to send
//! out of session: a Skill Messaging message for one user, a Proactive Event for one user or
//! for everyone. Each is checked against Amazon's rules and against what rask knows of the
//! user (the region their requests come from, whether they disabled the skill, which events
//! they subscribe to), then stored in the outbox, where the delivery worker
//! ([`crate::out_of_session`]) takes it from. A refusal says what to fix; nothing is guessed.

use std::sync::Arc;

use rask_model::check::Finding;
use rask_model::messaging::SkillMessageRequest;
use rask_model::proactive::ProactiveEventRequest;
use rask_model::region::Region;
use rask_store::service_outbox::{Enqueued, NewServiceCall};
use rask_store::skills::SkillUser;
use rask_store::{Store, StoreError, now_ms};
use thiserror::Error;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::out_of_session::{event_call, message_call};

/// Why a call was not queued.
#[derive(Debug, Error)]
pub enum Refusal {
    /// The body breaks one of Amazon's rules.
    #[error("{0}")]
    Invalid(Finding),
    /// rask has never heard from the user, so their region is unknown.
    #[error(
        "{user} has not used the skill yet, so their region is unknown: they open the skill once \
         (any request records it), then they can be reached"
    )]
    UnknownUser {
        /// The user id, cut for messages.
        user: String,
    },
    /// The user's recorded endpoint is not one of Alexa's regions.
    #[error("the user's recorded API endpoint {endpoint:?} names no Alexa region")]
    NoRegion {
        /// What was recorded, cut.
        endpoint: String,
    },
    /// The user disabled the skill.
    #[error("{user} disabled the skill: nothing more goes to them until they enable it again")]
    Disabled {
        /// The user id, cut.
        user: String,
    },
    /// The user is not subscribed to this event.
    #[error(
        "{user} is not subscribed to {event} (their last subscription change says so): Alexa would not \
         tell them; they turn its notifications on in the Alexa app"
    )]
    Unsubscribed {
        /// The user id, cut.
        user: String,
        /// The event's name.
        event: String,
    },
    /// The outbox could not be written.
    #[error("the outbox could not be written: {0}")]
    Store(#[from] StoreError),
}

impl Refusal {
    /// A short code, for API answers: `invalid`, `unknown_user`, `no_region`, `skill_disabled`,
    /// `unsubscribed`, `unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "invalid",
            Refusal::UnknownUser { .. } => "unknown_user",
            Refusal::NoRegion { .. } => "no_region",
            Refusal::Disabled { .. } => "skill_disabled",
            Refusal::Unsubscribed { .. } => "unsubscribed",
            Refusal::Store(_) => "unavailable",
        }
    }

    /// The field the refusal is about, as a JSON pointer into what the caller sent.
    pub fn field(&self) -> &str {
        match self {
            Refusal::Invalid(f) => &f.path,
            Refusal::Store(_) => "",
            _ => "/user",
        }
    }
}

/// A call in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Its outbox id.
    pub id: String,
    /// Where it goes.
    pub region: Region,
    /// The same call (dedupe key, or referenceId and audience) was queued before, as `id`.
    pub duplicate: bool,
}

/// The queue for one skill's out-of-session calls.
#[derive(Clone)]
pub struct ServiceQueue {
    store: Store,
    skill_id: Arc<str>,
    wake: Option<Arc<Notify>>,
    key_field: Option<Arc<str>>,
    committer: mpsc::Sender<Waiting>,
}

/// A call waiting to be stored, and who waits for it.
type Waiting = (NewServiceCall, oneshot::Sender<Result<Enqueued, StoreError>>);

/// Most calls stored in one transaction.
const COMMIT_BATCH: usize = 256;

/// Stores the calls that arrive together in one transaction (group commit): each caller still
/// hears back only once its call is committed, but a burst costs one commit, not one each.
async fn commit(store: Store, mut calls: mpsc::Receiver<Waiting>) {
    let mut batch = Vec::with_capacity(COMMIT_BATCH);
    while calls.recv_many(&mut batch, COMMIT_BATCH).await > 0 {
        let (rows, waiters): (Vec<NewServiceCall>, Vec<_>) = batch.drain(..).unzip();
        match store.enqueue_service_calls(&rows).await {
            Ok(done) => {
                for (w, d) in waiters.into_iter().zip(done) {
                    let _ = w.send(Ok(d));
                }
            }
            // One bad row fails them all: each alone, so that only it is refused.
            Err(_) => {
                for (w, row) in waiters.into_iter().zip(&rows) {
                    let _ = w.send(store.enqueue_service_call(row).await);
                }
            }
        }
    }
}

impl ServiceQueue {
    /// For the skill `skill_id`.
    pub fn new(store: Store, skill_id: impl Into<Arc<str>>) -> Self {
        let (committer, calls) = mpsc::channel(4 * COMMIT_BATCH);
        tokio::spawn(commit(store.clone(), calls));
        ServiceQueue {
            committer,
            store,
            skill_id: skill_id.into(),
            wake: None,
            key_field: None,
        }
    }

    /// Also puts a message's key in its data, under `field` (when the data has none there), so
    /// that the receiving skill can hand the message on once however often Alexa delivers it.
    pub fn with_message_key_field(mut self, field: impl Into<Arc<str>>) -> Self {
        self.key_field = Some(field.into());
        self
    }

    /// Wakes this worker (in the same process) when a call is queued.
    pub fn waking(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Queues a message for `user`, to their region. `key`: the caller's; the same key again
    /// is the same message.
    pub async fn message(
        &self,
        user: &str,
        message: &SkillMessageRequest,
        key: Option<String>,
    ) -> Result<Queued, Refusal> {
        let mut message = message.clone();
        if let (Some(field), Some(k)) = (&self.key_field, &key) {
            message
                .data
                .entry(field.to_string())
                .or_insert_with(|| serde_json::Value::String(k.clone()));
        }
        if let Some(f) = message.check().into_iter().next() {
            return Err(Refusal::Invalid(f));
        }
        let (region, _) = self.reachable(user).await?;
        let call =
            message_call(&self.skill_id, user, region, &message, key, now_ms()).map_err(Refusal::Invalid)?;
        self.enqueue(call, region).await
    }

    /// Queues a proactive event: to its Unicast user's region (when they are subscribed to
    /// it, as far as Alexa said), or for Multicast to every region. `live`: the live stage.
    pub async fn notify(&self, event: &ProactiveEventRequest, live: bool) -> Result<Vec<Queued>, Refusal> {
        let now = now_ms();
        // Amazon's rules first: a bad body is refused the same way whoever it is for.
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(now as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        if let Some(f) = event.check(at).into_iter().next() {
            return Err(Refusal::Invalid(f));
        }
        let regions = match event.relevant_audience.user() {
            Some(user) => {
                let (region, seen) = self.reachable(user).await?;
                if !seen.subscribed_to(&event.event.name) {
                    return Err(Refusal::Unsubscribed {
                        user: cut(user),
                        event: event.event.name.clone(),
                    });
                }
                vec![region]
            }
            None => Region::ALL.to_vec(),
        };
        let mut queued = Vec::with_capacity(regions.len());
        for region in regions {
            let call = event_call(&self.skill_id, region, live, event, now).map_err(Refusal::Invalid)?;
            queued.push(self.enqueue(call, region).await?);
        }
        Ok(queued)
    }

    /// The user's region, if they can be reached at all.
    async fn reachable(&self, user: &str) -> Result<(Region, SkillUser), Refusal> {
        if user.is_empty() {
            return Err(Refusal::Invalid(Finding::new(
                "/user",
                "required",
                "name the user",
            )));
        }
        let Some(seen) = self.store.skill_user(&self.skill_id, user).await? else {
            return Err(Refusal::UnknownUser { user: cut(user) });
        };
        if seen.disabled_at.is_some() {
            return Err(Refusal::Disabled { user: cut(user) });
        }
        if seen.api_endpoint.is_empty() {
            // Recorded from a skill event that named no endpoint.
            return Err(Refusal::UnknownUser { user: cut(user) });
        }
        let Some(region) = Region::from_api_endpoint(&seen.api_endpoint) else {
            return Err(Refusal::NoRegion {
                endpoint: cut(&seen.api_endpoint),
            });
        };
        Ok((region, seen))
    }

    async fn enqueue(&self, call: NewServiceCall, region: Region) -> Result<Queued, Refusal> {
        let (tx, rx) = oneshot::channel();
        let gone = || Refusal::Store(StoreError::Batch("the outbox writer stopped".into()));
        self.committer.send((call, tx)).await.map_err(|_| gone())?;
        let queued = match rx.await.map_err(|_| gone())?? {
            Enqueued::New(id) => Queued {
                id,
                region,
                duplicate: false,
            },
            Enqueued::Duplicate(id) => Queued {
                id,
                region,
                duplicate: true,
            },
        };
        if let Some(w) = &self.wake {
            w.notify_one();
        }
        Ok(queued)
    }
}

fn cut(s: &str) -> String {
    rask_model::limits::logged(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_model::proactive::{ProactiveEvent, RelevantAudience};
    use serde_json::json;

    fn event(audience: RelevantAudience) -> ProactiveEventRequest {
        let now = time::OffsetDateTime::now_utc();
        ProactiveEventRequest {
            timestamp: rask_model::timestamp::seconds(now),
            reference_id: "order-1".into(),
            expiry_time: rask_model::timestamp::seconds(now + time::Duration::hours(1)),
            event: ProactiveEvent {
                name: "AMAZON.OrderStatus.Updated".into(),
                payload: json!({"state": {"status": "ORDER_SHIPPED"}, "order": {"seller": {"name": "localizedattribute:sellerName"}}}),
            },
            localized_attributes: vec![
                serde_json::from_value(json!({"locale": "en-US", "sellerName": "Shop"})).unwrap(),
            ],
            relevant_audience: audience,
        }
    }

    #[tokio::test]
    async fn each_refusal_names_the_fix_and_nothing_is_queued_for_it() {
        for store in rask_store::testing::stores().await {
            let q = ServiceQueue::new(store.clone(), "amzn1.ask.skill.s");
            let msg = SkillMessageRequest::new(serde_json::from_value(json!({"k": "v"})).unwrap());
            let e = q.message("amzn1.ask.account.NEW", &msg, None).await.unwrap_err();
            assert_eq!(e.code(), "unknown_user");
            assert!(e.to_string().contains("open the skill once"), "{e}");

            store
                .record_skill_user(
                    "amzn1.ask.skill.s",
                    "amzn1.ask.account.EU",
                    "https://api.eu.amazonalexa.com",
                    1,
                )
                .await
                .unwrap();
            let ok = q
                .message("amzn1.ask.account.EU", &msg, Some("k1".into()))
                .await
                .unwrap();
            assert_eq!((ok.region, ok.duplicate), (Region::Eu, false));
            let again = q
                .message("amzn1.ask.account.EU", &msg, Some("k1".into()))
                .await
                .unwrap();
            assert_eq!((again.id.as_str(), again.duplicate), (ok.id.as_str(), true));

            let mut bad = msg.clone();
            bad.expires_after_seconds = Some(10);
            let e = q.message("amzn1.ask.account.EU", &bad, None).await.unwrap_err();
            assert_eq!((e.code(), e.field()), ("invalid", "/expiresAfterSeconds"), "{e}");

            let unicast = event(RelevantAudience::unicast("amzn1.ask.account.EU"));
            let sent = q.notify(&unicast, false).await.unwrap();
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].region, Region::Eu);
            store
                .record_skill_subscriptions(
                    "amzn1.ask.skill.s",
                    "amzn1.ask.account.EU",
                    &["AMAZON.WeatherAlert.Activated".into()],
                    2,
                )
                .await
                .unwrap();
            let mut other = unicast.clone();
            other.reference_id = "order-2".into();
            let e = q.notify(&other, false).await.unwrap_err();
            assert_eq!(e.code(), "unsubscribed", "{e}");

            store
                .record_skill_disabled("amzn1.ask.skill.s", "amzn1.ask.account.EU", 3)
                .await
                .unwrap();
            let e = q.message("amzn1.ask.account.EU", &msg, None).await.unwrap_err();
            assert_eq!(e.code(), "skill_disabled", "{e}");

            let everyone = q
                .notify(&event(RelevantAudience::multicast()), true)
                .await
                .unwrap();
            let regions: Vec<Region> = everyone.iter().map(|c| c.region).collect();
            assert_eq!(regions, Region::ALL.to_vec());
            let pending = store.service_calls(50).await.unwrap();
            assert_eq!(
                pending.iter().filter(|c| c.status == "pending").count(),
                3,
                "the three multicasts; the disabled user's message and event were given up: {pending:?}"
            );
        }
    }
}
