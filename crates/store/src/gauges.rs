//! What the store holds right now, for the metrics a scrape reads: the outboxes' depth and
//! the age of their oldest pending row, and the users' grants by state. Read at each scrape
//! (a few aggregate queries on indexed columns), so that every instance on one PostgreSQL
//! reports the same.

use sqlx::Row;

use crate::{Store, StoreError};

/// One outbox's pending rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// How many rows wait to be delivered (due now or later).
    pub pending: i64,
    /// When the oldest of them was written (Unix ms), if there is one.
    pub oldest_at: Option<i64>,
}

/// The store's state, as gauges.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Smart-home events (the outbox).
    pub events: Backlog,
    /// Skill Messaging messages and Proactive Events (the service outbox).
    pub services: Backlog,
    /// Grants by state (`active`, `refreshing`, `revoked`, `refused`), states with none left out.
    pub grants: Vec<(String, i64)>,
}

impl Store {
    /// Reads the gauges.
    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        let backlog = |table: &str| {
            format!("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM {table} WHERE status = 'pending'")
        };
        let mut out = Gauges::default();
        for (table, into) in [("outbox", &mut out.events), ("service_outbox", &mut out.services)] {
            let row = sqlx::query(&backlog(table)).fetch_one(&self.pool).await?;
            *into = Backlog {
                pending: row.try_get("n")?,
                oldest_at: row.try_get("oldest")?,
            };
        }
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM grants GROUP BY state ORDER BY state")
            .fetch_all(&self.pool)
            .await?;
        for r in rows {
            out.grants.push((r.try_get("state")?, r.try_get("n")?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::outbox::NewEvent;
    use crate::testing;

    #[tokio::test]
    async fn a_pending_event_is_counted_with_its_age_on_both_databases() {
        for store in testing::both().await {
            assert_eq!(store.gauges().await.unwrap().events, Default::default());
            store.add_user("u1", "alice", "x").await.unwrap();
            let event = |id: &str, at: i64| NewEvent {
                id: id.into(),
                user_id: "u1".into(),
                endpoint_id: "bell".into(),
                kind: "DoorbellPress".into(),
                event: "{}".into(),
                created_at: at,
                expires_at: at + 60_000,
            };
            store
                .enqueue(&[event("e1", 1_000), event("e2", 2_000)])
                .await
                .unwrap();
            let g = store.gauges().await.unwrap();
            assert_eq!(g.events.pending, 2);
            assert_eq!(g.events.oldest_at, Some(1_000));
            assert_eq!(g.services.pending, 0);
        }
    }
}
