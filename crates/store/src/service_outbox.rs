//! The out-of-session outbox: Skill Messaging messages and Proactive Events accepted from a
//! caller, kept until Amazon accepts them (`sent`), refuses them or they expire (`failed`).
//! A call is stored before the caller hears it was accepted, so a crash loses nothing; a
//! caller's dedupe key makes the same call twice one row.
//!
//! Claims work as the smart-home outbox's do: a worker claims due rows for a lease, and rows
//! whose lease ran out (their worker died) are claimed again.

use sqlx::Row;

use crate::db::{Backend, Store, StoreError};

/// The largest body stored (a message's `data` is at most 6 KB; an event's is larger).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The longest dedupe key.
pub const MAX_DEDUPE_KEY: usize = 512;

/// A call to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceCall {
    /// Its id, returned to the caller.
    pub id: String,
    /// `message` or `event`.
    pub kind: String,
    /// The skill it is for.
    pub skill_id: String,
    /// The Alexa user id; empty for a multicast event.
    pub user_id: String,
    /// `NA`, `EU` or `FE`.
    pub region: String,
    /// Empty for a message; `development` or `live` for an event.
    pub stage: String,
    /// The JSON body to send.
    pub body: String,
    /// The caller's key: a second call with it is the first one.
    pub dedupe_key: Option<String>,
    /// When accepted, Unix milliseconds.
    pub created_at: i64,
    /// After this, not worth sending.
    pub expires_at: i64,
}

/// A claimed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCall {
    /// Its id.
    pub id: String,
    /// `message` or `event`.
    pub kind: String,
    /// The skill.
    pub skill_id: String,
    /// The Alexa user id, or empty.
    pub user_id: String,
    /// Where it goes.
    pub region: String,
    /// The event's stage, or empty.
    pub stage: String,
    /// The body.
    pub body: String,
    /// Until when it is worth sending.
    pub expires_at: i64,
    /// Attempts before this one.
    pub attempts: i64,
}

/// What became of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// Amazon accepted it.
    Sent(String),
    /// Try again at this time (Unix ms).
    Retry {
        /// When.
        at: i64,
        /// Why.
        why: String,
    },
    /// Given up on: refused, or expired.
    Failed(String),
}

/// What the store made of a new call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored, under its id.
    New(String),
    /// The same dedupe key was stored already, under this id.
    Duplicate(String),
}

/// A stored call, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// Its id.
    pub id: String,
    /// `message` or `event`.
    pub kind: String,
    /// The user, or empty.
    pub user_id: String,
    /// Where.
    pub region: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Amazon's answer, or why it was given up.
    pub outcome: Option<String>,
    /// When accepted.
    pub created_at: i64,
}

impl From<&NewServiceCall> for ServiceCall {
    /// A call just stored, as a claim would return it (no attempts yet).
    fn from(c: &NewServiceCall) -> Self {
        ServiceCall {
            id: c.id.clone(),
            kind: c.kind.clone(),
            skill_id: c.skill_id.clone(),
            user_id: c.user_id.clone(),
            region: c.region.clone(),
            stage: c.stage.clone(),
            body: c.body.clone(),
            expires_at: c.expires_at,
            attempts: 0,
        }
    }
}

const COLUMNS: &str = "id, kind, skill_id, user_id, region, stage, body, expires_at, attempts";

fn call(r: &sqlx::any::AnyRow) -> Result<ServiceCall, sqlx::Error> {
    Ok(ServiceCall {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        skill_id: r.try_get("skill_id")?,
        user_id: r.try_get("user_id")?,
        region: r.try_get("region")?,
        stage: r.try_get("stage")?,
        body: r.try_get("body")?,
        expires_at: r.try_get("expires_at")?,
        attempts: r.try_get("attempts")?,
    })
}

impl Store {
    /// Stores a call, or finds the one with the same dedupe key.
    pub async fn enqueue_service_call(&self, c: &NewServiceCall) -> Result<Enqueued, StoreError> {
        check_lengths(c)?;
        let r = sqlx::query(
            "INSERT INTO service_outbox (id, kind, skill_id, user_id, region, stage, body, dedupe_key, \
               created_at, expires_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9) \
             ON CONFLICT (skill_id, dedupe_key) DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.kind)
        .bind(&c.skill_id)
        .bind(&c.user_id)
        .bind(&c.region)
        .bind(&c.stage)
        .bind(&c.body)
        .bind(c.dedupe_key.as_deref())
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 1 {
            return Ok(Enqueued::New(c.id.clone()));
        }
        let existing: String =
            sqlx::query("SELECT id FROM service_outbox WHERE skill_id = $1 AND dedupe_key = $2")
                .bind(&c.skill_id)
                .bind(c.dedupe_key.as_deref())
                .fetch_one(&self.pool)
                .await?
                .try_get("id")?;
        Ok(Enqueued::Duplicate(existing))
    }

    /// [`Store::enqueue_service_call`] for many calls, in one transaction: one commit for a
    /// burst of API calls instead of one each. In the calls' order.
    pub async fn enqueue_service_calls(&self, calls: &[NewServiceCall]) -> Result<Vec<Enqueued>, StoreError> {
        self.enqueue_service_calls_claimed(calls, None).await
    }

    /// Stores calls as [`Store::enqueue_service_calls`] does, the new ones claimed for `claim`
    /// (the worker's name and the end of its lease) when given: calls handed straight to that
    /// worker, which then needs no claim to send them.
    pub async fn enqueue_service_calls_claimed(
        &self,
        calls: &[NewServiceCall],
        claim: Option<(&str, i64)>,
    ) -> Result<Vec<Enqueued>, StoreError> {
        let (claimed_by, claimed_until) = match claim {
            Some((by, until)) => (Some(by), until),
            None => (None, 0),
        };
        for c in calls {
            check_lengths(c)?;
        }
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<serde_json::Value> = calls
            .iter()
            .map(|c| {
                serde_json::json!([
                    c.id,
                    c.kind,
                    c.skill_id,
                    c.user_id,
                    c.region,
                    c.stage,
                    c.body,
                    c.dedupe_key,
                    c.created_at,
                    c.expires_at,
                    c.created_at,
                    claimed_by,
                    claimed_until
                ])
            })
            .collect();
        let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Batch(e.to_string()))?;
        let select = crate::db::json_rows(
            self.backend(),
            1,
            &[
                false, false, false, false, false, false, false, false, true, true, true, false, true,
            ],
        );
        // `WHERE true`: SQLite reads ON CONFLICT after a bare SELECT as a join's ON.
        let sql = format!(
            "INSERT INTO service_outbox (id, kind, skill_id, user_id, region, stage, body, dedupe_key, \
               created_at, expires_at, next_attempt_at, claimed_by, claimed_until) \
             SELECT * FROM ({select}) AS batch WHERE true \
             ON CONFLICT (skill_id, dedupe_key) DO NOTHING RETURNING id"
        );
        let mut tx = self.writer.begin().await?;
        let stored: std::collections::HashSet<String> = sqlx::query(&sql)
            .bind(rows)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(calls.len());
        for c in calls {
            if stored.contains(&c.id) {
                out.push(Enqueued::New(c.id.clone()));
                continue;
            }
            // Its key was stored before, or earlier in this batch.
            let existing: String =
                sqlx::query("SELECT id FROM service_outbox WHERE skill_id = $1 AND dedupe_key = $2")
                    .bind(&c.skill_id)
                    .bind(c.dedupe_key.as_deref())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("id")?;
            out.push(Enqueued::Duplicate(existing));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Claims up to `limit` due calls for `claimer` until `now + lease_ms`.
    pub async fn claim_service_calls(
        &self,
        claimer: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ServiceCall>, StoreError> {
        let lock = if self.backend() == Backend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE service_outbox SET claimed_until = $1, claimed_by = $4 WHERE id IN (\
               SELECT id FROM service_outbox WHERE status = 'pending' AND next_attempt_at <= $2 AND claimed_until < $2 \
               ORDER BY next_attempt_at LIMIT $3 {lock}) \
             AND claimed_until < $2 RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .bind(claimer)
            .fetch_all(&self.writer)
            .await?;
        Ok(rows.iter().map(call).collect::<Result<_, _>>()?)
    }

    /// Extends `claimer`'s claims on the calls `ids` that have not run out to `until`: a worker
    /// still sending a call keeps it.
    pub async fn renew_service_claims(
        &self,
        claimer: &str,
        ids: &[String],
        now: i64,
        until: i64,
    ) -> Result<u64, StoreError> {
        crate::outbox::renew(self, "service_outbox", claimer, ids, now, until).await
    }

    /// Records what became of an attempt at `call`, and writes the attempt to the event log
    /// (user, region, Amazon's answer) in the same transaction.
    pub async fn settle_service_call(
        &self,
        call: &ServiceCall,
        outcome: &ServiceOutcome,
    ) -> Result<(), StoreError> {
        self.settle_service_calls(&[(call.clone(), outcome.clone())])
            .await
    }

    /// [`Store::settle_service_call`] for a whole batch, in one transaction of a statement per
    /// distinct outcome and one for the log, whatever its size: the delivery worker's cost per
    /// call is then the HTTP call alone.
    /// A call settled already (by a worker whose lease ran out) is left as it is, and not
    /// logged twice.
    pub async fn settle_service_calls(
        &self,
        settled: &[(ServiceCall, ServiceOutcome)],
    ) -> Result<(), StoreError> {
        if settled.is_empty() {
            return Ok(());
        }
        // Calls with the same outcome are settled by one statement: usually all of a batch are
        // "sent". (An UPDATE joined to the batch's rows would have SQLite scan the table.)
        let mut groups: Vec<(Settled, Vec<&str>)> = Vec::new();
        for (call, outcome) in settled {
            let (status, next, why) = match outcome {
                ServiceOutcome::Sent(why) => ("sent", None, why),
                ServiceOutcome::Retry { at, why } => ("pending", Some(*at), why),
                ServiceOutcome::Failed(why) => ("failed", None, why),
            };
            let group = (status, next, rask_bound(why));
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, ids)) => ids.push(&call.id),
                None => groups.push((group, vec![&call.id])),
            }
        }
        let ids_of = match self.backend() {
            Backend::Sqlite => "SELECT value FROM json_each($4)",
            Backend::Postgres => "SELECT jsonb_array_elements_text($4::jsonb)",
        };
        let sql = format!(
            "UPDATE service_outbox SET status = $1, outcome = $2, next_attempt_at = COALESCE($3, next_attempt_at), \
               attempts = attempts + 1, claimed_until = 0 \
             WHERE status = 'pending' AND id IN ({ids_of}) RETURNING id"
        );
        let mut tx = self.writer.begin().await?;
        let mut done = std::collections::HashSet::new();
        for ((status, next, why), ids) in &groups {
            let ids = serde_json::to_string(ids).map_err(|e| StoreError::Batch(e.to_string()))?;
            for r in sqlx::query(&sql)
                .bind(*status)
                .bind(why)
                .bind(*next)
                .bind(ids)
                .fetch_all(&mut *tx)
                .await?
            {
                done.insert(r.try_get::<String, _>("id")?);
            }
        }
        let now = crate::now_ms();
        let log: Vec<crate::outbox::Attempt> = settled
            .iter()
            .filter(|(call, _)| done.contains(&call.id))
            .map(|(call, outcome)| {
                let kind = match call.stage.as_str() {
                    "" => format!("{} to {}", call.kind, call.region),
                    stage => format!("{} to {} ({stage})", call.kind, call.region),
                };
                let (word, why) = match outcome {
                    ServiceOutcome::Sent(why) => ("sent", why),
                    ServiceOutcome::Retry { why, .. } => ("retry", why),
                    ServiceOutcome::Failed(why) => ("failed", why),
                };
                crate::outbox::Attempt {
                    at: now,
                    outbox_id: call.id.clone(),
                    user_id: if call.user_id.is_empty() {
                        "*".into()
                    } else {
                        call.user_id.clone()
                    },
                    endpoint_id: String::new(),
                    kind,
                    attempt: call.attempts + 1,
                    outcome: word.into(),
                    detail: rask_bound(why),
                    // Its row keeps when it was accepted.
                    queued_at: 0,
                }
            })
            .collect();
        let log: Vec<&crate::outbox::Attempt> = log.iter().collect();
        crate::outbox::insert_attempts(&mut tx, self.backend(), &log).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The latest `limit` calls, newest first.
    pub async fn service_calls(&self, limit: i64) -> Result<Vec<ServiceRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM service_outbox ORDER BY created_at DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record).collect::<Result<_, _>>()?)
    }

    /// How many calls are pending, sent and failed.
    pub async fn service_call_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM service_outbox GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = (0, 0, 0);
        for r in rows {
            let n: i64 = r.try_get("n")?;
            match r.try_get::<String, _>("status")?.as_str() {
                "pending" => counts.0 = n,
                "sent" => counts.1 = n,
                _ => counts.2 += n,
            }
        }
        Ok(counts)
    }

    /// The call `id`, if stored.
    pub async fn service_call(&self, id: &str) -> Result<Option<ServiceRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM service_outbox WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(record).transpose()?)
    }
}

const RECORD_COLUMNS: &str = "id, kind, user_id, region, status, attempts, outcome, created_at";

fn record(r: &sqlx::any::AnyRow) -> Result<ServiceRecord, sqlx::Error> {
    Ok(ServiceRecord {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        user_id: r.try_get("user_id")?,
        region: r.try_get("region")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        outcome: r.try_get("outcome")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A settled call's status, next attempt and outcome, as stored.
type Settled = (&'static str, Option<i64>, String);

/// Refuses what is too long to keep.
fn check_lengths(c: &NewServiceCall) -> Result<(), StoreError> {
    for (field, value, max) in [
        ("body", c.body.as_str(), MAX_BODY_BYTES),
        ("userId", c.user_id.as_str(), crate::skills::MAX_USER_ID),
        (
            "dedupe key",
            c.dedupe_key.as_deref().unwrap_or(""),
            MAX_DEDUPE_KEY,
        ),
    ] {
        if value.len() > max {
            return Err(StoreError::TooLong {
                field: field.to_owned(),
                len: value.len(),
                max,
            });
        }
    }
    Ok(())
}

/// An outcome as stored: at most 500 characters.
fn rask_bound(s: &str) -> String {
    match s.char_indices().nth(500) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(id: &str, key: Option<&str>, now: i64) -> NewServiceCall {
        NewServiceCall {
            id: id.into(),
            kind: "message".into(),
            skill_id: "amzn1.ask.skill.s".into(),
            user_id: "amzn1.ask.account.u".into(),
            region: "EU".into(),
            stage: String::new(),
            body: r#"{"data":{"k":"v"}}"#.into(),
            dedupe_key: key.map(str::to_owned),
            created_at: now,
            expires_at: now + 60_000,
        }
    }

    #[tokio::test]
    async fn calls_are_claimed_once_retried_when_told_and_deduplicated_by_key() {
        for store in crate::testing::stores().await {
            let now = crate::now_ms();
            assert_eq!(
                store
                    .enqueue_service_call(&new("a", Some("order-1"), now))
                    .await
                    .unwrap(),
                Enqueued::New("a".into())
            );
            assert_eq!(
                store
                    .enqueue_service_call(&new("b", Some("order-1"), now))
                    .await
                    .unwrap(),
                Enqueued::Duplicate("a".into()),
                "the same key is the same call"
            );
            store.enqueue_service_call(&new("c", None, now)).await.unwrap();
            store.enqueue_service_call(&new("d", None, now)).await.unwrap();
            let claimed = store.claim_service_calls("w1", now, 10_000, 10).await.unwrap();
            assert_eq!(claimed.len(), 3);
            assert!(
                store
                    .claim_service_calls("w2", now, 10_000, 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "claimed calls are not claimed again while their lease runs"
            );
            let claimed_call = |id: &str| claimed.iter().find(|c| c.id == id).unwrap().clone();
            store
                .settle_service_call(&claimed_call("a"), &ServiceOutcome::Sent("202".into()))
                .await
                .unwrap();
            store
                .settle_service_call(
                    &claimed_call("c"),
                    &ServiceOutcome::Retry {
                        at: now + 1000,
                        why: "429".into(),
                    },
                )
                .await
                .unwrap();
            store
                .settle_service_call(&claimed_call("d"), &ServiceOutcome::Failed("400: bad".into()))
                .await
                .unwrap();
            // Settling twice is once: a late worker does not log a second outcome.
            store
                .settle_service_call(&claimed_call("d"), &ServiceOutcome::Sent("202".into()))
                .await
                .unwrap();
            let log = store.event_log(10).await.unwrap();
            assert_eq!(log.len(), 3, "one row per attempt: {log:?}");
            let d = log.iter().find(|a| a.outbox_id == "d").unwrap();
            assert_eq!(
                (d.kind.as_str(), d.outcome.as_str(), d.detail.as_str(), d.attempt),
                ("message to EU", "failed", "400: bad", 1)
            );
            assert!(
                store
                    .claim_service_calls("w1", now + 500, 10_000, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let again = store
                .claim_service_calls("w1", now + 1000, 10_000, 10)
                .await
                .unwrap();
            assert_eq!(again.len(), 1);
            assert_eq!((again[0].id.as_str(), again[0].attempts), ("c", 1));
            // Renewed only by its own worker, and only while named as in flight.
            assert_eq!(
                store
                    .renew_service_claims("w2", &["c".into()], now + 1000, now + 20_000)
                    .await
                    .unwrap(),
                0,
                "not w2's"
            );
            assert_eq!(
                store
                    .renew_service_claims("w1", &["zz".into()], now + 1000, now + 20_000)
                    .await
                    .unwrap(),
                0,
                "not named"
            );
            // Its worker died: the lease runs out and another takes it.
            let taken = store
                .claim_service_calls("w2", now + 12_000, 10_000, 10)
                .await
                .unwrap();
            assert_eq!(taken.len(), 1);
            assert_eq!(
                store
                    .renew_service_claims("w2", &["c".into()], now + 12_001, now + 40_000)
                    .await
                    .unwrap(),
                1,
                "renewed while in flight"
            );
            assert!(
                store
                    .claim_service_calls("w1", now + 30_000, 10_000, 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "a renewed claim is not taken"
            );
            let records = store.service_calls(10).await.unwrap();
            let status = |id: &str| records.iter().find(|r| r.id == id).unwrap().status.clone();
            assert_eq!(
                (status("a"), status("c"), status("d")),
                ("sent".into(), "pending".into(), "failed".into())
            );
            // A batch: one new, one with a key stored before, one with a key earlier in it.
            let batch = store
                .enqueue_service_calls(&[
                    new("f", Some("order-2"), now),
                    new("g", Some("order-1"), now),
                    new("h", Some("order-2"), now),
                    new("i", None, now),
                ])
                .await
                .unwrap();
            assert_eq!(
                batch,
                vec![
                    Enqueued::New("f".into()),
                    Enqueued::Duplicate("a".into()),
                    Enqueued::Duplicate("f".into()),
                    Enqueued::New("i".into()),
                ]
            );
            // Too long to keep.
            let mut big = new("e", None, now);
            big.body = "x".repeat(MAX_BODY_BYTES + 1);
            assert!(matches!(
                store.enqueue_service_call(&big).await,
                Err(StoreError::TooLong { .. })
            ));
        }
    }
}
