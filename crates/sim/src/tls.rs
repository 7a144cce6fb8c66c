//! HTTPS for the simulator. Amazon's APIs are HTTPS only, and some clients (Amazon's own
//! Python SDK among them) refuse plain HTTP; so the sim can serve TLS with a certificate given
//! to it or one it makes at start, signed by a throwaway local CA whose PEM the caller hands to
//! its clients as their trust root.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Making the certificate failed.
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The certificate or key could not be read.
    #[error("cannot read the certificate or key: {0}")]
    Pem(String),
    /// rustls refused the certificate and key.
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A certificate chain and its key, PEM-encoded.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The server certificate followed by its issuers.
    pub cert_chain_pem: String,
    /// The private key.
    pub key_pem: String,
    /// For a generated identity: the local CA that clients should trust.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A fresh local CA and a server certificate it signs for `hosts` (names or IP addresses).
    pub fn generate(hosts: &[String]) -> Result<Self, TlsError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "rask sim local CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(hosts.to_vec())?;
        params.distinguished_name.push(
            DnType::CommonName,
            hosts.first().map(String::as_str).unwrap_or("localhost"),
        );
        let cert = params.signed_by(&key, &ca)?;
        Ok(TlsIdentity {
            cert_chain_pem: format!("{}{}", cert.pem(), ca.pem()),
            key_pem: key.serialize_pem(),
            ca_pem: Some(ca.pem()),
        })
    }

    /// A certificate chain and key from PEM text.
    pub fn from_pem(cert_chain_pem: String, key_pem: String) -> Self {
        TlsIdentity {
            cert_chain_pem,
            key_pem,
            ca_pem: None,
        }
    }

    /// The rustls server configuration (ring; HTTP/1.1 and HTTP/2).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let certs = rustls_pemfile::certs(&mut self.cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::Pem("no certificate in the certificate file".into()));
        }
        let key = rustls_pemfile::private_key(&mut self.key_pem.as_bytes())
            .map_err(|e| TlsError::Pem(e.to_string()))?
            .ok_or_else(|| TlsError::Pem("no private key in the key file".into()))?;
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// How long a client may take to open TLS, or to send a request's headers, before its
/// connection is closed: a client that connects and stays silent must not hold a slot.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Most connections served at once; further clients wait in the listen queue rather than
/// exhausting the process's file descriptors.
const MAX_CONNECTIONS: usize = 1024;

/// What a client that speaks plain HTTP to the TLS port is told before the connection closes.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 45\r\n\r\nThis port speaks HTTPS: use an https:// URL.\n";

/// Serves `app` over TLS until `shutdown` resolves, giving handlers the peer's address as
/// `ConnectInfo<SocketAddr>`. A client speaking plain HTTP is answered 400 with a line saying
/// to use HTTPS; one that does not complete the handshake, or send its request headers, in
/// time is closed; neither affects other connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(config);
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
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Some(tls) = accept(&acceptor, stream, peer, HANDSHAKE_TIMEOUT).await else {
                return;
            };
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    tower::ServiceExt::oneshot(app.clone(), request)
                });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT);
            builder
                .http2()
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(HANDSHAKE_TIMEOUT)
                .keep_alive_timeout(HANDSHAKE_TIMEOUT);
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// Opens TLS on an accepted connection within `timeout`: `None` when the peer spoke plain HTTP
/// (answered with [`PLAIN_HTTP_ANSWER`]), failed the handshake, or took too long.
pub async fn accept(
    acceptor: &TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    tokio::time::timeout(timeout, async {
        // A TLS connection opens with a handshake record (0x16); anything else is most likely
        // plain HTTP sent to the wrong scheme.
        let mut first = [0u8; 1];
        if matches!(stream.peek(&mut first).await, Ok(1) if first[0] != 0x16) {
            refuse_plain_http(stream).await;
            return None;
        }
        acceptor
            .accept(stream)
            .await
            .map_err(|e| tracing::debug!(%peer, error = %e, "TLS handshake failed"))
            .ok()
    })
    .await
    .ok()
    .flatten()
}

/// Answers a plain-HTTP client with [`PLAIN_HTTP_ANSWER`]. Its request is read and dropped
/// (briefly) before closing: closing with unread data would make the kernel reset the
/// connection, which can destroy the answer before the client reads it.
async fn refuse_plain_http(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let mut read = 0;
        while read < 64 * 1024 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}
