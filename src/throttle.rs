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

    /// Applies `decide` to the counter at `key` atomically (under the
    /// map's lock, or as a compare-and-swap on the store) and returns its
    /// answer and the counter as left. A store that cannot answer refuses:
    /// a second-factor code is not checked without its count.
    fn update(&self, key: &str, now: i64, decide: impl Fn(&mut Failures) -> bool) -> (bool, Failures) {
        match self {
            Counter::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                if map.len() >= MAX_TRACKED {
                    // Full: what still locks or counts stays (a flood of new
                    // keys must not lift anyone's lock); only then the rest.
                    map.retain(|_, f| f.locked_until > now || f.locks > 0 || now - f.last_at <= DAY);
                    if map.len() >= MAX_TRACKED {
                        map.retain(|_, f| f.locked_until > now || f.locks > 0);
                    }
                    if map.len() >= MAX_TRACKED {
                        map.clear();
                    }
                }
                let entry = map.entry(key.to_owned()).or_default();
                (decide(entry), *entry)
            }
            Counter::Shared { store, prefix } => {
                let answer = std::cell::Cell::new(false);
                let updated = store.update_failure_count(&format!("{prefix}\0{key}"), |entry| {
                    answer.set(decide(entry));
                });
                match updated {
                    Ok(entry) => (answer.get(), entry),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot count a second-factor attempt");
                        (false, Failures::default())
                    }
                }
            }
        }
    }

    fn peek(&self, key: &str) -> Option<Failures> {
        match self {
            Counter::Memory(map) => map.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied(),
            Counter::Shared { store, prefix } => store.failure_count(&format!("{prefix}\0{key}")).ok().flatten(),
        }
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

    /// Whether any of `checks` (counter, key) is locked, in one store read
    /// when the counters are shared (they all are, or none).
    fn any_locked(checks: &[(&Counter, &str)], now: i64) -> bool {
        let shared: Vec<String> = checks
            .iter()
            .filter_map(|(counter, key)| match counter {
                Counter::Shared { prefix, .. } => Some(format!("{prefix}\0{key}")),
                Counter::Memory(_) => None,
            })
            .collect();
        let store = checks.iter().find_map(|(counter, _)| match counter {
            Counter::Shared { store, .. } => Some(store),
            Counter::Memory(_) => None,
        });
        let Some(store) = store.filter(|_| shared.len() == checks.len()) else {
            return checks.iter().any(|(counter, key)| counter.locked(key, now));
        };
        // A store that cannot answer locks no one: the sign-in that asked
        // fails on the same store a moment later anyway.
        match store.failure_counts(&shared) {
            Ok(found) => found.iter().flatten().any(|f| f.locked_until > now),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the sign-in failure counters");
                false
            }
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
    /// Second-factor codes per account and day (`reserve_code`).
    code_days: Counter,
}

/// Second-factor codes one account may be sent in a day by clients that
/// are not its owner's known browsers. With locks that double per
/// (account, client), this caps guessing a 6-digit code at 30 a day: about
/// 0.3% over 30 days (RFC 6238 §5.2 asks for a throttle; RFC 4226 §7.3
/// for growing lock-outs).
pub const CODE_ATTEMPTS_PER_DAY: u32 = 30;

const DAY: i64 = 86_400;

/// Why a second-factor code was not looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeRefusal {
    /// This client is locked out of the account's codes (for a while that
    /// doubles with each lock).
    Locked,
    /// The account had its day's codes from unknown clients.
    DailyCap,
}

/// A code attempt, reserved: the count is taken before the code is
/// evaluated, so attempts at once cannot all slip under the cap.
pub struct CodeAttempt {
    /// What this attempt's reservation locked (worth auditing).
    pub newly_locked: Option<LockScope>,
    pub delay: Duration,
}

/// One more code attempt by a (account, client) pair: false if locked.
/// The count restarts after a lock and after `lock_for` of quiet; the
/// doubling restarts after a quiet day.
fn reserve_pair(entry: &mut Failures, now: i64, max: u32, lock_for: i64) -> bool {
    if entry.locked_until > now {
        return false;
    }
    if now - entry.last_at > DAY {
        *entry = Failures::default();
    } else if now - entry.last_at > lock_for {
        entry.count = 0;
    }
    entry.count += 1;
    entry.last_at = now;
    if entry.count >= max {
        entry.locked_until = now + (lock_for << entry.locks.min(6));
        entry.locks += 1;
        entry.count = 0;
    }
    true
}

/// One more code attempt on an account today (`last_at`: when its day
/// began, `locked_until`: when it ends, so pruning keeps it that long):
/// false once the day's are spent.
fn reserve_day(entry: &mut Failures, now: i64, max: u32) -> bool {
    if now >= entry.locked_until {
        *entry = Failures { last_at: now, locked_until: now + DAY, ..Failures::default() };
    }
    if entry.count >= max {
        return false;
    }
    entry.count += 1;
    true
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
        Throttle {
            policy,
            pairs: Counter::memory(),
            addresses: Counter::memory(),
            accounts: Counter::memory(),
            code_days: Counter::memory(),
        }
    }

    /// Counters in `store`, shared by every instance that uses it.
    pub fn shared(policy: SignInPolicy, store: Store) -> Self {
        let counter = |prefix| Counter::Shared { store: store.clone(), prefix };
        Throttle {
            policy,
            pairs: counter("pair"),
            addresses: counter("address"),
            accounts: counter("account"),
            code_days: counter("code-day"),
        }
    }

    /// Is this attempt refused before the password is even looked at?
    pub fn is_locked(&self, account: &str, client: Client<'_>, now: i64) -> bool {
        let pair = pair_key(account, client);
        let checks = match client {
            Client::Known(_) => vec![(&self.pairs, pair.as_str())],
            Client::Unknown(address) => {
                vec![(&self.pairs, pair.as_str()), (&self.addresses, address), (&self.accounts, account)]
            }
        };
        Counter::any_locked(&checks, now)
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

    /// Is `address` locked out of guessing `what`, a secret that is no one
    /// account's (a one-time link)? Per address only: for `what`, and the
    /// address's count across everything. Never the account-wide count,
    /// which every guesser would share: enough addresses would lock every
    /// holder of a good link out.
    pub fn is_address_locked(&self, what: &str, address: &str, now: i64) -> bool {
        self.pairs.locked(&pair_key(what, Client::Unknown(address)), now) || self.addresses.locked(address, now)
    }

    /// A wrong guess at `what` from `address` (see `is_address_locked`).
    pub fn record_address_failure(&self, what: &str, address: &str, now: i64) {
        let p = self.policy;
        self.pairs.record(&pair_key(what, Client::Unknown(address)), now, p.max_failures, p.lock_for);
        self.addresses.record(address, now, p.ip_max_failures, p.lock_for);
    }

    /// A successful sign-in clears this client's count on the account (not
    /// the address's, nor the account-wide count of unknown clients).
    pub fn record_success(&self, account: &str, client: Client<'_>) {
        self.pairs.forget(&pair_key(account, client));
    }

    /// Reserves a second-factor code attempt on `account` (`mfa:NAME`)
    /// before the code is looked at: the pair's count (locks double each
    /// time), and for unknown clients the account's day. Refused: nothing
    /// is evaluated.
    pub fn reserve_code(&self, account: &str, client: Client<'_>, now: i64) -> Result<CodeAttempt, CodeRefusal> {
        let p = self.policy;
        let (allowed, pair) =
            self.pairs.update(&pair_key(account, client), now, |e| reserve_pair(e, now, p.max_failures, p.lock_for));
        if !allowed {
            return Err(CodeRefusal::Locked);
        }
        let mut newly_locked = (pair.locked_until > now).then_some(LockScope::AccountFromClient);
        if let Client::Unknown(_) = client {
            let (allowed, day) = self.code_days.update(account, now, |e| reserve_day(e, now, CODE_ATTEMPTS_PER_DAY));
            if !allowed {
                return Err(CodeRefusal::DailyCap);
            }
            if day.count >= CODE_ATTEMPTS_PER_DAY {
                newly_locked = Some(LockScope::Account);
            }
        }
        let doublings = pair.count.saturating_sub(1).min(5);
        Ok(CodeAttempt { newly_locked, delay: Duration::from_millis(p.delay_ms << doublings) })
    }

    /// The longest delay a failure gets (for an attempt refused unseen).
    pub fn longest_delay(&self) -> Duration {
        Duration::from_millis(self.policy.delay_ms << 5)
    }

    /// A right code: the pair starts afresh (locks too), and the attempt
    /// does not count against the account's day.
    pub fn code_succeeded(&self, account: &str, client: Client<'_>, now: i64) {
        self.pairs.forget(&pair_key(account, client));
        if let Client::Unknown(_) = client {
            self.code_days.update(account, now, |e| {
                e.count = e.count.saturating_sub(1);
                true
            });
        }
    }

    /// Code attempts on `account` from unknown clients today that did not
    /// succeed, and when its day began: what the user is told.
    pub fn code_failures_today(&self, account: &str, now: i64) -> Option<(u32, i64)> {
        self.code_days.peek(account).filter(|d| d.count > 0 && now < d.locked_until).map(|d| (d.count, d.last_at))
    }

    /// Forgets what no longer matters (housekeeping).
    pub fn prune(&self, now: i64) {
        let lock_for = self.policy.lock_for;
        // A counter that has locked keeps its doubling for a quiet day.
        let live = |f: &Failures| {
            now - f.last_at <= lock_for || f.locked_until > now || (f.locks > 0 && now - f.last_at <= DAY)
        };
        if let Counter::Shared { store, .. } = &self.pairs {
            // One tree holds all three kinds.
            if let Err(e) = store.prune_failure_counts(live) {
                tracing::warn!(error = %e, "cannot prune sign-in failure counters");
            }
        }
        for counter in [&self.pairs, &self.addresses, &self.accounts, &self.code_days] {
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

    #[test]
    fn code_attempts_are_reserved_before_they_are_evaluated_and_sixteen_at_once_get_exactly_the_cap() {
        for (_dir, t) in throttles() {
            let allowed = std::thread::scope(|scope| {
                let attempts: Vec<_> =
                    (0..16).map(|_| scope.spawn(|| t.reserve_code("mfa:alice", HOME, 1000).is_ok())).collect();
                attempts.into_iter().map(|a| a.join().unwrap()).filter(|ok| *ok).count()
            });
            assert_eq!(allowed, POLICY.max_failures as usize, "no more evaluated than the cap");
            assert_eq!(t.reserve_code("mfa:alice", HOME, 1001).err(), Some(CodeRefusal::Locked));
        }
    }

    #[test]
    fn code_locks_double_each_time_and_a_right_code_starts_afresh() {
        for (_dir, t) in throttles() {
            let mut now = 1000;
            for lock in [900, 1800, 3600] {
                for _ in 0..3 {
                    assert!(t.reserve_code("mfa:alice", HOME, now).is_ok());
                }
                assert!(t.reserve_code("mfa:alice", HOME, now + lock - 1).is_err(), "locked for {lock} s");
                now += lock;
            }
            assert!(t.reserve_code("mfa:alice", HOME, now).is_ok(), "open again after the third lock");
            t.code_succeeded("mfa:alice", HOME, now);
            for _ in 0..2 {
                assert!(t.reserve_code("mfa:alice", HOME, now).is_ok(), "a right code ended the count");
            }
            assert!(t.reserve_code("mfa:alice", HOME, now).is_ok());
            assert!(t.reserve_code("mfa:alice", HOME, now + 899).is_err(), "and the doubling: 15 minutes again");
            assert!(t.reserve_code("mfa:alice", HOME, now + 900).is_ok());
        }
    }

    #[test]
    fn unknown_clients_get_a_days_codes_per_account_and_the_owners_browser_is_not_stopped() {
        for (_dir, t) in throttles() {
            let mut allowed = 0;
            for i in 0..100 {
                // A new address for every attempt: no pair ever locks.
                if t.reserve_code("mfa:alice", Client::Unknown(&format!("198.51.100.{i}")), 1000).is_ok() {
                    allowed += 1;
                }
            }
            assert_eq!(allowed, CODE_ATTEMPTS_PER_DAY);
            assert_eq!(t.code_failures_today("mfa:alice", 1000), Some((CODE_ATTEMPTS_PER_DAY, 1000)));
            assert_eq!(
                t.reserve_code("mfa:alice", Client::Unknown("203.0.113.1"), 1000 + 86_399).err(),
                Some(CodeRefusal::DailyCap)
            );
            assert!(t.reserve_code("mfa:alice", Client::Known("her-browser"), 1000).is_ok());
            assert!(t.reserve_code("mfa:alice", Client::Unknown("203.0.113.1"), 1000 + 86_400).is_ok(), "a new day");
        }
    }

    #[test]
    fn a_flood_of_new_keys_does_not_lift_a_code_lock_in_memory() {
        let t = Throttle::new(POLICY);
        for _ in 0..3 {
            assert!(t.reserve_code("mfa:alice", HOME, 1000).is_ok());
        }
        for i in 0..MAX_TRACKED + 10 {
            let _ = t.reserve_code(&format!("mfa:u{i}"), Client::Known("device"), 1001);
        }
        assert_eq!(t.reserve_code("mfa:alice", HOME, 1002).err(), Some(CodeRefusal::Locked), "still locked");
    }
}
