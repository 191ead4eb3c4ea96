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
//! reason. With sled (one process) counters live in memory: a restart
//! forgets them, which needs control of the host anyway. Instances that
//! share a PostgreSQL database share them through the store (`shared`), so
//! guessing spread over instances behind a load balancer counts as one.

use crate::config::SignInPolicy;
use crate::store::{FailureCount as Failures, Store};
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

/// One kind of counter: in this process's memory, or in the shared store
/// under a prefix of its own.
enum Counter {
    Memory(Mutex<HashMap<String, Failures>>),
    Shared { store: Store, prefix: &'static str },
}

/// One more failure at `now`: a counter idle for longer than `lock_for`
/// (and not locked) starts again; reaching `max` locks for `lock_for`.
fn count_failure(entry: &mut Failures, now: i64, max: u32, lock_for: i64) {
    if now - entry.last_at > lock_for && entry.locked_until <= now {
        *entry = Failures::default();
    }
    entry.count += 1;
    entry.last_at = now;
    if entry.count >= max && entry.locked_until <= now {
        entry.locked_until = now + lock_for;
    }
}

impl Counter {
    fn memory() -> Counter {
        Counter::Memory(Mutex::default())
    }

    fn locked(&self, key: &str, now: i64) -> bool {
        match self {
            Counter::Memory(map) => {
                let map = map.lock().unwrap_or_else(|p| p.into_inner());
                map.get(key).is_some_and(|f| f.locked_until > now)
            }
            // A store that cannot answer locks no one: the sign-in that
            // asked fails on the same store a moment later anyway.
            Counter::Shared { store, prefix } => match store.failure_count(&format!("{prefix}\0{key}")) {
                Ok(found) => found.is_some_and(|f| f.locked_until > now),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a sign-in failure counter");
                    false
                }
            },
        }
    }

    /// Returns the count and whether this failure locked.
    fn record(&self, key: &str, now: i64, max: u32, lock_for: i64) -> (u32, bool) {
        let was_locked = |f: &Failures| f.locked_until > now;
        match self {
            Counter::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                if map.len() >= MAX_TRACKED {
                    map.retain(|_, f| now - f.last_at <= lock_for || f.locked_until > now);
                    if map.len() >= MAX_TRACKED {
                        map.clear();
                    }
                }
                let entry = map.entry(key.to_owned()).or_default();
                let before = was_locked(entry);
                count_failure(entry, now, max, lock_for);
                (entry.count, !before && was_locked(entry))
            }
            Counter::Shared { store, prefix } => {
                let before = std::cell::Cell::new(false);
                let updated = store.update_failure_count(&format!("{prefix}\0{key}"), |entry| {
                    before.set(was_locked(entry));
                    count_failure(entry, now, max, lock_for);
                });
                match updated {
                    Ok(entry) => (entry.count, !before.get() && was_locked(&entry)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot count a sign-in failure");
                        (1, false)
                    }
                }
            }
        }
    }

    fn forget(&self, key: &str) {
        match self {
            Counter::Memory(map) => {
                map.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
            }
            Counter::Shared { store, prefix } => {
                if let Err(e) = store.forget_failure_count(&format!("{prefix}\0{key}")) {
                    tracing::warn!(error = %e, "cannot reset a sign-in failure counter");
                }
            }
        }
    }

    /// Forgets counters that are over (in memory; shared ones are pruned
    /// all at once by `Throttle::prune`).
    fn prune(&self, live: impl Fn(&Failures) -> bool) {
        if let Counter::Memory(map) = self {
            map.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, f| live(f));
        }
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
    /// Counters in this process's memory (one instance).
    pub fn new(policy: SignInPolicy) -> Self {
        Throttle { policy, pairs: Counter::memory(), addresses: Counter::memory(), accounts: Counter::memory() }
    }

    /// Counters in `store`, shared by every instance that uses it.
    pub fn shared(policy: SignInPolicy, store: Store) -> Self {
        let counter = |prefix| Counter::Shared { store: store.clone(), prefix };
        Throttle { policy, pairs: counter("pair"), addresses: counter("address"), accounts: counter("account") }
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
        let lock_for = self.policy.lock_for;
        let live = |f: &Failures| now - f.last_at <= lock_for || f.locked_until > now;
        if let Counter::Shared { store, .. } = &self.pairs {
            // One tree holds all three kinds.
            if let Err(e) = store.prune_failure_counts(live) {
                tracing::warn!(error = %e, "cannot prune sign-in failure counters");
            }
        }
        for counter in [&self.pairs, &self.addresses, &self.accounts] {
            counter.prune(live);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: SignInPolicy =
        SignInPolicy { max_failures: 3, ip_max_failures: 5, account_max_failures: 8, lock_for: 900, delay_ms: 100 };

    /// The same rules with counters in memory and in a store: each test
    /// runs on both (the store on PostgreSQL too in scripts/test.sh).
    fn throttles() -> Vec<(Option<tempfile::TempDir>, Throttle)> {
        let (dir, store) = crate::store::testing::temp_store();
        vec![(None, Throttle::new(POLICY)), (Some(dir), Throttle::shared(POLICY, store))]
    }

    #[test]
    fn shared_counters_are_pruned_once_over() {
        let (_dir, store) = crate::store::testing::temp_store();
        let t = Throttle::shared(POLICY, store.clone());
        t.record_failure("alice", HOME, 1000);
        t.prune(1000 + 899);
        assert_eq!(store.failure_count("pair\0alice\0address\x0010.0.0.1").unwrap().map(|f| f.count), Some(1));
        t.prune(1000 + 901);
        assert_eq!(store.failure_count("pair\0alice\0address\x0010.0.0.1").unwrap(), None);
    }

    const HOME: Client = Client::Unknown("10.0.0.1");

    #[test]
    fn delays_grow_and_the_pair_locks_after_max_failures_until_the_lock_expires() {
        for (_dir, t) in throttles() {
            let delays: Vec<u128> = (0..3).map(|_| t.record_failure("alice", HOME, 1000).delay.as_millis()).collect();
            assert_eq!(delays, [100, 200, 400]);
            assert!(t.is_locked("alice", HOME, 1000));
            assert!(!t.is_locked("alice", Client::Unknown("10.0.0.2"), 1000), "another address is not locked");
            assert!(!t.is_locked("bob", HOME, 1000));
            assert!(!t.is_locked("alice", HOME, 1000 + 901), "the lock expires");
        }
    }

    #[test]
    fn an_address_guessing_many_accounts_is_locked_out_and_success_resets_only_the_pair() {
        for (_dir, t) in throttles() {
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
    }

    #[test]
    fn guessing_from_many_addresses_locks_unknown_clients_but_never_a_known_browser() {
        for (_dir, t) in throttles() {
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
}
