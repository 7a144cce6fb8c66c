//! Browser sessions of the login and consent pages: a random id in an HttpOnly cookie,
//! stored hashed, with the CSRF token of its forms and, after login, the user.

use sqlx::Row;

use crate::db::{Store, StoreError};

/// A browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The CSRF token its forms carry.
    pub csrf: String,
    /// The logged-in user, once the login form succeeded.
    pub user_id: Option<String>,
    /// When it ends.
    pub expires_at: i64,
}

impl Store {
    /// Stores a new session under the digest of its id.
    pub async fn create_session(&self, id_hash: &str, csrf: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO link_sessions (id_hash, csrf, user_id, expires_at) VALUES ($1, $2, NULL, $3)",
        )
        .bind(id_hash)
        .bind(csrf)
        .bind(expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The live session with this id digest.
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT csrf, user_id, expires_at FROM link_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<Session, sqlx::Error> {
                Ok(Session {
                    csrf: r.try_get("csrf")?,
                    user_id: r.try_get("user_id")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .transpose()?)
    }

    /// Records the logged-in user and a fresh CSRF token (a login changes the form token).
    pub async fn log_in_session(&self, id_hash: &str, user_id: &str, csrf: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE link_sessions SET user_id = $1, csrf = $2 WHERE id_hash = $3")
            .bind(user_id)
            .bind(csrf)
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM link_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Drops ended sessions, codes a day past their life, access tokens a week past theirs, and
    /// refresh tokens rotated more than 30 days ago (long past any replay worth detecting).
    pub async fn purge_linking(&self, now: i64) -> Result<u64, StoreError> {
        let mut n = self.purge_sessions(now).await?;
        for (sql, before) in [
            ("DELETE FROM oauth_codes WHERE expires_at < $1", now - 86_400_000),
            (
                "DELETE FROM oauth_access_tokens WHERE expires_at < $1",
                now - 7 * 86_400_000,
            ),
            (
                "DELETE FROM oauth_refresh_tokens WHERE rotated_at IS NOT NULL AND rotated_at < $1",
                now - 30 * 86_400_000,
            ),
        ] {
            n += sqlx::query(sql)
                .bind(before)
                .execute(&self.writer)
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    /// Drops sessions that have ended.
    pub async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM link_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected())
    }
}
