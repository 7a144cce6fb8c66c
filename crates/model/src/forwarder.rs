//! The forwarder's signature. Amazon calls a smart-home skill only through an AWS Lambda
//! function; rask's forwarder Lambda passes each directive on to the rask server and proves it
//! did so with an HMAC-SHA256 over the body, a timestamp, a nonce and the AWS region it runs in.
//! Signing the region matters: it decides which Event Gateway a user's events go to.
//!
//! The signed text is `v1\n{timestamp}\n{nonce}\n{region}\n{body}`; the signature header is
//! `v1=` and the lowercase hex of the MAC. rask accepts a timestamp within
//! [`REPLAY_WINDOW_SECONDS`] of its own clock and remembers nonces for that long, so a captured
//! request cannot be played again.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The AWS region the forwarder runs in (`us-east-1`, ...).
pub const REGION_HEADER: &str = "x-rask-region";
/// Seconds since the Unix epoch when the forwarder signed.
pub const TIMESTAMP_HEADER: &str = "x-rask-timestamp";
/// Unique per request (the Lambda request id).
pub const NONCE_HEADER: &str = "x-rask-nonce";
/// `v1=` and the hex HMAC-SHA256.
pub const SIGNATURE_HEADER: &str = "x-rask-signature";
/// How far a request's timestamp may be from rask's clock, either way.
pub const REPLAY_WINDOW_SECONDS: i64 = 300;
/// A shared secret shorter than this is refused: it could be guessed.
pub const MIN_SECRET_BYTES: usize = 32;

/// The signed headers of one forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// [`REGION_HEADER`].
    pub region: String,
    /// [`TIMESTAMP_HEADER`].
    pub timestamp: i64,
    /// [`NONCE_HEADER`].
    pub nonce: String,
    /// [`SIGNATURE_HEADER`].
    pub mac: String,
}

/// Why a forwarded request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A header is missing or unreadable.
    #[error("the forwarder header {0} is missing or unreadable")]
    Missing(&'static str),
    /// The timestamp is outside the replay window.
    #[error(
        "the forwarder signed {skew} s away from this server's clock (more than {REPLAY_WINDOW_SECONDS} s): a replay, or a clock to set right"
    )]
    Stale {
        /// Signing time minus now, in seconds.
        skew: i64,
    },
    /// The MAC does not match: another secret, or a changed body or header.
    #[error(
        "the forwarder signature does not match: the forwarder's RASK_FORWARDER_SECRET differs from rask's, or the request was altered"
    )]
    Mismatch,
    /// Too many requests inside the replay window to remember them all.
    #[error("too many forwarded requests inside the replay window; try again shortly")]
    Crowded,
    /// This nonce was already accepted.
    #[error("this forwarded request was already accepted once (nonce {0}): a replay")]
    Replayed(String),
}

fn mac(secret: &[u8], region: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(format!("v1\n{timestamp}\n{nonce}\n{region}\n").as_bytes());
    m.update(body);
    m
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Signature {
    /// Signs `body` as the forwarder in `region` at `timestamp`.
    pub fn sign(secret: &[u8], region: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Signature {
        let tag = mac(secret, region, timestamp, nonce, body)
            .finalize()
            .into_bytes();
        Signature {
            region: region.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            mac: format!("v1={}", hex(&tag)),
        }
    }

    /// Reads the four headers through `get` (a header map lookup by lowercase name).
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Signature, Refusal> {
        let need = |name: &'static str| get(name).filter(|v| !v.is_empty()).ok_or(Refusal::Missing(name));
        Ok(Signature {
            region: need(REGION_HEADER)?.to_owned(),
            timestamp: need(TIMESTAMP_HEADER)?
                .parse()
                .map_err(|_| Refusal::Missing(TIMESTAMP_HEADER))?,
            nonce: need(NONCE_HEADER)?.to_owned(),
            mac: need(SIGNATURE_HEADER)?.to_owned(),
        })
    }

    /// The headers to send, as (name, value) pairs.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (REGION_HEADER, self.region.clone()),
            (TIMESTAMP_HEADER, self.timestamp.to_string()),
            (NONCE_HEADER, self.nonce.clone()),
            (SIGNATURE_HEADER, self.mac.clone()),
        ]
    }

    /// Checks the signature over `body` against `secret` and the timestamp against `now`
    /// (seconds). The MAC is compared in constant time. Nonce reuse is the caller's to check,
    /// since it needs memory.
    pub fn verify(&self, secret: &[u8], body: &[u8], now: i64) -> Result<(), Refusal> {
        // abs_diff: a timestamp header can be any i64, and must not overflow the arithmetic.
        if self.timestamp.abs_diff(now) > REPLAY_WINDOW_SECONDS as u64 {
            return Err(Refusal::Stale {
                skew: self.timestamp.saturating_sub(now),
            });
        }
        let expected = mac(secret, &self.region, self.timestamp, &self.nonce, body)
            .finalize()
            .into_bytes();
        let expected = format!("v1={}", hex(&expected));
        match bool::from(expected.as_bytes().ct_eq(self.mac.as_bytes())) {
            true => Ok(()),
            false => Err(Refusal::Mismatch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let s = Signature::sign(SECRET, "eu-west-1", 1_000, "req-1", b"{}");
        assert!(s.mac.starts_with("v1=") && s.mac.len() == 3 + 64);
        assert_eq!(s.verify(SECRET, b"{}", 1_010), Ok(()));
        assert_eq!(s.verify(SECRET, b"{ }", 1_010), Err(Refusal::Mismatch));
        assert_eq!(s.verify(b"another secret", b"{}", 1_010), Err(Refusal::Mismatch));
        let moved = Signature {
            region: "us-east-1".into(),
            ..s.clone()
        };
        assert_eq!(moved.verify(SECRET, b"{}", 1_010), Err(Refusal::Mismatch));
        let renonced = Signature {
            nonce: "req-2".into(),
            ..s.clone()
        };
        assert_eq!(renonced.verify(SECRET, b"{}", 1_010), Err(Refusal::Mismatch));
    }

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let s = Signature::sign(SECRET, "us-east-1", 1_000, "n", b"x");
        assert_eq!(s.verify(SECRET, b"x", 1_000 + REPLAY_WINDOW_SECONDS), Ok(()));
        assert_eq!(
            s.verify(SECRET, b"x", 1_001 + REPLAY_WINDOW_SECONDS),
            Err(Refusal::Stale {
                skew: -REPLAY_WINDOW_SECONDS - 1
            })
        );
        assert!(matches!(
            s.verify(SECRET, b"x", 600),
            Err(Refusal::Stale { skew: 400 })
        ));
    }

    #[test]
    fn headers_round_trip_and_missing_ones_are_named() {
        let s = Signature::sign(SECRET, "us-west-2", 42, "n-1", b"body");
        let headers = s.headers();
        let get = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        assert_eq!(Signature::from_headers(get), Ok(s));
        let none = |name: &str| (name != NONCE_HEADER).then_some("1");
        assert_eq!(Signature::from_headers(none), Err(Refusal::Missing(NONCE_HEADER)));
        let bad_time = |name: &str| Some(if name == TIMESTAMP_HEADER { "soon" } else { "x" });
        assert_eq!(
            Signature::from_headers(bad_time),
            Err(Refusal::Missing(TIMESTAMP_HEADER))
        );
    }
}
