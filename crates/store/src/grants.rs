//! Users' Login with Amazon grants: the tokens that let rask send events on their behalf,
//! sealed at rest, with the region their AcceptGrant came from and one visible state.
//!
//! Refreshing is single-flight across rask instances: whoever takes the refresh lease
//! refreshes; the others wait for its result rather than spending the refresh token twice. A
//! lease ends by itself: one whose holder died (SIGKILL mid-refresh) is taken over once it has
//! run out, and every failed refresh gives its lease back at once and records why, for
//! `rask status`.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Store, StoreError, now_ms};
use crate::sealer::{SealError, Sealer};

/// A grant's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// Events can be sent.
    Active,
    /// One instance is refreshing the token.
    Refreshing,
    /// The user disabled the skill (the gateway said SKILL_NEVER_ENABLED): send nothing.
    Revoked,
    /// LWA refused the credentials (invalid_grant, invalid_client): send nothing until a
    /// person acts.
    Refused,
}

impl GrantState {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Active => "active",
            GrantState::Refreshing => "refreshing",
            GrantState::Revoked => "revoked",
            GrantState::Refused => "refused",
        }
    }

    fn parse(s: &str) -> GrantState {
        match s {
            "refreshing" => GrantState::Refreshing,
            "revoked" => GrantState::Revoked,
            "refused" => GrantState::Refused,
            _ => GrantState::Active,
        }
    }
}

/// A grant, its tokens opened.
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    /// The user.
    pub user_id: String,
    /// `NA`, `EU` or `FE`.
    pub region: String,
    /// The LWA access token.
    pub access_token: String,
    /// The LWA refresh token.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: i64,
    /// The state.
    pub state: GrantState,
    /// Why it is revoked or refused (LWA's error and description, or the gateway's).
    pub detail: Option<String>,
    /// Whether the revocation or refusal has been reported (it is said once, not per event).
    pub reported: bool,
    /// Until when the refresh lease is held (0: not held).
    pub lease_until: i64,
}

/// A grant's visible state, without its tokens: what `rask status` shows, readable without
/// the sealing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantStatus {
    /// The user.
    pub user_id: String,
    /// `NA`, `EU` or `FE`.
    pub region: String,
    /// The state.
    pub state: GrantState,
    /// Why it is revoked or refused.
    pub detail: Option<String>,
    /// When the access token expires.
    pub expires_at: i64,
    /// Until when the refresh lease is held (0: not held).
    pub lease_until: i64,
    /// Why the last refresh could not finish, and when; cleared by a refresh that does.
    pub refresh_problem: Option<(i64, String)>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("user_id", &self.user_id)
            .field("region", &self.region)
            .field("tokens", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("state", &self.state)
            .field("detail", &self.detail)
            .finish()
    }
}

/// Errors reading grants: the database, or a value the key cannot open.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sealed tokens.
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl From<sqlx::Error> for GrantError {
    fn from(e: sqlx::Error) -> Self {
        GrantError::Store(StoreError::Db(e))
    }
}

fn row_name(user_id: &str, which: &str) -> String {
    format!("grant:{user_id}:{which}")
}

fn grant(sealer: &Sealer, r: &AnyRow) -> Result<Grant, GrantError> {
    let user_id: String = r.try_get("user_id")?;
    Ok(Grant {
        access_token: sealer.open(
            &row_name(&user_id, "access"),
            &r.try_get::<String, _>("access_token_sealed")?,
        )?,
        refresh_token: sealer.open(
            &row_name(&user_id, "refresh"),
            &r.try_get::<String, _>("refresh_token_sealed")?,
        )?,
        region: r.try_get("region")?,
        expires_at: r.try_get("expires_at")?,
        state: GrantState::parse(&r.try_get::<String, _>("state")?),
        detail: r.try_get("state_detail")?,
        reported: r.try_get::<i64, _>("state_reported")? != 0,
        lease_until: r.try_get("refresh_lease_until")?,
        user_id,
    })
}

const COLUMNS: &str = "user_id, region, access_token_sealed, refresh_token_sealed, expires_at, state, state_detail, state_reported, refresh_lease_until";

/// The longest refresh problem kept.
const MAX_PROBLEM_CHARS: usize = 300;

impl Store {
    /// Stores (or replaces) a user's grant from AcceptGrant; its state becomes active.
    pub async fn save_grant(
        &self,
        sealer: &Sealer,
        user_id: &str,
        region: &str,
        access_token: &str,
        refresh_token: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO grants (user_id, region, access_token_sealed, refresh_token_sealed, expires_at, state, state_detail, state_reported, refresh_lease_until, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', NULL, 0, 0, $6) \
             ON CONFLICT (user_id) DO UPDATE SET region = $2, access_token_sealed = $3, refresh_token_sealed = $4, expires_at = $5, \
             state = 'active', state_detail = NULL, state_reported = 0, refresh_lease_until = 0, updated_at = $6, \
             refresh_problem = NULL, refresh_problem_at = NULL",
        )
        .bind(user_id)
        .bind(region)
        .bind(sealer.seal(&row_name(user_id, "access"), access_token))
        .bind(sealer.seal(&row_name(user_id, "refresh"), refresh_token))
        .bind(expires_at)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// A user's grant.
    pub async fn grant(&self, sealer: &Sealer, user_id: &str) -> Result<Option<Grant>, GrantError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM grants WHERE user_id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| grant(sealer, r)).transpose()
    }

    /// The grants of these users, in one query (a delivery batch reads them together).
    pub async fn grants_of(&self, sealer: &Sealer, user_ids: &[String]) -> Result<Vec<Grant>, GrantError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One statement text for any number of users, so that it is prepared once.
        let sql = format!(
            "SELECT {COLUMNS} FROM grants WHERE user_id IN ({})",
            crate::db::json_strings(self.backend(), 1)
        );
        let list = serde_json::to_string(user_ids)
            .map_err(|e| GrantError::Store(StoreError::Batch(e.to_string())))?;
        let q = sqlx::query(&sql).bind(list);
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(|r| grant(sealer, r)).collect()
    }

    /// Every grant.
    pub async fn grants(&self, sealer: &Sealer) -> Result<Vec<Grant>, GrantError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM grants ORDER BY user_id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| grant(sealer, r)).collect()
    }

    /// Every grant's visible state, without opening its tokens.
    pub async fn grant_statuses(&self) -> Result<Vec<GrantStatus>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, region, state, state_detail, expires_at, refresh_lease_until, refresh_problem, refresh_problem_at \
             FROM grants ORDER BY user_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let problem: Option<String> = r.try_get("refresh_problem")?;
                let at: Option<i64> = r.try_get("refresh_problem_at")?;
                Ok(GrantStatus {
                    user_id: r.try_get("user_id")?,
                    region: r.try_get("region")?,
                    state: GrantState::parse(&r.try_get::<String, _>("state")?),
                    detail: r.try_get("state_detail")?,
                    expires_at: r.try_get("expires_at")?,
                    lease_until: r.try_get("refresh_lease_until")?,
                    refresh_problem: problem.map(|p| (at.unwrap_or(0), p)),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Takes the refresh lease for `lease_ms` if no other instance holds it: true when this
    /// caller should refresh. A lease that has run out (its holder died mid-refresh) is taken
    /// over.
    pub async fn take_refresh_lease(
        &self,
        user_id: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE grants SET state = 'refreshing', refresh_lease_until = $1, updated_at = $2 \
             WHERE user_id = $3 AND state IN ('active', 'refreshing') AND refresh_lease_until < $2",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(user_id)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Stores refreshed tokens and releases the lease; the state becomes active.
    pub async fn refreshed_grant(
        &self,
        sealer: &Sealer,
        user_id: &str,
        access_token: &str,
        refresh_token: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE grants SET access_token_sealed = $1, refresh_token_sealed = $2, expires_at = $3, state = 'active', \
             refresh_lease_until = 0, updated_at = $4, refresh_problem = NULL, refresh_problem_at = NULL \
             WHERE user_id = $5 AND state IN ('active', 'refreshing')",
        )
        .bind(sealer.seal(&row_name(user_id, "access"), access_token))
        .bind(sealer.seal(&row_name(user_id, "refresh"), refresh_token))
        .bind(expires_at)
        .bind(now_ms())
        .bind(user_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Gives the refresh lease back without new tokens, recording why the refresh could not
    /// finish (a passing reason: LWA unreachable, the refreshed tokens not stored); the next
    /// attempt may take it at once.
    pub async fn release_refresh_lease(&self, user_id: &str, why: &str) -> Result<(), StoreError> {
        let why: String = match why.char_indices().nth(MAX_PROBLEM_CHARS) {
            Some((i, _)) => format!("{}... (cut)", &why[..i]),
            None => why.to_owned(),
        };
        sqlx::query(
            "UPDATE grants SET state = 'active', refresh_lease_until = 0, refresh_problem = $1, refresh_problem_at = $2 \
             WHERE user_id = $3 AND state = 'refreshing'",
        )
        .bind(why)
        .bind(now_ms())
        .bind(user_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Sets a grant's state with the reason (revoked or refused stop all sending).
    pub async fn set_grant_state(
        &self,
        user_id: &str,
        state: GrantState,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE grants SET state = $1, state_detail = $2, state_reported = 0, refresh_lease_until = 0, updated_at = $3 WHERE user_id = $4")
            .bind(state.as_str())
            .bind(detail.map(str::to_owned))
            .bind(now_ms())
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Records that the grant's state has been reported; true only for the first caller, so
    /// the report is said once.
    pub async fn report_grant_state_once(&self, user_id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE grants SET state_reported = 1 WHERE user_id = $1 AND state_reported = 0")
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
