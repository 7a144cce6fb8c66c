//! Checking that a directive came through rask's forwarder Lambda: its HMAC signature
//! ([`rask_model::forwarder`]), a timestamp inside the replay window, and a nonce not seen
//! before within that window. The nonces live in this process's memory: a restarted rask, or
//! a second instance behind one load balancer, would accept a replay once more, which the
//! five-minute window still bounds.

use std::collections::HashMap;
use std::sync::Mutex;

use rask_model::forwarder::{REPLAY_WINDOW_SECONDS, Refusal, Signature};

/// Most nonces remembered at once (about 166 forwarded directives a second for the whole
/// ten-minute span of the window); past this, new requests are refused until some expire.
const MAX_NONCES: usize = 100_000;

/// The forwarder's shared secret and the nonces already accepted.
pub struct ForwarderCheck {
    secret: Vec<u8>,
    seen: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for ForwarderCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwarderCheck").finish_non_exhaustive()
    }
}

impl ForwarderCheck {
    /// A check with the shared secret (the forwarder's `RASK_FORWARDER_SECRET`).
    pub fn new(secret: Vec<u8>) -> Self {
        ForwarderCheck {
            secret,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Accepts a request once: its headers through `get`, its body, and now in Unix seconds.
    /// Returns the signed AWS region.
    pub fn accept<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now: i64,
    ) -> Result<String, Refusal> {
        let signature = Signature::from_headers(get)?;
        signature.verify(&self.secret, body, now)?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_NONCES {
            // Keyed by the signed time: a nonce is forgotten only once its signature could no
            // longer pass the window, whatever the two clocks say.
            seen.retain(|_, signed| signed.abs_diff(now) <= REPLAY_WINDOW_SECONDS as u64);
            if seen.len() >= MAX_NONCES {
                // Forgetting a live nonce would let its request be replayed: refuse instead.
                return Err(Refusal::Crowded);
            }
        }
        if seen
            .insert(signature.nonce.clone(), signature.timestamp)
            .is_some()
        {
            return Err(Refusal::Replayed(signature.nonce));
        }
        Ok(signature.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a forwarder secret of 32 bytes!!";

    #[test]
    fn a_nonce_is_accepted_once() {
        let check = ForwarderCheck::new(SECRET.to_vec());
        let h = Signature::sign(SECRET, "eu-west-1", 100, "n-1", b"{}").headers();
        let values: Vec<(String, String)> = h.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let get = |name: &str| values.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(check.accept(get, b"{}", 100).as_deref(), Ok("eu-west-1"));
        assert_eq!(
            check.accept(get, b"{}", 101),
            Err(Refusal::Replayed("n-1".into()))
        );
    }

    #[test]
    fn a_wrong_secret_is_not_remembered() {
        let check = ForwarderCheck::new(SECRET.to_vec());
        let h = Signature::sign(b"not the secret", "eu-west-1", 100, "n-2", b"{}").headers();
        let values: Vec<(String, String)> = h.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let get = |name: &str| values.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(check.accept(get, b"{}", 100), Err(Refusal::Mismatch));
        assert!(check.seen.lock().unwrap().is_empty());
    }
}
