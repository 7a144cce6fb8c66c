//! Login attempts, limited per account and per address: after too many failures in a window,
//! further attempts are refused until the window has passed, with a message that says so.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per key within the window.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Per user name.
    pub per_account: u32,
    /// Per client address.
    pub per_address: u32,
    /// The window.
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Who is locked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locked {
    /// The account had too many failures.
    Account(Duration),
    /// The address had too many failures.
    Address(Duration),
}

impl Locked {
    /// A sentence for the login page.
    pub fn message(&self) -> String {
        let (what, wait) = match self {
            Locked::Account(w) => ("this account", w),
            Locked::Address(w) => ("this address", w),
        };
        let minutes = wait.as_secs().div_ceil(60).max(1);
        format!(
            "Too many failed sign-ins for {what}. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        )
    }
}

/// The limiter: failure times per key, in memory (each rask instance counts its own).
#[derive(Debug, Default)]
pub struct RateLimiter {
    limits: Limits,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(limits: Limits) -> Self {
        RateLimiter {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn locked_key(
        &self,
        map: &mut HashMap<String, Vec<Instant>>,
        key: &str,
        max: u32,
        now: Instant,
    ) -> Option<Duration> {
        let v = map.get_mut(key)?;
        v.retain(|t| now.duration_since(*t) < self.limits.window);
        if v.len() as u32 >= max {
            v.first()
                .map(|first| self.limits.window.saturating_sub(now.duration_since(*first)))
        } else {
            None
        }
    }

    /// Whether an attempt for `account` from `address` is refused now.
    pub fn check(&self, account: &str, address: &str, now: Instant) -> Option<Locked> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = self.locked_key(
            &mut map,
            &format!("account:{account}"),
            self.limits.per_account,
            now,
        ) {
            return Some(Locked::Account(w));
        }
        self.locked_key(
            &mut map,
            &format!("address:{address}"),
            self.limits.per_address,
            now,
        )
        .map(Locked::Address)
    }

    /// Records a failed attempt.
    pub fn failed(&self, account: &str, address: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(format!("account:{account}")).or_default().push(now);
        map.entry(format!("address:{address}")).or_default().push(now);
    }

    /// Forgets an account's failures after a successful sign-in.
    pub fn succeeded(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&format!("account:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_unlocks_after_the_window() {
        let l = RateLimiter::new(Limits {
            per_account: 2,
            per_address: 3,
            window: Duration::from_secs(60),
        });
        let t = Instant::now();
        assert_eq!(l.check("alice", "1.2.3.4", t), None);
        l.failed("alice", "1.2.3.4", t);
        l.failed("alice", "1.2.3.4", t);
        assert!(matches!(l.check("alice", "1.2.3.4", t), Some(Locked::Account(_))));
        assert_eq!(l.check("bob", "5.6.7.8", t), None);
        l.failed("bob", "1.2.3.4", t);
        assert!(matches!(l.check("carol", "1.2.3.4", t), Some(Locked::Address(_))));
        assert_eq!(l.check("alice", "9.9.9.9", t + Duration::from_secs(61)), None);
        assert_eq!(
            Locked::Account(Duration::from_secs(61)).message(),
            "Too many failed sign-ins for this account. Try again in 2 minutes."
        );
    }
}
