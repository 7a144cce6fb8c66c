//! Custom skills' per-user data: persistent attributes (JSON text, per skill and user), and
//! each user's Alexa API endpoint, which says the region that out-of-session messages must go
//! to. Both come from Alexa's requests, so both are bounded before they are stored.

use sqlx::Row;

use crate::db::{Store, StoreError};

/// The largest user id stored (Amazon's are about 200 characters).
pub const MAX_USER_ID: usize = 512;

/// The largest persistent attributes stored, as JSON bytes.
pub const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;

/// The longest API endpoint stored (Amazon's are about 35 characters).
pub const MAX_API_ENDPOINT: usize = 256;

/// Where a custom-skill user was last heard from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillUser {
    /// `context.System.apiEndpoint`, such as `https://api.eu.amazonalexa.com`.
    pub api_endpoint: String,
    /// When, Unix milliseconds.
    pub seen_at: i64,
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

    /// Records where the user was heard from.
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
             ON CONFLICT (skill_id, user_id) DO UPDATE SET api_endpoint = excluded.api_endpoint, seen_at = excluded.seen_at",
        )
        .bind(skill_id)
        .bind(user_id)
        .bind(api_endpoint)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Where the user was last heard from, if ever.
    pub async fn skill_user(&self, skill_id: &str, user_id: &str) -> Result<Option<SkillUser>, StoreError> {
        let row =
            sqlx::query("SELECT api_endpoint, seen_at FROM skill_users WHERE skill_id = $1 AND user_id = $2")
                .bind(skill_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(SkillUser {
                api_endpoint: r.try_get("api_endpoint")?,
                seen_at: r.try_get("seen_at")?,
            })
        })
        .transpose()
    }
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
