//! Amazon's request verification for skills hosted as a web service (ALEXA-FACTS §9):
//!
//! 1. `SignatureCertChainUrl` obeys Amazon's rules ([`cert_url`]);
//! 2. the PEM chain there is fetched (with a timeout and a size cap), its end certificate valid
//!    now, named `echo-api.amazon.com`, and chained to a trusted root; the verified chain is
//!    cached per URL until its first certificate expires (a bounded cache);
//! 3. `Signature-256` is an RSA PKCS#1 v1.5 SHA-256 signature over the raw body, by that
//!    certificate's key (the SHA-1 `Signature` header is never used);
//! 4. `request.timestamp` is within 150 s of now (an hour for `AlexaSkillEvent.*`, which
//!    Alexa may send late).
//!
//! The application id is the skill's check ([`crate::service`]), made whether or not
//! signatures are verified.

pub mod cert_url;
mod der;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rask_model::custom::RequestEnvelope;
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use thiserror::Error;
use url::Url;

pub use cert_url::CertUrlError;

/// The name Amazon's signing certificate must carry.
pub const SIGNER_NAME: &str = "echo-api.amazon.com";

/// How far a request's timestamp may be from now.
pub const TOLERANCE: Duration = Duration::from_secs(150);

/// How far an `AlexaSkillEvent.*` request's timestamp may be from now.
pub const SKILL_EVENT_TOLERANCE: Duration = Duration::from_secs(3600);

/// The largest certificate chain fetched.
const MAX_CHAIN_BYTES: usize = 64 * 1024;

/// How long fetching a chain may take: Alexa waits 8 s for the whole answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// How many chains are cached (Amazon uses one or two at a time).
const CACHE_ENTRIES: usize = 16;

/// How many chains are fetched at once: a fetch happens before anything is authenticated, so
/// strangers must not be able to make this server fetch without end.
const CONCURRENT_FETCHES: usize = 4;

/// How long a chain that could not be fetched or verified is not tried again: requests naming
/// it are refused at once meanwhile, so that a stranger repeating a bad URL makes one fetch,
/// not one per request. Short, so that Amazon's own chain after a hiccup is soon tried again.
const FAILED_HOLD: Duration = Duration::from_secs(5);

/// How many such failures are remembered.
const FAILED_ENTRIES: usize = 64;

/// Why a request was refused. The message never holds the body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// A header is missing.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// The certificate URL breaks Amazon's rules.
    #[error(transparent)]
    CertUrl(#[from] CertUrlError),
    /// The chain could not be fetched.
    #[error("the certificate chain could not be fetched: {0}")]
    Fetch(String),
    /// The chain is not a PEM certificate chain.
    #[error("the certificate chain holds no PEM certificate")]
    NoCertificate,
    /// The chain does not verify to a trusted root, or is not valid now.
    #[error("the certificate chain is not trusted: {0}")]
    Untrusted(String),
    /// The certificate is not Amazon's signer's.
    #[error("the signing certificate is not for {SIGNER_NAME}")]
    WrongName,
    /// The signature is not base64.
    #[error("Signature-256 is not base64")]
    SignatureEncoding,
    /// The signature does not match the body.
    #[error("Signature-256 does not match the body")]
    Signature,
    /// The timestamp is unreadable.
    #[error("request.timestamp is not an ISO 8601 time")]
    TimestampUnreadable,
    /// The timestamp is too far from now.
    #[error("request.timestamp is {seconds} s from now; at most {tolerance} s are allowed")]
    Timestamp {
        /// How far, in seconds.
        seconds: u64,
        /// The tolerance, in seconds.
        tolerance: u64,
    },
}

/// What tells the time; injectable for tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A verified chain, kept until its first certificate expires.
struct Verified {
    signer: CertificateDer<'static>,
    until: SystemTime,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Verifies requests; cheap to clone, one cache shared by clones.
#[derive(Clone)]
pub struct Verifier {
    roots: Arc<Vec<TrustAnchor<'static>>>,
    client: reqwest::Client,
    mirror: Option<Url>,
    clock: Clock,
    cache: Arc<Mutex<HashMap<String, Arc<Verified>>>>,
    /// Recent failures by URL: until when, and why.
    failed: Arc<Mutex<HashMap<String, (SystemTime, VerifyError)>>>,
    /// One fetch per URL at a time: the others wait for it and take what it cached.
    in_flight: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    fetches: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("roots", &self.roots.len())
            .field("mirror", &self.mirror.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Verifies as Amazon requires, trusting the public web's roots (Mozilla's, as webpki-roots
    /// carries them), fetching chains from Amazon.
    pub fn amazon() -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Verifier {
            roots: Arc::new(webpki_roots::TLS_SERVER_ROOTS.to_vec()),
            client,
            mirror: None,
            clock: Arc::new(SystemTime::now),
            cache: Default::default(),
            failed: Default::default(),
            in_flight: Default::default(),
            fetches: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_FETCHES)),
        }
    }

    /// A cache of its own: what was verified under other roots, or fetched from elsewhere,
    /// must not be taken as verified under these settings.
    fn fresh_cache(mut self) -> Self {
        self.cache = Default::default();
        self.failed = Default::default();
        self.in_flight = Default::default();
        self
    }

    /// Also trusts this root (DER), such as the simulator's CA.
    pub fn trust_root(mut self, der: &[u8]) -> Result<Self, VerifyError> {
        let der = CertificateDer::from(der.to_vec());
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|e| VerifyError::Untrusted(format!("the extra root cannot be read: {e}")))?
            .to_owned();
        Arc::make_mut(&mut self.roots).push(anchor);
        Ok(self.fresh_cache())
    }

    /// Also trusts every certificate in `pem` as a root, such as a simulator's
    /// `/sim/signing-root.pem`.
    pub fn trust_root_pem(mut self, pem: &[u8]) -> Result<Self, VerifyError> {
        let roots: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<_, _>>()
            .map_err(|_| VerifyError::NoCertificate)?;
        if roots.is_empty() {
            return Err(VerifyError::NoCertificate);
        }
        for root in roots {
            self = self.trust_root(&root)?;
        }
        Ok(self)
    }

    /// Trusts only the given roots (DER), and not the public web's.
    pub fn only_roots(mut self, ders: &[Vec<u8>]) -> Result<Self, VerifyError> {
        self.roots = Arc::new(Vec::new());
        self = self.fresh_cache();
        for der in ders {
            self = self.trust_root(der)?;
        }
        Ok(self)
    }

    /// Fetches chains from `mirror` instead of Amazon: the URL's path is appended to it (the
    /// simulator serves its chain so). The URL rules are still checked on the original.
    pub fn mirror(mut self, mirror: Url) -> Self {
        self.mirror = Some(mirror);
        self.fresh_cache()
    }

    /// Tells the time with `clock`.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Fetches chains with `client` (its timeout should stay well inside Alexa's 8 s).
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self.fresh_cache()
    }

    /// Checks the signature headers against the raw body.
    pub async fn verify_signature(
        &self,
        cert_url: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        let cert_url = cert_url.ok_or(VerifyError::MissingHeader("SignatureCertChainUrl"))?;
        let signature = signature.ok_or(VerifyError::MissingHeader("Signature-256"))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| VerifyError::SignatureEncoding)?;
        // Alexa's own spelling is already normalised, so it is a cache key as it comes: a chain
        // cached under it has passed the URL rules (keys are only URLs that did), and the parse
        // is skipped (2 % of a verified request's CPU).
        let verified = match self.cached(cert_url, (self.clock)()) {
            Some(v) => v,
            None => self.chain(&cert_url::check(cert_url)?).await?,
        };
        let signer = webpki::EndEntityCert::try_from(&verified.signer)
            .map_err(|e| VerifyError::Untrusted(e.to_string()))?;
        signer
            .verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, body, &signature)
            .map_err(|_| VerifyError::Signature)
    }

    /// Checks `request.timestamp` against the clock.
    pub fn check_timestamp(&self, envelope: &RequestEnvelope) -> Result<(), VerifyError> {
        let at = time::OffsetDateTime::parse(
            &envelope.request.timestamp,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| VerifyError::TimestampUnreadable)?;
        let now = time::OffsetDateTime::from((self.clock)());
        let seconds = (now - at).whole_seconds().unsigned_abs();
        let tolerance = if envelope.request.body.kind().starts_with("AlexaSkillEvent.") {
            SKILL_EVENT_TOLERANCE
        } else {
            TOLERANCE
        };
        if seconds > tolerance.as_secs() {
            return Err(VerifyError::Timestamp {
                seconds,
                tolerance: tolerance.as_secs(),
            });
        }
        Ok(())
    }

    fn cached(&self, key: &str, now: SystemTime) -> Option<Arc<Verified>> {
        self.cache_lock().get(key).filter(|v| v.until > now).cloned()
    }

    async fn chain(&self, url: &Url) -> Result<Arc<Verified>, VerifyError> {
        let key = url.as_str().to_owned();
        if let Some(v) = self.cached(&key, (self.clock)()) {
            return Ok(v);
        }
        let gate = lock(&self.in_flight).entry(key.clone()).or_default().clone();
        let outcome = {
            let _turn = gate.lock().await;
            self.fetch_and_verify(url, &key).await
        };
        {
            // The map's and ours: nobody else waits on this URL.
            let mut in_flight = lock(&self.in_flight);
            if in_flight.get(&key).is_some_and(|g| Arc::strong_count(g) <= 2) {
                in_flight.remove(&key);
            }
        }
        outcome
    }

    async fn fetch_and_verify(&self, url: &Url, key: &str) -> Result<Arc<Verified>, VerifyError> {
        let now = (self.clock)();
        // Fetched, or failed, while this request waited its turn.
        if let Some(v) = self.cached(key, now) {
            return Ok(v);
        }
        if let Some((until, why)) = lock(&self.failed).get(key)
            && *until > now
        {
            return Err(why.clone());
        }
        let pem = {
            let _turn = self
                .fetches
                .acquire()
                .await
                .map_err(|_| VerifyError::Fetch("the verifier is shutting down".into()))?;
            self.fetch(url).await
        };
        let verified = match pem.and_then(|pem| self.verify_chain(&pem, now)) {
            Ok(v) => Arc::new(v),
            Err(e) => {
                let mut failed = lock(&self.failed);
                if failed.len() >= FAILED_ENTRIES {
                    failed.retain(|_, (until, _)| *until > now);
                    if failed.len() >= FAILED_ENTRIES
                        && let Some(first) =
                            failed.iter().min_by_key(|(_, (u, _))| *u).map(|(k, _)| k.clone())
                    {
                        failed.remove(&first);
                    }
                }
                failed.insert(key.to_owned(), (now + FAILED_HOLD, e.clone()));
                return Err(e);
            }
        };
        let mut cache = self.cache_lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, v| v.until > now);
            // Still full: the entry that expires first goes, not Amazon's current chain too.
            if cache.len() >= CACHE_ENTRIES
                && let Some(first) = cache.iter().min_by_key(|(_, v)| v.until).map(|(k, _)| k.clone())
            {
                cache.remove(&first);
            }
        }
        cache.insert(key.to_owned(), verified.clone());
        Ok(verified)
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Verified>>> {
        lock(&self.cache)
    }

    /// The chain's bytes, within [`FETCH_TIMEOUT`] whatever client was given.
    async fn fetch(&self, url: &Url) -> Result<Vec<u8>, VerifyError> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_unbounded(url))
            .await
            .unwrap_or_else(|_| {
                Err(VerifyError::Fetch(format!(
                    "the chain did not arrive within {} s",
                    FETCH_TIMEOUT.as_secs()
                )))
            })
    }

    async fn fetch_unbounded(&self, url: &Url) -> Result<Vec<u8>, VerifyError> {
        let from = match &self.mirror {
            Some(m) => format!("{}{}", m.as_str().trim_end_matches('/'), url.path()),
            None => url.to_string(),
        };
        let fail = |e: &dyn std::fmt::Display| {
            VerifyError::Fetch(rask_model::limits::logged(&e.to_string()).into_owned())
        };
        let mut response = self.client.get(&from).send().await.map_err(|e| fail(&e))?;
        if !response.status().is_success() {
            return Err(fail(&format!(
                "{} answered {}",
                url.host_str().unwrap_or(""),
                response.status()
            )));
        }
        let mut pem = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(&e))? {
            if pem.len() + chunk.len() > MAX_CHAIN_BYTES {
                return Err(fail(&format!("the chain is over {MAX_CHAIN_BYTES} bytes")));
            }
            pem.extend_from_slice(&chunk);
        }
        Ok(pem)
    }

    fn verify_chain(&self, pem: &[u8], now: SystemTime) -> Result<Verified, VerifyError> {
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<_, _>>()
            .map_err(|_| VerifyError::NoCertificate)?;
        let (signer, intermediates) = certs.split_first().ok_or(VerifyError::NoCertificate)?;
        let end =
            webpki::EndEntityCert::try_from(signer).map_err(|e| VerifyError::Untrusted(e.to_string()))?;
        let unix = UnixTime::since_unix_epoch(now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default());
        end.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.roots,
            intermediates,
            unix,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| VerifyError::Untrusted(e.to_string()))?;
        let name = ServerName::try_from(SIGNER_NAME).map_err(|_| VerifyError::WrongName)?;
        end.verify_is_valid_for_subject_name(&name)
            .map_err(|_| VerifyError::WrongName)?;
        // Kept until the first certificate in the file expires: never longer than the chain
        // webpki verified (a certificate whose date cannot be read counts as expiring now,
        // which costs a fetch per request, never a pass).
        let until = certs
            .iter()
            .map(|c| der::not_after(c).unwrap_or(now))
            .min()
            .unwrap_or(now);
        Ok(Verified {
            signer: signer.clone(),
            until,
        })
    }
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
