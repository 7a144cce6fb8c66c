//! The pipeline both delivery workers run (the Event Gateway's, [`crate::delivery`], and the
//! out-of-session one, [`crate::out_of_session`]), so that no slow call holds up another row:
//!
//! - the claimer claims due rows in the worker's name ahead of need, up to
//!   [`Limits::batch`] waiting, and takes the rows handed in through the worker's
//!   [`Entrance`] (stored by this process already claimed in the worker's name, so they need
//!   no claim at all); the starter starts one task per row while fewer than
//!   [`Limits::concurrency`] are being delivered;
//! - each task delivers its row and hands what it decided to the settler; its sending slot
//!   comes free then, not at the commit;
//! - the settler commits what has arrived in one transaction (group commit), so that a row
//!   Amazon accepted is settled within milliseconds of its 202, whatever its batch-mates do;
//! - the renewer extends the worker's claims on the rows in flight, so that a slow call never
//!   lets another worker send the same row again, and only on those: a row this worker lost
//!   track of (its delivery panicked, its outcome could not be stored) comes free in time.
//!
//! A row is sent twice only when its outcome is not committed before its claim runs out: rask
//! dies between Amazon's answer and the settler's commit, the settler gives up storing it, or
//! renewals fail for a whole lease (the database unreachable) while the row waits or is sent.
//! Rows handed in or claimed ahead wait in this worker's name (at most
//! [`Limits::batch`] times five), so an instance whose calls are slow keeps them from others
//! until it sends them.
//! What a worker claims, sends and writes is its [`Work`]; the pipeline only moves rows along.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_store::StoreError;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

/// What one worker claims, delivers and settles.
pub trait Work: Clone + Send + Sync + 'static {
    /// A row as claimed (or handed in through the worker's [`Entrance`]).
    type Claimed: Send + 'static;
    /// A row ready to deliver: what [`Work::adopt`] made of a claimed one.
    type Row: Send + 'static;
    /// What delivering a row decided, for the settler.
    type Done: Send + 'static;

    /// The worker's name, for logs.
    const NAME: &'static str;

    /// The row's id (a row already in flight is not started twice).
    fn id(row: &Self::Claimed) -> String;

    /// Claims up to `limit` due rows in this worker's name.
    fn claim(&self, limit: usize) -> impl Future<Output = Result<Vec<Self::Claimed>, StoreError>> + Send;

    /// Makes claimed rows ready to deliver, all of them in one go (the users' grants in one
    /// query, say): one row for each claimed row, in their order.
    fn adopt(&self, claimed: Vec<Self::Claimed>) -> impl Future<Output = Vec<Self::Row>> + Send;

    /// Delivers one row, deciding what is written for it.
    fn deliver(&self, row: Self::Row) -> impl Future<Output = Self::Done> + Send;

    /// Writes what many rows decided, in one transaction.
    fn settle(&self, done: &[Self::Done]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Extends this worker's claims on the rows `ids` (those in flight) by its lease.
    fn renew(&self, ids: &[String]) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How much the pipeline takes on.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows being sent at once (rows claimed or handed in and waiting for a slot are in flight
    /// too, as far as claims go, but not sending).
    pub concurrency: usize,
    /// Rows claimed at once, at most, and claimed rows waiting for a slot, at most.
    pub batch: usize,
    /// Rows settled in one transaction, at most.
    pub settle_group: usize,
    /// How often to look for due rows when nothing wakes the worker.
    pub poll: Duration,
    /// How long a claim lasts unless renewed; renewed every third of it.
    pub lease: Duration,
}

/// How many handed-in rows may wait for the claimer to take them, per row it claims at once.
const HANDED_PER_BATCH: usize = 4;

/// The way into one worker's pipeline besides its claims: whoever stores rows already claimed
/// in the worker's name hands them in here, and they are sent without a claim's round trip to
/// the database. Shared by the worker's pipeline and those that hand rows in; also what wakes
/// the claimer when rows were stored for anyone to claim.
pub struct Entrance<C> {
    handed: mpsc::UnboundedSender<Handed<C>>,
    taken: Mutex<Option<mpsc::UnboundedReceiver<Handed<C>>>>,
    /// Rows that may be handed in and not yet taken into the claimer's queue, so that the rest
    /// of a burst waits in the database, claimable by any instance, rather than in this one's
    /// memory.
    room: Arc<Semaphore>,
    in_flight: Arc<InFlight>,
    wake: Arc<Notify>,
    /// The worker's name on its claims.
    claimer: Arc<str>,
    /// The worker's lease in milliseconds while its claimer runs; 0 before [`spawn`] and once
    /// the claimer has stopped, when nothing may be handed in (no one would send it).
    lease_ms: AtomicU64,
}

/// Rows handed in, with the room they take until the claimer has taken them.
struct Handed<C> {
    rows: Vec<C>,
    _room: OwnedSemaphorePermit,
}

impl<C: Send + 'static> Entrance<C> {
    /// The entrance of a worker that claims in the name `claimer`, taking up to `batch` rows
    /// at once.
    pub fn new(claimer: Arc<str>, batch: usize) -> Arc<Self> {
        let (handed, taken) = mpsc::unbounded_channel();
        Arc::new(Entrance {
            handed,
            taken: Mutex::new(Some(taken)),
            room: Arc::new(Semaphore::new(batch.max(1) * HANDED_PER_BATCH)),
            in_flight: Arc::new(InFlight::default()),
            wake: Arc::new(Notify::new()),
            claimer,
            lease_ms: AtomicU64::new(0),
        })
    }

    /// What wakes the claimer, so that rows stored for anyone are claimed at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Room for up to `n` rows if the worker has any: store that many rows claimed in
    /// [`Reserved::claimer`]'s name until [`Reserved::claimed_until`], then hand them in with
    /// [`Reserved::hand`]. `None` when there is no room (store them for anyone to claim).
    pub fn reserve(self: &Arc<Self>, n: usize) -> Option<Reserved<C>> {
        let free = self.room.available_permits().min(n);
        let lease_ms = self.lease_ms.load(Ordering::Relaxed);
        // Nothing is handed in before the pipeline runs: no one would renew the claims.
        if free == 0 || lease_ms == 0 {
            return None;
        }
        let room = self.room.clone().try_acquire_many_owned(free as u32).ok()?;
        Some(Reserved {
            entrance: self.clone(),
            room,
        })
    }

    /// Whether the worker's claimer runs.
    fn running(&self) -> bool {
        self.lease_ms.load(Ordering::Relaxed) != 0
    }
}

/// Marks the claimer stopped when it ends, however it ends (a panic in `adopt`, or the
/// process shutting down), so that nothing more is handed to it.
struct Running<C>(Arc<Entrance<C>>);

impl<C> Drop for Running<C> {
    fn drop(&mut self) {
        self.0.lease_ms.store(0, Ordering::Relaxed);
    }
}

/// Room reserved in a worker's [`Entrance`]; given back if dropped without [`Reserved::hand`].
pub struct Reserved<C> {
    entrance: Arc<Entrance<C>>,
    room: OwnedSemaphorePermit,
}

impl<C: Send + 'static> Reserved<C> {
    /// How many rows may be handed in.
    pub fn rows(&self) -> usize {
        self.room.num_permits()
    }

    /// The name the rows must be claimed in.
    pub fn claimer(&self) -> &str {
        &self.entrance.claimer
    }

    /// Until when rows written now must be claimed: now and the worker's lease.
    pub fn claimed_until(&self) -> i64 {
        rask_store::now_ms() + self.entrance.lease_ms.load(Ordering::Relaxed) as i64
    }

    /// Hands in rows stored as claimed, each with its id; no more than [`Reserved::rows`].
    /// They are in flight from now on, so the worker renews their claims while they wait.
    pub fn hand(self, rows: Vec<(String, C)>) {
        let mut ids = Vec::with_capacity(rows.len());
        let mut claimed = Vec::with_capacity(rows.len());
        for (id, row) in rows {
            self.entrance.in_flight.enter(id.clone());
            ids.push(id);
            claimed.push(row);
        }
        let sent = self.entrance.handed.send(Handed {
            rows: claimed,
            _room: self.room,
        });
        // The claimer has stopped: the rows are not renewed, so their claims run out and any
        // worker takes them then.
        if sent.is_err() || !self.entrance.running() {
            self.entrance.in_flight.leave(&ids);
        }
    }
}

/// Runs `work` until the process ends; returns the claimer's, settler's and renewer's tasks.
/// Rows come from the worker's claims and from `entrance`, whose waker makes the claimer look
/// at once (a row was just stored). Spawned once per entrance; a second spawn takes no
/// handed-in rows.
pub fn spawn<W: Work>(
    work: W,
    limits: Limits,
    entrance: Arc<Entrance<W::Claimed>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let in_flight = entrance.in_flight.clone();
    entrance
        .lease_ms
        .store(limits.lease.as_millis().max(1) as u64, Ordering::Relaxed);
    let (settle, settling) = mpsc::unbounded_channel::<Settling<W::Done>>();
    let settler = tokio::spawn(settler(work.clone(), limits, settling, in_flight.clone()));
    let renewer = tokio::spawn(renewer(work.clone(), limits, entrance.clone(), in_flight.clone()));
    let claimer = tokio::spawn(claimer(work, limits, entrance, settle, in_flight));
    vec![claimer, settler, renewer]
}

/// One turn by hand, for tests and tools that step a worker: claims up to `batch` due rows,
/// delivers them all and settles them before returning. Returns how many rows it claimed.
pub async fn run_once<W: Work>(work: &W, batch: usize) -> Result<usize, StoreError> {
    let due = work.claim(batch).await?;
    let due = work.adopt(due).await;
    let n = due.len();
    let tasks: Vec<_> = due
        .into_iter()
        .map(|row| {
            let work = work.clone();
            tokio::spawn(async move { work.deliver(row).await })
        })
        .collect();
    let mut done = Vec::with_capacity(n);
    for t in tasks {
        // A task that panicked is not settled: its claim runs out and it is tried again.
        if let Ok(d) = t.await {
            done.push(d);
        }
    }
    if !done.is_empty() {
        work.settle(&done).await?;
    }
    Ok(n)
}

/// How many delivered rows per sending slot may wait for the settler's commit.
const UNSETTLED_PER_SLOT: usize = 4;

/// How many times [`InFlight::enter_soon`] looks, a millisecond apart.
const ENTER_TRIES: u32 = 20;

/// How many times the settler tries to store a group's outcomes.
const SETTLE_ATTEMPTS: u32 = 5;

/// The rows this worker has in flight: claimed, not yet settled.
#[derive(Default)]
struct InFlight {
    ids: Mutex<HashSet<String>>,
}

impl InFlight {
    /// Takes `id` in; false when it is in flight already (a claim that ran out while its
    /// delivery went on, claimed again by this same worker).
    fn enter(&self, id: String) -> bool {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(id)
    }

    fn leave(&self, ids: &[String]) {
        let mut set = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            set.remove(id);
        }
    }

    fn ids(&self) -> Vec<String> {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Takes `id` in, waiting a little when it is still in flight: a row settled for an
    /// immediate retry can be claimed again between the settler's commit and its `leave`.
    async fn enter_soon(&self, id: String) -> bool {
        for _ in 0..ENTER_TRIES {
            if self.enter(id.clone()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        false
    }
}

/// One row's outcome on its way to the settler, with the slot it frees once committed.
struct Settling<D> {
    id: String,
    done: D,
    slot: OwnedSemaphorePermit,
}

async fn claimer<W: Work>(
    work: W,
    limits: Limits,
    entrance: Arc<Entrance<W::Claimed>>,
    settle: mpsc::UnboundedSender<Settling<W::Done>>,
    in_flight: Arc<InFlight>,
) {
    // Claimed rows wait in `ready` for a slot: the next rows are claimed while the last are
    // still being sent, so that a slot that comes free starts a row at once instead of after
    // a claim's round trip (which, on a busy machine, took as long as the call to Amazon).
    // They are in flight from their claim on, so the renewer keeps their claims alive.
    let (ready, waiting) = mpsc::channel::<(String, W::Row)>(limits.batch.max(1));
    let starter = tokio::spawn(starter(work.clone(), limits, waiting, settle, in_flight.clone()));
    let taken = entrance.taken.lock().unwrap_or_else(|p| p.into_inner()).take();
    let mut handed = taken.unwrap_or_else(|| mpsc::unbounded_channel().1);
    let _running = Running(entrance.clone());
    // Claims are made in halves of the queue at least, so that a busy worker claims many rows
    // in one statement rather than one row per transaction.
    let half = (limits.batch / 2).max(1);
    let mut claimed_at = tokio::time::Instant::now();
    loop {
        // Rows handed in first (they are claimed already, and were stored just now), but a
        // claim at least every poll: a steady stream of handed rows must not keep retries,
        // change reports and what overflowed the entrance waiting.
        let claim_due = claimed_at.elapsed() >= limits.poll;
        if !claim_due {
            if let Ok(h) = handed.try_recv() {
                if !take(&work, &ready, h.rows).await {
                    return;
                }
                continue;
            }
        }
        let room = tokio::select! {
            biased;
            Some(h) = handed.recv(), if !claim_due => {
                if !take(&work, &ready, h.rows).await {
                    return;
                }
                continue;
            }
            room = ready.reserve_many(half) => room,
        };
        match room {
            Ok(room) => drop(room),
            Err(_) => return,
        }
        let limit = ready.capacity();
        claimed_at = tokio::time::Instant::now();
        let due = match work.claim(limit).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "{}: the outbox could not be read", W::NAME);
                tokio::time::sleep(limits.poll).await;
                continue;
            }
        };
        let claimed = due.len();
        let mut fresh = Vec::with_capacity(claimed);
        for row in due {
            if in_flight.enter_soon(W::id(&row)).await {
                fresh.push(row);
            }
        }
        if !take(&work, &ready, fresh).await {
            return;
        }
        // A full claim: more may be due, go on at once; otherwise wait for news.
        if claimed < limit || claimed == 0 {
            tokio::select! {
                _ = entrance.wake.notified() => {}
                Some(h) = handed.recv() => {
                    if !take(&work, &ready, h.rows).await {
                        return;
                    }
                }
                _ = tokio::time::sleep(limits.poll) => {}
            }
        }
        if starter.is_finished() {
            return;
        }
    }
}

/// Adopts claimed rows (already in flight) and queues them for the starter; false once the
/// starter has stopped.
async fn take<W: Work>(work: &W, ready: &mpsc::Sender<(String, W::Row)>, claimed: Vec<W::Claimed>) -> bool {
    if claimed.is_empty() {
        return true;
    }
    let ids: Vec<String> = claimed.iter().map(W::id).collect();
    let rows = work.adopt(claimed).await;
    debug_assert_eq!(ids.len(), rows.len(), "adopt keeps every row, in order");
    for (id, row) in ids.into_iter().zip(rows) {
        if ready.send((id, row)).await.is_err() {
            return false;
        }
    }
    true
}

/// Starts each claimed row's delivery as soon as a slot is free.
async fn starter<W: Work>(
    work: W,
    limits: Limits,
    mut waiting: mpsc::Receiver<(String, W::Row)>,
    settle: mpsc::UnboundedSender<Settling<W::Done>>,
    in_flight: Arc<InFlight>,
) {
    // A row holds a sending slot while it is delivered, and an unsettled one until its outcome
    // is committed: the next row starts as soon as one is delivered, not once its group is
    // committed (a commit's round trip, on PostgreSQL, as long as a call to Amazon), and no
    // more outcomes wait for the settler than it commits in a few groups.
    let sending = Arc::new(Semaphore::new(limits.concurrency));
    let unsettled = Arc::new(Semaphore::new(limits.concurrency * UNSETTLED_PER_SLOT));
    while let Some((id, row)) = waiting.recv().await {
        let Ok(slot) = unsettled.clone().acquire_owned().await else {
            return;
        };
        let Ok(sending) = sending.clone().acquire_owned().await else {
            return;
        };
        let (work, settle, in_flight) = (work.clone(), settle.clone(), in_flight.clone());
        tokio::spawn(async move {
            // Its own task, so that a delivery that panics still leaves the pipeline: its
            // claim is no longer renewed, runs out, and the row is tried again.
            let delivered = tokio::spawn(async move { work.deliver(row).await }).await;
            drop(sending);
            match delivered {
                Ok(done) => {
                    let _ = settle.send(Settling { id, done, slot });
                }
                Err(e) => {
                    tracing::error!(row = %id, error = %e, "{}: a delivery failed; tried again once its claim runs out", W::NAME);
                    in_flight.leave(std::slice::from_ref(&id));
                }
            }
        });
    }
}

/// Commits rows' outcomes as they arrive, many in one transaction.
async fn settler<W: Work>(
    work: W,
    limits: Limits,
    mut settling: mpsc::UnboundedReceiver<Settling<W::Done>>,
    in_flight: Arc<InFlight>,
) {
    while let Some(first) = settling.recv().await {
        let mut group = vec![first];
        while group.len() < limits.settle_group {
            match settling.try_recv() {
                Ok(s) => group.push(s),
                Err(_) => break,
            }
        }
        let mut ids = Vec::with_capacity(group.len());
        let mut done = Vec::with_capacity(group.len());
        let mut slots = Vec::with_capacity(group.len());
        for s in group {
            ids.push(s.id);
            done.push(s.done);
            slots.push(s.slot);
        }
        // Tried a few times (the rows stay claimed, and renewed, meanwhile); then given up,
        // so that a write that can never succeed does not stop the worker: the rows' claims
        // run out and they are tried again, sent twice at worst, never lost.
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=SETTLE_ATTEMPTS {
            match work.settle(&done).await {
                Ok(()) => break,
                Err(e) if attempt < SETTLE_ATTEMPTS => {
                    tracing::error!(error = %e, rows = ids.len(), "{}: outcomes could not be stored; trying again", W::NAME);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => tracing::error!(
                    error = %e,
                    rows = ids.len(),
                    "{}: outcomes could not be stored; given up: the rows are tried again when their claims run out",
                    W::NAME
                ),
            }
        }
        in_flight.leave(&ids);
        // The slots come free with the group.
        drop(slots);
    }
}

/// Keeps this worker's claims alive while it has rows in flight, and while its claimer runs:
/// rows a stopped claimer left behind are not sent by this worker, so their claims must run
/// out for another to take them.
async fn renewer<W: Work>(
    work: W,
    limits: Limits,
    entrance: Arc<Entrance<W::Claimed>>,
    in_flight: Arc<InFlight>,
) {
    let every = limits.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        if !entrance.running() {
            tracing::error!(
                "{}: the claimer stopped; its rows are left to other workers once their claims run out",
                W::NAME
            );
            return;
        }
        let ids = in_flight.ids();
        if ids.is_empty() {
            continue;
        }
        if let Err(e) = work.renew(&ids).await {
            tracing::warn!(error = %e, "{}: claims could not be renewed", W::NAME);
        }
    }
}
