//! `rask.toml`: the configuration, in layers: built-in defaults, then the file, then
//! environment overrides (`RASK_BIND`, `RASK_DATABASE_URL`). Secrets never live in the file:
//! a client secret is named by `secret_env` (an environment variable) or `secret_file`.
//! Every error names the key that is wrong. docs/config.md documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rask_home::capabilities::DeviceProperty;
use rask_link::secret::Secret;
use rask_link::{ClientAuth, ClientConfig, LinkConfig};
use serde::Deserialize;

mod document;

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

/// `[retention]`: what housekeeping keeps (every ten minutes it deletes the rest).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days the linking log keeps a row (default 90).
    #[serde(default = "default_linking_log_days")]
    pub linking_log_days: u64,
    /// Most linking-log rows kept, the newest (default 100000).
    #[serde(default = "default_linking_log_rows")]
    pub linking_log_rows: u64,
    /// Days the event log keeps a row (default 30).
    #[serde(default = "default_event_log_days")]
    pub event_log_days: u64,
    /// Most event-log rows kept, the newest (default 1000000).
    #[serde(default = "default_event_log_rows")]
    pub event_log_rows: u64,
    /// Days a delivered or dropped event stays in the outbox (default 7).
    #[serde(default = "default_settled_events_days")]
    pub settled_events_days: u64,
}

fn default_linking_log_days() -> u64 {
    90
}
fn default_linking_log_rows() -> u64 {
    100_000
}
fn default_event_log_days() -> u64 {
    30
}
fn default_event_log_rows() -> u64 {
    1_000_000
}
fn default_settled_events_days() -> u64 {
    7
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            linking_log_days: default_linking_log_days(),
            linking_log_rows: default_linking_log_rows(),
            event_log_days: default_event_log_days(),
            event_log_rows: default_event_log_rows(),
            settled_events_days: default_settled_events_days(),
        }
    }
}

impl Retention {
    /// In the store's terms.
    pub fn store(&self) -> rask_store::retention::Retention {
        let days = |d: u64| (d.min(36_500) as i64) * 86_400_000;
        rask_store::retention::Retention {
            linking_log_age_ms: days(self.linking_log_days),
            linking_log_rows: self.linking_log_rows.min(i64::MAX as u64) as i64,
            event_log_age_ms: days(self.event_log_days),
            event_log_rows: self.event_log_rows.min(i64::MAX as u64) as i64,
            settled_events_age_ms: days(self.settled_events_days),
        }
    }
}

/// `[mqtt]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mqtt {
    /// `mqtt://[user:password@]host[:port]`.
    pub url: String,
    /// The client id rask connects with (default `rask`).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// The broker's in-flight window for rask (mosquitto's `max_inflight_messages`, default
    /// 20): rask warns when it stays full.
    #[serde(default = "default_broker_inflight")]
    pub broker_max_inflight: usize,
}

fn default_broker_inflight() -> usize {
    rask_home::mqtt::BROKER_INFLIGHT
}

fn default_client_id() -> String {
    "rask".into()
}

/// `[alexa]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alexa {
    /// The skill's "Alexa Client Id" (developer console: Build > Permissions).
    pub lwa_client_id: String,
    /// The environment variable holding its "Alexa Client Secret".
    #[serde(default)]
    pub lwa_client_secret_env: Option<String>,
    /// A file holding it.
    #[serde(default)]
    pub lwa_client_secret_file: Option<PathBuf>,
    /// The region a directive belongs to when the forwarder does not say (`NA`, `EU`, `FE`).
    #[serde(default = "default_region")]
    pub region: String,
    /// `"amazon"` (default) or the URL of a `rask sim`.
    #[serde(default = "default_api")]
    pub api: String,
    /// Where the key that seals LWA tokens at rest lives, unless `RASK_SECRET_KEY` is set.
    #[serde(default = "default_key_file")]
    pub secret_key_file: PathBuf,
    /// How long a doorbell press is worth announcing; after that it is dropped, not sent late.
    #[serde(default = "default_doorbell_life")]
    pub doorbell_life_seconds: u64,
    /// How long a device's changes are gathered into one ChangeReport.
    #[serde(default = "default_change_report_window")]
    pub change_report_window_ms: u64,
    /// The environment variable holding the secret shared with the forwarder Lambda
    /// (`RASK_FORWARDER_SECRET` there); required with `api = "amazon"`.
    #[serde(default)]
    pub forwarder_secret_env: Option<String>,
    /// A file holding it.
    #[serde(default)]
    pub forwarder_secret_file: Option<PathBuf>,
    /// The `[[linking.clients]]` id of this smart-home skill: `/alexa/smarthome` takes only
    /// access tokens issued to it (default: the only client, when there is one).
    #[serde(default)]
    pub linking_client: Option<String>,
    /// The scope those tokens must carry (default: that client's first scope).
    #[serde(default)]
    pub linking_scope: Option<String>,
}

fn default_doorbell_life() -> u64 {
    30
}

fn default_change_report_window() -> u64 {
    rask_home::reports::CHANGE_REPORT_WINDOW.as_millis() as u64
}

fn default_region() -> String {
    "NA".into()
}

fn default_api() -> String {
    "amazon".into()
}

fn default_key_file() -> PathBuf {
    PathBuf::from("rask-data/secret.key")
}

/// `[[devices]]`: one device bridged to Alexa.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    /// The endpoint id Alexa knows it by: letters, digits and `_-=#;:?@&`.
    pub id: String,
    /// The name people say.
    pub name: String,
    /// Shown in the Alexa app (default: the kind).
    #[serde(default)]
    pub description: Option<String>,
    /// `doorbell`, `light`, `plug`, `blind`, `shutter`, `lock`, `contact_sensor`,
    /// `motion_sensor` or `temperature_sensor`.
    pub kind: String,
    /// Who made it (discovery's `manufacturerName`; default `rask`).
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// Its model (discovery's `additionalAttributes.model`; default `rask KIND`).
    #[serde(default)]
    pub model: Option<String>,
    /// The environment variable holding the device's secret for `POST /hooks/devices/{id}/...`.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A file holding the device's secret, instead of `secret_env`.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The MQTT topic on which the device reports presses (needs `[mqtt]`).
    #[serde(default)]
    pub mqtt_topic: Option<String>,
    /// Where rask publishes Alexa's directives for the device (controllable kinds).
    #[serde(default)]
    pub command_topic: Option<String>,
    /// Where the device reports its state: a plain value or a JSON object.
    #[serde(default)]
    pub state_topic: Option<String>,
    /// Property → the JSON field (dotted path) of a state message that holds it.
    #[serde(default)]
    pub state_fields: std::collections::BTreeMap<String, String>,
    /// Property → the payload published to set it, `{value}` standing for the target.
    #[serde(default)]
    pub command_templates: std::collections::BTreeMap<String, String>,
    /// How long the device has to confirm a command on its state topic (default 3000).
    #[serde(default)]
    pub confirm_timeout_ms: Option<u64>,
    /// A device slower than Alexa's 8 s: answer with a DeferredResponse, the result follows
    /// through the Event Gateway.
    #[serde(default)]
    pub slow: bool,
    /// After this long without a message, the device is reported unreachable.
    #[serde(default)]
    pub offline_after_seconds: Option<u64>,
    /// `CELSIUS` (default), `FAHRENHEIT` or `KELVIN`: what a temperature sensor reports in.
    #[serde(default)]
    pub temperature_scale: Option<String>,
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
    /// A PEM certificate chain: with `tls_key_file`, rask serves HTTPS itself.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Reverse proxies (IP addresses) whose `X-Forwarded-For` names the real client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Seconds a client has for a request's headers (and the TLS handshake), and may sit idle
    /// between requests, before its connection is closed (default 10).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// Seconds a client has to send a request's whole body (default 30); then 408.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_seconds: u64,
}

fn default_header_timeout() -> u64 {
    10
}

fn default_body_timeout() -> u64 {
    30
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Default for Server {
    fn default() -> Self {
        Server {
            bind: default_bind(),
            public_url: None,
            tls_cert_file: None,
            tls_key_file: None,
            trusted_proxies: Vec::new(),
            header_timeout_seconds: default_header_timeout(),
            body_timeout_seconds: default_body_timeout(),
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

fn device_kind(kind: &str) -> Option<rask_home::DeviceKind> {
    rask_home::DeviceKind::from_name(kind)
}

/// The keys of one `[[devices]]` entry whose kind is known.
fn check_device(
    d: &DeviceSection,
    kind: rask_home::DeviceKind,
    has_mqtt: bool,
    key: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    use rask_home::DeviceKind;
    let names = |props: &[DeviceProperty]| props.iter().map(|p| p.field()).collect::<Vec<_>>().join(", ");
    let http = d.secret_env.is_some() || d.secret_file.is_some();
    match kind {
        DeviceKind::Doorbell if !http && d.mqtt_topic.is_none() => errors.push(err(
            key("mqtt_topic"),
            "a doorbell needs a trigger: mqtt_topic, or secret_env for HTTP",
        )),
        DeviceKind::Doorbell => {}
        k if k.controllable() && d.command_topic.is_none() => errors.push(err(
            key("command_topic"),
            format!(
                "a {} is controlled through MQTT: set command_topic (and state_topic, on which it confirms)",
                k.name()
            ),
        )),
        k if !k.controllable() && d.state_topic.is_none() && !http => errors.push(err(
            key("state_topic"),
            format!(
                "a {} needs a way to report: state_topic, or secret_env for POST /hooks/devices/{{id}}/state",
                k.name()
            ),
        )),
        _ => {}
    }
    if kind != DeviceKind::Doorbell && d.mqtt_topic.is_some() {
        errors.push(err(
            key("mqtt_topic"),
            "mqtt_topic is a doorbell's press topic; other devices use state_topic and command_topic",
        ));
    }
    let mqtt_keys = [
        ("mqtt_topic", &d.mqtt_topic),
        ("command_topic", &d.command_topic),
        ("state_topic", &d.state_topic),
    ];
    for (name, topic) in mqtt_keys {
        match topic {
            Some(_) if !has_mqtt => errors.push(err(key(name), "an MQTT topic needs an [mqtt] broker url")),
            Some(t) if t.is_empty() || t.contains(['+', '#']) => errors.push(err(
                key(name),
                format!("{t:?} is not a topic rask can use (empty, or with a wildcard)"),
            )),
            _ => {}
        }
    }
    let props = kind.properties();
    for (field, path) in &d.state_fields {
        match DeviceProperty::from_field(field) {
            Some(p) if props.contains(&p) && !path.is_empty() => {}
            Some(p) if props.contains(&p) => errors.push(err(
                key(&format!("state_fields.{field}")),
                "the field name is empty",
            )),
            _ => errors.push(err(
                key(&format!("state_fields.{field}")),
                format!(
                    "a {} has no property {field:?} (it has: {})",
                    kind.name(),
                    names(props)
                ),
            )),
        }
    }
    for (field, template) in &d.command_templates {
        match DeviceProperty::from_field(field) {
            Some(p) if props.contains(&p) && p.controllable() => {
                if !template.contains("{value}") {
                    errors.push(err(
                        key(&format!("command_templates.{field}")),
                        "the template has no {value} for the target",
                    ));
                }
            }
            _ => errors.push(err(
                key(&format!("command_templates.{field}")),
                format!(
                    "a {} has no property {field:?} that Alexa sets (it has: {})",
                    kind.name(),
                    names(
                        &props
                            .iter()
                            .copied()
                            .filter(|p| p.controllable())
                            .collect::<Vec<_>>()
                    )
                ),
            )),
        }
    }
    if let Some(ms) = d.confirm_timeout_ms {
        // Alexa waits 8 s and the forwarder 7 s; a slow device answers later through the gateway.
        let max = if d.slow { 600_000 } else { 6_000 };
        if !(100..=max).contains(&ms) {
            let why = if d.slow {
                ""
            } else {
                "; a device that takes longer should set slow = true"
            };
            errors.push(err(
                key("confirm_timeout_ms"),
                format!("{ms} is not within 100–{max}{why}"),
            ));
        }
    }
    if d.slow && !kind.controllable() {
        errors.push(err(key("slow"), format!("a {} takes no commands", kind.name())));
    }
    if let Some(s) = d.offline_after_seconds.filter(|s| *s == 0) {
        errors.push(err(
            key("offline_after_seconds"),
            format!("{s} is not a period: leave it out for never"),
        ));
    }
    if let Some(scale) = &d.temperature_scale {
        if temperature_scale(scale).is_none() {
            errors.push(err(
                key("temperature_scale"),
                format!("{scale:?} is not CELSIUS, FAHRENHEIT or KELVIN"),
            ));
        }
    }
}

/// Each MQTT topic rask listens on has one use: a topic shared by two devices, or used for
/// presses and states, would route messages to one of them only; a device whose command topic
/// is its state topic would confirm its own commands. Command topics alone may be shared.
fn check_topics(devices: &[DeviceSection], errors: &mut Vec<ConfigError>) {
    let mut seen: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for (i, d) in devices.iter().enumerate() {
        let uses = [
            ("mqtt_topic", &d.mqtt_topic),
            ("state_topic", &d.state_topic),
            ("command_topic", &d.command_topic),
        ];
        for (name, topic) in uses {
            let Some(t) = topic else { continue };
            let here = format!("devices[{i}].{name}");
            // Devices may share a command topic (a multi-channel relay): rask only publishes there.
            let shared_command = name == "command_topic"
                && seen
                    .get(t.as_str())
                    .is_some_and(|first| first.ends_with(".command_topic"));
            if shared_command {
                continue;
            }
            match seen.get(t.as_str()) {
                Some(first) => errors.push(err(
                    here,
                    format!("{t:?} is already {first}: give each use its own topic"),
                )),
                None => {
                    seen.insert(t, here);
                }
            }
        }
    }
}

/// A device's MQTT wiring from its (valid) section.
fn wiring(d: &DeviceSection) -> rask_home::devices::Wiring {
    let by_property = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .filter_map(|(k, v)| Some((DeviceProperty::from_field(k)?, v.clone())))
            .collect()
    };
    let defaults = rask_home::devices::Wiring::default();
    rask_home::devices::Wiring {
        command_topic: d.command_topic.clone(),
        state_topic: d.state_topic.clone(),
        state_fields: by_property(&d.state_fields),
        command_templates: by_property(&d.command_templates),
        confirm_timeout: d
            .confirm_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.confirm_timeout),
        slow: d.slow,
        offline_after: d.offline_after_seconds.map(Duration::from_secs),
        temperature_scale: d
            .temperature_scale
            .as_deref()
            .and_then(temperature_scale)
            .unwrap_or(defaults.temperature_scale),
    }
}

fn temperature_scale(s: &str) -> Option<rask_model::smarthome::TemperatureScale> {
    use rask_model::smarthome::TemperatureScale as T;
    match s.to_ascii_uppercase().as_str() {
        "CELSIUS" => Some(T::Celsius),
        "FAHRENHEIT" => Some(T::Fahrenheit),
        "KELVIN" => Some(T::Kelvin),
        _ => None,
    }
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

    /// The devices; without a configuration file, the demo home.
    pub fn registry(&self, from_file: bool) -> rask_home::Registry {
        if !from_file && self.devices.is_empty() {
            return rask_home::Registry::demo();
        }
        rask_home::Registry::new(
            self.devices
                .iter()
                .filter_map(|d| {
                    let kind = device_kind(&d.kind)?;
                    Some(rask_home::Device {
                        id: d.id.clone(),
                        name: d.name.clone(),
                        description: d
                            .description
                            .clone()
                            .unwrap_or_else(|| format!("{} bridged by rask", d.kind.replace('_', " "))),
                        kind,
                        manufacturer: d
                            .manufacturer
                            .clone()
                            .unwrap_or_else(|| rask_home::devices::DEFAULT_MANUFACTURER.into()),
                        model: d
                            .model
                            .clone()
                            .unwrap_or_else(|| rask_home::devices::default_model(kind)),
                        wiring: wiring(d),
                    })
                })
                .collect(),
        )
    }

    /// The devices' trigger secrets, from the environment; a device without `secret_env` has
    /// no HTTP trigger.
    pub fn device_secrets(
        &self,
    ) -> Result<std::collections::HashMap<String, rask_link::secret::Secret>, Vec<ConfigError>> {
        let mut out = std::collections::HashMap::new();
        let mut errors = Vec::new();
        for (i, d) in self.devices.iter().enumerate() {
            if d.secret_env.is_none() && d.secret_file.is_none() {
                continue;
            }
            let key = format!("devices[{i}].secret");
            match read_secret(&key, d.secret_env.as_deref(), d.secret_file.as_deref()) {
                Ok(s) if s.chars().count() >= MIN_SECRET_CHARS => {
                    out.insert(d.id.clone(), rask_link::secret::Secret::new(s));
                }
                Ok(s) if s.is_empty() => {
                    errors.push(err(format!("devices[{i}]"), "the device secret is empty"))
                }
                Ok(s) => errors.push(short_secret(&key, d.secret_env.as_deref(), s.chars().count())),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(out) } else { Err(errors) }
    }

    /// State topic → device id.
    pub fn state_topics(&self) -> std::collections::HashMap<String, String> {
        self.devices
            .iter()
            .filter_map(|d| d.state_topic.clone().map(|t| (t, d.id.clone())))
            .collect()
    }

    /// Doorbell press topic → device id.
    pub fn press_topics(&self) -> std::collections::HashMap<String, String> {
        self.devices
            .iter()
            .filter_map(|d| d.mqtt_topic.clone().map(|t| (t, d.id.clone())))
            .collect()
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
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let read = document::read(text, "rask.toml");
        match read.config {
            Some(c) => c.checked(read.errors, &read.removed, false),
            None => Err(read.errors),
        }
    }

    #[test]
    fn a_bad_value_is_named_by_its_key_and_line() {
        let errors = parse("[server]\nbind = \"localhost\"\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "server.bind");
        assert!(
            errors[0].problem.contains("(line 2 of rask.toml)"),
            "{}",
            errors[0].problem
        );
    }

    #[test]
    fn every_error_in_the_file_is_reported_at_once() {
        let errors = parse(
            "[server]\nbind = \"localhost\"\ncolour = \"blue\"\n[linking]\naccess_token_seconds = \"soon\"\n\
             [[linking.clients]]\nid = \"alexa\"\nauthentication = \"magic\"\n",
        )
        .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"server.bind"), "{errors:#?}");
        assert!(keys.contains(&"server.colour"), "{errors:#?}");
        assert!(keys.contains(&"linking.access_token_seconds"), "{errors:#?}");
        assert!(
            keys.iter().any(|k| k.starts_with("linking.clients[0].")),
            "{errors:#?}"
        );
        let colour = errors.iter().find(|e| e.key == "server.colour").unwrap();
        assert!(
            colour.problem.starts_with("not a key rask knows"),
            "{}",
            colour.problem
        );
        // A key reported for its value is not reported again as missing.
        assert_eq!(
            keys.iter()
                .filter(|k| **k == "linking.access_token_seconds")
                .count(),
            1
        );
    }

    #[test]
    fn a_bad_section_does_not_hide_the_errors_after_it() {
        // The device's kind has the wrong type (taken out, it is then missing): the server's
        // bad value after it is still reported.
        let errors = parse("[[devices]]\nid = \"a\"\nname = \"A\"\nkind = 5\n[server]\nbind = \"nowhere\"\n")
            .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"devices[0].kind"), "{errors:#?}");
        assert!(keys.contains(&"server.bind"), "{errors:#?}");
        assert_eq!(
            keys.iter().filter(|k| k.starts_with("devices")).count(),
            1,
            "{errors:#?}"
        );
    }

    #[test]
    fn bad_syntax_names_the_line() {
        let errors = parse("[server\nbind = 1\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "rask.toml");
        assert!(
            errors[0].problem.contains("line 1 of rask.toml"),
            "{}",
            errors[0].problem
        );
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

    /// The documentation's example is a configuration rask accepts.
    #[test]
    fn the_complete_example_in_docs_config_md_is_valid() {
        let example = block("## A complete example");
        let config = parse(&example).unwrap_or_else(|e| panic!("{e:?}"));
        let devices = config.registry(true);
        assert_eq!(devices.devices().len(), 4);
        let coffee = devices.get("coffee-machine").unwrap();
        assert_eq!(
            coffee
                .wiring
                .command_payload(DeviceProperty::Power, &serde_json::json!("ON")),
            r#"{"state": "ON"}"#
        );
    }

    /// The first TOML block of docs/config.md after `heading`.
    fn block(heading: &str) -> String {
        block_in(include_str!("../../../../docs/config.md"), heading)
    }

    /// The first TOML block of `doc` after `heading`.
    fn block_in(doc: &str, heading: &str) -> String {
        doc.split(heading)
            .nth(1)
            .and_then(|rest| rest.split("```toml\n").nth(1))
            .and_then(|block| block.split("```").next())
            .unwrap_or_else(|| panic!("the document has {heading}"))
            .to_owned()
    }

    /// The `[skill]` example is valid in the complete example's house (its doorbell, its broker).
    #[test]
    fn the_skill_example_in_docs_config_md_is_valid() {
        let text = block("## A complete example") + &block("## `[skill]`: a custom skill, without code");
        let config = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
        let skill = config.skill.unwrap();
        assert_eq!(skill.intents.len(), 3);
        assert!(skill.intents[2].set.is_some());
        assert!(skill.verify_requests, "verification is on by default");
    }

    /// The out-of-session example is valid in the complete example's house (its broker).
    #[test]
    fn the_out_of_session_example_in_docs_config_md_is_valid() {
        let text = block("## A complete example")
            + &block("## Reaching users out of session: messages, notifications, the HTTP API");
        let config = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
        let skill = config.skill.unwrap();
        assert_eq!(skill.message_key_field(), "messageId");
        assert!(skill.messages.unwrap().webhook.is_some());
        assert_eq!(config.api_keys.len(), 1);
        assert_eq!(
            config.api_keys[0].actions,
            [crate::api::Action::Messages, crate::api::Action::Notifications]
        );
    }

    /// docs/sim.md's rehearsal configuration is valid and draws no warning; with the
    /// forwarder's secret kept, rask warns that the sim's directives would all be refused.
    #[test]
    fn the_rehearsal_in_docs_sim_md_is_valid_and_a_kept_forwarder_secret_is_warned_of() {
        let text = block_in(
            include_str!("../../../../docs/sim.md"),
            "### Rehearsing a deployment",
        );
        let config = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(config.alexa.as_ref().unwrap().region, "EU");
        assert_eq!(config.unsigned_rehearsal(), None);
        let kept = format!("{text}forwarder_secret_env = \"RASK_FORWARDER_SECRET\"\n");
        let warning = parse(&kept).unwrap().unsigned_rehearsal().unwrap();
        assert!(warning.contains("x-rask-region is missing"), "{warning}");
    }

    /// docs/config.md's `[metrics]` example is valid, and a bad network is named by its place.
    #[test]
    fn the_metrics_example_is_valid_and_a_bad_network_is_named() {
        let config =
            parse(&block("## `[metrics]`: who may read `/metrics`")).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(config.metrics.unwrap().allow, ["10.0.0.0/8"]);
        let errors = parse("[metrics]\nallow = [\"10.0.0.0/8\", \"ten\"]\n").unwrap_err();
        assert_eq!(errors[0].key, "metrics.allow[1]", "{errors:?}");
    }

    /// The gadget skill example is valid in the complete example's house.
    #[test]
    fn the_gadget_skill_example_in_docs_config_md_is_valid() {
        let text = block("## A complete example") + &block("### A gadget skill");
        let config = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
        let skill = config.skill.unwrap();
        assert_eq!(skill.interfaces, ["Custom.Robot"]);
        assert_eq!(skill.gadget_events.len(), 2);
        assert!(skill.intents[0].gadget_directive.is_some());
    }

    #[test]
    fn a_topic_has_one_use() {
        let errors = parse(
            "[mqtt]\nurl = \"mqtt://127.0.0.1\"\n\
             [[devices]]\nid = \"a\"\nname = \"A\"\nkind = \"plug\"\ncommand_topic = \"t/a\"\nstate_topic = \"t/a\"\n\
             [[devices]]\nid = \"b\"\nname = \"B\"\nkind = \"doorbell\"\nmqtt_topic = \"t/b\"\n\
             [[devices]]\nid = \"c\"\nname = \"C\"\nkind = \"motion_sensor\"\nstate_topic = \"t/b\"\n",
        )
        .unwrap_err();
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].starts_with("devices[0].command_topic") && lines[0].contains("devices[0].state_topic")
        );
        assert!(lines[1].starts_with("devices[2].state_topic") && lines[1].contains("devices[1].mqtt_topic"));
        // A two-channel relay: one command topic, two state topics.
        parse(
            "[mqtt]\nurl = \"mqtt://127.0.0.1\"\n\
             [[devices]]\nid = \"l1\"\nname = \"One\"\nkind = \"plug\"\ncommand_topic = \"relay/set\"\nstate_topic = \"relay/1\"\n\
             [[devices]]\nid = \"l2\"\nname = \"Two\"\nkind = \"plug\"\ncommand_topic = \"relay/set\"\nstate_topic = \"relay/2\"\n",
        )
        .unwrap();
    }

    #[test]
    fn a_devices_manufacturer_and_model_come_from_the_file_and_are_checked() {
        let c = parse("[[devices]]\nid = \"bell\"\nname = \"Bell\"\nkind = \"doorbell\"\nsecret_env = \"BELL\"\nmanufacturer = \"Acme\"\nmodel = \"DB-1\"\n").unwrap();
        let d = &c.registry(true).devices()[0].clone();
        assert_eq!((d.manufacturer.as_str(), d.model.as_str()), ("Acme", "DB-1"));
        let errors = parse("[[devices]]\nid = \"bell\"\nname = \"Bell\"\nkind = \"doorbell\"\nsecret_env = \"BELL\"\nmanufacturer = \" \"\n").unwrap_err();
        assert_eq!(errors[0].key, "devices[0].manufacturer", "{errors:?}");
    }

    #[test]
    fn device_wiring_keys_are_checked_each_by_name() {
        let errors = parse(
            "[mqtt]\nurl = \"mqtt://127.0.0.1\"\n\
             [[devices]]\nid = \"lamp\"\nname = \"Lamp\"\nkind = \"light\"\nstate_topic = \"home/lamp\"\n\
             [devices.state_fields]\ncolour = \"c\"\n[devices.command_templates]\nbrightness = \"dim\"\n\
             [[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"contact_sensor\"\n\
             [devices.command_templates]\ncontact = \"{value}\"\n\
             [[devices]]\nid = \"blind\"\nname = \"Blind\"\nkind = \"blind\"\ncommand_topic = \"home/#\"\nconfirm_timeout_ms = 20000\n\
             [[devices]]\nid = \"temp\"\nname = \"Temp\"\nkind = \"temperature_sensor\"\nstate_topic = \"t\"\ntemperature_scale = \"RANKINE\"\n",
        )
        .unwrap_err();
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "devices[0].command_topic",
                "devices[0].state_fields.colour",
                "devices[0].command_templates.brightness",
                "devices[1].state_topic",
                "devices[1].command_templates.contact",
                "devices[2].command_topic",
                "devices[2].confirm_timeout_ms",
                "devices[3].temperature_scale",
            ],
            "{lines:#?}"
        );
        assert!(lines[1].contains("(it has: power, brightness)"), "{}", lines[1]);
        assert!(lines[6].contains("slow = true"), "{}", lines[6]);
        let ok = parse(
            "[mqtt]\nurl = \"mqtt://127.0.0.1\"\n[[devices]]\nid = \"blind\"\nname = \"Blind\"\nkind = \"shutter\"\n\
             command_topic = \"rfy/blind/set\"\nstate_topic = \"rfy/blind\"\nslow = true\nconfirm_timeout_ms = 60000\n\
             [devices.command_templates]\nmode = \"{value}\"\n",
        )
        .unwrap();
        let shutter = ok.registry(true).devices()[0].clone();
        assert!(shutter.wiring.slow);
        assert_eq!(
            shutter
                .wiring
                .command_payload(DeviceProperty::Mode, &serde_json::json!("Position.Down")),
            "Position.Down"
        );
    }

    #[test]
    fn alexa_and_devices_are_checked() {
        let errors = parse(
            "[alexa]\nlwa_client_id = \"x\"\nregion = \"MARS\"\n[[devices]]\nid = \"front door\"\nname = \"Door\"\nkind = \"toaster\"\n",
        )
        .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "alexa.lwa_client_secret_env",
                "alexa.region",
                "alexa.forwarder_secret_env",
                "devices[0].id",
                "devices[0].kind"
            ]
        );
        let ok =
            parse("[[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"doorbell\"\nsecret_env = \"S\"\n")
                .unwrap();
        assert_eq!(ok.registry(true).devices().len(), 1);
        assert_eq!(Config::default().registry(false), rask_home::Registry::demo());
    }

    #[test]
    fn a_bad_broker_url_and_a_doorbell_without_a_trigger_name_their_keys() {
        let errors =
            parse("[mqtt]\nurl = \"http://broker\"\n[[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"doorbell\"\n")
                .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["mqtt.url", "devices[0].mqtt_topic"]);
        let errors =
            parse("[[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"doorbell\"\nmqtt_topic = \"a/b\"\n")
                .unwrap_err();
        assert!(errors[0].problem.contains("[mqtt]"), "{}", errors[0]);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = parse("[server]\nbnid = \"127.0.0.1:1\"\n").unwrap_err();
        assert_eq!(e[0].key, "server.bnid");
        assert!(
            e[0].problem
                .starts_with("not a key rask knows; expected one of `bind`"),
            "{}",
            e[0]
        );
    }
}
