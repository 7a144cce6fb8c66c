//! The sections of rask.toml other than `[[devices]]`, with their defaults: `[server]`,
//! `[database]`, `[linking]`, `[alexa]`, `[mqtt]`, `[retention]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

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
    /// Days a dropped event stays in the outbox, to be sent again (default 7); a delivered
    /// one leaves at once.
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
