//! Persistent attributes, users' regions and their skill events in rask-store, on SQLite or
//! PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rask_store::{Store, now_ms};

use crate::attributes::{AttributeMap, BoxFuture, PersistenceAdapter};
use crate::skill_events::SkillEvent;

/// How long a recorded region is taken as known before it is written again (so that a busy
/// skill does not write on every request, and `seen_at` stays within this of the truth).
const RECORD_AGAIN_AFTER_MS: i64 = 3_600_000;

/// The most users whose recorded region is remembered in memory.
const REMEMBERED_USERS: usize = 10_000;

/// A skill's persistent attributes and users' regions, kept in rask-store.
#[derive(Clone)]
pub struct StorePersistence {
    store: Store,
    skill_id: Arc<str>,
    recorded: Arc<Mutex<HashMap<String, (String, i64)>>>,
}

impl StorePersistence {
    /// For the skill `skill_id`.
    pub fn new(store: Store, skill_id: impl Into<Arc<str>>) -> Self {
        StorePersistence {
            store,
            skill_id: skill_id.into(),
            recorded: Default::default(),
        }
    }

    fn recorded(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, i64)>> {
        self.recorded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PersistenceAdapter for StorePersistence {
    fn load<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<AttributeMap>, String>> {
        Box::pin(async move {
            let Some(text) = self
                .store
                .skill_attributes(&self.skill_id, user_id)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("the stored attributes are not a JSON object: {e}"))
        })
    }

    fn save<'a>(
        &'a self,
        user_id: &'a str,
        attributes: &'a AttributeMap,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let text = serde_json::to_string(attributes).map_err(|e| e.to_string())?;
            self.store
                .save_skill_attributes(&self.skill_id, user_id, &text, now_ms())
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn record_user<'a>(
        &'a self,
        user_id: &'a str,
        api_endpoint: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let now = now_ms();
            let fresh = self
                .recorded()
                .get(user_id)
                .is_some_and(|(e, at)| e == api_endpoint && now - at < RECORD_AGAIN_AFTER_MS);
            if fresh {
                return Ok(());
            }
            self.store
                .record_skill_user(&self.skill_id, user_id, api_endpoint, now)
                .await
                .map_err(|e| e.to_string())?;
            let mut recorded = self.recorded();
            if recorded.len() >= REMEMBERED_USERS {
                recorded.clear();
            }
            recorded.insert(user_id.to_owned(), (api_endpoint.to_owned(), now));
            Ok(())
        })
    }

    fn record_skill_event<'a>(
        &'a self,
        user_id: &'a str,
        event: &'a SkillEvent,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let now = now_ms();
            let done = match event {
                SkillEvent::Disabled => {
                    // Their next request must be written, to clear this.
                    self.recorded().remove(user_id);
                    self.store
                        .record_skill_disabled(&self.skill_id, user_id, now)
                        .await
                        .map(|dropped| {
                            if dropped > 0 {
                                tracing::info!("the user disabled the skill: {dropped} waiting out-of-session calls given up");
                            }
                        })
                }
                SkillEvent::Enabled => self.store.record_skill_enabled(&self.skill_id, user_id).await,
                SkillEvent::Subscriptions(names) => {
                    self.store
                        .record_skill_subscriptions(&self.skill_id, user_id, names, now)
                        .await
                }
            };
            done.map_err(|e| e.to_string())
        })
    }
}
