//! The Skill Messaging API request body: `POST /v1/skillmessages/users/{userId}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::check::Finding;

/// Largest `data`, counted as compact JSON.
pub const MAX_DATA_BYTES: usize = 6 * 1024;
/// Shortest allowed `expiresAfterSeconds`.
pub const MIN_EXPIRES_AFTER_SECONDS: u64 = 60;
/// Longest allowed `expiresAfterSeconds`.
pub const MAX_EXPIRES_AFTER_SECONDS: u64 = 86_400;
/// What Amazon uses when `expiresAfterSeconds` is absent.
pub const DEFAULT_EXPIRES_AFTER_SECONDS: u64 = 3600;

/// `{data, expiresAfterSeconds?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillMessageRequest {
    /// Delivered to the skill as `request.message`.
    pub data: Map<String, Value>,
    /// How long Alexa keeps retrying delivery, 60–86400 s (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_after_seconds: Option<u64>,
}

impl SkillMessageRequest {
    /// A message with `data` and the default expiry.
    pub fn new(data: Map<String, Value>) -> Self {
        SkillMessageRequest {
            data,
            expires_after_seconds: None,
        }
    }

    /// Every rule this body breaks.
    pub fn check(&self) -> Vec<Finding> {
        let mut f = Vec::new();
        let size = serde_json::to_vec(&self.data)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        if size > MAX_DATA_BYTES {
            f.push(Finding::new(
                "/data",
                "maxSize",
                format!("data is {size} bytes; at most {MAX_DATA_BYTES} are allowed"),
            ));
        }
        if let Some(s) = self.expires_after_seconds {
            if !(MIN_EXPIRES_AFTER_SECONDS..=MAX_EXPIRES_AFTER_SECONDS).contains(&s) {
                f.push(Finding::new(
                    "/expiresAfterSeconds",
                    "range",
                    format!("expiresAfterSeconds must be {MIN_EXPIRES_AFTER_SECONDS} to {MAX_EXPIRES_AFTER_SECONDS}, is {s}"),
                ));
            }
        }
        f
    }

    /// The expiry Amazon applies.
    pub fn effective_expiry(&self) -> u64 {
        self.expires_after_seconds
            .unwrap_or(DEFAULT_EXPIRES_AFTER_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds() {
        let ok: SkillMessageRequest =
            serde_json::from_value(json!({"data": {"k": "v"}, "expiresAfterSeconds": 60})).unwrap();
        assert!(ok.check().is_empty());
        let short: SkillMessageRequest =
            serde_json::from_value(json!({"data": {}, "expiresAfterSeconds": 59})).unwrap();
        assert_eq!(short.check()[0].rule, "range");
        let big = SkillMessageRequest::new(Map::from_iter([("k".to_string(), json!("x".repeat(7000)))]));
        assert_eq!(big.check()[0].path, "/data");
        assert_eq!(big.effective_expiry(), 3600);
    }
}
