//! Attributes, as the ASK SDKs' attributes manager keeps them:
//!
//! - request attributes live for one request (interceptors hand things to handlers with them);
//! - session attributes go out in `sessionAttributes` and come back in the next request of the
//!   session;
//! - persistent attributes are kept per user by a [`PersistenceAdapter`], loaded only when a
//!   handler first asks for them, and written once, at the end of the request, only if they
//!   changed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};
use thiserror::Error;

/// A JSON object of attributes.
pub type AttributeMap = Map<String, Value>;

/// A boxed future, as the persistence trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The persistence layer could not load or save a user's attributes.
#[derive(Debug, Error)]
pub enum AttributesError {
    /// A handler asked for persistent attributes and the skill has no persistence adapter.
    #[error("this skill keeps no persistent attributes: give the skill builder a persistence adapter")]
    NoPersistence,
    /// The adapter failed.
    #[error("persistent attributes of user {user}: {reason}")]
    Adapter {
        /// The user id, cut for logs.
        user: String,
        /// What the adapter said.
        reason: String,
    },
}

/// Where persistent attributes are kept, by user id (the ASK SDKs' default partition key).
pub trait PersistenceAdapter: Send + Sync + 'static {
    /// The user's attributes, or `None` if none were ever saved.
    fn load<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<AttributeMap>, String>>;
    /// Replaces the user's attributes.
    fn save<'a>(
        &'a self,
        user_id: &'a str,
        attributes: &'a AttributeMap,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// Records where the user was heard from (`context.System.apiEndpoint`, their region),
    /// called on every request that names one. Nothing by default.
    fn record_user<'a>(
        &'a self,
        user_id: &'a str,
        api_endpoint: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        let _ = (user_id, api_endpoint);
        Box::pin(async { Ok(()) })
    }

    /// Records a skill event that changes what may be sent to the user (disabled, enabled,
    /// subscriptions), before any handler runs; an error makes Alexa send the event again.
    /// Nothing by default.
    fn record_skill_event<'a>(
        &'a self,
        user_id: &'a str,
        event: &'a crate::skill_events::SkillEvent,
    ) -> BoxFuture<'a, Result<(), String>> {
        let _ = (user_id, event);
        Box::pin(async { Ok(()) })
    }
}

/// Persistent attributes in memory, for tests and examples: gone when the process ends.
#[derive(Debug, Default, Clone)]
pub struct MemoryPersistence {
    users: Arc<std::sync::Mutex<std::collections::HashMap<String, AttributeMap>>>,
    saves: Arc<std::sync::atomic::AtomicUsize>,
}

impl MemoryPersistence {
    /// How many saves were made: a request that changed nothing makes none.
    pub fn saves(&self) -> usize {
        self.saves.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl PersistenceAdapter for MemoryPersistence {
    fn load<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<AttributeMap>, String>> {
        let found = self
            .users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user_id)
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn save<'a>(
        &'a self,
        user_id: &'a str,
        attributes: &'a AttributeMap,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user_id.to_owned(), attributes.clone());
        self.saves.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

/// A user's persistent attributes as this request sees them.
#[derive(Debug, Default)]
pub(crate) enum Persistent {
    /// Nobody asked yet.
    #[default]
    NotLoaded,
    /// Loaded (or empty), with what was loaded, to tell whether they changed.
    Loaded {
        original: AttributeMap,
        current: AttributeMap,
    },
}

impl Persistent {
    /// What to save at the end of the request, if anything changed.
    pub(crate) fn changed(&self) -> Option<&AttributeMap> {
        match self {
            Persistent::Loaded { original, current } if original != current => Some(current),
            _ => None,
        }
    }
}
