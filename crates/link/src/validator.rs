//! Turning a bearer token into a user: what the smart-home and custom-skill endpoints ask.

use rask_store::users::User;
use rask_store::{Store, digest, now_ms};

/// Why a token does not name a user. Smart home answers `Unknown` and `Revoked` with
/// `INVALID_AUTHORIZATION_CREDENTIAL` and `Expired` with `EXPIRED_AUTHORIZATION_CREDENTIAL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    /// Never issued here.
    #[error("the access token is not one this server issued")]
    Unknown,
    /// Past its life: Alexa should refresh it.
    #[error("the access token has expired")]
    Expired,
    /// Its family was revoked.
    #[error("the access token was revoked: {0}")]
    Revoked(String),
    /// The store could not answer.
    #[error("the token could not be checked: {0}")]
    Store(String),
}

/// The validator: one per process, cheap to clone.
#[derive(Clone, Debug)]
pub struct Validator {
    store: Store,
}

impl Validator {
    /// A validator over `store`.
    pub fn new(store: Store) -> Self {
        Validator { store }
    }

    /// The user an access token speaks for.
    pub async fn user(&self, token: &str) -> Result<User, TokenProblem> {
        let t = self
            .store
            .access_token(&digest(token))
            .await
            .map_err(|e| TokenProblem::Store(e.to_string()))?
            .ok_or(TokenProblem::Unknown)?;
        if let Some((_, reason)) = t.family.revoked {
            return Err(TokenProblem::Revoked(reason));
        }
        if now_ms() >= t.expires_at {
            return Err(TokenProblem::Expired);
        }
        self.store
            .user_by_id(&t.family.user_id)
            .await
            .map_err(|e| TokenProblem::Store(e.to_string()))?
            .ok_or(TokenProblem::Unknown)
    }
}
