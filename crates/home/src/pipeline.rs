//! The pipeline both delivery workers run (the Event Gateway's, [`crate::delivery`], and the
//! out-of-session one, [`crate::out_of_session`]), so that no slow call holds up another row:
//!
//! - the claimer claims due rows in the worker's name while fewer than
//!   [`Limits::concurrency`] are in flight, and starts one task per row;
//! - each task delivers its row and hands what it decided to the settler;
//! - the settler commits what has arrived in one transaction (group commit), so that a row
//!   Amazon accepted is settled within milliseconds of its 202, whatever its batch-mates do;
//! - the renewer extends the worker's claims on the rows in flight, so that a slow call never
//!   lets another worker send the same row again, and only on those: a row this worker lost
//!   track of (its delivery panicked, its outcome could not be stored) comes free in time.
//!
//! A row is sent twice only when rask dies between Amazon's answer and the settler's commit.
//! What a worker claims, sends and writes is its [`Work`]; the pipeline only moves rows along.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_store::StoreError;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

/// What one worker claims, delivers and settles.
pub trait Work: Clone + Send + Sync + 'static {
    /// A claimed row.
    type Row: Send + 'static;
    /// What delivering a row decided, for the settler.
    type Done: Send + 'static;

    /// The worker's name, for logs.
    const NAME: &'static str;

    /// The row's id (a row already in flight is not started twice).
    fn id(row: &Self::Row) -> String;

    /// Claims up to `limit` due rows in this worker's name.
    fn claim(&self, limit: usize) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;

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
    /// Rows in flight at once.
    pub concurrency: usize,
    /// Rows claimed at once.
    pub batch: usize,
    /// Rows settled in one transaction, at most.
    pub settle_group: usize,
    /// How often to look for due rows when nothing wakes the worker.
    pub poll: Duration,
    /// How long a claim lasts unless renewed; renewed every third of it.
    pub lease: Duration,
}

/// Runs `work` until the process ends; returns the claimer's, settler's and renewer's tasks.
/// `wake` makes the claimer look at once (a row was just stored).
pub fn spawn<W: Work>(work: W, limits: Limits, wake: Arc<Notify>) -> Vec<tokio::task::JoinHandle<()>> {
    let in_flight = Arc::new(InFlight::default());
    let (settle, settling) = mpsc::unbounded_channel::<Settling<W::Done>>();
    let settler = tokio::spawn(settler(work.clone(), limits, settling, in_flight.clone()));
    let renewer = tokio::spawn(renewer(work.clone(), limits, in_flight.clone()));
    let claimer = tokio::spawn(claimer(work, limits, wake, settle, in_flight));
    vec![claimer, settler, renewer]
}

/// One turn by hand, for tests and tools that step a worker: claims up to `batch` due rows,
/// delivers them all and settles them before returning. Returns how many rows it claimed.
pub async fn run_once<W: Work>(work: &W, batch: usize) -> Result<usize, StoreError> {
    let due = work.claim(batch).await?;
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

/// How long the claimer waits for a quarter of its slots while rows are in flight, before it
/// claims with what is free.
const GATHER: Duration = Duration::from_millis(20);

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
    wake: Arc<Notify>,
    settle: mpsc::UnboundedSender<Settling<W::Done>>,
    in_flight: Arc<InFlight>,
) {
    let slots = Arc::new(Semaphore::new(limits.concurrency));
    loop {
        // Free slots before claiming, so that claims are not taken to sit waiting: one when
        // the pipeline is idle; while rows are in flight, a quarter of them if they come free
        // soon (a busy worker claims in batches rather than one row per transaction), else
        // whatever is free (slow calls hold the rest).
        let mut free = if slots.available_permits() == limits.concurrency {
            match slots.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => return,
            }
        } else {
            let quarter = (limits.concurrency / 4).max(1) as u32;
            match tokio::time::timeout(GATHER, slots.clone().acquire_many_owned(quarter)).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return,
                Err(_) => {
                    let Ok(mut p) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let more = slots.available_permits() as u32;
                    if more > 0 {
                        if let Ok(m) = slots.clone().try_acquire_many_owned(more) {
                            p.merge(m);
                        }
                    }
                    p
                }
            }
        };
        let want = free.num_permits();
        let limit = (slots.available_permits() + want).min(limits.batch);
        let due = match work.claim(limit).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "{}: the outbox could not be read", W::NAME);
                drop(free);
                tokio::time::sleep(limits.poll).await;
                continue;
            }
        };
        let claimed = due.len();
        for row in due {
            let id = W::id(&row);
            if !in_flight.enter_soon(id.clone()).await {
                continue;
            }
            let slot = match free.split(1) {
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
            let (work, settle, in_flight) = (work.clone(), settle.clone(), in_flight.clone());
            tokio::spawn(async move {
                // Its own task, so that a delivery that panics still leaves the pipeline: its
                // claim is no longer renewed, runs out, and the row is tried again.
                match tokio::spawn(async move { work.deliver(row).await }).await {
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
        drop(free);
        // A full batch: more may be due, go on at once; otherwise wait for news.
        if claimed < limit || claimed == 0 {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(limits.poll) => {}
            }
        }
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

/// Keeps this worker's claims alive while it has rows in flight.
async fn renewer<W: Work>(work: W, limits: Limits, in_flight: Arc<InFlight>) {
    let every = limits.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let ids = in_flight.ids();
        if ids.is_empty() {
            continue;
        }
        if let Err(e) = work.renew(&ids).await {
            tracing::warn!(error = %e, "{}: claims could not be renewed", W::NAME);
        }
    }
}
