//! `GET /metrics`: every series rask keeps, in Prometheus' text exposition (OpenMetrics), and
//! who may read it.
//!
//! The libraries count as they work (`rask_home::metrics`, `rask_skill::metrics`); the
//! listener counts each HTTP request here ([`http_request`]); what the store holds (the
//! outboxes, the grants) is read at each scrape. docs/metrics.md lists every series.
//!
//! Access: from loopback only, unless `[metrics]` names a bearer token or allowed networks.
//! Behind a reverse proxy every request comes from loopback, so a request is never taken for
//! a local one when it came through a proxy: one in `server.trusted_proxies` (an allowed
//! network still opens it for the client the proxy names), one that left `X-Forwarded-For` or
//! `Forwarded` (only the token opens it), or any at all once `server.public_url` says rask is
//! reached from outside (a proxy may add no header).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use rask_store::Store;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ConfigError, err, read_secret};
use crate::proxy::ViaProxy;

/// `[metrics]`: who may read `/metrics` besides loopback.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// A bearer token, from this environment variable: a scrape that sends it is answered from
    /// anywhere.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Or from this file.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Networks answered without a token, such as `10.0.0.0/8` or `192.0.2.7`.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// Shortest token accepted.
pub const MIN_TOKEN_CHARS: usize = 32;

/// One allowed network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `fd00::/8`, or one address.
    pub fn parse(s: &str) -> Option<Network> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.trim().parse::<IpAddr>().ok()?,
                Some(p.trim().parse::<u8>().ok()?),
            ),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Network { addr, prefix })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Access {
    token_sha256: Option<[u8; 32]>,
    allow: Vec<Network>,
    /// Whether `server.public_url` is set: rask is reached from outside, perhaps through a
    /// proxy that says nothing, so loopback is not local.
    public: bool,
}

impl Access {
    /// The access `section` describes; every problem under its key.
    pub fn resolve(section: Option<&MetricsSection>, public: bool) -> Result<Access, Vec<ConfigError>> {
        let mut access = Access {
            public,
            ..Access::default()
        };
        let Some(s) = section else {
            return Ok(access);
        };
        let mut errors = check(s);
        if s.token_env.is_some() || s.token_file.is_some() {
            match read_secret("metrics.token", s.token_env.as_deref(), s.token_file.as_deref()) {
                Ok(t) if t.chars().count() >= MIN_TOKEN_CHARS => {
                    access.token_sha256 = Some(Sha256::digest(t.as_bytes()).into())
                }
                Ok(_) => errors.push(err(
                    "metrics.token",
                    format!("shorter than {MIN_TOKEN_CHARS} characters (openssl rand -hex 16 makes one)"),
                )),
                Err(e) => errors.push(e),
            }
        }
        access.allow = s.allow.iter().filter_map(|a| Network::parse(a)).collect();
        if errors.is_empty() {
            Ok(access)
        } else {
            Err(errors)
        }
    }

    /// Whether a request from `peer` (the client a trusted proxy named, when `via` says it
    /// came through one) with `headers` may read the metrics.
    fn admits(&self, peer: IpAddr, headers: &HeaderMap, via: Option<ViaProxy>) -> Result<(), Refusal> {
        if let Some(want) = &self.token_sha256 {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if let Some(given) = given {
                let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
                return if bool::from(digest.ct_eq(want)) {
                    Ok(())
                } else {
                    Err(Refusal::BadToken)
                };
            }
        }
        let allowed = self.allow.iter().any(|n| n.contains(peer));
        let admitted = match via {
            Some(v) => v.named && allowed,
            None if headers.contains_key("x-forwarded-for") || headers.contains_key(header::FORWARDED) => {
                false
            }
            None => allowed || (peer.to_canonical().is_loopback() && !self.public),
        };
        if admitted {
            Ok(())
        } else {
            Err(Refusal::NotAllowed)
        }
    }
}

enum Refusal {
    BadToken,
    NotAllowed,
}

/// The section's own problems (the token is read by [`Access::resolve`]).
pub fn check(s: &MetricsSection) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if s.token_env.is_some() && s.token_file.is_some() {
        errors.push(err(
            "metrics.token_env",
            "name the token once: token_env or token_file",
        ));
    }
    for (i, a) in s.allow.iter().enumerate() {
        if Network::parse(a).is_none() {
            errors.push(err(
                format!("metrics.allow[{i}]"),
                format!("{a:?} is not an address or a network such as 10.0.0.0/8"),
            ));
        }
    }
    errors
}

/// A request's route (the pattern, never the path as sent), method and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Seconds, from half a millisecond to ten seconds: rask's answers, Alexa's 8 s deadline.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The grant states rask writes.
const GRANT_STATES: [&str; 4] = ["active", "refreshing", "revoked", "refused"];

struct Series {
    requests: Family<HttpLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pending: Family<QueueLabels, Gauge>,
    oldest: Family<QueueLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    grants: Family<StateLabels, Gauge>,
    registry: Registry,
}

fn series() -> &'static Series {
    static SERIES: LazyLock<Series> = LazyLock::new(|| {
        let mut s = Series {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            pending: Family::default(),
            oldest: Family::default(),
            grants: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut s.registry;
        r.register(
            "rask_http_requests",
            "HTTP requests answered, by route, method and status",
            s.requests.clone(),
        );
        r.register(
            "rask_http_request_duration_seconds",
            "Time to answer an HTTP request, body read included, by route",
            s.latency.clone(),
        );
        r.register(
            "rask_outbox_pending",
            "Rows waiting to be delivered, by queue (events: smart-home events; services: Skill Messaging and Proactive Events)",
            s.pending.clone(),
        );
        r.register(
            "rask_outbox_oldest_pending_age_seconds",
            "Age of the oldest row waiting to be delivered, by queue (0 when none waits)",
            s.oldest.clone(),
        );
        r.register(
            "rask_grants",
            "Users' Alexa event grants, by state",
            s.grants.clone(),
        );
        r.register(
            "rask_build",
            "The rask that answers",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        rask_home::metrics::metrics().register(r);
        rask_skill::metrics::register(r);
        s
    });
    &SERIES
}

/// The route a path belongs to, as rask's router names it; `other` for any other path, so
/// that a scanner trying paths adds no series.
pub fn route_label(path: &str) -> &'static str {
    const EXACT: [&str; 11] = [
        "/",
        "/healthz",
        "/metrics",
        "/oauth/authorize",
        "/oauth/token",
        "/oauth/revoke",
        "/alexa/smarthome",
        "/alexa/skill",
        "/api/v1/messages",
        "/api/v1/notifications",
        "/api/v1/openapi.json",
    ];
    if let Some(route) = EXACT.iter().find(|r| **r == path) {
        return route;
    }
    // At most five segments looked at, none copied: this runs for every request.
    let mut parts = path.trim_start_matches('/').splitn(5, '/');
    let segments: [Option<&str>; 5] = std::array::from_fn(|_| parts.next());
    match segments {
        [Some("hooks"), Some("devices"), Some(id), Some(trigger), None]
            if !id.is_empty() && !trigger.is_empty() =>
        {
            "/hooks/devices/{id}/{trigger}"
        }
        [Some("api"), Some("v1"), Some("calls"), Some(id), None] if !id.is_empty() => "/api/v1/calls/{id}",
        _ => "other",
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts one answered request (the listener calls this for every request).
pub fn http_request(route: &'static str, method: &axum::http::Method, status: StatusCode, took: Duration) {
    let s = series();
    s.requests
        .get_or_create(&HttpLabels {
            route,
            method: method_label(method),
            status: status.as_u16(),
        })
        .inc();
    s.latency
        .get_or_create(&RouteLabels { route })
        .observe(took.as_secs_f64());
}

#[derive(Clone)]
struct Scrape {
    access: Arc<Access>,
    store: Store,
}

/// `GET /metrics`.
pub fn router(access: Access, store: Store) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(Scrape {
        access: Arc::new(access),
        store,
    })
}

async fn scrape(
    State(s): State<Scrape>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    via: Option<axum::Extension<ViaProxy>>,
    headers: HeaderMap,
) -> Response {
    match s.access.admits(peer.ip(), &headers, via.map(|v| v.0)) {
        Ok(()) => {}
        Err(Refusal::BadToken) => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "the bearer token is not the one [metrics] names\n",
            )
                .into_response();
        }
        Err(Refusal::NotAllowed) => {
            return (
                StatusCode::FORBIDDEN,
                "/metrics answers loopback only: set [metrics] token_env or allow in rask.toml (docs/metrics.md)\n",
            )
                .into_response();
        }
    }
    let series = series();
    match s.store.gauges().await {
        Ok(g) => {
            let now = rask_store::now_ms();
            for (queue, backlog) in [("events", g.events), ("services", g.services)] {
                series
                    .pending
                    .get_or_create(&QueueLabels { queue })
                    .set(backlog.pending);
                let age = backlog
                    .oldest_at
                    .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
                series.oldest.get_or_create(&QueueLabels { queue }).set(age);
            }
            for state in GRANT_STATES {
                let n = g.grants.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
                series.grants.get_or_create(&StateLabels { state }).set(n);
            }
        }
        // The counters still tell something; the store's gauges keep their last values.
        Err(e) => tracing::warn!(error = %e, "the metrics could not read the store"),
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &series.registry).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be written\n",
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_by_their_pattern_and_anything_else_is_other() {
        assert_eq!(route_label("/alexa/smarthome"), "/alexa/smarthome");
        assert_eq!(
            route_label("/hooks/devices/front-door/press"),
            "/hooks/devices/{id}/{trigger}"
        );
        assert_eq!(route_label("/api/v1/calls/1234"), "/api/v1/calls/{id}");
        assert_eq!(route_label("/wp-admin/setup.php"), "other");
        assert_eq!(route_label("/hooks/devices//press"), "other");
    }

    #[test]
    fn networks_contain_what_they_should() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(
            Network::parse("192.0.2.7")
                .unwrap()
                .contains("192.0.2.7".parse().unwrap())
        );
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("203.0.113.1".parse().unwrap())
        );
        assert!(
            Network::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("ten").is_none());
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_reads_a_proxied_request_does_not_and_a_token_opens_it_anywhere() {
        let open = Access::default();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(open.admits(local, &HeaderMap::new(), None).is_ok());
        assert!(open.admits(remote, &HeaderMap::new(), None).is_err());
        assert!(
            open.admits(local, &headers(&[("x-forwarded-for", "203.0.113.9")]), None)
                .is_err()
        );
        let token = "t".repeat(32);
        let with_token = Access {
            token_sha256: Some(Sha256::digest(token.as_bytes()).into()),
            ..Access::default()
        };
        let bearer = format!("Bearer {token}");
        assert!(
            with_token
                .admits(remote, &headers(&[("authorization", &bearer)]), None)
                .is_ok()
        );
        assert!(matches!(
            with_token.admits(remote, &headers(&[("authorization", "Bearer wrong")]), None),
            Err(Refusal::BadToken)
        ));
        let allowed = Access {
            allow: vec![Network::parse("203.0.113.0/24").unwrap()],
            ..Access::default()
        };
        assert!(allowed.admits(remote, &HeaderMap::new(), None).is_ok());
        // Through a trusted proxy: never local; an allowed network only for a client it named.
        let via = |named| Some(ViaProxy { named });
        assert!(
            open.admits(local, &HeaderMap::new(), via(false)).is_err(),
            "a proxy adding no header"
        );
        assert!(allowed.admits(remote, &HeaderMap::new(), via(true)).is_ok());
        assert!(allowed.admits(remote, &HeaderMap::new(), via(false)).is_err());
        // Untrusted forwarding: only the token opens it, allowed network or not.
        assert!(
            allowed
                .admits(remote, &headers(&[("x-forwarded-for", "198.51.100.1")]), None)
                .is_err()
        );
        // A public URL: loopback may be a proxy that says nothing.
        let public = Access {
            public: true,
            ..Access::default()
        };
        assert!(public.admits(local, &HeaderMap::new(), None).is_err());
    }
}
