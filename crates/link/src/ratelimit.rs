//! Attempts limited per account and per address: after too many failures in a window, further
//! attempts are refused until the window has passed, with a message that says so. The login
//! counts per account and per address; the token endpoint and the device webhooks count per
//! address only ([`RateLimiter::begin_address`]). Memory is bounded: past [`MAX_KEYS`] keys
//! (many addresses at once, say), the oldest are forgotten first.

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

/// The most keys a limiter remembers.
pub const MAX_KEYS: usize = 50_000;

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

/// The key `address` is counted under: an IPv6 address by its /64 (a household or a server
/// has a whole /64 to pick addresses from, so one address each would be no limit), any other
/// address as it is (an IPv4-mapped one as IPv4).
fn address_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(v4) => format!("address:{v4}"),
        Err(_) => format!("address:{address}"),
    }
}

/// The limiter: failure times per key, in memory (each rask instance counts its own).
#[derive(Debug, Default)]
pub struct RateLimiter {
    limits: Limits,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
    swept: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(limits: Limits) -> Self {
        RateLimiter {
            limits,
            failures: Mutex::new(HashMap::new()),
            swept: Mutex::new(None),
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
        let (account_key, address_key) = (format!("account:{account}"), address_key(address));
        if let Some(w) = self.locked_key(&mut map, &account_key, self.limits.per_account, now) {
            return Err(Locked::Account(w));
        }
        if let Some(w) = self.locked_key(&mut map, &address_key, self.limits.per_address, now) {
            return Err(Locked::Address(w));
        }
        map.entry(account_key).or_default().push(now);
        map.entry(address_key).or_default().push(now);
        self.bound(&mut map, now);
        Ok(())
    }

    /// Keys whose failures have all aged out are dropped, so the map cannot grow forever; past
    /// [`MAX_KEYS`], the keys with the oldest last failure go too.
    fn bound(&self, map: &mut HashMap<String, Vec<Instant>>, now: Instant) {
        let window = self.limits.window;
        // A small map is swept on every call; a big one at most once a second, so that a crowd
        // of addresses does not make each call a walk through all of them.
        let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() <= 1024
            || swept.is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
        {
            map.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < window));
            *swept = Some(now);
        }
        if map.len() > MAX_KEYS {
            let mut lasts: Vec<Instant> = map.values().filter_map(|v| v.last().copied()).collect();
            lasts.sort_unstable();
            let cutoff = lasts[lasts.len() - MAX_KEYS / 2];
            map.retain(|_, v| v.last().is_some_and(|t| *t >= cutoff));
        }
    }

    /// Starts an attempt counted per address only (`per_address` failures per window): refused
    /// while the address is locked, otherwise counted as a failure until
    /// [`RateLimiter::succeeded_address`] takes it back.
    pub fn begin_address(&self, address: &str, now: Instant) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let key = address_key(address);
        if let Some(w) = self.locked_key(&mut map, &key, self.limits.per_address, now) {
            return Err(w);
        }
        map.entry(key).or_default().push(now);
        self.bound(&mut map, now);
        Ok(())
    }

    /// The attempt begun at `at` by `address` succeeded: it no longer counts.
    pub fn succeeded_address(&self, address: &str, at: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let key = address_key(address);
        if let Some(v) = map.get_mut(&key) {
            if let Some(i) = v.iter().rposition(|t| *t == at) {
                v.remove(i);
            }
            if v.is_empty() {
                map.remove(&key);
            }
        }
    }

    /// The attempt begun at `at` was turned away before it was judged (the server was busy):
    /// it counts against neither the account nor the address.
    pub fn withdraw(&self, account: &str, address: &str, at: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in [format!("account:{account}"), address_key(address)] {
            if let Some(v) = map.get_mut(&key) {
                if let Some(i) = v.iter().rposition(|t| *t == at) {
                    v.remove(i);
                }
            }
        }
    }

    /// The attempt begun at `at` succeeded: the account's failures are forgotten and the
    /// address's count loses this attempt.
    pub fn succeeded(&self, account: &str, address: &str, at: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("account:{account}"));
        if let Some(v) = map.get_mut(&address_key(address)) {
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
    fn a_whole_ipv6_64_is_one_address() {
        let l = RateLimiter::new(Limits {
            per_account: 100,
            per_address: 2,
            window: Duration::from_secs(60),
        });
        let t = Instant::now();
        assert!(l.begin_address("2001:db8:1:2::1", t).is_ok());
        assert!(l.begin_address("2001:db8:1:2:ffff::9", t).is_ok());
        assert!(
            l.begin_address("2001:db8:1:2:abcd::5", t).is_err(),
            "the third from the same /64"
        );
        assert!(l.begin_address("2001:db8:1:3::1", t).is_ok(), "another /64");
        assert_eq!(address_key("::ffff:192.0.2.7"), "address:192.0.2.7");
        assert_eq!(address_key("unknown"), "address:unknown");
    }

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
    fn addresses_alone_and_memory_stays_bounded() {
        let l = RateLimiter::new(Limits {
            per_account: 1,
            per_address: 2,
            window: Duration::from_secs(60),
        });
        let t = Instant::now();
        l.begin_address("1.1.1.1", t).unwrap();
        l.succeeded_address("1.1.1.1", t);
        l.begin_address("1.1.1.1", t).unwrap();
        l.begin_address("1.1.1.1", t).unwrap();
        assert!(l.begin_address("1.1.1.1", t).is_err());
        assert!(l.begin_address("2.2.2.2", t).is_ok());
        for i in 0..(MAX_KEYS + 10) {
            let _ = l.begin_address(&format!("10.{i}"), t + Duration::from_millis(i as u64));
        }
        assert!(l.failures.lock().unwrap().len() <= MAX_KEYS);
        // A withdrawn attempt counts against nobody.
        let l = RateLimiter::new(Limits {
            per_account: 1,
            per_address: 5,
            window: Duration::from_secs(60),
        });
        l.begin("frank", "3.3.3.3", t).unwrap();
        l.withdraw("frank", "3.3.3.3", t);
        assert!(l.begin("frank", "3.3.3.3", t).is_ok());
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
