//! Password-guessing throttle: growing delays, and temporary locks that a
//! stranger cannot turn against the account's owner.
//!
//! A browser that has signed in as the account before (it holds a device
//! cookie for it, as OWASP's "device cookies" describe) is a *known client*:
//! it is throttled on its own count only, so guessing from elsewhere never
//! locks the owner out of their own browser. Everyone else is an *unknown
//! client*, throttled three ways:
//! - per (account, address): `max_failures`, the ordinary lock;
//! - per address, across accounts: `ip_max_failures`, against one host
//!   spraying many accounts;
//! - per account, across addresses: `account_max_failures`, a higher cap on
//!   guessing spread over many addresses. It locks unknown clients only.
//!
//! A locked attempt answers exactly like a wrong password (and still pays
//! the bcrypt time), so the response never tells whether an account exists
//! or is locked. Unknown usernames are counted like real ones for the same
//! reason. Counters live in memory: a restart forgets them, which needs
//! control of the host anyway.

use crate::config::SignInPolicy;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Who is attempting the sign-in.
#[derive(Clone, Copy, Debug)]
pub enum Client<'a> {
    /// A browser with a device cookie for this account (its id).
    Known(&'a str),
    /// Anyone else, by address.
    Unknown(&'a str),
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
    /// What this failure locked (each an event worth auditing).
    pub newly_locked: Vec<LockScope>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockScope {
    /// One account from one address, or from one known browser.
    AccountFromClient,
    /// One address, for every account.
    Address,
    /// One account, for every unknown client.
    Account,
}

impl LockScope {
    pub fn describe(self) -> &'static str {
        match self {
            LockScope::AccountFromClient => "account locked for this client",
            LockScope::Address => "address locked",
            LockScope::Account => "account locked for unknown clients",
        }
    }
}

/// Bound on remembered keys per counter; beyond it, stale entries go first.
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
struct Counter(Mutex<HashMap<String, Failures>>);

impl Counter {
    fn locked(&self, key: &str, now: i64) -> bool {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).is_some_and(|f| f.locked_until > now)
    }

    /// Counts a failure; returns the count and whether it just locked.
    fn record(&self, key: &str, now: i64, max: u32, lock_for: i64) -> (u32, bool) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
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

    fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    fn prune(&self, now: i64, lock_for: i64) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, f| now - f.last_at <= lock_for || f.locked_until > now);
    }
}

pub struct Throttle {
    policy: SignInPolicy,
    /// Keyed by account and address, or account and device id.
    pairs: Counter,
    addresses: Counter,
    accounts: Counter,
}

fn pair_key(account: &str, client: Client<'_>) -> String {
    // A NUL cannot occur in a normalised username, an address or a device id.
    match client {
        Client::Known(device) => format!("{account}\0device\0{device}"),
        Client::Unknown(address) => format!("{account}\0address\0{address}"),
    }
}

impl Throttle {
    pub fn new(policy: SignInPolicy) -> Self {
        Throttle { policy, pairs: Counter::default(), addresses: Counter::default(), accounts: Counter::default() }
    }

    /// Is this attempt refused before the password is even looked at?
    pub fn is_locked(&self, account: &str, client: Client<'_>, now: i64) -> bool {
        if self.pairs.locked(&pair_key(account, client), now) {
            return true;
        }
        match client {
            Client::Known(_) => false,
            Client::Unknown(address) => self.addresses.locked(address, now) || self.accounts.locked(account, now),
        }
    }

    pub fn record_failure(&self, account: &str, client: Client<'_>, now: i64) -> Verdict {
        let p = self.policy;
        let mut newly_locked = Vec::new();
        let (mut worst, locked) = self.pairs.record(&pair_key(account, client), now, p.max_failures, p.lock_for);
        if locked {
            newly_locked.push(LockScope::AccountFromClient);
        }
        if let Client::Unknown(address) = client {
            let (count, locked) = self.addresses.record(address, now, p.ip_max_failures, p.lock_for);
            worst = worst.max(count);
            if locked {
                newly_locked.push(LockScope::Address);
            }
            // The account-wide count sets no delay: it grows with everyone's
            // guesses, and one stranger must not slow the others down.
            let (_, locked) = self.accounts.record(account, now, p.account_max_failures, p.lock_for);
            if locked {
                newly_locked.push(LockScope::Account);
            }
        }
        let doublings = worst.saturating_sub(1).min(5);
        Verdict { delay: Duration::from_millis(p.delay_ms << doublings), newly_locked }
    }

    /// A successful sign-in clears this client's count on the account (not
    /// the address's, nor the account-wide count of unknown clients).
    pub fn record_success(&self, account: &str, client: Client<'_>) {
        self.pairs.forget(&pair_key(account, client));
    }

    /// Forgets what no longer matters (housekeeping).
    pub fn prune(&self, now: i64) {
        for counter in [&self.pairs, &self.addresses, &self.accounts] {
            counter.prune(now, self.policy.lock_for);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(SignInPolicy {
            max_failures: 3,
            ip_max_failures: 5,
            account_max_failures: 8,
            lock_for: 900,
            delay_ms: 100,
        })
    }

    const HOME: Client = Client::Unknown("10.0.0.1");

    #[test]
    fn delays_grow_and_the_pair_locks_after_max_failures_until_the_lock_expires() {
        let t = throttle();
        let delays: Vec<u128> = (0..3).map(|_| t.record_failure("alice", HOME, 1000).delay.as_millis()).collect();
        assert_eq!(delays, [100, 200, 400]);
        assert!(t.is_locked("alice", HOME, 1000));
        assert!(!t.is_locked("alice", Client::Unknown("10.0.0.2"), 1000), "another address is not locked");
        assert!(!t.is_locked("bob", HOME, 1000));
        assert!(!t.is_locked("alice", HOME, 1000 + 901), "the lock expires");
    }

    #[test]
    fn an_address_guessing_many_accounts_is_locked_out_and_success_resets_only_the_pair() {
        let t = throttle();
        for (i, user) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let verdict = t.record_failure(user, Client::Unknown("10.0.0.9"), 1000 + i as i64);
            assert_eq!(verdict.newly_locked.contains(&LockScope::Address), i == 4);
        }
        assert!(t.is_locked("fresh-user", Client::Unknown("10.0.0.9"), 1010));
        t.record_failure("alice", HOME, 1000);
        t.record_success("alice", HOME);
        t.record_failure("alice", HOME, 1001);
        t.record_failure("alice", HOME, 1002);
        assert!(!t.is_locked("alice", HOME, 1003), "the count restarted after the success");
    }

    #[test]
    fn guessing_from_many_addresses_locks_unknown_clients_but_never_a_known_browser() {
        let t = throttle();
        for i in 0..8 {
            t.record_failure("alice", Client::Unknown(&format!("203.0.113.{i}")), 1000);
        }
        assert!(t.is_locked("alice", Client::Unknown("198.51.100.1"), 1001), "a new address is locked out");
        assert!(!t.is_locked("alice", Client::Known("device-1"), 1001), "her own browser is not");
        // Nor does the address lock reach a known browser behind that address.
        for user in ["a", "b", "c", "d", "e"] {
            t.record_failure(user, Client::Unknown("10.0.0.7"), 1000);
        }
        assert!(!t.is_locked("alice", Client::Known("device-1"), 1001));
        // A known browser guessing wrong is locked on its own count.
        for _ in 0..3 {
            t.record_failure("alice", Client::Known("device-2"), 1000);
        }
        assert!(t.is_locked("alice", Client::Known("device-2"), 1001));
        assert!(!t.is_locked("alice", Client::Known("device-1"), 1001));
    }
}
