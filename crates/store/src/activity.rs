//! What happened lately, for the owner's console: the event log filtered by user, device,
//! kind and outcome, and delivery outcomes counted since a time and by hour.

use sqlx::Row;

use crate::db::{Store, StoreError, param};
use crate::outbox::{Attempt, attempt_row};

/// Which event-log rows to show; `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// rask's user id (a smart-home event) or the Alexa user id (an out-of-session call).
    pub user: Option<String>,
    /// The device id.
    pub device: Option<String>,
    /// The event kind, such as `DoorbellPress`.
    pub kind: Option<String>,
    /// The outcome, such as `dropped`.
    pub outcome: Option<String>,
}

/// How many attempts of one hour ended one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCount {
    /// The hour: Unix ms / 3,600,000.
    pub hour: i64,
    /// The outcome.
    pub outcome: String,
    /// How many.
    pub n: i64,
}

/// What became of a request to send a dropped event again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Pending again, its retries reset: the worker sends it.
    Queued,
    /// Past its useful life: sending it now would tell of something long gone.
    Expired,
    /// Not dropped: it is pending, or was delivered (sending it again would say it twice).
    NotDropped,
    /// No such event (dropped events are kept `retention.settled_events_days`, delivered
    /// ones are known by their attempts, kept `retention.event_log_days`).
    Unknown,
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The outbox row.
    pub id: String,
    /// rask's user id.
    pub user_id: String,
    /// The device; empty for a discovery report.
    pub endpoint_id: String,
    /// Such as `DoorbellPress`.
    pub kind: String,
    /// When it was written (Unix ms).
    pub created_at: i64,
    /// When it is tried next (Unix ms).
    pub next_attempt_at: i64,
    /// Retries so far.
    pub retries: i64,
    /// When its useful life ends (Unix ms).
    pub expires_at: i64,
}

impl Store {
    /// The newest `limit` events still waiting in the outbox, newest first.
    pub async fn waiting_events(&self, limit: i64) -> Result<Vec<Waiting>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, endpoint_id, kind, created_at, next_attempt_at, retries, expires_at FROM outbox \
             WHERE status = 'pending' ORDER BY created_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Waiting {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    endpoint_id: r.try_get("endpoint_id")?,
                    kind: r.try_get("kind")?,
                    created_at: r.try_get("created_at")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    retries: r.try_get("retries")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Puts the dropped event `id` back in the outbox, when it is still within its useful life.
    pub async fn resend_event(&self, id: &str, now: i64) -> Result<Resend, StoreError> {
        let r = sqlx::query(
            "UPDATE outbox SET status = 'pending', outcome = NULL, next_attempt_at = $1, retries = 0, refreshed = 0, \
             claimed_until = 0, claimed_by = NULL WHERE id = $2 AND status = 'dropped' AND expires_at > $3",
        )
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 1 {
            return Ok(Resend::Queued);
        }
        let row = sqlx::query("SELECT status, expires_at FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        // A delivered event has left the outbox; its log says it was delivered.
        let delivered = || async {
            let logged =
                sqlx::query("SELECT 1 AS one FROM event_log WHERE outbox_id = $1 AND outcome = 'delivered'")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok::<_, StoreError>(logged.is_some())
        };
        Ok(match row {
            None if delivered().await? => Resend::NotDropped,
            None => Resend::Unknown,
            Some(r) if r.try_get::<String, _>("status")? != "dropped" => Resend::NotDropped,
            Some(_) => Resend::Expired,
        })
    }

    /// The newest `limit` attempts that `f` matches, newest first.
    pub async fn event_log_matching(&self, f: &EventFilter, limit: i64) -> Result<Vec<Attempt>, StoreError> {
        let b = self.backend();
        let mut sql = format!(
            "SELECT {} FROM event_log WHERE 1 = 1",
            crate::outbox::ATTEMPT_COLUMNS
        );
        let mut binds = Vec::new();
        for (column, value) in [
            ("user_id", &f.user),
            ("endpoint_id", &f.device),
            ("kind", &f.kind),
            ("outcome", &f.outcome),
        ] {
            if let Some(v) = value {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {column} = {}", param(b, binds.len())));
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", param(b, binds.len() + 1)));
        let mut q = sqlx::query(&sql);
        for v in binds {
            q = q.bind(v);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(attempt_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Attempts since `since` (Unix ms) by outcome.
    pub async fn outcomes_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM event_log WHERE at >= $1 GROUP BY outcome ORDER BY outcome",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("outcome")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Attempts since `since` by hour and outcome, oldest hour first.
    pub async fn outcomes_by_hour(&self, since: i64) -> Result<Vec<HourCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT at / 3600000 AS hour, outcome, COUNT(*) AS n FROM event_log WHERE at >= $1 \
             GROUP BY at / 3600000, outcome ORDER BY hour",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HourCount {
                    hour: r.try_get("hour")?,
                    outcome: r.try_get("outcome")?,
                    n: r.try_get("n")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Write;
    use crate::testing;

    fn attempt(user: &str, device: &str, outcome: &str, at: i64) -> Attempt {
        Attempt {
            at,
            outbox_id: format!("{user}-{device}-{at}"),
            user_id: user.into(),
            endpoint_id: device.into(),
            kind: "DoorbellPress".into(),
            attempt: 1,
            outcome: outcome.into(),
            detail: String::new(),
            queued_at: at,
        }
    }

    #[tokio::test]
    async fn a_dropped_event_in_its_life_is_queued_again_once() {
        use crate::outbox::{NewEvent, Settled};
        for store in testing::both().await {
            store.add_user("u1", "alice", "x").await.unwrap();
            let now = crate::now_ms();
            let event = |id: &str, expires_at: i64| NewEvent {
                id: id.into(),
                user_id: "u1".into(),
                endpoint_id: "bell".into(),
                kind: "DoorbellPress".into(),
                event: "{}".into(),
                created_at: now - 1_000,
                expires_at,
            };
            store
                .enqueue(&[event("fresh", now + 60_000), event("old", now + 500)])
                .await
                .unwrap();
            let drop = |id: &str| Write::Settle {
                how: Settled::Dropped,
                outcome: "the user has no grant".into(),
                attempt: Attempt {
                    outbox_id: id.into(),
                    ..attempt("u1", "bell", "dropped", now)
                },
            };
            store.apply(&[drop("fresh"), drop("old")]).await.unwrap();
            assert_eq!(store.resend_event("fresh", now).await.unwrap(), Resend::Queued);
            assert_eq!(store.gauges().await.unwrap().events.pending, 1);
            let waiting = store.waiting_events(10).await.unwrap();
            assert_eq!(
                (waiting.len(), waiting[0].id.as_str(), waiting[0].retries),
                (1, "fresh", 0)
            );
            assert_eq!(
                store.resend_event("fresh", now).await.unwrap(),
                Resend::NotDropped,
                "once"
            );
            assert_eq!(
                store.resend_event("old", now + 1_000).await.unwrap(),
                Resend::Expired
            );
        }
    }

    #[tokio::test]
    async fn the_event_log_filters_and_counts_on_both_databases() {
        for store in testing::both().await {
            let hour = 3_600_000;
            let writes = [
                attempt("u1", "bell", "delivered", 10 * hour),
                attempt("u1", "lamp", "dropped", 10 * hour + 5),
                attempt("u2", "bell", "delivered", 11 * hour),
            ]
            .map(Write::Log);
            store.apply(&writes).await.unwrap();
            let f = EventFilter {
                device: Some("bell".into()),
                ..EventFilter::default()
            };
            let bells = store.event_log_matching(&f, 10).await.unwrap();
            assert_eq!(
                bells.iter().map(|a| a.user_id.as_str()).collect::<Vec<_>>(),
                ["u2", "u1"]
            );
            let f = EventFilter {
                user: Some("u1".into()),
                outcome: Some("dropped".into()),
                ..EventFilter::default()
            };
            assert_eq!(store.event_log_matching(&f, 10).await.unwrap().len(), 1);
            assert_eq!(
                store.outcomes_since(10 * hour + 1).await.unwrap(),
                [("delivered".to_owned(), 1), ("dropped".to_owned(), 1)]
            );
            assert_eq!(store.resend_event("nothing", 0).await.unwrap(), Resend::Unknown);
            let hours = store.outcomes_by_hour(0).await.unwrap();
            assert_eq!(hours.len(), 3);
            assert_eq!((hours[0].hour, hours[2].hour), (10, 11));
        }
    }
}
