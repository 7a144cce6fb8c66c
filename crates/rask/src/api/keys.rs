//! `[[api_keys]]`: the keys other services call rask's HTTP API with. rask keeps only each
//! key's SHA-256 (written in rask.toml as `sha256`, or read from the environment or a file and
//! hashed at start), compares digests in constant time, and lets each key do only its
//! `actions`, at most `per_second` calls a second.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ConfigError, err, read_secret};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `POST /api/v1/messages`: Skill Messaging.
    Messages,
    /// `POST /api/v1/notifications`: Proactive Events.
    Notifications,
}

impl Action {
    /// Its name in rask.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Messages => "messages",
            Action::Notifications => "notifications",
        }
    }
}

/// `[[api_keys]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySection {
    /// Who uses it, for logs (`shop`, `weather-feed`).
    pub name: String,
    /// The key's SHA-256, 64 hex digits (`rask api-key new` prints it).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Or the key itself, from this environment variable.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Or from this file.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// What it may do: `messages`, `notifications`.
    pub actions: Vec<Action>,
    /// Most calls a second (default 100; bursts of as many).
    #[serde(default = "default_per_second")]
    pub per_second: u32,
}

fn default_per_second() -> u32 {
    100
}

/// Shortest key accepted from the environment or a file.
pub const MIN_KEY_CHARS: usize = 32;

/// The errors in `[[api_keys]]`; `skill_can_send`: `[skill]` has a client to send with.
pub fn check(keys: &[ApiKeySection], skill_can_send: bool) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        let key = |f: &str| format!("api_keys[{i}].{f}");
        if k.name.is_empty() || k.name.len() > 64 {
            errors.push(err(key("name"), "1 to 64 characters"));
        } else if !names.insert(k.name.as_str()) {
            errors.push(err(key("name"), format!("{:?} is used by another key", k.name)));
        }
        let given = [
            k.sha256.is_some(),
            k.secret_env.is_some(),
            k.secret_file.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            errors.push(err(
                key("sha256"),
                "give exactly one of sha256, secret_env, secret_file",
            ));
        }
        if let Some(h) = &k.sha256 {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                errors.push(err(
                    key("sha256"),
                    "must be 64 hex digits (rask api-key new prints it)",
                ));
            }
        }
        if k.actions.is_empty() {
            errors.push(err(
                key("actions"),
                "name what it may do: \"messages\", \"notifications\"",
            ));
        }
        if !(1..=100_000).contains(&k.per_second) {
            errors.push(err(key("per_second"), "must be 1 to 100000"));
        }
    }
    if !keys.is_empty() && !skill_can_send {
        errors.push(err(
            "api_keys",
            "the API sends with the custom skill's client: set [skill] with client_id and its secret (docs/config.md)",
        ));
    }
    errors
}

/// One key, ready to check callers against.
struct Key {
    name: String,
    digest: [u8; 32],
    actions: Vec<Action>,
    per_second: f64,
    bucket: Mutex<(f64, Instant)>,
}

/// Why a caller was not let in.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No key, or one rask does not know.
    Unauthorized,
    /// A known key without the action.
    Forbidden {
        /// The key's name.
        key: String,
    },
    /// Over the key's `per_second`.
    TooMany,
}

/// The configured keys.
#[derive(Default)]
pub struct Keys {
    keys: Vec<Key>,
}

impl Keys {
    /// Reads every key's secret (or hash); errors name the key.
    pub fn resolve(sections: &[ApiKeySection]) -> Result<Keys, Vec<ConfigError>> {
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        for (i, s) in sections.iter().enumerate() {
            let digest = match &s.sha256 {
                Some(hex) => match from_hex(hex) {
                    Some(d) => d,
                    None => {
                        errors.push(err(format!("api_keys[{i}].sha256"), "must be 64 hex digits"));
                        continue;
                    }
                },
                None => match read_secret(
                    &format!("api_keys[{i}].secret"),
                    s.secret_env.as_deref(),
                    s.secret_file.as_deref(),
                ) {
                    Ok(k) if k.chars().count() >= MIN_KEY_CHARS => Sha256::digest(k.as_bytes()).into(),
                    Ok(_) => {
                        errors.push(err(
                            format!("api_keys[{i}].secret"),
                            format!("shorter than {MIN_KEY_CHARS} characters: use rask api-key new"),
                        ));
                        continue;
                    }
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                },
            };
            keys.push(Key {
                name: s.name.clone(),
                digest,
                actions: s.actions.clone(),
                per_second: s.per_second as f64,
                bucket: Mutex::new((s.per_second as f64, Instant::now())),
            });
        }
        if errors.is_empty() {
            Ok(Keys { keys })
        } else {
            Err(errors)
        }
    }

    /// Whether any key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The name of the key `presented`, if it may do `action` now.
    pub fn authorize(&self, presented: Option<&str>, action: Action) -> Result<&str, Denied> {
        let presented = presented.ok_or(Denied::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every key is compared, so the time says nothing about which one was close.
        let mut found = None;
        for k in &self.keys {
            if bool::from(k.digest.ct_eq(&digest)) {
                found = Some(k);
            }
        }
        let key = found.ok_or(Denied::Unauthorized)?;
        if !key.actions.contains(&action) {
            return Err(Denied::Forbidden {
                key: key.name.clone(),
            });
        }
        let mut bucket = key.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, at) = *bucket;
        let tokens = (tokens + now.duration_since(at).as_secs_f64() * key.per_second).min(key.per_second);
        if tokens < 1.0 {
            *bucket = (tokens, now);
            return Err(Denied::TooMany);
        }
        *bucket = (tokens - 1.0, now);
        Ok(&key.name)
    }
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A new key and its SHA-256 in hex.
pub fn new_key() -> (String, String) {
    let key = format!(
        "rask_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let hex = rask_store::digest(&key);
    (key, hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(hash: &str, actions: Vec<Action>, per_second: u32) -> ApiKeySection {
        ApiKeySection {
            name: "shop".into(),
            sha256: Some(hash.into()),
            secret_env: None,
            secret_file: None,
            actions,
            per_second,
        }
    }

    #[test]
    fn a_key_does_what_it_may_as_often_as_it_may_and_nothing_else() {
        let (key, hex) = new_key();
        let keys = Keys::resolve(&[section(&hex, vec![Action::Messages], 2)]).unwrap();
        assert_eq!(keys.authorize(Some(&key), Action::Messages), Ok("shop"));
        assert_eq!(
            keys.authorize(Some(&key), Action::Notifications),
            Err(Denied::Forbidden { key: "shop".into() })
        );
        assert_eq!(
            keys.authorize(Some("rask_wrong"), Action::Messages),
            Err(Denied::Unauthorized)
        );
        assert_eq!(keys.authorize(None, Action::Messages), Err(Denied::Unauthorized));
        assert_eq!(keys.authorize(Some(&key), Action::Messages), Ok("shop"));
        assert_eq!(keys.authorize(Some(&key), Action::Messages), Err(Denied::TooMany));
    }

    #[test]
    fn config_errors_name_the_key() {
        let mut bad = section("abc", vec![], 0);
        bad.secret_env = Some("X".into());
        let keys: Vec<String> = check(&[bad], false).into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "api_keys[0].sha256",
                "api_keys[0].sha256",
                "api_keys[0].actions",
                "api_keys[0].per_second",
                "api_keys"
            ]
        );
    }
}
