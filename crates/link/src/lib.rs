//! Account linking: rask's own OAuth 2.0 authorization server, the one Alexa's account
//! linking talks to (RFC 6749 authorization-code grant, PKCE S256, refresh tokens, RFC 7009
//! revocation), and the [`Validator`] that turns a directive's bearer token into a user.
//!
//! - [`authorize`]: reading and judging an authorization request, as plain decisions;
//! - [`pkce`], [`password`], [`secret`], [`ratelimit`]: the small pieces with one job each;
//! - [`pages`]: the login, consent and error pages (server-rendered, no JavaScript);
//! - [`web`]: the HTTP routes `/oauth/authorize`, `/oauth/token`, `/oauth/revoke`;
//! - [`journal`]: the linking log, so that a failing link is never a black box.
//!
//! Codes and tokens are 256 random bits, stored only as SHA-256 digests; client secrets and
//! passwords are compared in constant time and never logged.

pub mod authorize;
pub mod config;
pub mod journal;
pub mod pages;
pub mod password;
pub mod pkce;
pub mod ratelimit;
pub mod secret;
mod validator;
pub mod web;

pub use config::{ClientAuth, ClientConfig, LinkConfig};
pub use validator::{Audience, CACHE_LIFE, TokenProblem, Validator};
pub use web::{Linking, router};

/// 256 bits from the OS, URL-safe: codes, tokens, session ids, CSRF tokens.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::{RngCore, TryRngCore};
    let mut b = [0u8; 32];
    if rand::rngs::OsRng.try_fill_bytes(&mut b).is_err() {
        // The thread RNG is a CSPRNG seeded from the OS: a fine fallback if getrandom hiccups.
        rand::rng().fill_bytes(&mut b);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
