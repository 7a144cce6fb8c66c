//! The linking log: every step of every account-linking attempt, so that a failing link is
//! never a black box. Details never contain secrets; callers redact before writing.

use sqlx::Row;

use crate::db::{Store, StoreError};

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Set by the store.
    pub id: i64,
    /// When, Unix milliseconds.
    pub at: i64,
    /// The OAuth client, when known.
    pub client_id: Option<String>,
    /// The user, when known.
    pub user_name: Option<String>,
    /// The caller's address.
    pub remote: Option<String>,
    /// `authorize`, `login`, `consent`, `redirect`, `token`, `refresh`, `revoke`.
    pub step: String,
    /// Whether the step succeeded.
    pub ok: bool,
    /// What happened, secrets redacted.
    pub detail: String,
}

impl Store {
    /// Appends a step.
    pub async fn log_link_step(&self, e: &LogEntry) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO link_log (at, client_id, user_name, remote, step, ok, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(e.at)
            .bind(e.client_id.clone())
            .bind(e.user_name.clone())
            .bind(e.remote.clone())
            .bind(e.step.clone())
            .bind(e.ok as i64)
            .bind(e.detail.clone())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The latest `limit` steps, newest first.
    pub async fn link_log(&self, limit: i64) -> Result<Vec<LogEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, client_id, user_name, remote, step, ok, detail FROM link_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(LogEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    client_id: r.try_get("client_id")?,
                    user_name: r.try_get("user_name")?,
                    remote: r.try_get("remote")?,
                    step: r.try_get("step")?,
                    ok: r.try_get::<i64, _>("ok")? != 0,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
