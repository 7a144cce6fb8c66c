//! Custom skills' per-user data: persistent attributes (JSON text, per skill and user), and
//! each user's Alexa API endpoint, which says the region that out-of-session messages must go
//! to, and what the user told Alexa about the skill (disabled it; which proactive events they
//! subscribe to). All of it comes from Alexa's requests, so all of it is bounded before it is
//! stored.

use sqlx::Row;

use crate::db::{Store, StoreError};

/// The largest user id stored (Amazon's are about 200 characters).
pub const MAX_USER_ID: usize = 512;

/// The largest persistent attributes stored, as JSON bytes.
pub const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;

/// The longest API endpoint stored (Amazon's are about 35 characters).
pub const MAX_API_ENDPOINT: usize = 256;

/// The most proactive event names kept per user (Amazon has eight schemas).
pub const MAX_SUBSCRIPTIONS: usize = 32;

/// How long a handed-on message's key is kept: twice the longest a message lives.
pub const MESSAGE_KEY_MS: i64 = 2 * 86_400_000;

/// The longest message key kept.
pub const MAX_MESSAGE_KEY: usize = 512;

/// Where a custom-skill user was last heard from, and what they told Alexa about the skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillUser {
    /// `context.System.apiEndpoint`, such as `https://api.eu.amazonalexa.com`; empty when
    /// Alexa never named one.
    pub api_endpoint: String,
    /// When, Unix milliseconds.
    pub seen_at: i64,
    /// When they disabled the skill, if they have not been heard from since.
    pub disabled_at: Option<i64>,
    /// The proactive events they are subscribed to, from their last
    /// `ProactiveSubscriptionChanged`; `None` when Alexa never said.
    pub subscriptions: Option<Vec<String>>,
}

impl SkillUser {
    /// Whether events named `name` reach them, as far as Alexa told the skill.
    pub fn subscribed_to(&self, name: &str) -> bool {
        self.subscriptions
            .as_ref()
            .is_none_or(|s| s.iter().any(|n| n == name))
    }
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.len() > max {
        return Err(StoreError::TooLong {
            field: field.to_owned(),
            len: value.len(),
            max,
        });
    }
    Ok(())
}

impl Store {
    /// The user's persistent attributes for the skill, as JSON text.
    pub async fn skill_attributes(
        &self,
        skill_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT attributes FROM skill_attributes WHERE skill_id = $1 AND user_id = $2")
            .bind(skill_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("attributes")).transpose()?)
    }

    /// Replaces the user's persistent attributes for the skill.
    pub async fn save_skill_attributes(
        &self,
        skill_id: &str,
        user_id: &str,
        attributes: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        bounded("userId", user_id, MAX_USER_ID)?;
        bounded("persistent attributes", attributes, MAX_ATTRIBUTES_BYTES)?;
        sqlx::query(
            "INSERT INTO skill_attributes (skill_id, user_id, attributes, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (skill_id, user_id) DO UPDATE SET attributes = excluded.attributes, updated_at = excluded.updated_at",
        )
        .bind(skill_id)
        .bind(user_id)
        .bind(attributes)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records where the user was heard from; hearing from them means they use the skill again,
    /// so a `disabled_at` is cleared.
    pub async fn record_skill_user(
        &self,
        skill_id: &str,
        user_id: &str,
        api_endpoint: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        bounded("userId", user_id, MAX_USER_ID)?;
        bounded("apiEndpoint", api_endpoint, MAX_API_ENDPOINT)?;
        sqlx::query(
            "INSERT INTO skill_users (skill_id, user_id, api_endpoint, seen_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (skill_id, user_id) DO UPDATE SET api_endpoint = excluded.api_endpoint, \
               seen_at = excluded.seen_at, disabled_at = NULL",
        )
        .bind(skill_id)
        .bind(user_id)
        .bind(api_endpoint)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records that the user disabled the skill (`AlexaSkillEvent.SkillDisabled`): nothing more
    /// goes to them, and what was waiting for them in the out-of-session outbox is given up,
    /// in the same transaction. Returns how many waiting calls were given up.
    pub async fn record_skill_disabled(
        &self,
        skill_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        bounded("userId", user_id, MAX_USER_ID)?;
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO skill_users (skill_id, user_id, api_endpoint, seen_at, disabled_at) VALUES ($1, $2, '', $3, $3) \
             ON CONFLICT (skill_id, user_id) DO UPDATE SET disabled_at = excluded.disabled_at",
        )
        .bind(skill_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let dropped = sqlx::query(
            "UPDATE service_outbox SET status = 'failed', outcome = 'the user disabled the skill' \
             WHERE skill_id = $1 AND user_id = $2 AND status = 'pending'",
        )
        .bind(skill_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(dropped)
    }

    /// Records that the user enabled the skill again (`AlexaSkillEvent.SkillEnabled`).
    pub async fn record_skill_enabled(&self, skill_id: &str, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE skill_users SET disabled_at = NULL WHERE skill_id = $1 AND user_id = $2")
            .bind(skill_id)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Records the proactive events the user is now subscribed to
    /// (`AlexaSkillEvent.ProactiveSubscriptionChanged`; empty: none).
    pub async fn record_skill_subscriptions(
        &self,
        skill_id: &str,
        user_id: &str,
        events: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        bounded("userId", user_id, MAX_USER_ID)?;
        if events.len() > MAX_SUBSCRIPTIONS {
            return Err(StoreError::TooLong {
                field: "subscriptions".into(),
                len: events.len(),
                max: MAX_SUBSCRIPTIONS,
            });
        }
        for e in events {
            bounded("eventName", e, 128)?;
        }
        let text = serde_json::to_string(events).map_err(|e| StoreError::Batch(e.to_string()))?;
        sqlx::query(
            "INSERT INTO skill_users (skill_id, user_id, api_endpoint, seen_at, subscriptions) VALUES ($1, $2, '', $3, $4) \
             ON CONFLICT (skill_id, user_id) DO UPDATE SET subscriptions = excluded.subscriptions",
        )
        .bind(skill_id)
        .bind(user_id)
        .bind(now)
        .bind(text)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Whether a message with `key` was handed on already (within [`MESSAGE_KEY_MS`]).
    pub async fn message_handed_on(&self, skill_id: &str, key: &str) -> Result<bool, StoreError> {
        bounded("message key", key, MAX_MESSAGE_KEY)?;
        Ok(
            sqlx::query("SELECT 1 AS one FROM skill_message_keys WHERE skill_id = $1 AND key = $2")
                .bind(skill_id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Records that the message with `key` was handed on.
    pub async fn record_message_handed_on(
        &self,
        skill_id: &str,
        key: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        bounded("message key", key, MAX_MESSAGE_KEY)?;
        sqlx::query(
            "INSERT INTO skill_message_keys (skill_id, key, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (skill_id, key) DO NOTHING",
        )
        .bind(skill_id)
        .bind(key)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Where the user was last heard from, if ever.
    pub async fn skill_user(&self, skill_id: &str, user_id: &str) -> Result<Option<SkillUser>, StoreError> {
        let row = sqlx::query(
            "SELECT api_endpoint, seen_at, disabled_at, subscriptions FROM skill_users WHERE skill_id = $1 AND user_id = $2",
        )
        .bind(skill_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(skill_user).transpose()
    }

    /// What is known of each of `user_ids` for `skill_id`, in one query: the users rask has
    /// heard from, by id (the others are missing).
    pub async fn skill_users(
        &self,
        skill_id: &str,
        user_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, SkillUser>, StoreError> {
        if user_ids.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "SELECT user_id, api_endpoint, seen_at, disabled_at, subscriptions FROM skill_users \
             WHERE skill_id = {} AND user_id IN ({})",
            // Positional throughout: on SQLite, sqlx binds a bare `?` after a `$1` to the
            // first argument.
            crate::db::param(self.backend(), 1),
            crate::db::json_strings(self.backend(), 2)
        );
        let ids = serde_json::to_string(user_ids).map_err(|e| StoreError::Batch(e.to_string()))?;
        let rows = sqlx::query(&sql)
            .bind(skill_id)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("user_id")?, skill_user(r)?)))
            .collect()
    }
}

fn skill_user(r: &sqlx::any::AnyRow) -> Result<SkillUser, StoreError> {
    let subscriptions: Option<String> = r.try_get("subscriptions")?;
    Ok(SkillUser {
        api_endpoint: r.try_get("api_endpoint")?,
        seen_at: r.try_get("seen_at")?,
        disabled_at: r.try_get("disabled_at")?,
        // Written by this module only; unreadable means none known.
        subscriptions: subscriptions.and_then(|t| serde_json::from_str(&t).ok()),
    })
}

#[cfg(test)]
mod tests {
    use crate::testing;

    #[tokio::test]
    async fn attributes_and_regions_are_kept_per_skill_and_user_on_both_databases() {
        for store in testing::stores().await {
            assert_eq!(store.skill_attributes("s1", "u").await.unwrap(), None);
            store
                .save_skill_attributes("s1", "u", r#"{"n":1}"#, 1)
                .await
                .unwrap();
            store
                .save_skill_attributes("s1", "u", r#"{"n":2}"#, 2)
                .await
                .unwrap();
            store
                .save_skill_attributes("s2", "u", r#"{"other":true}"#, 2)
                .await
                .unwrap();
            assert_eq!(
                store.skill_attributes("s1", "u").await.unwrap().as_deref(),
                Some(r#"{"n":2}"#)
            );
            store
                .record_skill_user("s1", "u", "https://api.eu.amazonalexa.com", 5)
                .await
                .unwrap();
            store
                .record_skill_user("s1", "u", "https://api.fe.amazonalexa.com", 6)
                .await
                .unwrap();
            let seen = store.skill_user("s1", "u").await.unwrap().unwrap();
            assert_eq!(seen.api_endpoint, "https://api.fe.amazonalexa.com");
            assert_eq!(seen.seen_at, 6);
            assert_eq!(store.skill_user("s2", "u").await.unwrap(), None);
            store
                .record_skill_user("s1", "v", "https://api.amazonalexa.com", 7)
                .await
                .unwrap();
            let many = store.skill_users("s1", &["u", "v", "nobody", "u"]).await.unwrap();
            assert_eq!(many.len(), 2, "the users heard from, once each");
            assert_eq!(many["u"], seen);
            assert_eq!(many["v"].api_endpoint, "https://api.amazonalexa.com");
            assert!(store.skill_users("s2", &["v"]).await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn a_disabled_user_loses_what_waits_for_them_until_heard_from_again() {
        for store in testing::stores().await {
            store
                .record_skill_user("s", "u", "https://api.eu.amazonalexa.com", 1)
                .await
                .unwrap();
            for (id, user) in [("m1", "u"), ("m2", "other")] {
                let call = crate::service_outbox::NewServiceCall {
                    id: id.into(),
                    kind: "message".into(),
                    skill_id: "s".into(),
                    user_id: user.into(),
                    region: "EU".into(),
                    stage: String::new(),
                    body: "{}".into(),
                    dedupe_key: None,
                    created_at: 1,
                    expires_at: 1_000_000,
                };
                store.enqueue_service_call(&call).await.unwrap();
            }
            assert_eq!(store.record_skill_disabled("s", "u", 7).await.unwrap(), 1);
            let u = store.skill_user("s", "u").await.unwrap().unwrap();
            assert_eq!(u.disabled_at, Some(7));
            assert_eq!(
                u.api_endpoint, "https://api.eu.amazonalexa.com",
                "the region is kept"
            );
            let calls = store.service_calls(10).await.unwrap();
            let status = |id: &str| calls.iter().find(|c| c.id == id).unwrap().status.clone();
            assert_eq!(status("m1"), "failed");
            assert_eq!(status("m2"), "pending", "another user's call is untouched");
            store
                .record_skill_user("s", "u", "https://api.eu.amazonalexa.com", 9)
                .await
                .unwrap();
            assert_eq!(
                store.skill_user("s", "u").await.unwrap().unwrap().disabled_at,
                None
            );
            store.record_skill_disabled("s", "u", 10).await.unwrap();
            store.record_skill_enabled("s", "u").await.unwrap();
            assert_eq!(
                store.skill_user("s", "u").await.unwrap().unwrap().disabled_at,
                None
            );
            // A user never heard from otherwise is recorded without a region.
            store.record_skill_disabled("s", "new", 3).await.unwrap();
            assert_eq!(
                store.skill_user("s", "new").await.unwrap().unwrap().api_endpoint,
                ""
            );
        }
    }

    #[tokio::test]
    async fn a_message_key_is_remembered_per_skill() {
        for store in testing::stores().await {
            assert!(!store.message_handed_on("s", "k").await.unwrap());
            store.record_message_handed_on("s", "k", 1).await.unwrap();
            store.record_message_handed_on("s", "k", 2).await.unwrap();
            assert!(store.message_handed_on("s", "k").await.unwrap());
            assert!(!store.message_handed_on("other", "k").await.unwrap());
            let long = "k".repeat(super::MAX_MESSAGE_KEY + 1);
            assert!(store.message_handed_on("s", &long).await.is_err());
        }
    }

    #[tokio::test]
    async fn subscriptions_are_recorded_and_none_said_is_not_unsubscribed() {
        for store in testing::stores().await {
            store
                .record_skill_user("s", "u", "https://api.amazonalexa.com", 1)
                .await
                .unwrap();
            let u = store.skill_user("s", "u").await.unwrap().unwrap();
            assert_eq!(u.subscriptions, None);
            assert!(u.subscribed_to("AMAZON.OrderStatus.Updated"));
            store
                .record_skill_subscriptions("s", "u", &["AMAZON.WeatherAlert.Activated".into()], 2)
                .await
                .unwrap();
            let u = store.skill_user("s", "u").await.unwrap().unwrap();
            assert!(u.subscribed_to("AMAZON.WeatherAlert.Activated"));
            assert!(!u.subscribed_to("AMAZON.OrderStatus.Updated"));
            store.record_skill_subscriptions("s", "u", &[], 3).await.unwrap();
            let u = store.skill_user("s", "u").await.unwrap().unwrap();
            assert!(!u.subscribed_to("AMAZON.WeatherAlert.Activated"));
            assert_eq!(u.api_endpoint, "https://api.amazonalexa.com");
            let too_many: Vec<String> = (0..=super::MAX_SUBSCRIPTIONS).map(|i| i.to_string()).collect();
            assert!(
                store
                    .record_skill_subscriptions("s", "u", &too_many, 4)
                    .await
                    .is_err()
            );
        }
    }

    #[tokio::test]
    async fn what_alexa_sends_is_bounded_before_it_is_stored() {
        for store in testing::stores().await {
            let huge = "x".repeat(super::MAX_ATTRIBUTES_BYTES + 1);
            let e = store.save_skill_attributes("s", "u", &huge, 1).await.unwrap_err();
            assert!(e.to_string().contains("persistent attributes"), "{e}");
            let long_user = "u".repeat(super::MAX_USER_ID + 1);
            assert!(
                store
                    .record_skill_user("s", &long_user, "https://a", 1)
                    .await
                    .is_err()
            );
            assert_eq!(store.skill_attributes("s", "u").await.unwrap(), None);
        }
    }
}
