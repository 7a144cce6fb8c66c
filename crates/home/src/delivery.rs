//! Delivery: the worker that takes events from the outbox to the user's region's Event
//! Gateway, with a valid LWA token (refreshed a minute ahead of expiry, and once after a 401,
//! single-flight per user across instances), retrying as Amazon advises and giving up on an
//! event past its useful life. Every attempt goes into the event log; what to do after each
//! answer is decided by [`rask_cloud::retry::decide`].

use std::sync::Arc;
use std::time::Duration;

use rask_cloud::gateway::EventGateway;
use rask_cloud::lwa::LwaClient;
use rask_cloud::retry::{Decision, Policy, decide};
use rask_model::region::Region;
use rask_model::smarthome::EventMessage;
use rask_store::grants::{Grant, GrantState};
use rask_store::outbox::{Attempt, Pending, Settled, Write};
use rask_store::sealer::Sealer;
use rask_store::{Store, StoreError, now_ms};
use tokio::sync::Notify;

/// How many rows a worker loop claims and sends at once.
pub const BATCH: i64 = 64;

/// How many loops a worker runs side by side.
pub const LOOPS: usize = 4;

/// The delivery worker.
#[derive(Clone)]
pub struct Delivery {
    store: Store,
    sealer: Sealer,
    lwa: Arc<LwaClient>,
    gateway: EventGateway,
    /// How gateway failures are retried.
    pub policy: Policy,
    /// How long a claimed row is this worker's.
    pub lease: Duration,
    /// How long before expiry a token is refreshed.
    pub refresh_margin: Duration,
    wake: Arc<Notify>,
    /// This worker's writes for the batch in hand, applied in one transaction at its end.
    writes: Arc<std::sync::Mutex<Vec<Write>>>,
}

enum TokenTrouble {
    /// Another instance is refreshing: try again shortly.
    Busy,
    /// LWA refused the credentials: the grant is marked refused.
    Refused(String),
    /// LWA could not be reached.
    Passing(String),
}

impl Delivery {
    /// A worker for the store's outbox.
    pub fn new(store: Store, sealer: Sealer, lwa: Arc<LwaClient>, gateway: EventGateway) -> Self {
        Delivery {
            store,
            sealer,
            lwa,
            gateway,
            policy: Policy::default(),
            // Longer than a gateway call (10 s), shorter than a press's 30 s life: a crashed
            // worker's claims come free in time for another to deliver them.
            lease: Duration::from_secs(12),
            refresh_margin: Duration::from_secs(60),
            wake: Arc::new(Notify::new()),
            writes: Arc::new(std::sync::Mutex::new(Vec::new())),
        }
    }

    /// What triggers notify so that a new event is sent at once rather than at the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs forever in [`LOOPS`] loops, each claiming and sending its own batches so that one
    /// batch's slowest event does not hold up the next: delivers what is due, then waits for a
    /// new event or 200 ms.
    pub fn spawn(self) -> Vec<tokio::task::JoinHandle<()>> {
        (0..LOOPS)
            .map(|_| {
                let mut me = self.clone();
                // Each loop commits its own batches.
                me.writes = Arc::new(std::sync::Mutex::new(Vec::new()));
                tokio::spawn(async move {
                    loop {
                        match me.run_once().await {
                            // A full batch: more may be due, go on at once.
                            Ok(n) if n >= BATCH as usize => continue,
                            Ok(_) => {}
                            Err(e) => tracing::error!(error = %e, "delivery: the outbox could not be read"),
                        }
                        tokio::select! {
                            _ = me.wake.notified() => {}
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                })
            })
            .collect()
    }

    /// Delivers every row that is due now; returns how many were handled.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let due = self
            .store
            .claim_due(now_ms(), self.lease.as_millis() as i64, BATCH)
            .await?;
        let n = due.len();
        // The batch's grants in one query; a user whose grant is missing here is looked up
        // again by deliver (and dropped if it truly has none).
        let mut users: Vec<String> = due.iter().map(|p| p.event.user_id.clone()).collect();
        users.sort();
        users.dedup();
        let grants: Arc<std::collections::HashMap<String, Grant>> =
            Arc::new(match self.store.grants_of(&self.sealer, &users).await {
                Ok(gs) => gs.into_iter().map(|g| (g.user_id.clone(), g)).collect(),
                Err(e) => {
                    tracing::error!(error = %e, "the batch's grants could not be read");
                    Default::default()
                }
            });
        let tasks: Vec<_> = due
            .into_iter()
            .map(|p| {
                let me = self.clone();
                let known = grants.get(&p.event.user_id).cloned();
                tokio::spawn(async move { me.deliver(p, known).await })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        // One commit for the batch. If it fails, the rows stay claimed until their lease
        // ends and are sent again: delivery is at least once.
        let writes = std::mem::take(&mut *self.writes.lock().unwrap_or_else(|p| p.into_inner()));
        if !writes.is_empty() {
            self.store.apply(&writes).await?;
        }
        Ok(n)
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
        }
    }

    fn push(&self, w: Write) {
        self.writes.lock().unwrap_or_else(|p| p.into_inner()).push(w);
    }

    async fn log(&self, p: &Pending, outcome: &str, detail: &str) {
        self.push(Write::Log(Self::attempt(p, outcome, detail)));
    }

    /// Ends a row with its last attempt logged (written with the batch).
    async fn settle(&self, p: &Pending, how: Settled, outcome: &str, detail: &str) {
        let row_outcome = if how == Settled::Delivered {
            "delivered"
        } else {
            detail
        };
        self.push(Write::Settle {
            how,
            outcome: row_outcome.to_owned(),
            attempt: Self::attempt(p, outcome, detail),
        });
    }

    async fn drop_event(&self, p: &Pending, outcome: &str, why: &str) {
        tracing::warn!(event = %p.event.id, user = %p.event.user_id, "{} dropped: {why}", p.event.kind);
        self.settle(p, Settled::Dropped, outcome, why).await;
    }

    async fn later(&self, p: &Pending, after: Duration, retries: u32, refreshed: bool) {
        let next_attempt_at = now_ms() + after.as_millis() as i64;
        self.push(Write::Retry {
            id: p.event.id.clone(),
            next_attempt_at,
            retries,
            refreshed,
        });
    }

    async fn deliver(&self, p: Pending, known: Option<Grant>) {
        let now = now_ms();
        let life = Duration::from_millis((p.event.expires_at - p.event.created_at).max(0) as u64);
        if now >= p.event.expires_at {
            return self
                .drop_event(
                    &p,
                    "dropped",
                    &format!("past its useful life of {} s", life.as_secs()),
                )
                .await;
        }
        let read = match known {
            Some(g) => Ok(Some(g)),
            None => self.store.grant(&self.sealer, &p.event.user_id).await,
        };
        let grant = match read {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "a grant could not be read");
                return self
                    .later(&p, Duration::from_secs(1), p.retries, p.refreshed)
                    .await;
            }
        };
        let Some(grant) = grant else {
            return self
                .drop_event(&p, "dropped", "the user has no grant (AcceptGrant never arrived)")
                .await;
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
                return self.drop_event(&p, "dropped", &why).await;
            }
            GrantState::Refreshing if now < grant.expires_at => {}
            GrantState::Refreshing => {
                return self
                    .later(&p, Duration::from_millis(300), p.retries, p.refreshed)
                    .await;
            }
            GrantState::Active => {}
        }
        let due_for_refresh = grant.expires_at - self.refresh_margin.as_millis() as i64 <= now;
        let token = if due_for_refresh {
            match self.refresh(&grant).await {
                Ok(t) => t,
                Err(trouble) => return self.token_trouble(&p, trouble).await,
            }
        } else {
            grant.access_token.clone()
        };
        self.send(p, &grant, token, life).await
    }

    async fn token_trouble(&self, p: &Pending, trouble: TokenTrouble) {
        match trouble {
            TokenTrouble::Busy => {
                self.later(p, Duration::from_millis(300), p.retries, p.refreshed)
                    .await
            }
            TokenTrouble::Refused(why) => self.drop_event(p, "refused", &why).await,
            TokenTrouble::Passing(why) => {
                self.log(p, "retry", &why).await;
                self.later(p, self.policy.base_delay, p.retries + 1, p.refreshed)
                    .await
            }
        }
    }

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
                    return Err(TokenTrouble::Passing(format!(
                        "the refreshed token could not be stored: {e}"
                    )));
                }
                Ok(t.access_token)
            }
            Err(e) if e.credentials_refused() => {
                let why = format!("Login with Amazon refused the user's refresh token: {e}");
                let _ = self
                    .store
                    .set_grant_state(&grant.user_id, GrantState::Refused, Some(&e.to_string()))
                    .await;
                tracing::error!(user = %grant.user_id, "{why}");
                Err(TokenTrouble::Refused(why))
            }
            Err(e) => {
                let _ = self.store.release_refresh_lease(&grant.user_id).await;
                Err(TokenTrouble::Passing(e.to_string()))
            }
        }
    }

    async fn send(&self, p: Pending, grant: &Grant, token: String, life: Duration) {
        let region = Region::parse(&grant.region).unwrap_or(Region::Na);
        let message = match serde_json::from_str::<EventMessage>(&p.event.event) {
            Ok(m) => m.with_scope_token(token.clone()),
            Err(e) => {
                return self
                    .drop_event(&p, "dropped", &format!("the stored event cannot be read: {e}"))
                    .await;
            }
        };
        match self.gateway.send(region, &token, &message).await {
            Ok(()) => {
                self.settle(
                    &p,
                    Settled::Delivered,
                    "delivered",
                    &format!("202 from the {region} gateway"),
                )
                .await
            }
            Err(error) => {
                let age = Duration::from_millis((now_ms() - p.event.created_at).max(0) as u64);
                let jitter = (now_ms() % 1000) as f64 / 1000.0;
                match decide(&self.policy, &error, p.retries, p.refreshed, age, life, jitter) {
                    Decision::RefreshAndRetry => {
                        self.log(
                            &p,
                            "retry",
                            &format!("{error}; refreshing the token and trying again"),
                        )
                        .await;
                        match self.refresh(grant).await {
                            Ok(_) => self.later(&p, Duration::ZERO, p.retries, true).await,
                            Err(trouble) => self.token_trouble(&p, trouble).await,
                        }
                    }
                    Decision::RetryAfter(d) => {
                        self.log(&p, "retry", &format!("{error}; next try in {} ms", d.as_millis()))
                            .await;
                        self.later(&p, d, p.retries + 1, p.refreshed).await
                    }
                    Decision::Drop(why) => self.drop_event(&p, "dropped", &why).await,
                    Decision::RevokeGrant(why) => {
                        let _ = self
                            .store
                            .set_grant_state(&grant.user_id, GrantState::Revoked, Some(&why))
                            .await;
                        tracing::error!(user = %grant.user_id, "grant revoked: {why}");
                        self.drop_event(&p, "revoked", &why).await
                    }
                    Decision::Alert(why) => {
                        tracing::error!("ALEXA CONSOLE SETTING TO FIX: {why}");
                        self.drop_event(&p, "alert", &why).await
                    }
                }
            }
        }
    }
}
