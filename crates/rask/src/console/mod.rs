//! The owner's console at `/`: every state rask keeps, in a browser, for the owner only.
//!
//! Server-rendered HTML (askama templates under `templates/console`, escaped by default), no
//! JavaScript needed, readable at a phone's width. Owners are apart from the people who link
//! their accounts (`rask user add --owner`, or `RASK_OWNER_PASSWORD` for an owner named
//! `owner`); a signed-in owner has a session cookie of the console's own (HttpOnly,
//! SameSite=Strict, Secure under HTTPS) and every form carries the session's CSRF token.
//! Whatever changes state asks first and is written to the owners' action log.
//!
//! - [`auth`]: signing in and out, the session guard;
//! - [`pages`]: what is shown (overview, users, devices, events, linking);
//! - [`actions`]: what can be done (press a doorbell, revoke a user's links, send a dropped
//!   event again);
//! - [`chart`]: the overview's chart, drawn as SVG on the server;
//! - [`skill`]: the custom skill's requests and out-of-session calls;
//! - [`configuration`]: what rask runs with, and `rask check` from the page;
//! - [`evaluation`]: the last Works with Alexa evaluation, and one run from the page.

mod actions;
mod auth;
mod chart;
mod configuration;
mod evaluation;
mod pages;
mod skill;

pub use auth::OWNER_PASSWORD_ENV;

use std::sync::Arc;

use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use rask_store::Store;

/// What the console reads and acts on.
#[derive(Clone)]
pub struct Console(Arc<Inner>);

struct Inner {
    store: Store,
    /// The argon2 hash of `RASK_OWNER_PASSWORD`, when it is set.
    env_owner: Option<String>,
    /// Whether cookies must be `Secure` (rask or its proxy serves HTTPS).
    secure: bool,
    limiter: rask_link::ratelimit::RateLimiter,
    /// Password checks running at once, at most one per core.
    verify_slots: Arc<tokio::sync::Semaphore>,
    home: Home,
    /// The database, as it may be shown (password removed).
    database: String,
    /// The configuration file, if any.
    source: Option<std::path::PathBuf>,
    /// Whether `[skill]` hosts a custom skill here.
    skill_hosted: bool,
    /// Whether directives must come signed by the forwarder.
    forwarded: bool,
}

/// The smart-home parts the console shows and drives, when `[alexa]` runs them.
#[derive(Clone, Default)]
pub struct Home {
    /// The devices.
    pub registry: rask_home::Registry,
    /// Their states.
    pub states: Option<rask_home::state::DeviceStates>,
    /// Presses doorbells.
    pub triggers: Option<rask_home::triggers::Triggers>,
    /// The broker, for its connection.
    pub mqtt: Option<rask_home::mqtt::MqttPublisher>,
    /// Forgets a revoked user's tokens at once on this instance.
    pub validator: Option<rask_link::Validator>,
}

impl Console {
    /// The console over `store`, for `config` (cookies are `Secure` when it is served over
    /// HTTPS, by rask or its proxy). Reads
    /// `RASK_OWNER_PASSWORD` (hashed here, never kept as given).
    pub async fn new(store: Store, home: Home, config: &crate::config::Config) -> anyhow::Result<Console> {
        let secure = config.server.tls_cert_file.is_some()
            || config
                .server
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"));
        let env_owner = auth::env_owner()?;
        if env_owner.is_some() {
            // The variable may have changed since those sessions began: they end with the start.
            store.remove_owner_sessions(auth::ENV_OWNER).await?;
        }
        spawn_credentials_probe(config);
        Ok(Console(Arc::new(Inner {
            store,
            env_owner,
            secure,
            limiter: rask_link::ratelimit::RateLimiter::new(rask_link::ratelimit::Limits::default()),
            verify_slots: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()).max(2),
            )),
            home,
            database: rask_store::redact_url(&config.database.url),
            source: config.source.clone(),
            skill_hosted: config.skill.is_some(),
            forwarded: config
                .alexa
                .as_ref()
                .is_some_and(|a| a.forwarder_secret_env.is_some() || a.forwarder_secret_file.is_some()),
        })))
    }
}

/// How often the skill's LWA credentials are tried for the overview. LWA's token lasts an
/// hour and is cached, so most tries cost no request.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Tries the skill's own LWA credentials now and every [`PROBE_EVERY`], for the overview's
/// "Login with Amazon" (what `rask check` does once).
fn spawn_credentials_probe(config: &crate::config::Config) {
    let (Some(alexa), Ok(Some(secret))) = (&config.alexa, config.lwa_secret()) else {
        return;
    };
    let (lwa, endpoints) = crate::check::skill_lwa(alexa, secret);
    tokio::spawn(async move {
        let metrics = rask_home::metrics::metrics();
        loop {
            match lwa.token_for_scope(crate::check::PROBE_SCOPE).await {
                Ok(_) => metrics.credentials_tried(
                    "accepted",
                    &format!(
                        "the skill's client id and secret work at {}",
                        endpoints.token_url()
                    ),
                ),
                Err(e) => {
                    metrics.credentials_tried("refused", &format!("{e} (at {})", endpoints.token_url()))
                }
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    });
}

/// The console's routes.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/users", get(pages::users))
        .route("/devices", get(pages::devices))
        .route("/events", get(pages::events))
        .route("/linking", get(pages::linking))
        .route("/skill", get(skill::show))
        .route("/configuration", get(configuration::show))
        .route("/configuration/check", post(configuration::check))
        .route("/evaluation", get(evaluation::show))
        .route("/evaluation/run", post(evaluation::run))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signout", post(auth::signout))
        .route(
            "/devices/{id}/press",
            get(actions::press_page).post(actions::press),
        )
        .route(
            "/devices/{id}/report",
            get(actions::report_page).post(actions::report),
        )
        .route(
            "/events/{id}/resend",
            get(actions::resend_page).post(actions::resend),
        )
        .route(
            "/users/{name}/rediscover",
            get(actions::rediscover_page).post(actions::rediscover),
        )
        .route(
            "/users/{name}/revoke",
            get(actions::revoke_page).post(actions::revoke),
        )
        .with_state(console)
}

/// The console's pages, in the order the menu shows them.
const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/users", "Users"),
    ("/devices", "Devices"),
    ("/events", "Events"),
    ("/linking", "Linking"),
    ("/skill", "Skill"),
    ("/configuration", "Configuration"),
    ("/evaluation", "Works with Alexa"),
];

/// What every page's frame shows: its title, the owner signed in, the menu.
pub struct Frame {
    title: String,
    owner: Option<String>,
    nav: &'static [(&'static str, &'static str)],
    current: &'static str,
    csrf: String,
}

impl Frame {
    fn page(title: &str, current: &'static str, session: &auth::Signed) -> Frame {
        Frame {
            title: title.to_owned(),
            owner: Some(session.owner.clone()),
            nav: NAV,
            current,
            csrf: session.csrf.clone(),
        }
    }
}

/// The console's pages run no script, load nothing from elsewhere, post only to rask, and are
/// framed by nobody.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// A template rendered, or a plain 500 saying it could not be.
fn render(t: impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => (
            [
                (axum::http::header::CACHE_CONTROL, "no-store"),
                // No script anywhere; no framing (a click-through of a confirm page).
                (axum::http::header::CONTENT_SECURITY_POLICY, CSP),
                (axum::http::header::X_FRAME_OPTIONS, "DENY"),
                (axum::http::header::REFERRER_POLICY, "same-origin"),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page could not be rendered");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    }
}

/// A time as the console shows it: UTC, to the second.
fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_else(|_| ms.to_string())
}

/// The CSS class for an outcome: good, bad or neither.
fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "delivered" | "sent" | "ok" => "good",
        "retry" | "refreshed" => "warn",
        _ => "bad",
    }
}
