//! OAuth 2.0 rows: authorization codes, token families, access and refresh tokens.
//!
//! A family is everything one code exchange issued: its access tokens and its chain of
//! refresh tokens. Revoking a family (a code used twice, an old refresh token used again, a
//! revocation request) kills every token in it at once.
//!
//! A code or refresh token is read first and judged by the caller (client, life, scope);
//! only a request that passes spends it, and spending and issuing are one transaction: a
//! refused request spends nothing, and a crash between the two cannot leave a spent token
//! with nothing issued for it. Single use is enforced by the database: the spend is an
//! `UPDATE ... WHERE used_at IS NULL` (or `rotated_at IS NULL`), so two concurrent exchanges
//! cannot both win, on SQLite or on PostgreSQL.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Store, StoreError};

/// A new authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// Digest of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who consented.
    pub user_id: String,
    /// The redirect URI it was sent to; the exchange must name the same.
    pub redirect_uri: String,
    /// Granted scope, space-separated.
    pub scope: String,
    /// PKCE S256 challenge, when the client sent one.
    pub code_challenge: Option<String>,
    /// End of its life.
    pub expires_at: i64,
}

/// A stored authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// What it was issued with.
    pub code: NewCode,
    /// When it was exchanged.
    pub used_at: Option<i64>,
    /// The family its exchange issued.
    pub family_id: Option<String>,
}

/// A token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// A UUID.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// Granted scope.
    pub scope: String,
    /// When the code was exchanged.
    pub created_at: i64,
    /// When and why the family was revoked.
    pub revoked: Option<(i64, String)>,
}

/// A stored access token with its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// Its family.
    pub family: Family,
    /// End of its life.
    pub expires_at: i64,
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// Its family.
    pub family: Family,
    /// When it was issued.
    pub created_at: i64,
    /// When it was issued or last used; its idle life counts from here.
    pub last_used_at: i64,
    /// When it was exchanged for a new one.
    pub rotated_at: Option<i64>,
    /// The digest of the refresh token it was exchanged for.
    pub replaced_by: Option<String>,
}

/// A new token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFamily {
    /// A UUID.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// Granted scope.
    pub scope: String,
}

/// Tokens to store for a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTokens {
    /// Digest of the access token.
    pub access_hash: String,
    /// End of the access token's life.
    pub access_expires_at: i64,
    /// Digest of the refresh token.
    pub refresh_hash: String,
}

const FAMILY_COLUMNS: &str =
    "f.id, f.client_id, f.user_id, f.scope, f.created_at, f.revoked_at, f.revoked_reason";

fn family(r: &AnyRow) -> Result<Family, sqlx::Error> {
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    let reason: Option<String> = r.try_get("revoked_reason")?;
    Ok(Family {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        revoked: revoked_at.map(|at| (at, reason.unwrap_or_default())),
    })
}

fn code(r: &AnyRow) -> Result<Code, sqlx::Error> {
    Ok(Code {
        code: NewCode {
            code_hash: r.try_get("code_hash")?,
            client_id: r.try_get("client_id")?,
            user_id: r.try_get("user_id")?,
            redirect_uri: r.try_get("redirect_uri")?,
            scope: r.try_get("scope")?,
            code_challenge: r.try_get("code_challenge")?,
            expires_at: r.try_get("expires_at")?,
        },
        used_at: r.try_get("used_at")?,
        family_id: r.try_get("family_id")?,
    })
}

impl Store {
    /// Stores a new authorization code.
    pub async fn insert_code(&self, c: &NewCode) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.code_hash.clone())
        .bind(c.client_id.clone())
        .bind(c.user_id.clone())
        .bind(c.redirect_uri.clone())
        .bind(c.scope.clone())
        .bind(c.code_challenge.clone())
        .bind(c.expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// A stored code, spent or not.
    pub async fn code(&self, code_hash: &str) -> Result<Option<Code>, StoreError> {
        let row = sqlx::query(
            "SELECT code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at, used_at, family_id \
             FROM oauth_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(code).transpose()?)
    }

    /// Marks a code as presented again after its first exchange and returns the family that
    /// exchange issued, if it has one yet (an exchange still in flight will see the mark).
    pub async fn mark_code_replayed(&self, code_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
        sqlx::query("UPDATE oauth_codes SET replayed_at = $1 WHERE code_hash = $2")
            .bind(now)
            .bind(code_hash)
            .execute(&self.writer)
            .await?;
        let row = sqlx::query("SELECT family_id FROM oauth_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<String>, _>("family_id"))
            .transpose()?
            .flatten())
    }

    /// Creates a family with its first access and refresh tokens, in one transaction; with a
    /// code, the code is spent in the same transaction. Returns false, and issues nothing, when
    /// the code was spent (or presented again) before this call won it.
    pub async fn issue_family(
        &self,
        family: &NewFamily,
        code_hash: Option<&str>,
        tokens: &NewTokens,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        if let Some(code_hash) = code_hash {
            let won = sqlx::query(
                "UPDATE oauth_codes SET used_at = $1, family_id = $2 \
                 WHERE code_hash = $3 AND used_at IS NULL AND replayed_at IS NULL",
            )
            .bind(now)
            .bind(family.id.clone())
            .bind(code_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !won {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        sqlx::query("INSERT INTO oauth_families (id, client_id, user_id, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(family.id.clone())
            .bind(family.client_id.clone())
            .bind(family.user_id.clone())
            .bind(family.scope.clone())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_tokens(&mut tx, &family.id, tokens, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Exchanges the refresh token `old_hash` of `family_id` for `tokens`, in one transaction:
    /// the old one is marked rotated into the new one and the new pair is stored. Returns false,
    /// and issues nothing, when the old one was rotated before this call won it.
    pub async fn rotate_refresh(
        &self,
        family_id: &str,
        old_hash: &str,
        tokens: &NewTokens,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let won = sqlx::query(
            "UPDATE oauth_refresh_tokens SET rotated_at = $1, replaced_by = $2 WHERE token_hash = $3 AND rotated_at IS NULL",
        )
        .bind(now)
        .bind(tokens.refresh_hash.clone())
        .bind(old_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !won {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_tokens(&mut tx, family_id, tokens, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Within the grace window: the refresh token `old_hash` was rotated into `child_hash`,
    /// whose answer its client never got. If the child is still unused, it and its access
    /// token are withdrawn and `tokens` issued in their place, in one transaction; returns
    /// false, changing nothing, when the child has been used (then the old token's return is
    /// a replay).
    pub async fn reissue_unused(
        &self,
        family_id: &str,
        old_hash: &str,
        child_hash: &str,
        tokens: &NewTokens,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let withdrawn =
            sqlx::query("DELETE FROM oauth_refresh_tokens WHERE token_hash = $1 AND rotated_at IS NULL")
                .bind(child_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if !withdrawn {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM oauth_access_tokens WHERE refresh_hash = $1")
            .bind(child_hash)
            .execute(&mut *tx)
            .await?;
        let moved = sqlx::query(
            "UPDATE oauth_refresh_tokens SET replaced_by = $1 WHERE token_hash = $2 AND replaced_by = $3",
        )
        .bind(tokens.refresh_hash.clone())
        .bind(old_hash)
        .bind(child_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !moved {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_tokens(&mut tx, family_id, tokens, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A family.
    pub async fn family(&self, id: &str) -> Result<Option<Family>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {FAMILY_COLUMNS} FROM oauth_families f WHERE f.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(family).transpose()?)
    }

    /// Revokes a family and every token in it; a family already revoked keeps its first reason.
    /// Other instances on the same PostgreSQL database are told at once.
    pub async fn revoke_family(&self, id: &str, reason: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE oauth_families SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(now)
            .bind(reason)
            .bind(id)
            .execute(&self.writer)
            .await?;
        self.notify_revoked(&format!("family:{id}")).await
    }

    /// How many live links (unrevoked token families) each user has; users with none are left
    /// out.
    pub async fn live_links(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, COUNT(*) AS n FROM oauth_families WHERE revoked_at IS NULL GROUP BY user_id ORDER BY user_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("user_id")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Revokes every live family of a user (every link they made, with every client): their
    /// tokens are refused from now on. Returns how many families were revoked.
    pub async fn revoke_user_links(&self, user_id: &str, reason: &str, now: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE oauth_families SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(user_id)
        .execute(&self.writer)
        .await?;
        self.notify_revoked(&format!("user:{user_id}")).await?;
        Ok(r.rows_affected())
    }

    /// An access token by digest, with its family.
    pub async fn access_token(&self, hash: &str) -> Result<Option<AccessToken>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {FAMILY_COLUMNS}, t.expires_at AS token_expires_at FROM oauth_access_tokens t \
             JOIN oauth_families f ON f.id = t.family_id WHERE t.token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .as_ref()
            .map(|r| -> Result<AccessToken, sqlx::Error> {
                Ok(AccessToken {
                    family: family(r)?,
                    expires_at: r.try_get("token_expires_at")?,
                })
            })
            .transpose()?)
    }

    /// A stored refresh token with its family, rotated or not.
    pub async fn refresh_token(&self, hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {FAMILY_COLUMNS}, t.created_at AS token_created_at, t.last_used_at, t.rotated_at, t.replaced_by \
             FROM oauth_refresh_tokens t JOIN oauth_families f ON f.id = t.family_id WHERE t.token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .as_ref()
            .map(|r| -> Result<RefreshToken, sqlx::Error> {
                Ok(RefreshToken {
                    family: family(r)?,
                    created_at: r.try_get("token_created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                    rotated_at: r.try_get("rotated_at")?,
                    replaced_by: r.try_get("replaced_by")?,
                })
            })
            .transpose()?)
    }

    /// The family of an access or refresh token, by digest (for revocation).
    pub async fn family_of_token(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT family_id FROM oauth_access_tokens WHERE token_hash = $1 \
             UNION SELECT family_id FROM oauth_refresh_tokens WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("family_id")).transpose()?)
    }
}

async fn insert_tokens(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    family_id: &str,
    t: &NewTokens,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO oauth_access_tokens (token_hash, family_id, expires_at, refresh_hash) VALUES ($1, $2, $3, $4)")
        .bind(t.access_hash.clone())
        .bind(family_id)
        .bind(t.access_expires_at)
        .bind(t.refresh_hash.clone())
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO oauth_refresh_tokens (token_hash, family_id, created_at, last_used_at) VALUES ($1, $2, $3, $3)")
        .bind(t.refresh_hash.clone())
        .bind(family_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
