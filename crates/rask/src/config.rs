//! `rask.toml`: the configuration, in layers: built-in defaults, then the file, then
//! environment overrides (`RASK_BIND`, `RASK_DATABASE_URL`). Secrets never live in the file:
//! a client secret is named by `secret_env` (an environment variable) or `secret_file`.
//! Every error names the key that is wrong. docs/config.md documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rask_link::secret::Secret;
use rask_link::{ClientAuth, ClientConfig, LinkConfig};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    #[serde(default)]
    pub server: Server,
    /// `[database]`.
    #[serde(default)]
    pub database: Database,
    /// `[linking]`.
    #[serde(default)]
    pub linking: Linking,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Where to listen; loopback unless told otherwise.
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// The URL Alexa and browsers use to reach rask (https:// turns on Secure cookies).
    #[serde(default)]
    pub public_url: Option<String>,
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Default for Server {
    fn default() -> Self {
        Server {
            bind: default_bind(),
            public_url: None,
        }
    }
}

/// `[database]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `sqlite://PATH` (default `sqlite://rask-data/rask.db`) or `postgres://...`.
    #[serde(default = "default_database")]
    pub url: String,
}

fn default_database() -> String {
    "sqlite://rask-data/rask.db".to_owned()
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: default_database(),
        }
    }
}

/// `[linking]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Linking {
    /// Access-token life in seconds (default 3600; Alexa needs at least 360).
    #[serde(default = "default_access")]
    pub access_token_seconds: u64,
    /// How many days a refresh token may go unused (default 365).
    #[serde(default = "default_idle")]
    pub refresh_idle_days: u64,
    /// `[[linking.clients]]`: one per skill.
    #[serde(default)]
    pub clients: Vec<Client>,
}

fn default_access() -> u64 {
    3600
}

fn default_idle() -> u64 {
    365
}

impl Default for Linking {
    fn default() -> Self {
        Linking {
            access_token_seconds: default_access(),
            refresh_idle_days: default_idle(),
            clients: Vec::new(),
        }
    }
}

/// `[[linking.clients]]`: what the Alexa developer console's account-linking form holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// "Your Client ID".
    pub id: String,
    /// The name on the consent page (default "Alexa").
    #[serde(default)]
    pub name: Option<String>,
    /// The environment variable holding "Your Secret".
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A file holding "Your Secret".
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Vendor ids from the console's "Alexa Redirect URLs".
    #[serde(default)]
    pub vendor_ids: Vec<String>,
    /// More redirect URIs, exactly as allowed.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Scopes ("Scope" in the console); the first is the default (default `["smart_home"]`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `basic`, `body` or `either` (default): the console's "Authentication Scheme".
    #[serde(default)]
    pub authentication: Option<String>,
}

/// A configuration error: the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    /// The key, such as `linking.clients[0].secret_env`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

fn err(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

impl Config {
    /// Reads `path`, or the defaults when there is none, then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, Vec<ConfigError>> {
        let mut config = match path {
            None => Config::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| vec![err(p.display().to_string(), format!("cannot read: {e}"))])?;
                toml::from_str(&text).map_err(|e| {
                    let at = e.span().map(|s| {
                        let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                        format!(" (line {line})")
                    });
                    vec![err(
                        p.display().to_string(),
                        format!("{}{}", e.message().trim(), at.unwrap_or_default()),
                    )]
                })?
            }
        };
        if let Ok(bind) = std::env::var("RASK_BIND") {
            config.server.bind = bind
                .parse()
                .map_err(|e| vec![err("RASK_BIND", format!("{bind:?} is not ADDR:PORT: {e}"))])?;
        }
        if let Ok(url) = std::env::var("RASK_DATABASE_URL") {
            config.database.url = url;
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        if !(self.database.url.starts_with("sqlite:") || self.database.url.starts_with("postgres")) {
            errors.push(err(
                "database.url",
                "use sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        if let Some(u) = &self.server.public_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                errors.push(err("server.public_url", format!("{u:?} is not an http(s) URL")));
            }
        }
        if !(1..=3650).contains(&self.linking.refresh_idle_days) {
            errors.push(err("linking.refresh_idle_days", "must be 1 to 3650 days"));
        }
        if self.linking.access_token_seconds < 360 {
            errors.push(err(
                "linking.access_token_seconds",
                "Alexa needs access tokens to live at least 360 seconds",
            ));
        }
        for (i, c) in self.linking.clients.iter().enumerate() {
            let key = |k: &str| format!("linking.clients[{i}].{k}");
            if c.id.trim().is_empty() {
                errors.push(err(key("id"), "must not be empty"));
            }
            match (&c.secret_env, &c.secret_file) {
                (None, None) => errors.push(err(
                    key("secret_env"),
                    "set secret_env or secret_file: the client secret never goes in this file",
                )),
                (Some(_), Some(_)) => errors.push(err(
                    key("secret_file"),
                    "set only one of secret_env and secret_file",
                )),
                _ => {}
            }
            if c.vendor_ids.is_empty() && c.redirect_uris.is_empty() {
                errors.push(err(
                    key("vendor_ids"),
                    "list the skill's vendor id (from the console's Alexa Redirect URLs) or redirect_uris",
                ));
            }
            if let Some(a) = &c.authentication {
                if !matches!(a.as_str(), "basic" | "body" | "either") {
                    errors.push(err(
                        key("authentication"),
                        format!("{a:?} is not basic, body or either"),
                    ));
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// The account-linking configuration, with secrets read from the environment or files.
    pub fn link_config(&self) -> Result<LinkConfig, Vec<ConfigError>> {
        let mut clients = Vec::new();
        let mut errors = Vec::new();
        for (i, c) in self.linking.clients.iter().enumerate() {
            let secret = match (&c.secret_env, &c.secret_file) {
                (Some(var), _) => std::env::var(var).map_err(|_| {
                    err(
                        format!("linking.clients[{i}].secret_env"),
                        format!("the environment variable {var} is not set"),
                    )
                }),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map(|s| s.trim().to_owned())
                    .map_err(|e| {
                        err(
                            format!("linking.clients[{i}].secret_file"),
                            format!("cannot read {}: {e}", path.display()),
                        )
                    }),
                (None, None) => Err(err(format!("linking.clients[{i}].secret_env"), "missing")),
            };
            let secret = match secret {
                Ok(s) if !s.is_empty() => s,
                Ok(_) => {
                    errors.push(err(format!("linking.clients[{i}]"), "the client secret is empty"));
                    continue;
                }
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            clients.push(ClientConfig {
                id: c.id.clone(),
                secret: Secret::new(secret),
                name: c.name.clone().unwrap_or_else(|| "Alexa".into()),
                vendor_ids: c.vendor_ids.clone(),
                redirect_uris: c.redirect_uris.clone(),
                scopes: if c.scopes.is_empty() {
                    vec!["smart_home".into()]
                } else {
                    c.scopes.clone()
                },
                auth: match c.authentication.as_deref() {
                    Some("basic") => ClientAuth::Basic,
                    Some("body") => ClientAuth::Body,
                    _ => ClientAuth::Either,
                },
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(LinkConfig {
            clients,
            access_token_lifetime: Duration::from_secs(self.linking.access_token_seconds),
            refresh_idle_lifetime: Duration::from_secs(self.linking.refresh_idle_days.min(3650) * 24 * 3600),
            secure_cookies: self
                .server
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            ..LinkConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let c: Config = toml::from_str(text).map_err(|e| vec![err("file", e.message())])?;
        c.check()?;
        Ok(c)
    }

    #[test]
    fn defaults_are_loopback_and_sqlite() {
        let c = parse("").unwrap();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://rask-data/rask.db");
    }

    #[test]
    fn one_error_per_bad_key() {
        let errors = parse(
            "[linking]\naccess_token_seconds = 60\n[[linking.clients]]\nid = \"alexa\"\nauthentication = \"magic\"\n",
        )
        .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "linking.access_token_seconds",
                "linking.clients[0].secret_env",
                "linking.clients[0].vendor_ids",
                "linking.clients[0].authentication"
            ]
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = parse("[server]\nbnid = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(e[0].problem.contains("unknown field `bnid`"), "{}", e[0]);
    }
}
