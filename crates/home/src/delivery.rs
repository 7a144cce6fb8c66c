//! Delivery: the worker that takes events from the outbox to the user's region's Event
//! Gateway, with a valid LWA token (refreshed a minute ahead of expiry, and once after a 401,
//! single-flight per user across instances), retrying as Amazon advises and giving up on an
//! event past its useful life. Every attempt goes into the event log; what to do after each
//! answer is decided by [`rask_cloud::retry::decide`].
//!
//! The worker is a pipeline, so that no slow call holds up another row:
//!
//! - the claimer claims due rows in the worker's name while fewer than [`CONCURRENCY`] are in
//!   flight, and starts one task per row;
//! - each task decides its row's writes ([`Delivery::deliver`]) and hands them to the settler;
//! - the settler commits what has arrived in one transaction (group commit), so that a row the
//!   gateway accepted is settled within milliseconds of its 202, whatever its batch-mates do;
//! - the renewer extends the worker's claims while rows are in flight, so that a refresh and a
//!   send that take 20 s between them never let another worker send the same row again.
//!
//! A row is sent twice only when rask dies between the gateway's 202 and the settler's commit.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
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
use tokio::sync::{Notify, Semaphore, mpsc};

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
    wake: Arc<Notify>,
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

/// The rows this worker has in flight: claimed, not yet settled.
#[derive(Default)]
struct InFlight {
    ids: Mutex<HashSet<String>>,
}

impl InFlight {
    /// Takes `id` in; false when it is in flight already (a claim that ran out while its
    /// delivery went on, claimed again by this same worker).
    fn enter(&self, id: &str) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned())
    }

    fn leave(&self, ids: &[String]) {
        let mut set = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            set.remove(id);
        }
    }

    fn is_empty(&self) -> bool {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

/// One row's writes on their way to the settler, with the slot it frees once committed.
struct Settling {
    id: String,
    writes: Vec<Write>,
    _slot: tokio::sync::OwnedSemaphorePermit,
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
            // Renewed every third of itself while a row is in flight; after a crash, the
            // claims come free in time for another worker to deliver a 30 s press.
            lease: Duration::from_secs(12),
            refresh_margin: Duration::from_secs(60),
            wake: Arc::new(Notify::new()),
            claimer: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    /// What triggers notify so that a new event is sent at once rather than at the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs the pipeline forever (claimer, settler, renewer); returns their tasks.
    pub fn spawn(self) -> Vec<tokio::task::JoinHandle<()>> {
        let in_flight = Arc::new(InFlight::default());
        let (settle, settling) = mpsc::unbounded_channel::<Settling>();
        let settler = tokio::spawn(self.clone().settler(settling, in_flight.clone()));
        let renewer = tokio::spawn(self.clone().renewer(in_flight.clone()));
        let claimer = tokio::spawn(self.claimer(settle, in_flight));
        vec![claimer, settler, renewer]
    }

    async fn claimer(self, settle: mpsc::UnboundedSender<Settling>, in_flight: Arc<InFlight>) {
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        loop {
            // At least one free slot before claiming: claims are not taken to sit waiting.
            let Ok(first) = slots.clone().acquire_owned().await else {
                return;
            };
            let free = slots.available_permits() + 1;
            let limit = (free as i64).min(BATCH);
            let due = match self
                .store
                .claim_due(&self.claimer, now_ms(), self.lease.as_millis() as i64, limit)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "delivery: the outbox could not be read");
                    drop(first);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let claimed = due.len();
            let grants = self.grants_for(&due).await;
            let mut first = Some(first);
            for p in due {
                if !in_flight.enter(&p.event.id) {
                    continue;
                }
                let slot = match first.take() {
                    Some(s) => s,
                    None => match slots.clone().try_acquire_owned() {
                        Ok(s) => s,
                        // Cannot happen (no more rows were claimed than slots were free), but
                        // waiting is right if it does.
                        Err(_) => match slots.clone().acquire_owned().await {
                            Ok(s) => s,
                            Err(_) => return,
                        },
                    },
                };
                let (me, settle) = (self.clone(), settle.clone());
                let known = grants.get(&p.event.user_id).cloned();
                tokio::spawn(async move {
                    let id = p.event.id.clone();
                    let writes = me.deliver(p, known).await;
                    let _ = settle.send(Settling {
                        id,
                        writes,
                        _slot: slot,
                    });
                });
            }
            drop(first);
            // A full batch: more may be due, go on at once; otherwise wait for news.
            if claimed < limit as usize || claimed == 0 {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    }

    /// Commits rows' writes as they arrive, many in one transaction; a commit that fails is
    /// tried again (the rows stay claimed, and renewed, meanwhile), never dropped.
    async fn settler(self, mut settling: mpsc::UnboundedReceiver<Settling>, in_flight: Arc<InFlight>) {
        while let Some(first) = settling.recv().await {
            let mut group = vec![first];
            while group.len() < SETTLE_GROUP {
                match settling.try_recv() {
                    Ok(s) => group.push(s),
                    Err(_) => break,
                }
            }
            let writes: Vec<Write> = group.iter().flat_map(|s| s.writes.iter().cloned()).collect();
            let mut pause = Duration::from_millis(100);
            while let Err(e) = self.store.apply(&writes).await {
                tracing::error!(error = %e, rows = group.len(), "delivery outcomes could not be stored; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            let ids: Vec<String> = group.iter().map(|s| s.id.clone()).collect();
            in_flight.leave(&ids);
            // The slots come free with the group.
            drop(group);
        }
    }

    /// Keeps this worker's claims alive while it has rows in flight.
    async fn renewer(self, in_flight: Arc<InFlight>) {
        let every = self.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            if in_flight.is_empty() {
                continue;
            }
            let now = now_ms();
            if let Err(e) = self
                .store
                .renew_claims(&self.claimer, now, now + self.lease.as_millis() as i64)
                .await
            {
                tracing::warn!(error = %e, "delivery: claims could not be renewed");
            }
        }
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
        let due = self
            .store
            .claim_due(&self.claimer, now_ms(), self.lease.as_millis() as i64, BATCH)
            .await?;
        let n = due.len();
        let grants = Arc::new(self.grants_for(&due).await);
        let tasks: Vec<_> = due
            .into_iter()
            .map(|p| {
                let me = self.clone();
                let known = grants.get(&p.event.user_id).cloned();
                tokio::spawn(async move { me.deliver(p, known).await })
            })
            .collect();
        let mut writes = Vec::new();
        for t in tasks {
            writes.extend(t.await.unwrap_or_default());
        }
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
                Ok(t.access_token)
            }
            Err(e) if e.credentials_refused() => {
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
            Err(e) => give_back(format!("Login with Amazon did not refresh the token: {e}")).await,
        }
    }

    async fn send(&self, p: Pending, grant: &Grant, token: String, life: Duration) -> Vec<Write> {
        let region = Region::parse(&grant.region).unwrap_or(Region::Na);
        let message = match serde_json::from_str::<EventMessage>(&p.event.event) {
            Ok(m) => m.with_scope_token(token.clone()),
            Err(e) => {
                let why = format!("the stored event cannot be read: {e}");
                return vec![Self::drop_event(&p, "dropped", &why)];
            }
        };
        let error = match self.gateway.send(region, &token, &message).await {
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
