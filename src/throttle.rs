//! Password-guessing throttle: failures per account and per client address,
//! growing delays, and a temporary lock after too many.
//!
//! A locked account answers exactly like a wrong password (and still pays
//! the bcrypt time), so the response never tells whether an account exists
//! or is locked. Unknown usernames are counted like real ones for the same
//! reason. Counters live in memory: a restart forgets them, which needs
//! control of the host anyway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures on one account before it is locked.
    pub max_failures: u32,
    /// Failures from one address (any accounts) before it is locked out.
    pub ip_max_failures: u32,
    /// How long a lock lasts, and how long failures are remembered, in seconds.
    pub lock_for: i64,
    /// The first failure's delay; each further one doubles it (capped at 32×).
    pub delay_ms: u64,
}

#[derive(Clone, Copy, Default)]
struct Failures {
    count: u32,
    last_at: i64,
    locked_until: i64,
}

/// What to do after a failed attempt.
pub struct Verdict {
    pub delay: Duration,
    /// This failure locked the account (an event worth auditing).
    pub newly_locked_account: bool,
    pub newly_locked_ip: bool,
}

/// Bound on remembered keys; beyond it, stale entries are dropped first.
const MAX_TRACKED: usize = 100_000;

pub struct Throttle {
    policy: Policy,
    accounts: Mutex<HashMap<String, Failures>>,
    addresses: Mutex<HashMap<String, Failures>>,
}

fn locked(map: &Mutex<HashMap<String, Failures>>, key: &str, now: i64) -> bool {
    let map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.get(key).is_some_and(|f| f.locked_until > now)
}

fn record(map: &Mutex<HashMap<String, Failures>>, key: &str, now: i64, max: u32, lock_for: i64) -> (u32, bool) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= MAX_TRACKED {
        map.retain(|_, f| now - f.last_at <= lock_for || f.locked_until > now);
        if map.len() >= MAX_TRACKED {
            map.clear();
        }
    }
    let entry = map.entry(key.to_owned()).or_default();
    if now - entry.last_at > lock_for && entry.locked_until <= now {
        *entry = Failures::default();
    }
    entry.count += 1;
    entry.last_at = now;
    let newly_locked = entry.count >= max && entry.locked_until <= now;
    if newly_locked {
        entry.locked_until = now + lock_for;
    }
    (entry.count, newly_locked)
}

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Throttle { policy, accounts: Mutex::default(), addresses: Mutex::default() }
    }

    /// Is this attempt refused before the password is even looked at?
    pub fn is_locked(&self, account: &str, address: &str, now: i64) -> bool {
        locked(&self.accounts, account, now) || locked(&self.addresses, address, now)
    }

    pub fn record_failure(&self, account: &str, address: &str, now: i64) -> Verdict {
        let p = self.policy;
        let (count, newly_locked_account) = record(&self.accounts, account, now, p.max_failures, p.lock_for);
        let (ip_count, newly_locked_ip) = record(&self.addresses, address, now, p.ip_max_failures, p.lock_for);
        let worst = count.max(ip_count).saturating_sub(1).min(5);
        Verdict { delay: Duration::from_millis(p.delay_ms << worst), newly_locked_account, newly_locked_ip }
    }

    /// A successful sign-in clears the account's count (not the address's).
    pub fn record_success(&self, account: &str) {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner()).remove(account);
    }

    /// Forgets what no longer matters (housekeeping).
    pub fn prune(&self, now: i64) {
        let lock_for = self.policy.lock_for;
        for map in [&self.accounts, &self.addresses] {
            map.lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, f| now - f.last_at <= lock_for || f.locked_until > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(Policy { max_failures: 3, ip_max_failures: 5, lock_for: 900, delay_ms: 100 })
    }

    #[test]
    fn delays_grow_and_the_account_locks_after_max_failures_until_the_lock_expires() {
        let t = throttle();
        let delays: Vec<u128> = (0..3).map(|_| t.record_failure("alice", "10.0.0.1", 1000).delay.as_millis()).collect();
        assert_eq!(delays, [100, 200, 400]);
        assert!(t.is_locked("alice", "10.0.0.2", 1000), "locked from any address");
        assert!(!t.is_locked("bob", "10.0.0.2", 1000));
        assert!(!t.is_locked("alice", "10.0.0.2", 1000 + 901), "the lock expires");
    }

    #[test]
    fn an_address_guessing_many_accounts_is_locked_out_and_success_resets_only_the_account() {
        let t = throttle();
        for (i, user) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let verdict = t.record_failure(user, "10.0.0.9", 1000 + i as i64);
            assert_eq!(verdict.newly_locked_ip, i == 4);
        }
        assert!(t.is_locked("fresh-user", "10.0.0.9", 1010));
        t.record_failure("alice", "10.0.0.1", 1000);
        t.record_success("alice");
        t.record_failure("alice", "10.0.0.1", 1001);
        t.record_failure("alice", "10.0.0.1", 1002);
        assert!(!t.is_locked("alice", "10.0.0.3", 1003), "the count restarted after the success");
    }
}
