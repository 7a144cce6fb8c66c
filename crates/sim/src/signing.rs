//! Signing custom-skill requests as Alexa does: `Signature-256`, an RSA PKCS#1 v1.5 SHA-256
//! signature over the exact body bytes, and `SignatureCertChainUrl`, a URL under Amazon's rules
//! (`https://s3.amazonaws.com/echo.api/…`) naming the PEM chain of an `echo-api.amazon.com`
//! certificate.
//!
//! The chain comes from the sim's own signing root, made at start, never Amazon's: a skill
//! trusts it only when told to (its root is at `GET /sim/signing-root.pem`), and fetches the
//! chain from the sim (`GET /echo.api/{name}`) by a configured mirror instead of from S3. The
//! RSA key is made once per process (ring signs with RSA but cannot make keys; the `rsa` crate
//! makes it), the root and certificate once per simulator.

use std::sync::OnceLock;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use thiserror::Error;

/// The name on Alexa's signing certificate.
pub const SIGNER_NAME: &str = "echo-api.amazon.com";

/// Amazon's host and path for signing chains.
pub const CERT_URL_BASE: &str = "https://s3.amazonaws.com/echo.api/";

/// The signing key or certificates could not be made.
#[derive(Debug, Clone, Error)]
#[error("the sim's Alexa signing identity could not be made: {0}")]
pub struct SigningError(String);

/// The sim's Alexa signing identity.
pub struct Signer {
    key: ring::signature::RsaKeyPair,
    chain_pem: String,
    root_pem: String,
    root_der: Vec<u8>,
    name: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The process's RSA key, PKCS#8 DER.
fn process_key() -> Result<&'static [u8], SigningError> {
    static KEY: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| e.to_string())?;
        let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
        Ok(der.as_bytes().to_vec())
    })
    .as_deref()
    .map_err(|e| SigningError(e.clone()))
}

fn fail(e: impl std::fmt::Display) -> SigningError {
    SigningError(e.to_string())
}

impl Signer {
    /// A new root, and an `echo-api.amazon.com` certificate from it valid for a year.
    pub fn generate() -> Result<Signer, SigningError> {
        let key_der = process_key()?;
        let now = time::OffsetDateTime::now_utc();
        let mut root = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.distinguished_name
            .push(DnType::CommonName, "rask sim Alexa signing root (not Amazon's)");
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        root.not_before = now - time::Duration::days(1);
        root.not_after = now + time::Duration::days(366);
        let root = CertifiedIssuer::self_signed(root, KeyPair::generate().map_err(fail)?).map_err(fail)?;
        let mut end = CertificateParams::new(vec![SIGNER_NAME.to_owned()]).map_err(fail)?;
        end.distinguished_name.push(DnType::CommonName, SIGNER_NAME);
        end.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        end.not_before = now - time::Duration::days(1);
        end.not_after = now + time::Duration::days(365);
        let end_key = KeyPair::try_from(key_der).map_err(fail)?;
        let end = end.signed_by(&end_key, &root).map_err(fail)?;
        let key = ring::signature::RsaKeyPair::from_pkcs8(key_der).map_err(fail)?;
        Ok(Signer {
            key,
            chain_pem: format!("{}{}", end.pem(), root.pem()),
            root_pem: root.pem(),
            root_der: root.der().to_vec(),
            name: format!("rask-sim-{}.pem", uuid::Uuid::new_v4().simple()),
        })
    }

    /// `SignatureCertChainUrl`: obeys Amazon's rules; served by the sim at the same path.
    pub fn cert_url(&self) -> String {
        format!("{CERT_URL_BASE}{}", self.name)
    }

    /// The chain's file name under `/echo.api/`.
    pub fn chain_name(&self) -> &str {
        &self.name
    }

    /// The chain, PEM: the signer's certificate, then the root.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The root a skill must trust to accept the sim's requests, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The same root, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// `Signature-256` for `body`: base64 of the RSA PKCS#1 v1.5 SHA-256 signature.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut sig = vec![0; self.key.public().modulus_len()];
        // Signing fails only with a key ring refused at load, which `generate` would have
        // reported; an empty signature then is one the skill refuses, as it should.
        if self
            .key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                body,
                &mut sig,
            )
            .is_err()
        {
            sig.clear();
        }
        base64::engine::general_purpose::STANDARD.encode(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_certificates_key_and_the_url_obeys_amazons_rules() {
        let s = Signer::generate().unwrap();
        let body = br#"{"version":"1.0"}"#;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(s.sign(body))
            .unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            s.key.public().as_ref().to_vec(),
        );
        assert!(public.verify(body, &sig).is_ok());
        assert!(public.verify(b"another body", &sig).is_err());
        assert!(
            s.cert_url()
                .starts_with("https://s3.amazonaws.com/echo.api/rask-sim-")
        );
        assert!(s.chain_pem().matches("BEGIN CERTIFICATE").count() == 2);
        // Two simulators in one process: one key, two roots.
        let t = Signer::generate().unwrap();
        assert_ne!(s.root_der(), t.root_der());
    }
}
