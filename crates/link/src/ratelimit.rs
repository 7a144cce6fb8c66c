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

    /// Starts a sign-in attempt: refused if the account or the address is locked; otherwise
    /// counted as a failure at once, in the same critical section, so that attempts sent in
    /// parallel cannot all pass the check before any is recorded. [`RateLimiter::succeeded`]
    /// takes it back.
    pub fn begin(&self, account: &str, address: &str, now: Instant) -> Result<(), Locked> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (account_key, address_key) = (format!("account:{account}"), format!("address:{address}"));
        if let Some(w) = self.locked_key(&mut map, &account_key, self.limits.per_account, now) {
            return Err(Locked::Account(w));
        }
        if let Some(w) = self.locked_key(&mut map, &address_key, self.limits.per_address, now) {
            return Err(Locked::Address(w));
        }
        map.entry(account_key).or_default().push(now);
        map.entry(address_key).or_default().push(now);
        // Keys whose failures have all aged out are dropped, so the map cannot grow forever.
        let window = self.limits.window;
        map.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < window));
        Ok(())
    }

    /// The attempt begun at `at` succeeded: the account's failures are forgotten and the
    /// address's count loses this attempt.
    pub fn succeeded(&self, account: &str, address: &str, at: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("account:{account}"));
        if let Some(v) = map.get_mut(&format!("address:{address}")) {
            if let Some(i) = v.iter().rposition(|t| *t == at) {
                v.remove(i);
            }
        }
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
        assert_eq!(l.begin("alice", "1.2.3.4", t), Ok(()));
        assert_eq!(l.begin("alice", "1.2.3.4", t), Ok(()));
        assert!(matches!(l.begin("alice", "1.2.3.4", t), Err(Locked::Account(_))));
        assert_eq!(l.begin("bob", "5.6.7.8", t), Ok(()));
        assert_eq!(l.begin("bob", "1.2.3.4", t), Ok(()));
        assert!(matches!(l.begin("carol", "1.2.3.4", t), Err(Locked::Address(_))));
        assert_eq!(l.begin("alice", "9.9.9.9", t + Duration::from_secs(61)), Ok(()));
        assert_eq!(
            Locked::Account(Duration::from_secs(61)).message(),
            "Too many failed sign-ins for this account. Try again in 2 minutes."
        );
    }

    #[test]
    fn a_success_takes_its_attempt_back() {
        let l = RateLimiter::new(Limits {
            per_account: 2,
            per_address: 2,
            window: Duration::from_secs(60),
        });
        let t = Instant::now();
        l.begin("dave", "5.5.5.5", t).unwrap();
        l.succeeded("dave", "5.5.5.5", t);
        l.begin("dave", "5.5.5.5", t).unwrap();
        l.begin("dave", "5.5.5.5", t).unwrap();
        assert!(
            l.begin("dave", "5.5.5.5", t).is_err(),
            "two pending failures lock"
        );
    }

    #[test]
    fn parallel_attempts_cannot_pass_together() {
        let l = std::sync::Arc::new(RateLimiter::new(Limits {
            per_account: 5,
            per_address: 100,
            window: Duration::from_secs(60),
        }));
        let t = Instant::now();
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..50)
                .map(|_| s.spawn(|| l.begin("erin", "6.6.6.6", t).is_ok() as usize))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 5);
    }
}
