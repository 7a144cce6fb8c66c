//! Behind a reverse proxy, every connection comes from the proxy. For the proxies listed in
//! `server.trusted_proxies`, rask takes the client's address from `X-Forwarded-For` instead, so
//! that login rate limits and the linking log see the person, not the proxy. Only the address
//! is taken: the scheme and host rask advertises come from `server.public_url`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// The trusted proxies.
#[derive(Clone, Debug)]
pub struct TrustedProxies(Arc<Vec<IpAddr>>);

impl TrustedProxies {
    /// Trusts `proxies`.
    pub fn new(proxies: Vec<IpAddr>) -> Self {
        // `::ffff:10.0.0.1` in the config is the IPv4 address that peers are compared as.
        TrustedProxies(Arc::new(proxies.into_iter().map(|p| p.to_canonical()).collect()))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|p| *p == ip.to_canonical())
    }

    /// The client behind `peer`: walking `X-Forwarded-For` from the right (the entry the
    /// nearest proxy added) past trusted proxies, the first address that is not one. A header
    /// from an untrusted peer is ignored: anyone can write it.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for
            .iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                // An unreadable entry: stop at the last address that could be trusted.
                Err(_) => break,
            }
        }
        client
    }
}

/// Set on a request whose peer is a trusted proxy. `named` when its `X-Forwarded-For` named a
/// client other than the proxies; when not, the client is unknown (a proxy that adds no
/// header, or a header a client made up naming a proxy): such a request is never taken for a
/// local one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViaProxy {
    /// Whether the header named the client.
    pub named: bool,
}

/// Middleware: rewrites `ConnectInfo` to the forwarded client when the peer is trusted.
pub async fn forwarded_client(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let headers: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client = proxies.client(peer.ip(), &headers);
        if proxies.trusts(peer.ip()) {
            let named = !proxies.trusts(client);
            request.extensions_mut().insert(ViaProxy { named });
        }
        if client != peer.ip() {
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client, 0)));
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let p = TrustedProxies::new(vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        assert_eq!(p.client(ip("203.0.113.9"), &["198.51.100.1"]), ip("203.0.113.9"));
        assert_eq!(p.client(ip("10.0.0.1"), &["198.51.100.1"]), ip("198.51.100.1"));
        // A client that writes its own header cannot hide behind it.
        assert_eq!(
            p.client(ip("10.0.0.1"), &["1.2.3.4, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Two trusted proxies in a row.
        assert_eq!(
            p.client(ip("10.0.0.1"), &["198.51.100.1", "10.0.0.2"]),
            ip("198.51.100.1")
        );
        assert_eq!(p.client(ip("10.0.0.1"), &[]), ip("10.0.0.1"));
        assert_eq!(
            p.client(ip("::ffff:10.0.0.1"), &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(p.client(ip("10.0.0.1"), &["garbage"]), ip("10.0.0.1"));
        let mapped = TrustedProxies::new(vec![ip("::ffff:127.0.0.1")]);
        assert_eq!(
            mapped.client(ip("127.0.0.1"), &["198.51.100.8"]),
            ip("198.51.100.8")
        );
    }
}
