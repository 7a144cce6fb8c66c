//! The outbox and the event log.
//!
//! A trigger writes one row per event and granted user, in one transaction, before it is
//! answered: nothing accepted is lost, a crash included. Delivery workers claim due rows for a
//! lease in their own name (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several instances never
//! claim one row twice), renew their claims while work on them goes on, so that a slow call
//! never lets another worker take a row that is being sent, and record every attempt in the
//! event log.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Backend, Store, StoreError, json_rows, json_strings, param};

/// A new outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// A UUID.
    pub id: String,
    /// The user it is for.
    pub user_id: String,
    /// The device.
    pub endpoint_id: String,
    /// Such as `DoorbellPress`.
    pub kind: String,
    /// The event JSON; its scope token is filled in at send time.
    pub event: String,
    /// When it happened.
    pub created_at: i64,
    /// The end of its useful life: after this it is dropped, not sent late.
    pub expires_at: i64,
}

/// One write of a delivery batch, applied with the others by [`Store::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// End the row and log its last attempt.
    Settle {
        /// Delivered or dropped.
        how: Settled,
        /// Why, for the row.
        outcome: String,
        /// The attempt to log.
        attempt: Attempt,
    },
    /// Try again later.
    Retry {
        /// The row.
        id: String,
        /// When.
        next_attempt_at: i64,
        /// Retries so far.
        retries: u32,
        /// Whether the token was refreshed for it.
        refreshed: bool,
    },
    /// Log an attempt that did not end the row.
    Log(Attempt),
}

/// The event log's columns, and which of them are integers, in the order rows are bound.
pub(crate) const ATTEMPT_COLUMNS: &str =
    "at, outbox_id, user_id, endpoint_id, kind, attempt, outcome, detail, queued_at";
const ATTEMPT_INTEGERS: [bool; 9] = [true, false, false, false, false, true, false, false, true];

/// Logs attempts, in their order, in one statement whose text is the same for any number of
/// rows (see [`json_rows`]): each statement is a round trip, to SQLite's worker thread or
/// PostgreSQL's socket, and each new text a parse and a plan.
pub(crate) async fn insert_attempts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    attempts: &[&Attempt],
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO event_log ({ATTEMPT_COLUMNS}) {}",
        json_rows(backend, 1, &ATTEMPT_INTEGERS)
    );
    sqlx::query(&sql)
        .bind(attempt_rows(attempts)?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Attempts as the JSON array of rows [`json_rows`] reads, in [`ATTEMPT_COLUMNS`]' order.
fn attempt_rows(attempts: &[&Attempt]) -> Result<String, StoreError> {
    let rows: Vec<_> = attempts
        .iter()
        .map(|a| {
            (
                a.at,
                &a.outbox_id,
                &a.user_id,
                &a.endpoint_id,
                &a.kind,
                a.attempt,
                &a.outcome,
                &a.detail,
                a.queued_at,
            )
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Batch(e.to_string()))
}

/// Writes outbox rows inside `tx`, in one statement (see [`json_rows`]).
pub(crate) async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    insert_claimed(tx, backend, events, None).await
}

/// Writes outbox rows inside `tx`, in one statement, claimed for `claim` (the worker's name
/// and the end of its lease) when given: rows handed straight to that worker.
async fn insert_claimed(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    events: &[NewEvent],
    claim: Option<(&str, i64)>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let (claimed_by, claimed_until) = match claim {
        Some((by, until)) => (Some(by), until),
        None => (None, 0),
    };
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            (
                &e.id,
                &e.user_id,
                &e.endpoint_id,
                &e.kind,
                &e.event,
                e.created_at,
                e.expires_at,
                e.created_at,
                claimed_by,
                claimed_until,
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO outbox (id, user_id, endpoint_id, kind, event, created_at, expires_at, next_attempt_at, \
         claimed_by, claimed_until) {}",
        json_rows(
            backend,
            1,
            &[false, false, false, false, false, true, true, true, false, true]
        )
    );
    sqlx::query(&sql)
        .bind(serde_json::to_string(&rows).map_err(|e| StoreError::Batch(e.to_string()))?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A claimed outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// What was written.
    pub event: NewEvent,
    /// Retries so far.
    pub retries: u32,
    /// Whether the token was already refreshed for it.
    pub refreshed: bool,
}

impl From<NewEvent> for Pending {
    /// A row just written, as a claim would return it (no retries yet).
    fn from(event: NewEvent) -> Self {
        Pending {
            event,
            retries: 0,
            refreshed: false,
        }
    }
}

/// How an outbox row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The gateway accepted it.
    Delivered,
    /// Given up; the reason is in the log.
    Dropped,
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When.
    pub at: i64,
    /// The outbox row.
    pub outbox_id: String,
    /// The user: rask's for a smart-home event; the Alexa user id for an out-of-session call
    /// (`*` for everyone).
    pub user_id: String,
    /// The device; empty for an out-of-session call.
    pub endpoint_id: String,
    /// The event kind; for an out-of-session call, `message to EU`, `event to NA (live)`.
    pub kind: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// `delivered`, `retry`, `refreshed`, `dropped`, `revoked`, `refused`, `alert`; `sent`,
    /// `retry`, `failed` for out-of-session calls.
    pub outcome: String,
    /// What happened.
    pub detail: String,
    /// When the event was queued (its outbox row's `created_at`), so that `at` less this is
    /// how long it waited; a delivered row leaves the outbox, so this is where that is kept.
    /// 0 for an out-of-session call (its row keeps when it was accepted) and for attempts
    /// logged before this was.
    pub queued_at: i64,
}

fn pending(r: &AnyRow) -> Result<Pending, sqlx::Error> {
    Ok(Pending {
        event: NewEvent {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            endpoint_id: r.try_get("endpoint_id")?,
            kind: r.try_get("kind")?,
            event: r.try_get("event")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        },
        retries: r.try_get::<i64, _>("retries")? as u32,
        refreshed: r.try_get::<i64, _>("refreshed")? != 0,
    })
}

const RETURNING: &str =
    "RETURNING id, user_id, endpoint_id, kind, event, created_at, expires_at, retries, refreshed";

impl Store {
    /// Writes events, all or none: a press for many users is a few multi-row statements.
    pub async fn enqueue(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        insert_events(&mut tx, self.backend(), events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes events as [`Store::enqueue`] does, `claimed` already claimed in the name of
    /// `claimer` until `claimed_until` (for the worker they are handed to without a claim's
    /// round trip), `unclaimed` for any worker to claim; all or none.
    pub async fn enqueue_claimed(
        &self,
        claimed: &[NewEvent],
        unclaimed: &[NewEvent],
        claimer: &str,
        claimed_until: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        insert_claimed(&mut tx, self.backend(), claimed, Some((claimer, claimed_until))).await?;
        insert_claimed(&mut tx, self.backend(), unclaimed, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` due rows for `lease_ms` in the name of `claimer`; no other claimer
    /// gets them meanwhile.
    pub async fn claim_due(
        &self,
        claimer: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Pending>, StoreError> {
        let lock = if self.backend() == Backend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE outbox SET claimed_until = $1, claimed_by = $4 WHERE id IN (\
               SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 AND claimed_until < $2 \
               ORDER BY next_attempt_at LIMIT $3 {lock}) \
             AND claimed_until < $2 {RETURNING}"
        );
        let rows = sqlx::query(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .bind(claimer)
            // A claim is a write: on SQLite's read connections it would meet the settler's
            // transactions in SQLite's busy handler, which sleeps milliseconds at a time.
            .fetch_all(&self.writer)
            .await?;
        Ok(rows.iter().map(pending).collect::<Result<_, _>>()?)
    }

    /// Extends to `until` the claims `claimer` still holds (pending, not run out) on the rows
    /// `ids`, the ones its deliveries are working on, so that they stay its own however slow a
    /// call is; a row it claimed and then lost track of comes free when its claim runs out.
    /// Returns how many claims were renewed.
    pub async fn renew_claims(
        &self,
        claimer: &str,
        ids: &[String],
        now: i64,
        until: i64,
    ) -> Result<u64, StoreError> {
        renew(self, "outbox", claimer, ids, now, until).await
    }

    /// Applies a delivery batch's writes in one transaction: a worker settles its whole batch
    /// with one commit instead of one per event. A delivered row leaves the outbox (its
    /// attempt, in the event log, is the record), so the table holds only what may still be
    /// sent: its pages stay few and hot, and a settle removes index entries rather than moving
    /// them. A dropped row stays, for `resend_event`, until retention prunes it.
    pub async fn apply(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut delivered = Vec::new();
        // Dropped rows grouped by outcome: a batch's drops for one reason are one UPDATE.
        let mut dropped: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        let mut attempts = Vec::new();
        let mut retries = Vec::new();
        for w in writes {
            match w {
                Write::Settle {
                    how,
                    outcome,
                    attempt,
                } => {
                    match how {
                        Settled::Delivered => delivered.push(attempt.outbox_id.as_str()),
                        Settled::Dropped => dropped
                            .entry(outcome.as_str())
                            .or_default()
                            .push(&attempt.outbox_id),
                    }
                    attempts.push(attempt);
                }
                Write::Retry {
                    id,
                    next_attempt_at,
                    retries: n,
                    refreshed,
                } => retries.push((id, *next_attempt_at, *n, *refreshed)),
                Write::Log(attempt) => attempts.push(attempt),
            }
        }
        let b = self.backend();
        let list = |ids: &[&str]| serde_json::to_string(ids).map_err(|e| StoreError::Batch(e.to_string()));
        if b == Backend::Postgres && dropped.is_empty() && retries.is_empty() && !delivered.is_empty() {
            // The busy path's whole settle as one statement (one statement is atomic): four
            // round trips to PostgreSQL (BEGIN, DELETE, INSERT, COMMIT) become one. SQLite
            // allows no DELETE inside WITH, and its round trips stay in the process.
            let sql = format!(
                "WITH settled AS (DELETE FROM outbox WHERE id IN ({})) INSERT INTO event_log ({ATTEMPT_COLUMNS}) {}",
                json_strings(b, 1),
                json_rows(b, 2, &ATTEMPT_INTEGERS)
            );
            sqlx::query(&sql)
                .bind(list(&delivered)?)
                .bind(attempt_rows(&attempts)?)
                .execute(&self.writer)
                .await?;
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        if !delivered.is_empty() {
            let sql = format!("DELETE FROM outbox WHERE id IN ({})", json_strings(b, 1));
            sqlx::query(&sql)
                .bind(list(&delivered)?)
                .execute(&mut *tx)
                .await?;
        }
        for (outcome, ids) in &dropped {
            let sql = format!(
                "UPDATE outbox SET status = 'dropped', outcome = {}, claimed_until = 0, claimed_by = NULL \
                 WHERE id IN ({})",
                param(b, 1),
                json_strings(b, 2)
            );
            sqlx::query(&sql)
                .bind(*outcome)
                .bind(list(ids)?)
                .execute(&mut *tx)
                .await?;
        }
        // Retries differ row by row, and are rare on the busy path.
        for (id, next_attempt_at, n, refreshed) in retries {
            sqlx::query("UPDATE outbox SET next_attempt_at = $1, retries = $2, refreshed = $3, claimed_until = 0, claimed_by = NULL WHERE id = $4")
                .bind(next_attempt_at)
                .bind(n as i64)
                .bind(refreshed as i64)
                .bind(id.clone())
                .execute(&mut *tx)
                .await?;
        }
        insert_attempts(&mut tx, self.backend(), &attempts).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The latest `limit` attempts, newest first.
    pub async fn event_log(&self, limit: i64) -> Result<Vec<Attempt>, StoreError> {
        self.event_log_matching(&crate::activity::EventFilter::default(), limit)
            .await
    }

    /// Press-to-gateway latencies in milliseconds of every delivered event: when the gateway
    /// accepted it minus when it was written. For the benchmark.
    pub async fn delivery_latencies(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT at - queued_at AS latency FROM event_log WHERE outcome = 'delivered' AND queued_at > 0 \
             ORDER BY latency",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("latency"))
            .collect::<Result<_, _>>()?)
    }

    /// Whether any event is still pending: one index probe, where counting them walks every
    /// pending row (the benchmark asks this a hundred times a second).
    pub async fn any_pending_events(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM outbox WHERE status = 'pending' LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// How many events are still pending.
    pub async fn pending_events(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The ids of users whose grant is active or refreshing: who gets events.
    pub async fn granted_users(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id FROM grants WHERE state IN ('active', 'refreshing') ORDER BY user_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("user_id"))
            .collect::<Result<_, _>>()?)
    }
}

/// An event-log row, selected with the columns of [`Attempt`].
pub(crate) fn attempt_row(r: &sqlx::any::AnyRow) -> Result<Attempt, sqlx::Error> {
    Ok(Attempt {
        at: r.try_get("at")?,
        outbox_id: r.try_get("outbox_id")?,
        user_id: r.try_get("user_id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        kind: r.try_get("kind")?,
        attempt: r.try_get("attempt")?,
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
        queued_at: r.try_get("queued_at")?,
    })
}

/// Extends `claimer`'s unexpired claims on `ids` in `table` (an outbox) to `until`.
pub(crate) async fn renew(
    store: &Store,
    table: &str,
    claimer: &str,
    ids: &[String],
    now: i64,
    until: i64,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let b = store.backend();
    let sql = format!(
        "UPDATE {table} SET claimed_until = {} WHERE claimed_by = {} AND status = 'pending' AND claimed_until >= {} \
         AND id IN ({})",
        param(b, 1),
        param(b, 2),
        param(b, 3),
        json_strings(b, 4)
    );
    let r = sqlx::query(&sql)
        .bind(until)
        .bind(claimer.to_owned())
        .bind(now)
        .bind(serde_json::to_string(ids).map_err(|e| StoreError::Batch(e.to_string()))?)
        .execute(&store.writer)
        .await?;
    Ok(r.rows_affected())
}
