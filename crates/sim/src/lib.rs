//! `rask sim`: Alexa's cloud, simulated.
//!
//! One HTTP server that plays Amazon's side for any skill backend, rask or not:
//!
//! - Amazon's APIs at Amazon's paths, with Amazon's status codes and error bodies: Login with
//!   Amazon ([`lwa`]), the Event Gateway ([`gateway`]), Skill Messaging ([`messaging`]),
//!   Proactive Events ([`proactive`]) and Endpoint Enumeration ([`enumeration`]), for the three
//!   regions, each under its own base URL (`/na`, `/eu`, `/fe`; the bare root is North America);
//! - drivers that act as Alexa towards a skill ([`drivers`]): link an account through the
//!   skill's login pages, send smart-home directives and custom-skill requests, and check every
//!   answer against the official schema;
//! - an inspection and fault-injection API under `/sim/` ([`control`]) and a console page.
//!
//! Everything the sim receives is kept in an event log with its validation verdict.
//! Where Amazon's documentation is silent the sim takes the strict reading; `docs/sim.md` lists
//! each such choice.

pub mod config;
mod console;
pub mod control;
pub mod drivers;
pub mod enumeration;
pub mod evaluate;
pub mod faults;
pub mod gateway;
mod http;
pub mod jsonlogic;
pub mod log;
pub mod lwa;
pub mod messaging;
pub mod proactive;
pub mod region;
pub mod signing;
pub mod skill_events;
pub mod tls;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

pub use config::SimConfig;
pub use region::Region;
use world::World;

/// Largest request body the sim reads (the Event Gateway answers 413 above its own limit).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The simulator: configuration, the simulated world, and an HTTP client for the drivers.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

/// Serialises the refreshes of one (skill, user) link.
type RefreshLock = Arc<tokio::sync::Mutex<()>>;

struct Inner {
    config: SimConfig,
    world: Mutex<World>,
    base_url: OnceLock<String>,
    client: reqwest::Client,
    refresh_locks: Mutex<std::collections::HashMap<(String, String), RefreshLock>>,
    /// Made on first use: a sim that never calls a custom skill never makes a key.
    signer: OnceLock<Result<Arc<signing::Signer>, signing::SigningError>>,
}

impl Sim {
    /// A simulator with an empty world.
    pub fn new(config: SimConfig) -> Self {
        let client = http::client(config.skill_timeout);
        Sim {
            inner: Arc::new(Inner {
                world: Mutex::new(World::new(&config)),
                config,
                base_url: OnceLock::new(),
                client,
                refresh_locks: Mutex::new(std::collections::HashMap::new()),
                signer: OnceLock::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The simulated world, locked. Never held across an await.
    pub fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock leaves a consistent-enough world for a simulator;
        // carrying on beats taking every later request down with a poisoned lock.
        self.inner.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The URL the sim is reachable at, such as `http://127.0.0.1:9090`.
    pub fn base_url(&self) -> &str {
        self.inner
            .base_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// The base URL of a region's Alexa APIs (what a skill sees as `apiEndpoint`).
    pub fn region_url(&self, region: Region) -> String {
        format!("{}{}", self.base_url(), region::path_prefix(region))
    }

    /// The lock that makes refreshing one user's link single-flight, as Alexa's is: two
    /// refreshes with one refresh token would look like a replay to the skill.
    pub(crate) fn refresh_lock(&self, skill_id: &str, user: &str) -> RefreshLock {
        let mut locks = self.inner.refresh_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks
            .entry((skill_id.to_owned(), user.to_owned()))
            .or_default()
            .clone()
    }

    /// How the sim signs custom-skill requests as Alexa does.
    pub fn signer(&self) -> Result<Arc<signing::Signer>, signing::SigningError> {
        self.inner
            .signer
            .get_or_init(|| signing::Signer::generate().map(Arc::new))
            .clone()
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// Every route of the simulator.
    pub fn router(&self) -> Router {
        let amazon = Router::new()
            .route("/v3/events", post(gateway::post_event))
            .route("/v1/skillmessages/users/{user_id}", post(messaging::post_message))
            .route("/v1/proactiveEvents", post(proactive::post_live))
            .route("/v1/proactiveEvents/", post(proactive::post_live))
            .route(
                "/v1/proactiveEvents/stages/development",
                post(proactive::post_development),
            )
            .route("/v1/endpoints", get(enumeration::get_endpoints));
        Router::new()
            .route("/auth/o2/token", post(lwa::post_token))
            .route("/auth/O2/token", post(lwa::post_token))
            .route("/healthz", get(|| async { "ok" }))
            // The signing chain, where a skill's certificate mirror finds it.
            .route("/echo.api/{name}", get(signing_chain))
            .merge(amazon.clone().layer(axum::Extension(Region::Na)))
            .nest("/na", amazon.clone().layer(axum::Extension(Region::Na)))
            .nest("/eu", amazon.clone().layer(axum::Extension(Region::Eu)))
            .nest("/fe", amazon.layer(axum::Extension(Region::Fe)))
            // axum's nest maps "/" to "/sim" only; the console is at "/sim/" too.
            .route("/sim/", get(console::page))
            .nest("/sim", control::router())
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    /// Binds `addr` (port 0 picks a free port) and returns the address it got; `https` says
    /// which scheme the sim's own URLs (`apiEndpoint`, the console) use.
    pub async fn bind(&self, addr: SocketAddr, https: bool) -> std::io::Result<(TcpListener, SocketAddr)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let host = match local.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let url = self.inner.config.public_url.clone().unwrap_or_else(|| {
            format!(
                "{}://{host}:{}",
                if https { "https" } else { "http" },
                local.port()
            )
        });
        let _ = self.inner.base_url.set(url.trim_end_matches('/').to_owned());
        Ok((listener, local))
    }

    /// Serves on a listener from [`Sim::bind`] until `shutdown` resolves.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Serves HTTPS on a listener from [`Sim::bind`] until `shutdown` resolves.
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        identity: &tls::TlsIdentity,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), tls::TlsError> {
        let config = identity.server_config()?;
        tls::serve(listener, self.router(), config, shutdown).await;
        Ok(())
    }

    /// Starts the sim over HTTPS on `addr` in the background, with a certificate for
    /// 127.0.0.1 and localhost from a fresh local CA; returns that identity (its `ca_pem` is
    /// what clients must trust).
    pub async fn start_tls(
        config: SimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<(Sim, SocketAddr, tls::TlsIdentity)> {
        let identity = tls::TlsIdentity::generate(&["127.0.0.1".into(), "localhost".into()])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let sim = Sim::new(config);
        let (listener, local) = sim.bind(addr, true).await?;
        let s = sim.clone();
        let id = identity.clone();
        tokio::spawn(async move {
            if let Err(e) = s.serve_tls(listener, &id, std::future::pending()).await {
                tracing::error!(error = %e, "the simulator stopped");
            }
        });
        Ok((sim, local, identity))
    }

    /// Starts the sim on `addr` in the background: for tests and embedding.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<(Sim, SocketAddr)> {
        let sim = Sim::new(config);
        let (listener, local) = sim.bind(addr, false).await?;
        let s = sim.clone();
        tokio::spawn(async move {
            if let Err(e) = s.serve(listener, std::future::pending()).await {
                tracing::error!(error = %e, "the simulator stopped");
            }
        });
        Ok((sim, local))
    }
}

async fn signing_chain(
    axum::extract::State(sim): axum::extract::State<Sim>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match sim.signer() {
        Ok(s) if s.chain_name() == name => (
            [(axum::http::header::CONTENT_TYPE, "application/x-pem-file")],
            s.chain_pem().to_owned(),
        )
            .into_response(),
        Ok(_) => axum::http::StatusCode::NOT_FOUND.into_response(),
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
