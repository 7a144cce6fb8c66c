//! The owner's console: its accounts (apart from the users who link their Alexa accounts),
//! their sessions (the cookie's id stored as a digest, with the CSRF token of its forms), and
//! the log of what they changed.

use sqlx::Row;

use crate::db::{Store, StoreError, duplicate, now_ms};

/// An owner account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The sign-in name.
    pub name: String,
    /// Its argon2 PHC string.
    pub password_hash: String,
}

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerSession {
    /// Who signed in.
    pub owner: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

/// One action taken from the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerAction {
    /// When (Unix ms).
    pub at: i64,
    /// Who.
    pub owner: String,
    /// What, in a word (`revoke-link`, `press`, `resend-event`, ...).
    pub action: String,
    /// On what, and how it went.
    pub detail: String,
}

/// The most actions [`Store::owner_actions`] keeps: the newest.
pub const KEPT_ACTIONS: i64 = 10_000;

impl Store {
    /// Adds an owner; a taken name is [`StoreError::Duplicate`].
    pub async fn add_owner(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO owners (name, password_hash, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(password_hash)
            .bind(now_ms())
            .execute(&self.writer)
            .await
            .map_err(|e| duplicate(e, &format!("owner {name:?}")))?;
        Ok(())
    }

    /// The owner with this name.
    pub async fn owner(&self, name: &str) -> Result<Option<Owner>, StoreError> {
        let row = sqlx::query("SELECT name, password_hash FROM owners WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Owner {
                name: r.try_get("name")?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// The owners' names.
    pub async fn owner_names(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM owners ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.try_get("name")).collect::<Result<_, _>>()?)
    }

    /// Replaces an owner's password hash and ends their sessions (whoever knew the old password
    /// is signed out); false when there is no such owner.
    pub async fn set_owner_password(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE owners SET password_hash = $1 WHERE name = $2")
            .bind(password_hash)
            .bind(name)
            .execute(&self.writer)
            .await?;
        sqlx::query("DELETE FROM owner_sessions WHERE owner = $1")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Removes an owner and ends their sessions; false when there was none.
    pub async fn remove_owner(&self, name: &str) -> Result<bool, StoreError> {
        sqlx::query("DELETE FROM owner_sessions WHERE owner = $1")
            .bind(name)
            .execute(&self.writer)
            .await?;
        let r = sqlx::query("DELETE FROM owners WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Starts a session under the digest of its id.
    pub async fn create_owner_session(
        &self,
        id_hash: &str,
        owner: &str,
        csrf: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        // Sign-ins are rare: ended sessions are cleared here rather than by housekeeping.
        sqlx::query("DELETE FROM owner_sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(&self.writer)
            .await?;
        sqlx::query("INSERT INTO owner_sessions (id_hash, owner, csrf, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id_hash)
            .bind(owner)
            .bind(csrf)
            .bind(expires_at)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The live session with this id digest.
    pub async fn owner_session(&self, id_hash: &str, now: i64) -> Result<Option<OwnerSession>, StoreError> {
        let row =
            sqlx::query("SELECT owner, csrf FROM owner_sessions WHERE id_hash = $1 AND expires_at > $2")
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(OwnerSession {
                owner: r.try_get("owner")?,
                csrf: r.try_get("csrf")?,
            })
        })
        .transpose()
    }

    /// Ends every session of `owner`.
    pub async fn remove_owner_sessions(&self, owner: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM owner_sessions WHERE owner = $1")
            .bind(owner)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Ends a session.
    pub async fn end_owner_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM owner_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Records an action taken from the console, keeping the newest [`KEPT_ACTIONS`].
    pub async fn log_owner_action(&self, owner: &str, action: &str, detail: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO owner_actions (at, owner, action, detail) VALUES ($1, $2, $3, $4)")
            .bind(now_ms())
            .bind(owner)
            .bind(action)
            .bind(detail)
            .execute(&self.writer)
            .await?;
        sqlx::query(
            "DELETE FROM owner_actions WHERE id <= (SELECT id FROM owner_actions ORDER BY id DESC LIMIT 1 OFFSET $1)",
        )
        .bind(KEPT_ACTIONS)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The newest `limit` actions, newest first.
    pub async fn owner_actions(&self, limit: i64) -> Result<Vec<OwnerAction>, StoreError> {
        let rows =
            sqlx::query("SELECT at, owner, action, detail FROM owner_actions ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(OwnerAction {
                    at: r.try_get("at")?,
                    owner: r.try_get("owner")?,
                    action: r.try_get("action")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing;

    #[tokio::test]
    async fn owners_sessions_and_actions_on_both_databases() {
        for store in testing::both().await {
            store.add_owner("olga", "$argon2id$x").await.unwrap();
            assert!(
                store.add_owner("olga", "y").await.is_err(),
                "a name is taken once"
            );
            assert_eq!(
                store.owner("olga").await.unwrap().unwrap().password_hash,
                "$argon2id$x"
            );
            let now = crate::now_ms();
            store
                .create_owner_session("h1", "olga", "c1", now + 60_000)
                .await
                .unwrap();
            assert_eq!(store.owner_session("h1", now).await.unwrap().unwrap().csrf, "c1");
            assert!(
                store.owner_session("h1", now + 60_000).await.unwrap().is_none(),
                "ended"
            );
            store
                .log_owner_action("olga", "press", "front-door")
                .await
                .unwrap();
            store
                .log_owner_action("olga", "revoke-link", "alice")
                .await
                .unwrap();
            let actions = store.owner_actions(10).await.unwrap();
            assert_eq!(actions[0].action, "revoke-link", "newest first");
            assert!(store.remove_owner("olga").await.unwrap());
            assert!(
                store.owner_session("h1", now).await.unwrap().is_none(),
                "sessions end with the owner"
            );
        }
    }
}
