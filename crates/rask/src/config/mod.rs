//! `rask.toml`: the configuration, in layers: built-in defaults, then the file, then
//! environment overrides (`RASK_BIND`, `RASK_DATABASE_URL`). Secrets never live in the file:
//! a client secret is named by `secret_env` (an environment variable) or `secret_file`.
//! Every error names the key that is wrong. docs/config.md documents every key.
//!
//! - [`document`]: the file read into toml's spanned tree, every bad key found at once;
//! - `sections`: the sections and their defaults; `devices`: `[[devices]]` and its checks;
//! - here: the whole [`Config`], its checks across sections, and the secrets it names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rask_link::secret::Secret;
use rask_link::{ClientAuth, ClientConfig, LinkConfig};
use serde::Deserialize;

mod devices;
mod document;
mod sections;

pub use devices::DeviceSection;
use devices::{check_device, check_topics, device_kind};
pub use sections::*;

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
    /// `[alexa]`: the skill's LWA credentials and where Alexa's APIs are.
    #[serde(default)]
    pub alexa: Option<Alexa>,
    /// `[[devices]]`.
    #[serde(default)]
    pub devices: Vec<DeviceSection>,
    /// `[mqtt]`: the broker devices trigger through.
    #[serde(default)]
    pub mqtt: Option<Mqtt>,
    /// `[retention]`: how long the logs and settled events are kept.
    #[serde(default)]
    pub retention: Retention,
    /// `[skill]`: a custom skill hosted at `/alexa/skill`.
    #[serde(default)]
    pub skill: Option<crate::custom_skill::SkillSection>,
    /// `[[api_keys]]`: the keys other services call the HTTP API with.
    #[serde(default)]
    pub api_keys: Vec<crate::api::ApiKeySection>,
    /// `[metrics]`: who may read `/metrics` besides loopback.
    #[serde(default)]
    pub metrics: Option<crate::metrics::MetricsSection>,
    /// The file this was read from; `None` for the embedded default.
    #[serde(skip)]
    pub source: Option<PathBuf>,
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

/// The fewest characters a linking client's or a device's secret may have: a guessable secret
/// lets anyone ring the bell or mint tokens.
pub const MIN_SECRET_CHARS: usize = 16;

/// A short secret's error, naming the key it came from.
fn short_secret(key: &str, env: Option<&str>, len: usize) -> ConfigError {
    let which = if env.is_some() { "_env" } else { "_file" };
    err(
        format!("{key}{which}"),
        format!(
            "the secret has {len} characters; use at least {MIN_SECRET_CHARS} (openssl rand -hex 16 makes one)"
        ),
    )
}

pub(crate) fn err(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

/// A secret named by `{key}_env` (an environment variable) or `{key}_file`, trimmed; the error
/// names whichever key was used.
pub(crate) fn read_secret(key: &str, env: Option<&str>, file: Option<&Path>) -> Result<String, ConfigError> {
    match (env, file) {
        (Some(var), _) => std::env::var(var).map_err(|_| {
            err(
                format!("{key}_env"),
                format!("the environment variable {var} is not set"),
            )
        }),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| {
                err(
                    format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            }),
        (None, None) => Err(err(format!("{key}_env"), "missing")),
    }
}

impl Config {
    /// What every command runs on without `--config`: the embedded default, whose data lives
    /// apart from a configured instance's (its own database and key under `rask-data/demo`).
    /// `rask serve` fills in the rest (the demo devices, the simulator as Alexa) when it starts.
    pub fn embedded() -> Config {
        let mut config = Config::default();
        config.database.url = crate::demo::DATABASE_URL.to_owned();
        config
    }

    /// Reads the relative paths of secret, TLS and trust-root files from `dir`, the
    /// configuration file's folder, wherever rask was started: they belong with the file that
    /// names them. The data folder's paths (`database.url`, `alexa.secret_key_file`) stay
    /// relative to the working folder, where `rask-data` lives.
    fn files_beside(&mut self, dir: &Path) {
        let beside = |p: &mut Option<PathBuf>| {
            if let Some(path) = p.as_mut().filter(|p| p.is_relative()) {
                *path = dir.join(&*path);
            }
        };
        for c in &mut self.linking.clients {
            beside(&mut c.secret_file);
        }
        if let Some(a) = &mut self.alexa {
            beside(&mut a.lwa_client_secret_file);
            beside(&mut a.forwarder_secret_file);
        }
        for d in &mut self.devices {
            beside(&mut d.secret_file);
        }
        beside(&mut self.server.tls_cert_file);
        beside(&mut self.server.tls_key_file);
        if let Some(skill) = &mut self.skill {
            beside(&mut skill.trust_root_file);
            beside(&mut skill.client_secret_file);
            if let Some(m) = &mut skill.messages {
                beside(&mut m.webhook_secret_file);
            }
        }
        if let Some(m) = &mut self.metrics {
            beside(&mut m.token_file);
        }
        for k in &mut self.api_keys {
            beside(&mut k.secret_file);
        }
    }

    /// The warning for a configuration rehearsed against a simulator that still expects the
    /// forwarder's signature: `rask sim` sends smart-home directives unsigned, so rask would
    /// refuse every one of them.
    pub fn unsigned_rehearsal(&self) -> Option<String> {
        let a = self.alexa.as_ref()?;
        if a.api == "amazon" || (a.forwarder_secret_env.is_none() && a.forwarder_secret_file.is_none()) {
            return None;
        }
        Some(format!(
            "alexa.api is {:?}, not Amazon, yet alexa.forwarder_secret_env/_file is set: rask sim does not \
             sign smart-home directives as the forwarder does, so rask refuses each one it sends (\"the \
             forwarder header x-rask-region is missing\"); to rehearse against rask sim, leave the \
             forwarder secret out (docs/sim.md, \"Rehearsing a deployment\")",
            a.api
        ))
    }

    /// Reads `path`, or the embedded default when there is none, then applies the environment.
    /// Every error is reported, not only the first: a bad value under its key and line, and
    /// whatever the rest of the file gets wrong besides.
    pub fn load(path: Option<&Path>) -> Result<Config, Vec<ConfigError>> {
        let (mut config, mut errors, removed) = match path {
            None => (Config::embedded(), Vec::new(), Vec::new()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| vec![err(p.display().to_string(), format!("cannot read: {e}"))])?;
                let file = p
                    .file_name()
                    .map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into_owned());
                let read = document::read(&text, &file);
                match read.config {
                    Some(config) => (config, read.errors, read.removed),
                    None => return Err(read.errors),
                }
            }
        };
        if let Ok(bind) = std::env::var("RASK_BIND") {
            match bind.parse() {
                Ok(addr) => config.server.bind = addr,
                Err(e) => errors.push(err("RASK_BIND", format!("{bind:?} is not ADDR:PORT: {e}"))),
            }
        }
        if let Some(dir) = path.and_then(Path::parent) {
            config.files_beside(dir);
        }
        config.source = path.map(Path::to_path_buf);
        let url_from_env = std::env::var("RASK_DATABASE_URL").ok();
        if let Some(url) = &url_from_env {
            config.database.url = url.clone();
        }
        config.checked(errors, &removed, url_from_env.is_some())
    }

    /// `errors` and what [`Config::check`] finds, or the configuration when there are none. A
    /// key already reported for its value (in `removed`) is not reported again for what its
    /// absence did; the database URL from the environment is reported under its variable.
    fn checked(
        self,
        mut errors: Vec<ConfigError>,
        removed: &[String],
        url_from_env: bool,
    ) -> Result<Config, Vec<ConfigError>> {
        if let Err(more) = self.check() {
            errors.extend(more.into_iter().filter_map(|mut e| {
                if url_from_env && e.key == "database.url" {
                    e.key = "RASK_DATABASE_URL".into();
                }
                let again = removed.iter().any(|r| {
                    e.key == *r
                        || e.key
                            .strip_prefix(r.as_str())
                            .is_some_and(|rest| rest.starts_with(['.', '[']))
                });
                (!again).then_some(e)
            }));
        }
        if errors.is_empty() { Ok(self) } else { Err(errors) }
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
        if self.server.tls_cert_file.is_some() != self.server.tls_key_file.is_some() {
            errors.push(err(
                "server.tls_key_file",
                "set both tls_cert_file and tls_key_file, or neither",
            ));
        }
        for (i, p) in self.server.trusted_proxies.iter().enumerate() {
            if p.parse::<std::net::IpAddr>().is_err() {
                errors.push(err(
                    format!("server.trusted_proxies[{i}]"),
                    format!("{p:?} is not an IP address"),
                ));
            }
        }
        if !(1..=300).contains(&self.server.header_timeout_seconds) {
            errors.push(err("server.header_timeout_seconds", "must be 1 to 300 seconds"));
        }
        if !(1..=300).contains(&self.server.body_timeout_seconds) {
            errors.push(err("server.body_timeout_seconds", "must be 1 to 300 seconds"));
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
        if let Some(a) = &self.alexa {
            if a.lwa_client_id.trim().is_empty() {
                errors.push(err("alexa.lwa_client_id", "must not be empty"));
            }
            if a.lwa_client_secret_env.is_none() == a.lwa_client_secret_file.is_none() {
                errors.push(err(
                    "alexa.lwa_client_secret_env",
                    "set exactly one of lwa_client_secret_env and lwa_client_secret_file",
                ));
            }
            if !(1..=3600).contains(&a.doorbell_life_seconds) {
                errors.push(err("alexa.doorbell_life_seconds", "must be 1 to 3600 seconds"));
            }
            if !(50..=60_000).contains(&a.change_report_window_ms) {
                errors.push(err(
                    "alexa.change_report_window_ms",
                    "must be 50 to 60000 milliseconds",
                ));
            }
            if rask_model::region::Region::parse(&a.region).is_none() {
                errors.push(err("alexa.region", format!("{:?} is not NA, EU or FE", a.region)));
            }
            if a.api != "amazon" && !(a.api.starts_with("http://") || a.api.starts_with("https://")) {
                errors.push(err("alexa.api", "use \"amazon\" or the URL of a rask sim"));
            }
            match (&a.forwarder_secret_env, &a.forwarder_secret_file) {
                (Some(_), Some(_)) => errors.push(err(
                    "alexa.forwarder_secret_file",
                    "set only one of forwarder_secret_env and forwarder_secret_file",
                )),
                (None, None) if a.api == "amazon" => errors.push(err(
                    "alexa.forwarder_secret_env",
                    "required with api = \"amazon\": Alexa reaches rask only through the forwarder Lambda, \
                     which signs each directive with this secret (docs/deploy.md)",
                )),
                _ => {}
            }
        }
        if let Some(m) = &self.mqtt {
            if !(1..=65_535).contains(&m.broker_max_inflight) {
                errors.push(err("mqtt.broker_max_inflight", "must be 1 to 65535"));
            }
            match url::Url::parse(&m.url) {
                Ok(u) if u.scheme() == "mqtt" && u.host_str().is_some() => {}
                Ok(u) if u.scheme() == "mqtt" => errors.push(err(
                    "mqtt.url",
                    format!("{:?} names no host", rask_store::redact_url(&m.url)),
                )),
                Ok(_) => errors.push(err(
                    "mqtt.url",
                    format!(
                        "{:?}: {}",
                        rask_store::redact_url(&m.url),
                        rask_home::mqtt::UNSUPPORTED_SCHEME
                    ),
                )),
                Err(e) => errors.push(err(
                    "mqtt.url",
                    format!(
                        "{:?} is not mqtt://HOST[:PORT]: {e}",
                        rask_store::redact_url(&m.url)
                    ),
                )),
            }
        }
        let mut ids = std::collections::HashSet::new();
        for (i, d) in self.devices.iter().enumerate() {
            let key = |k: &str| format!("devices[{i}].{k}");
            if let Err(e) = rask_model::limits::check_endpoint_id(&d.id) {
                errors.push(err(key("id"), e.to_string()));
            }
            if !ids.insert(d.id.as_str()) {
                errors.push(err(key("id"), format!("{:?} is used by another device", d.id)));
            }
            if let Err(e) = rask_model::limits::check_friendly_name(&d.name) {
                errors.push(err(key("name"), e.to_string()));
            }
            // The official schema's limits: manufacturerName 1-128, additionalAttributes 256.
            for (k, value, most) in [("manufacturer", &d.manufacturer, 128), ("model", &d.model, 256)] {
                if let Some(v) = value
                    && (v.trim().is_empty() || v.chars().count() > most)
                {
                    errors.push(err(key(k), format!("must have 1 to {most} characters")));
                }
            }
            let Some(kind) = device_kind(&d.kind) else {
                let names: Vec<&str> = rask_home::DeviceKind::ALL.iter().map(|(n, _)| *n).collect();
                errors.push(err(
                    key("kind"),
                    format!("{:?} is not one of {}", d.kind, names.join(", ")),
                ));
                continue;
            };
            check_device(d, kind, self.mqtt.is_some(), &key, &mut errors);
        }
        check_topics(&self.devices, &mut errors);
        let r = &self.retention;
        for (key, days) in [
            ("retention.linking_log_days", r.linking_log_days),
            ("retention.event_log_days", r.event_log_days),
            ("retention.settled_events_days", r.settled_events_days),
        ] {
            if !(1..=3650).contains(&days) {
                errors.push(err(key, "must be 1 to 3650 days"));
            }
        }
        for (key, rows) in [
            ("retention.linking_log_rows", r.linking_log_rows),
            ("retention.event_log_rows", r.event_log_rows),
        ] {
            if rows < 100 {
                errors.push(err(key, "keep at least 100 rows"));
            }
        }
        if let Some(skill) = &self.skill {
            let devices: Vec<(&str, &str)> = self
                .devices
                .iter()
                .map(|d| (d.id.as_str(), d.kind.as_str()))
                .collect();
            errors.extend(crate::custom_skill::check(
                skill,
                &devices,
                self.mqtt.is_some(),
                self.alexa.is_some(),
            ));
        }
        let skill_can_send = self.skill.as_ref().is_some_and(|s| s.client_id.is_some());
        errors.extend(crate::api::keys::check(&self.api_keys, skill_can_send));
        if let Some(m) = &self.metrics {
            errors.extend(crate::metrics::check(m));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// The `[alexa]` client secret, from the environment or its file.
    pub fn lwa_secret(&self) -> Result<Option<String>, ConfigError> {
        let Some(a) = &self.alexa else { return Ok(None) };
        read_secret(
            "alexa.lwa_client_secret",
            a.lwa_client_secret_env.as_deref(),
            a.lwa_client_secret_file.as_deref(),
        )
        .map(Some)
    }

    /// The secret shared with the forwarder Lambda, when one is configured.
    pub fn forwarder_secret(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(a) = &self.alexa else { return Ok(None) };
        if a.forwarder_secret_env.is_none() && a.forwarder_secret_file.is_none() {
            return Ok(None);
        }
        let secret = read_secret(
            "alexa.forwarder_secret",
            a.forwarder_secret_env.as_deref(),
            a.forwarder_secret_file.as_deref(),
        )?;
        let min = rask_model::forwarder::MIN_SECRET_BYTES;
        if secret.len() < min {
            let key = match a.forwarder_secret_env {
                Some(_) => "alexa.forwarder_secret_env",
                None => "alexa.forwarder_secret_file",
            };
            return Err(err(
                key,
                format!(
                    "the secret has {} bytes; use at least {min} (openssl rand -hex 32 makes one)",
                    secret.len()
                ),
            ));
        }
        Ok(Some(secret.into_bytes()))
    }

    /// Whose access tokens `/alexa/smarthome` takes: `alexa.linking_client`, or the only
    /// linking client; with several clients and none named, an error naming the key.
    pub fn smart_home_audience(&self, link: &LinkConfig) -> Result<Option<rask_link::Audience>, ConfigError> {
        let Some(a) = &self.alexa else { return Ok(None) };
        let client = match (&a.linking_client, link.clients.as_slice()) {
            (Some(id), clients) => clients.iter().find(|c| &c.id == id).ok_or_else(|| {
                err(
                    "alexa.linking_client",
                    format!("{id:?} is not the id of any [[linking.clients]]"),
                )
            })?,
            (None, [only]) => only,
            (None, []) => return Ok(None),
            (None, _) => {
                return Err(err(
                    "alexa.linking_client",
                    "several [[linking.clients]] are configured: name the one this smart-home skill links with",
                ));
            }
        };
        let scope = a.linking_scope.clone().or_else(|| client.scopes.first().cloned());
        if let Some(s) = &scope {
            if !client.scopes.contains(s) {
                return Err(err(
                    "alexa.linking_scope",
                    format!("{s:?} is not one of the client's scopes {:?}", client.scopes),
                ));
            }
        }
        Ok(Some(rask_link::Audience {
            client_id: client.id.clone(),
            scope,
        }))
    }

    /// The certificate and key rask serves HTTPS with, when configured.
    pub fn tls_identity(&self) -> Result<Option<rask_sim::tls::TlsIdentity>, Vec<ConfigError>> {
        let (Some(cert), Some(key)) = (&self.server.tls_cert_file, &self.server.tls_key_file) else {
            return Ok(None);
        };
        let read = |k: &str, p: &Path| {
            std::fs::read_to_string(p).map_err(|e| err(k, format!("cannot read {}: {e}", p.display())))
        };
        let identity = match (
            read("server.tls_cert_file", cert),
            read("server.tls_key_file", key),
        ) {
            (Ok(c), Ok(k)) => rask_sim::tls::TlsIdentity::from_pem(c, k),
            (c, k) => return Err(c.err().into_iter().chain(k.err()).collect()),
        };
        // Read now, so that a bad file stops the start with its key named.
        identity
            .server_config()
            .map_err(|e| vec![err("server.tls_cert_file", e.to_string())])?;
        Ok(Some(identity))
    }

    /// The proxies whose `X-Forwarded-For` is believed (validated by [`Config::load`]).
    pub fn trusted_proxies(&self) -> Vec<std::net::IpAddr> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Every problem with the secrets and files the configuration names, which only show when
    /// they are read: unset environment variables, unreadable files, short secrets.
    pub fn resolve_problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        if let Err(e) = self.link_config() {
            problems.extend(e);
        }
        if let Err(e) = self.lwa_secret() {
            problems.push(e);
        }
        if let Err(e) = self.forwarder_secret() {
            problems.push(e);
        }
        if let Err(e) = self.device_secrets() {
            problems.extend(e);
        }
        if let Err(e) = self.tls_identity() {
            problems.extend(e);
        }
        if let Err(e) = crate::api::Keys::resolve(&self.api_keys) {
            problems.extend(e);
        }
        if let Err(e) = self.metrics_access() {
            // The section's own problems were reported by check(); the token's are new here.
            problems.extend(e.into_iter().filter(|e| e.key.starts_with("metrics.token")));
        }
        problems
    }

    /// Who may read `/metrics`.
    pub fn metrics_access(&self) -> Result<crate::metrics::Access, Vec<ConfigError>> {
        crate::metrics::Access::resolve(self.metrics.as_ref(), self.server.public_url.is_some())
    }

    /// The account-linking configuration, with secrets read from the environment or files.
    pub fn link_config(&self) -> Result<LinkConfig, Vec<ConfigError>> {
        let mut clients = Vec::new();
        let mut errors = Vec::new();
        for (i, c) in self.linking.clients.iter().enumerate() {
            let secret = read_secret(
                &format!("linking.clients[{i}].secret"),
                c.secret_env.as_deref(),
                c.secret_file.as_deref(),
            );
            let secret = match secret {
                Ok(s) if s.chars().count() >= MIN_SECRET_CHARS => s,
                Ok(s) if s.is_empty() => {
                    errors.push(err(format!("linking.clients[{i}]"), "the client secret is empty"));
                    continue;
                }
                Ok(s) => {
                    let key = format!("linking.clients[{i}].secret");
                    errors.push(short_secret(&key, c.secret_env.as_deref(), s.chars().count()));
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
            // Secure whenever a browser reaches rask over HTTPS: behind a proxy (public_url) or
            // served by rask itself.
            secure_cookies: self
                .server
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
                || self.server.tls_cert_file.is_some(),
            ..LinkConfig::default()
        })
    }
}

#[cfg(test)]
mod tests;
