//! bcrypt password hashes, computed off the async executor: one hash at
//! cost 10 takes ~67 ms of CPU, which would stall every request on a worker.
//! A stored hash of another cost than `password_hash_cost` is replaced at
//! the user's next sign-in.

use std::sync::{Arc, LazyLock};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("password must be between 8 and 72 bytes (bcrypt ignores anything past 72)")]
    BadLength,
}

pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    if password.len() < 8 || password.len() > 72 {
        return Err(PasswordError::BadLength);
    }
    Ok(())
}

/// `$2b$…`, the form Node-RED's `adminAuth.users[].password` takes.
pub fn hash(password: &str, cost: u32) -> Result<String, PasswordError> {
    check_policy(password)?;
    Ok(bcrypt::hash(password, cost)?)
}

/// The cost a bcrypt hash was made with (`$2b$10$…` → 10).
pub fn cost_of(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(""), Some("2a" | "2b" | "2y"), Some(cost)) if cost.len() == 2 => cost.parse().ok(),
        _ => None,
    }
}

/// How many verifications against a hash of `cost` take as long as one of
/// `work_cost`: bcrypt's time doubles with each unit of cost.
fn runs_for(cost: u32, work_cost: u32) -> u32 {
    1 << work_cost.saturating_sub(cost).min(20)
}

/// A bcrypt hash that no password matches, of the *work cost*: the highest
/// of the configured cost and any stored hash's (read at start-up). It is
/// verified against when a username is unknown (or locked), and a known
/// user's check is padded up to it, so every sign-in attempt costs the same
/// time and the answer never tells whether the account exists, even after
/// `password_hash_cost` changes. Making it takes as long as a sign-in (~60
/// ms at cost 10), so it is made on a background thread at start-up instead
/// of delaying the first answer; a sign-in that comes first waits.
#[derive(Clone)]
pub struct DummyHash {
    hash: Arc<LazyLock<String, Box<dyn FnOnce() -> String + Send>>>,
    work_cost: u32,
    configured_cost: u32,
}

impl DummyHash {
    /// `stored_costs`: the costs of the hashes in the store now.
    pub fn new(configured_cost: u32, stored_costs: impl IntoIterator<Item = u32>) -> DummyHash {
        let work_cost = stored_costs.into_iter().fold(configured_cost, u32::max);
        let make: Box<dyn FnOnce() -> String + Send> = Box::new(move || {
            // The cost was validated (4..=31), so only a failing CSPRNG can
            // make this fail; then no unknown name can ever verify anyway.
            hash("not-a-real-password", work_cost).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot make the dummy password hash");
                String::new()
            })
        });
        if work_cost > configured_cost {
            tracing::info!(
                work_cost,
                configured_cost,
                "some stored passwords use a higher bcrypt cost than password_hash_cost: every sign-in attempt \
                 costs as much as theirs until those users sign in again (then they are rehashed)"
            );
        }
        DummyHash { hash: Arc::new(LazyLock::new(make)), work_cost, configured_cost }
    }

    /// Starts making the hash now, off the caller's thread.
    pub fn warm_up(&self) {
        let me = self.clone();
        std::thread::spawn(move || {
            LazyLock::force(&me.hash);
        });
    }

    /// Blocks until the hash exists: call off the async workers.
    fn get(&self) -> String {
        LazyLock::force(&self.hash).clone()
    }
}

/// The outcome of a password check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    /// It matched; `rehashed` is the password hashed at the configured cost
    /// when the stored hash has another, to be stored in its place.
    Yes {
        rehashed: Option<String>,
    },
}

/// Checks `password` against `stored` (None: an unknown or locked user,
/// checked against the dummy hash), always in the time one hash of the work
/// cost takes (see `DummyHash`). Run it where waiting is fine: the blocking
/// pool (`http::on_pool`) or the command line.
pub fn verify(password: &str, stored: Option<&str>, dummy: &DummyHash) -> Verified {
    let Some(stored) = stored else {
        let _ = bcrypt::verify(password, &dummy.get());
        return Verified::No;
    };
    let cost = cost_of(stored).unwrap_or(dummy.work_cost);
    let matches = bcrypt::verify(password, stored).unwrap_or(false);
    // Pad a cheaper hash up to the work cost (the result cannot change).
    for _ in 1..runs_for(cost, dummy.work_cost) {
        let _ = bcrypt::verify(password, stored);
    }
    if !matches {
        return Verified::No;
    }
    let rehashed = (cost != dummy.configured_cost).then(|| hash(password, dummy.configured_cost).ok()).flatten();
    Verified::Yes { rehashed }
}

/// A random password for generated accounts: 20 characters of base64url.
pub fn generate() -> Result<String, super::secrets::RandomError> {
    Ok(super::secrets::b64url(&super::secrets::random_bytes::<15>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_is_read_from_the_hash() {
        assert_eq!(cost_of("$2b$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"), Some(10));
        assert_eq!(cost_of("$2y$04$x"), Some(4));
        assert_eq!(cost_of("plain"), None);
        assert_eq!(cost_of("$1$10$x"), None);
    }

    #[test]
    fn a_known_users_check_does_the_work_of_one_hash_at_the_work_cost() {
        // A hash of cost c takes 2^c units; an unknown user costs one dummy check at the work cost.
        for (stored, work) in [(4, 4), (4, 6), (10, 12), (5, 5)] {
            assert_eq!((1u64 << stored) * u64::from(runs_for(stored, work)), 1u64 << work, "{stored} → {work}");
        }
        assert_eq!(runs_for(12, 10), 1, "a dearer hash is checked once");
    }

    #[test]
    fn a_match_at_another_cost_is_rehashed_at_the_configured_one() {
        let dummy = DummyHash::new(5, [4]);
        let old = bcrypt::hash("correct horse", 4).unwrap();
        let Verified::Yes { rehashed: Some(new) } = verify("correct horse", Some(&old), &dummy) else {
            panic!("verifies and rehashes");
        };
        assert_eq!(cost_of(&new), Some(5));
        assert!(bcrypt::verify("correct horse", &new).unwrap());
        assert_eq!(verify("correct horse", Some(&new), &dummy), Verified::Yes { rehashed: None });
        assert_eq!(verify("wrong horse", Some(&old), &dummy), Verified::No);
        assert_eq!(verify("correct horse", None, &dummy), Verified::No);
    }
}
