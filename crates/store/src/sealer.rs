//! Encryption at rest for secrets rask must be able to read back (users' LWA tokens):
//! XChaCha20-Poly1305 with a random nonce per value, the row's identity as associated data so
//! a sealed value cannot be moved to another row.
//!
//! The 32-byte key comes from `RASK_SECRET_KEY` (base64) or a key file, created with mode 0600
//! at first start. Losing the key loses the grants (users re-enable the skill); it is never
//! logged and never stored in the database.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Why a key or a sealed value is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key is not 32 bytes of base64.
    #[error("the secret key must be 32 bytes, base64-encoded ({0})")]
    BadKey(String),
    /// The key file could not be read or made.
    #[error("the key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    /// The value was not sealed with this key for this row, or was altered.
    #[error("a sealed value could not be opened: wrong key, or the value was altered")]
    Open,
}

/// Seals and opens values with one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([key redacted])")
    }
}

impl Sealer {
    /// A sealer with a base64 key.
    pub fn from_base64(key: &str) -> Result<Sealer, SealError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|e| SealError::BadKey(e.to_string()))?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey(format!("it is {} bytes", bytes.len())));
        }
        Ok(Sealer {
            cipher: XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|e| SealError::BadKey(e.to_string()))?,
        })
    }

    /// The key from `RASK_SECRET_KEY`, else from `path`, made (mode 0600) if missing.
    pub fn from_env_or_file(path: &Path) -> Result<Sealer, SealError> {
        if let Ok(k) = std::env::var("RASK_SECRET_KEY") {
            return Self::from_base64(&k);
        }
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(k) => Self::from_base64(&k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng));
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| SealError::KeyFile(shown.clone(), e))?;
                }
                write_private(path, &key).map_err(|e| SealError::KeyFile(shown, e))?;
                Self::from_base64(&key)
            }
            Err(e) => Err(SealError::KeyFile(shown, e)),
        }
    }

    /// Seals `plain` for the row named `row`.
    pub fn seal(&self, row: &str, plain: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: row.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    /// Opens a value sealed for the row named `row`.
    pub fn open(&self, row: &str, sealed: &str) -> Result<String, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
        if bytes.len() < 24 {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: row.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain).map_err(|_| SealError::Open)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_refuse_tampering() {
        let s = Sealer::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = s.seal("grant:alice", "Atza|secret-token");
        assert!(!sealed.contains("Atza"));
        assert_ne!(
            sealed,
            s.seal("grant:alice", "Atza|secret-token"),
            "a fresh nonce each time"
        );
        assert_eq!(s.open("grant:alice", &sealed).unwrap(), "Atza|secret-token");
        assert!(
            matches!(s.open("grant:bob", &sealed), Err(SealError::Open)),
            "bound to its row"
        );
        let other = Sealer::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(matches!(other.open("grant:alice", &sealed), Err(SealError::Open)));
        assert!(matches!(s.open("grant:alice", "AAAA"), Err(SealError::Open)));
        assert!(matches!(
            Sealer::from_base64("c2hvcnQ="),
            Err(SealError::BadKey(_))
        ));
        assert_eq!(format!("{s:?}"), "Sealer([key redacted])");
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_made_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        // Only when the environment does not name a key.
        if std::env::var("RASK_SECRET_KEY").is_ok() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("rask-sealer-{}", std::process::id()));
        let path = dir.join("secret.key");
        let a = Sealer::from_env_or_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = Sealer::from_env_or_file(&path).unwrap();
        assert_eq!(
            b.open("r", &a.seal("r", "x")).unwrap(),
            "x",
            "the same key the second time"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
