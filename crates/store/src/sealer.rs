//! Encryption at rest for secrets rask must be able to read back (users' LWA tokens):
//! XChaCha20-Poly1305 with a random nonce per value, the row's identity as associated data so
//! a sealed value cannot be moved to another row.
//!
//! The 32-byte key comes from `RASK_SECRET_KEY` (base64) or a key file, created with mode 0600
//! at the first start on an empty store. Losing the key loses the grants (users re-enable the
//! skill); it is never logged and never stored in the database. The database keeps one value
//! sealed with it (`sealing_check`), so that [`Store::sealer`] refuses a key that is missing or
//! another one, naming the file and the grants it cannot open, instead of making a new key
//! that silently orphans them (another working directory, a second instance on the same
//! PostgreSQL database without a copy of the key).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::db::{Store, StoreError};

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

    /// The key from `RASK_SECRET_KEY`, else from `path`; `None` when neither is there. Never
    /// makes a key: [`Store::sealer`] decides whether one may be made.
    pub fn existing(path: &Path) -> Result<Option<Sealer>, SealError> {
        // A bad key names where it came from: the variable overrides the file silently.
        let from = |source: &str, k: &str| {
            Self::from_base64(k).map(Some).map_err(|e| match e {
                SealError::BadKey(why) => SealError::BadKey(format!("{why}, in {source}")),
                other => other,
            })
        };
        if let Ok(k) = std::env::var("RASK_SECRET_KEY") {
            return from("RASK_SECRET_KEY", &k);
        }
        match std::fs::read_to_string(path) {
            Ok(k) => from(&path.display().to_string(), &k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SealError::KeyFile(path.display().to_string(), e)),
        }
    }

    /// Makes a new key at `path` (mode 0600); fails if a file is there already.
    fn create(path: &Path) -> Result<Sealer, SealError> {
        let shown = path.display().to_string();
        let key = STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SealError::KeyFile(shown.clone(), e))?;
        }
        write_private(path, &key).map_err(|e| SealError::KeyFile(shown, e))?;
        Self::from_base64(&key)
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

/// Why the sealing key cannot be used with this database.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key could not be read or made.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key is there but is not the one this database was sealed with.
    #[error(
        "{key} is not the key this database was sealed with: it opens {opened} of the {grants} stored grants \
         ({unopened} cannot be opened). Use the key file the first rask instance made (several instances share \
         one key: docs/deploy.md), or set RASK_SECRET_KEY to it; rask does not start with another key, which would \
         orphan every stored grant"
    )]
    Wrong {
        /// The key file, or `RASK_SECRET_KEY`.
        key: String,
        /// Grants stored.
        grants: usize,
        /// Those the key opens.
        opened: usize,
        /// Those it cannot open.
        unopened: usize,
    },
    /// There is no key, but the database holds values sealed with one.
    #[error(
        "there is no key at {path} (nor RASK_SECRET_KEY), but this database was sealed with one and holds \
         {grants} grants it alone opens. Put that key file at {path} (alexa.secret_key_file), or set \
         RASK_SECRET_KEY; rask makes a new key only for an empty database"
    )]
    Missing {
        /// Where the key was looked for.
        path: String,
        /// Grants stored.
        grants: usize,
    },
}

/// The row name under which the check value is sealed.
const CHECK_ROW: &str = "sealing_check";
const CHECK_PLAIN: &str = "rask sealing key check";

impl Store {
    /// The sealer for this database: the key from `RASK_SECRET_KEY` or `path`, which must open
    /// the database's sealed check value (and so its grants). A key is made at `path` only
    /// for a database that holds nothing sealed yet; a missing or different key is refused,
    /// naming the file and the grants it cannot open.
    pub async fn sealer(&self, path: &Path) -> Result<Sealer, KeyError> {
        let source = if std::env::var("RASK_SECRET_KEY").is_ok() {
            "RASK_SECRET_KEY".to_owned()
        } else {
            format!("the key file {}", path.display())
        };
        let existing = Sealer::existing(path)?;
        let check = self.sealing_check().await?;
        let sealer = match (existing, check) {
            (Some(s), Some(check)) => {
                if s.open(CHECK_ROW, &check).is_err() {
                    return Err(self.wrong_key(&s, source).await?);
                }
                return Ok(s);
            }
            (Some(s), None) => {
                // A database from before the check, or a first start with a key given.
                let (grants, opened) = self.grants_opened(&s).await?;
                if grants > 0 && opened == 0 {
                    return Err(self.wrong_key(&s, source).await?);
                }
                s
            }
            (None, check) => {
                let grants = self.grant_count().await?;
                if check.is_some() || grants > 0 {
                    return Err(KeyError::Missing {
                        path: path.display().to_string(),
                        grants,
                    });
                }
                Sealer::create(path)?
            }
        };
        // The first to write the check wins; an instance that raced it with another key finds
        // out here rather than after sealing grants nobody else can open.
        sqlx::query("INSERT INTO sealing_check (id, sealed, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(sealer.seal(CHECK_ROW, CHECK_PLAIN))
            .bind(crate::now_ms())
            .execute(&self.writer)
            .await
            .map_err(StoreError::from)?;
        match self.sealing_check().await? {
            Some(check) if sealer.open(CHECK_ROW, &check).is_ok() => Ok(sealer),
            _ => Err(self.wrong_key(&sealer, source).await?),
        }
    }

    /// The key as it is, or `None` without one, never made and never checked: for commands
    /// that only read (`rask status`).
    pub fn existing_sealer(path: &Path) -> Result<Option<Sealer>, SealError> {
        Sealer::existing(path)
    }

    async fn sealing_check(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT sealed FROM sealing_check WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| sqlx::Row::try_get(&r, "sealed")).transpose()?)
    }

    async fn wrong_key(&self, sealer: &Sealer, source: String) -> Result<KeyError, StoreError> {
        let (grants, opened) = self.grants_opened(sealer).await?;
        Ok(KeyError::Wrong {
            key: source,
            grants,
            opened,
            unopened: grants - opened,
        })
    }

    async fn grant_count(&self) -> Result<usize, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM grants")
            .fetch_one(&self.pool)
            .await?;
        Ok(sqlx::Row::try_get::<i64, _>(&row, "n")? as usize)
    }

    /// How many grants are stored, and how many of them `sealer` opens.
    pub async fn grants_opened(&self, sealer: &Sealer) -> Result<(usize, usize), StoreError> {
        let rows = sqlx::query("SELECT user_id, access_token_sealed FROM grants")
            .fetch_all(&self.pool)
            .await?;
        let mut opened = 0;
        for r in &rows {
            let user: String = sqlx::Row::try_get(r, "user_id")?;
            let sealed: String = sqlx::Row::try_get(r, "access_token_sealed")?;
            if sealer.open(&format!("grant:{user}:access"), &sealed).is_ok() {
                opened += 1;
            }
        }
        Ok((rows.len(), opened))
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
    #[tokio::test]
    async fn a_key_is_made_once_for_an_empty_store_and_never_replaced() {
        use std::os::unix::fs::PermissionsExt;
        // Only when the environment does not name a key.
        if std::env::var("RASK_SECRET_KEY").is_ok() {
            return;
        }
        for store in crate::testing::both().await {
            let dir = std::env::temp_dir().join(format!("rask-sealer-{}", uuid::Uuid::new_v4()));
            let path = dir.join("secret.key");
            let a = store.sealer(&path).await.unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let b = store.sealer(&path).await.unwrap();
            assert_eq!(
                b.open("r", &a.seal("r", "x")).unwrap(),
                "x",
                "the same key the second time"
            );
            store.add_user("u1", "alice", "h").await.unwrap();
            store
                .save_grant(&a, "u1", "NA", "Atza|a", "Atzr|r", 1)
                .await
                .unwrap();

            // Another working directory: no key there. Refused, and no key is made.
            let elsewhere = dir.join("elsewhere").join("secret.key");
            let e = store.sealer(&elsewhere).await.unwrap_err();
            assert!(matches!(e, KeyError::Missing { grants: 1, .. }), "{e}");
            assert!(e.to_string().contains(&elsewhere.display().to_string()), "{e}");
            assert!(!elsewhere.exists(), "no new key beside a sealed store");

            // Another key: refused, naming the file and the grant it cannot open.
            let other = dir.join("other.key");
            std::fs::write(&other, STANDARD.encode([9u8; 32])).unwrap();
            let e = store.sealer(&other).await.unwrap_err();
            assert!(
                matches!(
                    e,
                    KeyError::Wrong {
                        grants: 1,
                        unopened: 1,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(e.to_string().contains("other.key"), "{e}");
            // The right key still works.
            store.sealer(&path).await.unwrap();
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
