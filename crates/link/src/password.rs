//! Passwords: argon2id with the crate's recommended parameters, PHC strings at rest.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

/// Why a password cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short to be worth having.
    #[error("the password must be at least {0} characters")]
    TooShort(usize),
    /// Hashing failed.
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// The shortest password `rask user add` accepts.
pub const MIN_LENGTH: usize = 8;

/// The argon2id PHC string of `password`.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort(MIN_LENGTH));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string (false for a malformed one).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the user does not exist, so that a wrong user name takes as
/// long as a wrong password and does not reveal which names exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not a real password at all").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse", &h));
        assert!(!verify("x", "not a phc string"));
        assert!(matches!(hash("short"), Err(PasswordError::TooShort(8))));
    }
}
