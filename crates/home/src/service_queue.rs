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
use rask_store::service_outbox::{Enqueued, NewServiceCall, ServiceCall};
use rask_store::skills::SkillUser;
use rask_store::{Store, StoreError, now_ms};
use thiserror::Error;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::out_of_session::{event_call, message_call};
use crate::pipeline::Entrance;

/// The local worker's way in, once [`ServiceQueue::handing_to`] has named it.
type Handoff = Arc<std::sync::OnceLock<Arc<Entrance<ServiceCall>>>>;

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
    skill_id: Arc<str>,
    wake: Option<Arc<Notify>>,
    key_field: Option<Arc<str>>,
    committer: mpsc::Sender<Waiting>,
    handoff: Handoff,
}

/// Decides a call once its user's record is read: the row to store and where it goes, or why
/// it cannot go.
type Build = Box<dyn FnOnce(Option<&SkillUser>) -> Result<(NewServiceCall, Region), Refusal> + Send>;

/// A call waiting to be stored, and who waits for it.
struct Waiting {
    /// The user whose record decides the call; none for a Multicast.
    user: Option<String>,
    build: Build,
    reply: oneshot::Sender<Result<Queued, Refusal>>,
}

/// Most calls stored in one transaction.
const COMMIT_BATCH: usize = 256;

/// Stores the calls that arrive together (group commit): their users are read in one query
/// and the calls they allow written in one transaction. Each caller still hears back only once
/// its call is committed, but a burst costs a read and a commit, not one of each per call.
async fn commit(store: Store, skill_id: Arc<str>, mut calls: mpsc::Receiver<Waiting>, handoff: Handoff) {
    let mut batch = Vec::with_capacity(COMMIT_BATCH);
    while calls.recv_many(&mut batch, COMMIT_BATCH).await > 0 {
        let mut users: Vec<&str> = batch.iter().filter_map(|w| w.user.as_deref()).collect();
        users.sort_unstable();
        users.dedup();
        let known = match store.skill_users(&skill_id, &users).await {
            Ok(k) => k,
            Err(e) => {
                let why = e.to_string();
                for w in batch.drain(..) {
                    let _ = w.reply.send(Err(Refusal::Store(StoreError::Batch(why.clone()))));
                }
                continue;
            }
        };
        let mut rows = Vec::with_capacity(batch.len());
        let mut waiters = Vec::with_capacity(batch.len());
        for w in batch.drain(..) {
            match (w.build)(w.user.as_deref().and_then(|u| known.get(u))) {
                Ok((row, region)) => {
                    rows.push(row);
                    waiters.push((w.reply, region));
                }
                Err(refused) => {
                    let _ = w.reply.send(Err(refused));
                }
            }
        }
        if rows.is_empty() {
            continue;
        }
        // Handed straight to the local worker, claimed in its name as they are written, when it
        // has room for the whole group; else stored for any worker to claim.
        let reserved = handoff
            .get()
            .and_then(|e| e.reserve(rows.len()))
            .filter(|r| r.rows() >= rows.len());
        let claim = reserved.as_ref().map(|r| (r.claimer(), r.claimed_until()));
        match store.enqueue_service_calls_claimed(&rows, claim).await {
            Ok(done) => {
                if let Some(r) = reserved {
                    // Only the calls stored now: a duplicate is the earlier row's.
                    let new = rows
                        .iter()
                        .zip(&done)
                        .filter(|(_, d)| matches!(d, Enqueued::New(_)))
                        .map(|(c, _)| (c.id.clone(), ServiceCall::from(c)))
                        .collect();
                    r.hand(new);
                }
                for ((reply, region), d) in waiters.into_iter().zip(done) {
                    let _ = reply.send(Ok(Queued::new(d, region)));
                }
            }
            // One bad row fails them all: each alone, so that only it is refused.
            Err(_) => {
                for ((reply, region), row) in waiters.into_iter().zip(&rows) {
                    let done = store.enqueue_service_call(row).await;
                    let _ = reply.send(done.map(|d| Queued::new(d, region)).map_err(Refusal::from));
                }
            }
        }
    }
}

impl Queued {
    fn new(stored: Enqueued, region: Region) -> Self {
        let (id, duplicate) = match stored {
            Enqueued::New(id) => (id, false),
            Enqueued::Duplicate(id) => (id, true),
        };
        Queued {
            id,
            region,
            duplicate,
        }
    }
}

impl ServiceQueue {
    /// For the skill `skill_id`.
    pub fn new(store: Store, skill_id: impl Into<Arc<str>>) -> Self {
        let skill_id: Arc<str> = skill_id.into();
        let (committer, calls) = mpsc::channel(4 * COMMIT_BATCH);
        let handoff = Handoff::default();
        tokio::spawn(commit(store, skill_id.clone(), calls, handoff.clone()));
        ServiceQueue {
            committer,
            handoff,
            skill_id,
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

    /// Hands the calls this stores straight to the worker behind `entrance` (in this process),
    /// claimed in its name as they are written, while it has room for them: they are sent
    /// without waiting for a claim. Set once; a second entrance is ignored.
    pub fn handing_to(self, entrance: Arc<Entrance<ServiceCall>>) -> Self {
        let _ = self.handoff.set(entrance);
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
        let (skill, user, now) = (self.skill_id.clone(), named(user)?, now_ms());
        self.enqueue(
            Some(user.clone()),
            Box::new(move |seen| {
                let region = reachable(&user, seen)?;
                let call =
                    message_call(&skill, &user, region, &message, key, now).map_err(Refusal::Invalid)?;
                Ok((call, region))
            }),
        )
        .await
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
        let (skill, event) = (self.skill_id.clone(), event.clone());
        match event.relevant_audience.user() {
            Some(user) => {
                let user = named(user)?;
                let queued = self
                    .enqueue(
                        Some(user.clone()),
                        Box::new(move |seen| {
                            let region = reachable(&user, seen)?;
                            if seen.is_some_and(|s| !s.subscribed_to(&event.event.name)) {
                                return Err(Refusal::Unsubscribed {
                                    user: cut(&user),
                                    event: event.event.name.clone(),
                                });
                            }
                            let call =
                                event_call(&skill, region, live, &event, now).map_err(Refusal::Invalid)?;
                            Ok((call, region))
                        }),
                    )
                    .await?;
                Ok(vec![queued])
            }
            None => {
                let mut queued = Vec::with_capacity(Region::ALL.len());
                for region in Region::ALL {
                    let call = event_call(&skill, region, live, &event, now).map_err(Refusal::Invalid)?;
                    queued.push(self.enqueue(None, Box::new(move |_| Ok((call, region)))).await?);
                }
                Ok(queued)
            }
        }
    }

    async fn enqueue(&self, user: Option<String>, build: Build) -> Result<Queued, Refusal> {
        let (reply, answer) = oneshot::channel();
        let gone = || Refusal::Store(StoreError::Batch("the outbox writer stopped".into()));
        self.committer
            .send(Waiting { user, build, reply })
            .await
            .map_err(|_| gone())?;
        let queued = answer.await.map_err(|_| gone())??;
        if let Some(w) = &self.wake {
            w.notify_one();
        }
        Ok(queued)
    }
}

/// The user's id, which must not be empty.
fn named(user: &str) -> Result<String, Refusal> {
    if user.is_empty() {
        return Err(Refusal::Invalid(Finding::new(
            "/user",
            "required",
            "name the user",
        )));
    }
    Ok(user.to_owned())
}

/// The user's region, if they can be reached at all: rask has heard from them (`seen`), they
/// have not disabled the skill, and the endpoint their requests name is one of Alexa's.
fn reachable(user: &str, seen: Option<&SkillUser>) -> Result<Region, Refusal> {
    let Some(seen) = seen else {
        return Err(Refusal::UnknownUser { user: cut(user) });
    };
    if seen.disabled_at.is_some() {
        return Err(Refusal::Disabled { user: cut(user) });
    }
    if seen.api_endpoint.is_empty() {
        // Recorded from a skill event that named no endpoint.
        return Err(Refusal::UnknownUser { user: cut(user) });
    }
    Region::from_api_endpoint(&seen.api_endpoint).ok_or_else(|| Refusal::NoRegion {
        endpoint: cut(&seen.api_endpoint),
    })
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
            assert_eq!(e.code(), "unknown_user", "{e}");
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
