//! Retention: what housekeeping deletes, so that the logs and the settled outbox rows cannot
//! grow without end, whether by age (a quiet home over years) or by size (strangers hammering
//! the token endpoint). Pending events are never pruned.

use crate::db::{Store, StoreError};

/// How long, and how many, rows are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Linking-log rows older than this go (ms).
    pub linking_log_age_ms: i64,
    /// At most this many linking-log rows are kept, the newest.
    pub linking_log_rows: i64,
    /// Event-log rows older than this go (ms).
    pub event_log_age_ms: i64,
    /// At most this many event-log rows are kept, the newest.
    pub event_log_rows: i64,
    /// Delivered and dropped outbox rows older than this go (ms).
    pub settled_events_age_ms: i64,
}

const DAY_MS: i64 = 86_400_000;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            linking_log_age_ms: 90 * DAY_MS,
            linking_log_rows: 100_000,
            event_log_age_ms: 30 * DAY_MS,
            event_log_rows: 1_000_000,
            settled_events_age_ms: 7 * DAY_MS,
        }
    }
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Linking-log rows.
    pub linking_log: u64,
    /// Event-log rows.
    pub event_log: u64,
    /// Settled outbox rows (smart-home events, messages and proactive events).
    pub settled_events: u64,
    /// Ended sessions, old codes, expired access tokens and long-rotated refresh tokens.
    pub linking: u64,
}

impl Pruned {
    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.linking_log + self.event_log + self.settled_events + self.linking
    }
}

impl Store {
    /// Deletes what `r` no longer keeps, as of `now`.
    pub async fn prune(&self, r: &Retention, now: i64) -> Result<Pruned, StoreError> {
        let mut p = Pruned {
            linking: self.purge_linking(now).await?,
            ..Pruned::default()
        };
        p.linking_log = self
            .delete("DELETE FROM link_log WHERE at < $1", now - r.linking_log_age_ms)
            .await?
            + self.keep_newest("link_log", r.linking_log_rows).await?;
        p.event_log = self
            .delete("DELETE FROM event_log WHERE at < $1", now - r.event_log_age_ms)
            .await?
            + self.keep_newest("event_log", r.event_log_rows).await?;
        p.settled_events = self
            .delete(
                "DELETE FROM outbox WHERE status <> 'pending' AND created_at < $1",
                now - r.settled_events_age_ms,
            )
            .await?
            // Messages and proactive events done with, as long as settled smart-home events.
            + self
                .delete(
                    "DELETE FROM service_outbox WHERE status <> 'pending' AND created_at < $1",
                    now - r.settled_events_age_ms,
                )
                .await?
            // Alexa delivers a message for at most a day: its key is needed no longer.
            + self
                .delete(
                    "DELETE FROM skill_message_keys WHERE seen_at < $1",
                    now - crate::skills::MESSAGE_KEY_MS,
                )
                .await?;
        Ok(p)
    }

    async fn delete(&self, sql: &str, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql)
            .bind(before)
            .execute(&self.writer)
            .await?
            .rows_affected())
    }

    /// Deletes all but the newest `keep` rows of `table` (by its ascending `id`).
    async fn keep_newest(&self, table: &str, keep: i64) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM {table} WHERE id <= (SELECT id FROM {table} ORDER BY id DESC LIMIT 1 OFFSET $1)"
        );
        Ok(sqlx::query(&sql)
            .bind(keep)
            .execute(&self.writer)
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link_log::LogEntry;
    use crate::outbox::NewEvent;

    fn entry(at: i64) -> LogEntry {
        LogEntry {
            id: 0,
            at,
            client_id: None,
            user_name: None,
            remote: None,
            step: "token".into(),
            ok: false,
            detail: "d".into(),
        }
    }

    #[tokio::test]
    async fn logs_are_pruned_by_age_and_by_size_and_pending_events_never() {
        for store in crate::testing::both().await {
            let now = 1_000 * DAY_MS;
            for i in 0..150 {
                store.log_link_step(&entry(now - i)).await.unwrap();
            }
            store.log_link_step(&entry(now - 91 * DAY_MS)).await.unwrap();
            store.add_user("u1", "alice", "h").await.unwrap();
            let event = |id: &str, created_at: i64| NewEvent {
                id: id.into(),
                user_id: "u1".into(),
                endpoint_id: "door".into(),
                kind: "DoorbellPress".into(),
                event: "{}".into(),
                created_at,
                expires_at: created_at + 30_000,
            };
            store
                .enqueue(&[
                    event("old-pending", now - 60 * DAY_MS),
                    event("old-settled", now - 60 * DAY_MS),
                ])
                .await
                .unwrap();
            sqlx::query("UPDATE outbox SET status = 'delivered' WHERE id = 'old-settled'")
                .execute(store.pool())
                .await
                .unwrap();
            let r = Retention {
                linking_log_rows: 100,
                ..Retention::default()
            };
            let p = store.prune(&r, now).await.unwrap();
            assert_eq!(p.linking_log, 51, "one by age, fifty by size: {p:?}");
            let kept = store.link_log(1_000).await.unwrap();
            assert_eq!(kept.len(), 100);
            assert!(kept.iter().all(|e| e.at > now - 150), "the newest are kept");
            assert_eq!(p.settled_events, 1);
            assert_eq!(
                store.pending_events().await.unwrap(),
                1,
                "a pending event is never pruned"
            );
            assert_eq!(
                store.prune(&r, now).await.unwrap().total(),
                0,
                "nothing more to do"
            );
        }
    }
}
