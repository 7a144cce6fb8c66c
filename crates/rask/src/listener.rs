//! rask serve's one listener, over plain HTTP or HTTPS, with the limits a server facing the
//! internet needs: a slow client holds a connection only so long.
//!
//! - headers: a connection that has not sent a request's whole headers within the header
//!   timeout is closed, and so is one that sits idle that long between requests (hyper's HTTP/1
//!   header-read timer also runs while a keep-alive connection waits); a peer that connects and
//!   sends nothing at all is closed after the same time;
//! - bodies: a request whose whole body has not arrived within the body timeout is answered
//!   `408 Request Timeout` (a body trickled byte by byte included); one larger than the
//!   body limit `413`;
//! - at most [`MAX_CONNECTIONS`] connections at once; more wait in the listen queue;
//! - HTTPS: the TLS handshake within the header timeout, plain HTTP to the TLS port answered
//!   with a line saying to use https (rask sim's TLS serving, which rask shares), and every
//!   response carries `Strict-Transport-Security`.
//!
//! Accepted sockets set `TCP_NODELAY`: answers are small and must not wait for Nagle.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// A listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For a request's headers, the TLS handshake, and idle keep-alive waits.
    pub header: Duration,
    /// For a request's whole body.
    pub body: Duration,
    /// The largest body read; larger is `413 Payload Too Large`.
    pub max_body: usize,
}

/// Reads the whole body within the body timeout before the app sees the request: a body
/// trickled a byte at a time must not hold a connection (tower-http's body timeout restarts
/// with every frame, so it would never trip). Every route reads its whole body anyway (at most
/// `max_body`). `Err` is the answer to send instead: 408 or 413.
async fn whole_body_in_time(
    request: hyper::Request<hyper::body::Incoming>,
    limits: Limits,
) -> Result<axum::extract::Request, axum::response::Response> {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let body = axum::body::Body::new(body);
    match tokio::time::timeout(limits.body, axum::body::to_bytes(body, limits.max_body)).await {
        Ok(Ok(bytes)) => Ok(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        )),
        Ok(Err(_)) => Err((
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than {} bytes, or was cut off\n",
                limits.max_body
            ),
        )
            .into_response()),
        Err(_) => Err((
            axum::http::StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s\n",
                limits.body.as_secs()
            ),
        )
            .into_response()),
    }
}

/// One request, from hyper to the app and back: the body read in time, the peer's address
/// given, a span with the request's id (and the user and device, where a handler names them),
/// the request counted for `/metrics`, HSTS over HTTPS. Done here rather than as router layers,
/// which box and clone per route and per request: that was an eighth of a directive's cost.
async fn handle(
    app: Router,
    request: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
    limits: Limits,
    https: bool,
) -> Result<axum::response::Response, std::convert::Infallible> {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let route = crate::metrics::route_label(request.uri().path());
    let method = request.method().clone();
    let id = request_id(request.headers());
    // The route, not the path: query strings carry OAuth state and PKCE challenges, paths a
    // device's id (named by `device` where a handler knows it).
    // Its own target, at debug: a live span costs about 5 % of a TurnOn (its fields are
    // formatted for every request), so only JSON logs turn it on by default (crate::logs).
    // Strings, not Display (a profile put `record_debug` at 1.3 % of TurnOn's CPU).
    let span = tracing::debug_span!(
        target: crate::logs::REQUEST_TARGET,
        "request",
        id = id.as_str(),
        route,
        user = tracing::field::Empty,
        device = tracing::field::Empty,
    );
    async move {
        let mut response = match whole_body_in_time(request, limits).await {
            Ok(mut request) => {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(app, request).await?
            }
            Err(answer) => answer,
        };
        if https {
            response.headers_mut().insert(
                axum::http::header::STRICT_TRANSPORT_SECURITY,
                axum::http::HeaderValue::from_static(HSTS),
            );
        }
        if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, v);
        }
        if response.status().is_server_error() {
            tracing::warn!(status = %response.status(), "a request failed on the server side");
        }
        crate::metrics::http_request(route, &method, response.status(), started.elapsed());
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The header a request's id travels in, both ways.
const REQUEST_ID: &str = "x-request-id";

/// The caller's request id when it is a sane one (a proxy's, so that both logs agree: up to 64
/// visible ASCII characters), or a new one.
fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// The HSTS value rask sends when it serves HTTPS itself: a year, as browsers expect.
const HSTS: &str = "max-age=31536000";

/// Serves `app` until `shutdown` resolves: HTTPS with `tls`, plain HTTP without. Handlers get
/// the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let https = tls.is_some();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors, say: pause instead of spinning on the error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (app, acceptor) = (app.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match acceptor {
                Some(acceptor) => {
                    if let Some(tls) = rask_sim::tls::accept(&acceptor, stream, peer, limits.header).await {
                        connection(TokioIo::new(tls), peer, app, limits, https).await;
                    }
                }
                None => {
                    // hyper's timers start once it has chosen a protocol: a peer that sends
                    // nothing must be closed before that.
                    let mut first = [0u8; 1];
                    if matches!(tokio::time::timeout(limits.header, stream.peek(&mut first)).await, Ok(Ok(n)) if n > 0)
                    {
                        connection(TokioIo::new(stream), peer, app, limits, https).await;
                    }
                }
            }
        });
    }
}

async fn connection<I>(io: TokioIo<I>, peer: SocketAddr, app: Router, limits: Limits, https: bool)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        handle(app.clone(), request, peer, limits, https)
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header)
        .keep_alive_timeout(limits.header);
    let _ = builder.serve_connection_with_upgrades(io, service).await;
}
