//! Delivery: the worker that takes events from the outbox to the user's region's Event
//! Gateway, with a valid LWA token (refreshed a minute ahead of expiry, and once after a 401,
//! single-flight per user across instances), retrying as Amazon advises and giving up on an
//! event past its useful life. Every attempt goes into the event log; what to do after each
//! answer is decided by [`rask_cloud::retry::decide`].
//!
//! The worker runs [`crate::pipeline`], so that no slow call holds up another row; a row is
//! sent twice only when its outcome is not stored before its claim runs out (rask dies between
//! the gateway's 202 and the settler's commit, say; the pipeline's doc lists the ways).

use std::sync::Arc;
use std::time::Duration;

use rask_cloud::gateway::EventGateway;
use rask_cloud::lwa::LwaClient;
use rask_cloud::retry::{Decision, Policy, decide};
use rask_model::region::Region;
use rask_model::smarthome::{EventMessage, splice_scope_token};
use rask_store::grants::{Grant, GrantState};
use rask_store::outbox::{Attempt, Pending, Settled, Write};
use rask_store::sealer::Sealer;
use rask_store::{Store, StoreError, now_ms};
use tokio::sync::Notify;

use crate::pipeline::{self, Entrance, Limits, Work};

/// How many rows the claimer takes at once.
pub const BATCH: i64 = 256;

/// How many rows are in flight at once.
pub const CONCURRENCY: usize = 256;

/// The most writes the settler commits in one transaction.
const SETTLE_GROUP: usize = 512;

/// The delivery worker.
#[derive(Clone)]
pub struct Delivery {
    store: Store,
    sealer: Sealer,
    lwa: Arc<LwaClient>,
    gateway: EventGateway,
    /// How gateway failures are retried.
    pub policy: Policy,
    /// How long a claimed row is this worker's unless renewed.
    pub lease: Duration,
    /// How long before expiry a token is refreshed.
    pub refresh_margin: Duration,
    /// The way in for rows stored already claimed by this worker, and its waker.
    entrance: Arc<Entrance<Pending>>,
    /// This worker's name on its claims.
    claimer: Arc<str>,
}

enum TokenTrouble {
    /// Another instance is refreshing: try again shortly.
    Busy,
    /// LWA refused the credentials: the grant is marked refused.
    Refused(String),
    /// LWA could not be reached, or the new tokens not stored.
    Passing(String),
}

impl Delivery {
    /// A worker for the store's outbox.
    pub fn new(store: Store, sealer: Sealer, lwa: Arc<LwaClient>, gateway: EventGateway) -> Self {
        let claimer: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        Delivery {
            store,
            sealer,
            lwa,
            gateway,
            policy: Policy::default(),
            // Renewed every third of itself while a row is in flight; after a crash, the
            // claims come free in time for another worker to deliver a 30 s press.
            lease: Duration::from_secs(12),
            refresh_margin: Duration::from_secs(60),
            entrance: Entrance::new(claimer.clone(), BATCH as usize),
            claimer,
        }
    }

    /// What triggers notify so that a new event is sent at once rather than at the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.entrance.waker()
    }

    /// The way in for events stored already claimed by this worker (see
    /// [`Entrance::reserve`]), so that they are sent without a claim's round trip; rows are
    /// taken only once the worker runs.
    pub fn entrance(&self) -> Arc<Entrance<Pending>> {
        self.entrance.clone()
    }

    /// Runs the pipeline forever (claimer, settler, renewer); returns their tasks.
    pub fn spawn(self) -> Vec<tokio::task::JoinHandle<()>> {
        let limits = Limits {
            concurrency: CONCURRENCY,
            batch: BATCH as usize,
            settle_group: SETTLE_GROUP,
            poll: Duration::from_millis(200),
            lease: self.lease,
        };
        let entrance = self.entrance.clone();
        pipeline::spawn(self, limits, entrance)
    }

    /// The grants of a batch's users in one query; a user missing here is looked up again by
    /// [`Delivery::deliver`] (and dropped if they truly have none).
    async fn grants_for(&self, due: &[Pending]) -> std::collections::HashMap<String, Grant> {
        let mut users: Vec<String> = due.iter().map(|p| p.event.user_id.clone()).collect();
        users.sort();
        users.dedup();
        match self.store.grants_of(&self.sealer, &users).await {
            Ok(gs) => gs.into_iter().map(|g| (g.user_id.clone(), g)).collect(),
            Err(e) => {
                tracing::error!(error = %e, "the batch's grants could not be read");
                Default::default()
            }
        }
    }

    /// Claims what is due now, delivers it and settles it, all before returning: one turn
    /// of the pipeline, for tests and tools that step the worker by hand. Returns how many
    /// rows were handled.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        pipeline::run_once(self, BATCH as usize).await
    }

    fn attempt(p: &Pending, outcome: &str, detail: &str) -> Attempt {
        Attempt {
            at: now_ms(),
            outbox_id: p.event.id.clone(),
            user_id: p.event.user_id.clone(),
            endpoint_id: p.event.endpoint_id.clone(),
            kind: p.event.kind.clone(),
            attempt: p.retries as i64 + 1,
            outcome: outcome.to_owned(),
            detail: detail.to_owned(),
            queued_at: p.event.created_at,
        }
    }

    fn log(p: &Pending, outcome: &str, detail: &str) -> Write {
        Write::Log(Self::attempt(p, outcome, detail))
    }

    /// Ends a row with its last attempt logged.
    fn settle(p: &Pending, how: Settled, outcome: &str, detail: &str) -> Write {
        let row_outcome = if how == Settled::Delivered {
            "delivered"
        } else {
            detail
        };
        Write::Settle {
            how,
            outcome: row_outcome.to_owned(),
            attempt: Self::attempt(p, outcome, detail),
        }
    }

    fn drop_event(p: &Pending, outcome: &str, why: &str) -> Write {
        tracing::warn!(event = %p.event.id, user = %p.event.user_id, "{} dropped: {why}", p.event.kind);
        Self::settle(p, Settled::Dropped, outcome, why)
    }

    fn later(p: &Pending, after: Duration, retries: u32, refreshed: bool) -> Write {
        Write::Retry {
            id: p.event.id.clone(),
            next_attempt_at: now_ms() + after.as_millis() as i64,
            retries,
            refreshed,
        }
    }

    /// Decides one claimed row: sends it if it can, and returns the writes that record what
    /// happened (its settle or its retry, and the attempts to log).
    pub async fn deliver(&self, p: Pending, known: Option<Grant>) -> Vec<Write> {
        let now = now_ms();
        let life = Duration::from_millis((p.event.expires_at - p.event.created_at).max(0) as u64);
        if now >= p.event.expires_at {
            let why = format!("past its useful life of {} s", life.as_secs());
            return vec![Self::drop_event(&p, "dropped", &why)];
        }
        let read = match known {
            Some(g) => Ok(Some(g)),
            None => self.store.grant(&self.sealer, &p.event.user_id).await,
        };
        let grant = match read {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "a grant could not be read");
                return vec![Self::later(&p, Duration::from_secs(1), p.retries, p.refreshed)];
            }
        };
        let Some(grant) = grant else {
            return vec![Self::drop_event(
                &p,
                "dropped",
                "the user has no grant (AcceptGrant never arrived)",
            )];
        };
        match grant.state {
            GrantState::Revoked | GrantState::Refused => {
                let why = format!(
                    "the user's grant is {}: {}",
                    grant.state.as_str(),
                    grant.detail.clone().unwrap_or_default()
                );
                // Said once per grant, not once per event.
                if self
                    .store
                    .report_grant_state_once(&grant.user_id)
                    .await
                    .unwrap_or(false)
                {
                    tracing::error!(user = %grant.user_id, "events are no longer sent for this user: {why}");
                }
                return vec![Self::drop_event(&p, "dropped", &why)];
            }
            // Another holder is refreshing, and the token still works meanwhile.
            GrantState::Refreshing if now < grant.expires_at => {}
            // Another holder is refreshing: wait for it, unless its lease has run out (it died
            // mid-refresh), which refresh() below takes over.
            GrantState::Refreshing if now < grant.lease_until => {
                return vec![Self::later(
                    &p,
                    Duration::from_millis(300),
                    p.retries,
                    p.refreshed,
                )];
            }
            GrantState::Refreshing | GrantState::Active => {}
        }
        let due_for_refresh = grant.expires_at - self.refresh_margin.as_millis() as i64 <= now;
        let token = if due_for_refresh {
            match self.refresh(&grant).await {
                Ok(t) => t,
                Err(trouble) => return self.token_trouble(&p, trouble, Vec::new()),
            }
        } else {
            grant.access_token.clone()
        };
        self.send(p, &grant, token, life).await
    }

    fn token_trouble(&self, p: &Pending, trouble: TokenTrouble, mut writes: Vec<Write>) -> Vec<Write> {
        match trouble {
            TokenTrouble::Busy => {
                writes.push(Self::later(p, Duration::from_millis(300), p.retries, p.refreshed))
            }
            TokenTrouble::Refused(why) => writes.push(Self::drop_event(p, "refused", &why)),
            TokenTrouble::Passing(why) => {
                writes.push(Self::log(p, "retry", &why));
                writes.push(Self::later(p, self.policy.base_delay, p.retries + 1, p.refreshed));
            }
        }
        writes
    }

    /// Refreshes the grant's token under the refresh lease. Every way out but success gives
    /// the lease back (or ends the grant), so that no grant stays `refreshing`.
    async fn refresh(&self, grant: &Grant) -> Result<String, TokenTrouble> {
        let now = now_ms();
        match self
            .store
            .take_refresh_lease(&grant.user_id, now, self.lease.as_millis() as i64)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(TokenTrouble::Busy),
            Err(e) => {
                return Err(TokenTrouble::Passing(format!(
                    "the grant could not be leased: {e}"
                )));
            }
        }
        let give_back = |why: String| async move {
            if let Err(e) = self.store.release_refresh_lease(&grant.user_id, &why).await {
                // The lease runs out by itself; the next event takes it over then.
                tracing::error!(user = %grant.user_id, error = %e, "the refresh lease could not be given back");
            }
            tracing::warn!(user = %grant.user_id, "the LWA token could not be refreshed: {why}");
            Err(TokenTrouble::Passing(why))
        };
        match self.lwa.refresh(&grant.refresh_token).await {
            Ok(t) => {
                let refresh = t
                    .refresh_token
                    .clone()
                    .unwrap_or_else(|| grant.refresh_token.clone());
                let expires_at = now_ms() + t.expires_in as i64 * 1000;
                if let Err(e) = self
                    .store
                    .refreshed_grant(
                        &self.sealer,
                        &grant.user_id,
                        &t.access_token,
                        &refresh,
                        expires_at,
                    )
                    .await
                {
                    return give_back(format!("the refreshed token could not be stored: {e}")).await;
                }
                crate::metrics::metrics().lwa_refresh("refreshed", "a user's token was refreshed");
                Ok(t.access_token)
            }
            Err(e) if e.credentials_refused() => {
                crate::metrics::metrics().lwa_refresh("refused", &e.to_string());
                let why = format!("Login with Amazon refused the user's refresh token: {e}");
                if let Err(se) = self
                    .store
                    .set_grant_state(&grant.user_id, GrantState::Refused, Some(&e.to_string()))
                    .await
                {
                    let _ = give_back(format!("{why}; and the refusal could not be stored: {se}")).await;
                }
                tracing::error!(user = %grant.user_id, "{why}");
                Err(TokenTrouble::Refused(why))
            }
            Err(e) => {
                crate::metrics::metrics().lwa_refresh("failed", &e.to_string());
                give_back(format!("Login with Amazon did not refresh the token: {e}")).await
            }
        }
    }

    async fn send(&self, p: Pending, grant: &Grant, token: String, life: Duration) -> Vec<Write> {
        let region = Region::parse(&grant.region).unwrap_or(Region::Na);
        let body = match splice_scope_token(&p.event.event, &token) {
            Some(body) => Ok(body),
            None => serde_json::from_str::<EventMessage>(&p.event.event)
                .and_then(|m| serde_json::to_vec(&m.with_scope_token(token.clone()))),
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                let why = format!("the stored event cannot be read: {e}");
                return vec![Self::drop_event(&p, "dropped", &why)];
            }
        };
        let error = match self.gateway.send_bytes(region, &token, body).await {
            Ok(()) => {
                let detail = format!("202 from the {region} gateway");
                return vec![Self::settle(&p, Settled::Delivered, "delivered", &detail)];
            }
            Err(error) => error,
        };
        let age = Duration::from_millis((now_ms() - p.event.created_at).max(0) as u64);
        let jitter = (now_ms() % 1000) as f64 / 1000.0;
        match decide(&self.policy, &error, p.retries, p.refreshed, age, life, jitter) {
            Decision::RefreshAndRetry => {
                let writes = vec![Self::log(
                    &p,
                    "retry",
                    &format!("{error}; refreshing the token and trying again"),
                )];
                match self.refresh(grant).await {
                    Ok(_) => {
                        let mut writes = writes;
                        writes.push(Self::later(&p, Duration::ZERO, p.retries, true));
                        writes
                    }
                    Err(trouble) => self.token_trouble(&p, trouble, writes),
                }
            }
            Decision::RetryAfter(d) => vec![
                Self::log(&p, "retry", &format!("{error}; next try in {} ms", d.as_millis())),
                Self::later(&p, d, p.retries + 1, p.refreshed),
            ],
            Decision::Drop(why) => vec![Self::drop_event(&p, "dropped", &why)],
            Decision::RevokeGrant(why) => {
                // Amazon's "wrong region" and "disabled" are one answer: name the region rask
                // used and where it came from, the usual cause when rehearsing against rask sim.
                let why = format!(
                    "{why}; rask sent it to {}, the user's region as recorded at AcceptGrant: if they did \
                     not disable the skill, their region is another (the forwarder's x-rask-region names \
                     it; without a forwarder, alexa.region does)",
                    grant.region
                );
                let _ = self
                    .store
                    .set_grant_state(&grant.user_id, GrantState::Revoked, Some(&why))
                    .await;
                tracing::error!(user = %grant.user_id, "grant revoked: {why}");
                vec![Self::drop_event(&p, "revoked", &why)]
            }
            Decision::Alert(why) => {
                tracing::error!("ALEXA CONSOLE SETTING TO FIX: {why}");
                vec![Self::drop_event(&p, "alert", &why)]
            }
        }
    }
}

impl Work for Delivery {
    type Claimed = Pending;
    /// A claimed row, with its user's grant when the batch's read found it.
    type Row = (Pending, Option<Grant>);
    type Done = Vec<Write>;

    const NAME: &'static str = "delivery";

    fn id(p: &Pending) -> String {
        p.event.id.clone()
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        self.store
            .claim_due(
                &self.claimer,
                now_ms(),
                self.lease.as_millis() as i64,
                limit as i64,
            )
            .await
    }

    async fn adopt(&self, due: Vec<Pending>) -> Vec<Self::Row> {
        let grants = self.grants_for(&due).await;
        due.into_iter()
            .map(|p| {
                let known = grants.get(&p.event.user_id).cloned();
                (p, known)
            })
            .collect()
    }

    async fn deliver(&self, (p, known): Self::Row) -> Vec<Write> {
        let region = known
            .as_ref()
            .map_or("unknown", |g| crate::metrics::region_label(&g.region));
        let kind = p.event.kind.clone();
        let writes = Delivery::deliver(self, p, known).await;
        let metrics = crate::metrics::metrics();
        for w in &writes {
            let (outcome, detail) = match w {
                Write::Settle { attempt, .. } | Write::Log(attempt) => {
                    (attempt.outcome.as_str(), &attempt.detail)
                }
                Write::Retry { .. } => continue,
            };
            if region != "unknown" {
                metrics.gateway_answered(region, outcome, detail);
            }
            // The outcomes this worker writes, as static labels.
            let outcome = ["delivered", "retry", "dropped", "refused", "revoked", "alert"]
                .into_iter()
                .find(|o| *o == outcome)
                .unwrap_or("other");
            metrics.delivery(&kind, region, outcome);
        }
        writes
    }

    async fn settle(&self, done: &[Vec<Write>]) -> Result<(), StoreError> {
        let writes: Vec<Write> = done.iter().flatten().cloned().collect();
        if writes.is_empty() {
            return Ok(());
        }
        self.store.apply(&writes).await
    }

    async fn renew(&self, ids: &[String]) -> Result<(), StoreError> {
        let now = now_ms();
        self.store
            .renew_claims(&self.claimer, ids, now, now + self.lease.as_millis() as i64)
            .await
            .map(|_| ())
    }
}
