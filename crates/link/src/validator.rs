//! Turning a bearer token into a user: what the smart-home and custom-skill endpoints ask on
//! every directive, so it is answered from memory.
//!
//! A token's answer (its user, family, client, scope and expiry) is kept for [`CACHE_LIFE`]
//! under the token's digest, at most [`CACHE_ENTRIES`] of them. A revocation on this instance
//! drops the family's tokens from the cache at once ([`Validator::forget_family`]); so does one
//! made by another instance on the same PostgreSQL database, which tells the others (rask
//! serve forwards its notices here). One that no notice reports (`rask link revoke` on
//! SQLite, from another process) is seen when the cached answer's life ends, within
//! [`CACHE_LIFE`]. An unknown token is never cached: it is asked of the store every time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rask_store::users::User;
use rask_store::{Store, digest, now_ms};

/// How long a token's answer is taken from memory before the store is asked again: the most
/// time a revocation made on another instance can go unseen here.
pub const CACHE_LIFE: Duration = Duration::from_secs(10);

/// The most token answers kept.
pub const CACHE_ENTRIES: usize = 10_000;

/// Why a token does not name a user. Smart home answers `Unknown`, `Revoked` and
/// `WrongClient` with `INVALID_AUTHORIZATION_CREDENTIAL` and `Expired` with
/// `EXPIRED_AUTHORIZATION_CREDENTIAL`.
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
    /// Issued to another client, or for another scope, than the endpoint serves.
    #[error("the access token was not issued for this skill: {0}")]
    WrongClient(String),
    /// The store could not answer.
    #[error("the token could not be checked: {0}")]
    Store(String),
}

/// Whose tokens an endpoint takes: the linking client of its skill, and the scope the token
/// must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// The linking client (`[[linking.clients]] id`).
    pub client_id: String,
    /// A scope the token's grant must include, if any.
    pub scope: Option<String>,
}

struct Known {
    user: Arc<User>,
    family_id: String,
    client_id: String,
    scope: String,
    expires_at: i64,
    read_at: Instant,
}

/// The cache shared by every validator of a process.
#[derive(Default)]
struct Cache {
    entries: Mutex<HashMap<String, Arc<Known>>>,
    /// Counts forgettings: an answer read before one is not cached after it, so a revocation
    /// that lands while a read is in flight is not undone by the read.
    generation: std::sync::atomic::AtomicU64,
}

impl Cache {
    fn get(&self, key: &str, now: Instant) -> Option<Arc<Known>> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|k| now.duration_since(k.read_at) < CACHE_LIFE)
            .cloned()
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn put(&self, key: String, known: Arc<Known>, read_in: u64) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation() != read_in {
            return;
        }
        if map.len() >= CACHE_ENTRIES {
            let now = Instant::now();
            map.retain(|_, k| now.duration_since(k.read_at) < CACHE_LIFE);
            if map.len() >= CACHE_ENTRIES {
                // Still full of live answers: start again rather than grow.
                map.clear();
            }
        }
        map.insert(key, known);
    }

    fn forget(&self, drop: impl Fn(&Known) -> bool) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        map.retain(|_, k| !drop(k));
    }
}

/// The validator: cheap to clone; clones share one cache, so a revocation seen by one is seen
/// by all.
#[derive(Clone)]
pub struct Validator {
    store: Store,
    cache: Arc<Cache>,
    audience: Option<Arc<Audience>>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator over `store`, taking any client's tokens.
    pub fn new(store: Store) -> Self {
        Validator {
            store,
            cache: Arc::new(Cache::default()),
            audience: None,
        }
    }

    /// The same validator (and cache), taking only tokens issued to `audience`.
    pub fn for_audience(&self, audience: Audience) -> Self {
        Validator {
            audience: Some(Arc::new(audience)),
            ..self.clone()
        }
    }

    /// Drops the cached answers of a revoked family's tokens: the next directive with one of
    /// them asks the store, and is refused.
    pub fn forget_family(&self, family_id: &str) {
        self.cache.forget(|k| k.family_id == family_id);
    }

    /// Drops the cached answers of every token of a user (their links were revoked, or the
    /// user removed).
    pub fn forget_user(&self, user_id: &str) {
        self.cache.forget(|k| k.user.id == user_id);
    }

    /// Drops every cached answer (notices from other instances may have been missed).
    pub fn forget_all(&self) {
        self.cache.forget(|_| true);
    }

    /// The user an access token speaks for (shared: answers come from memory).
    pub async fn user(&self, token: &str) -> Result<Arc<User>, TokenProblem> {
        let key = digest(token);
        let known = match self.cache.get(&key, Instant::now()) {
            Some(k) => k,
            None => {
                let generation = self.cache.generation();
                let k = Arc::new(self.read(&key).await?);
                self.cache.put(key, k.clone(), generation);
                k
            }
        };
        if now_ms() >= known.expires_at {
            return Err(TokenProblem::Expired);
        }
        if let Some(a) = self.audience.as_deref() {
            if known.client_id != a.client_id {
                return Err(TokenProblem::WrongClient(format!(
                    "it was issued to the linking client {:?}, and this endpoint takes {:?}'s",
                    rask_model::limits::logged(&known.client_id),
                    a.client_id
                )));
            }
            if let Some(scope) = &a.scope {
                if !known.scope.split_whitespace().any(|s| s == scope) {
                    return Err(TokenProblem::WrongClient(format!(
                        "its scope {:?} does not include {scope:?}",
                        known.scope
                    )));
                }
            }
        }
        Ok(known.user.clone())
    }

    async fn read(&self, key: &str) -> Result<Known, TokenProblem> {
        let read_at = Instant::now();
        let t = self
            .store
            .access_token(key)
            .await
            .map_err(|e| TokenProblem::Store(e.to_string()))?
            .ok_or(TokenProblem::Unknown)?;
        if let Some((_, reason)) = t.family.revoked {
            return Err(TokenProblem::Revoked(reason));
        }
        let user = self
            .store
            .user_by_id(&t.family.user_id)
            .await
            .map_err(|e| TokenProblem::Store(e.to_string()))?
            .ok_or(TokenProblem::Unknown)?;
        Ok(Known {
            user: Arc::new(user),
            family_id: t.family.id,
            client_id: t.family.client_id,
            scope: t.family.scope,
            expires_at: t.expires_at,
            read_at,
        })
    }
}
