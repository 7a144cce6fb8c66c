//! For tests: certificates made here, bodies signed as Alexa signs them, a chain served on
//! loopback, a clock stopped at a date. The RSA keys are fixtures (`testdata/`, made with
//! openssl for these tests only): ring signs with RSA but cannot make RSA keys.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) const CA_KEY: &str = include_str!("testdata/ca.key.pem");
pub(crate) const SIGNER_KEY: &str = include_str!("testdata/signer.key.pem");
pub(crate) const STRANGER_KEY: &str = include_str!("testdata/stranger.key.pem");

pub(crate) const CERT_URL: &str = "https://s3.amazonaws.com/echo.api/echo-api-cert-12.pem";

pub(crate) struct Pki {
    pub(crate) ca_der: Vec<u8>,
    pub(crate) chain_pem: String,
}

/// A CA with `ca_key`, and a signer certificate for `name` valid from 2026-01-01 to 2027-01-01.
pub(crate) fn pki(name: &str, ca_key: &str, signer_key: &str) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test root");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    ca.not_before = rcgen::date_time_ymd(2025, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::from_pem(ca_key).unwrap()).unwrap();
    let mut end = CertificateParams::new(vec![name.to_owned()]).unwrap();
    end.distinguished_name.push(DnType::CommonName, name);
    end.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    end.not_before = rcgen::date_time_ymd(2026, 1, 1);
    end.not_after = rcgen::date_time_ymd(2027, 1, 1);
    let end = end
        .signed_by(&KeyPair::from_pem(signer_key).unwrap(), &ca)
        .unwrap();
    Pki {
        ca_der: ca.der().to_vec(),
        chain_pem: format!("{}{}", end.pem(), ca.pem()),
    }
}

pub(crate) fn sign(key_pem: &str, body: &[u8]) -> String {
    let der = rustls_pemfile::pkcs8_private_keys(&mut key_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        body,
        &mut sig,
    )
    .unwrap();
    base64::engine::general_purpose::STANDARD.encode(sig)
}

/// Serves `chain` at every path on loopback; counts fetches.
pub(crate) async fn mirror(chain: String) -> (Url, Arc<AtomicUsize>) {
    slow_mirror(chain, std::time::Duration::ZERO).await
}

/// A mirror that takes `delay` to answer each fetch.
pub(crate) async fn slow_mirror(chain: String, delay: std::time::Duration) -> (Url, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let app = axum::Router::new().fallback(move || {
        let chain = chain.clone();
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            chain
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/mirror").parse().unwrap(), fetches)
}

pub(crate) fn at(y: i32, m: u8, d: u8) -> Clock {
    let t = time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d)
        .unwrap()
        .midnight()
        .assume_utc();
    let t = SystemTime::from(t);
    Arc::new(move || t)
}

pub(crate) async fn verifier(p: &Pki, clock: Clock) -> (Verifier, Arc<AtomicUsize>) {
    let (url, fetches) = mirror(p.chain_pem.clone()).await;
    let v = Verifier::amazon()
        .only_roots(std::slice::from_ref(&p.ca_der))
        .unwrap()
        .mirror(url)
        .clock(clock);
    (v, fetches)
}
