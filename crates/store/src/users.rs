//! The people who link their accounts.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Store, StoreError, duplicate, now_ms};

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// A UUID.
    pub id: String,
    /// The login name.
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// When the user was added.
    pub created_at: i64,
}

fn user(row: AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Adds a user; a taken name is [`StoreError::Duplicate`].
    pub async fn add_user(&self, id: &str, name: &str, password_hash: &str) -> Result<User, StoreError> {
        let created_at = now_ms();
        sqlx::query("INSERT INTO users (id, name, password_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(password_hash)
            .bind(created_at)
            .execute(&self.writer)
            .await
            .map_err(|e| duplicate(e, &format!("user {name:?}")))?;
        Ok(User {
            id: id.to_owned(),
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            created_at,
        })
    }

    /// Replaces a user's password hash.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
            .bind(password_hash)
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The user with this login name.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT id, name, password_hash, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(user).transpose()?)
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT id, name, password_hash, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(user).transpose()?)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query("SELECT id, name, password_hash, created_at FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(user).collect::<Result<_, _>>()?)
    }

    /// Removes a user and, with them, their links (token families and their tokens), their
    /// grant, their pending events and their sessions. The event log keeps its history.
    /// Returns false when there was no such user.
    pub async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let Some(user) = self.user_by_name(name).await? else {
            return Ok(false);
        };
        let r = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user.id.clone())
            .execute(&self.writer)
            .await?;
        self.notify_revoked(&format!("user:{}", user.id)).await?;
        Ok(r.rows_affected() == 1)
    }
}
