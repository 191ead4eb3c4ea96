//! What instances sharing a database keep in it beyond the records of
//! sled's single process: sign-in failure counters, so that they lock an
//! account or address together (`throttle` decides what a count means;
//! this only keeps them; not synced: a crash forgets at most the last
//! failures, as a restart forgets in-memory counters), and the signing
//! keys, sealed (`keystore` decides how).

use super::backend::{Op, Tree};
use super::{Result, Store, decode, encode};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCount {
    pub count: u32,
    pub last_at: i64,
    pub locked_until: i64,
    /// How many locks this counter has set in a row (second-factor codes:
    /// each lasts twice as long as the one before).
    #[serde(default)]
    pub locks: u32,
}

impl Store {
    pub fn failure_count(&self, key: &str) -> Result<Option<FailureCount>> {
        self.get(Tree::Throttle, key.as_bytes())
    }

    /// Applies `change` to the counter at `key` (a new one if absent) as a
    /// compare-and-swap, retried until no other instance wrote in between.
    /// Returns the counter as written.
    pub fn update_failure_count(&self, key: &str, change: impl Fn(&mut FailureCount)) -> Result<FailureCount> {
        let key = key.as_bytes().to_vec();
        loop {
            let seen = self.kv.get(Tree::Throttle, &key)?;
            let mut count: FailureCount = seen.as_deref().map(decode).transpose()?.unwrap_or_default();
            change(&mut count);
            let ops = vec![
                Op::Expect(Tree::Throttle, key.clone(), seen),
                Op::Put(Tree::Throttle, key.clone(), encode(&count)),
            ];
            if self.kv.apply(ops)? {
                return Ok(count);
            }
        }
    }

    pub fn forget_failure_count(&self, key: &str) -> Result<()> {
        self.kv.remove(Tree::Throttle, key.as_bytes())?;
        Ok(())
    }

    /// Removes the counters `keep` says are over.
    pub fn prune_failure_counts(&self, keep: impl Fn(&FailureCount) -> bool) -> Result<usize> {
        let mut removed = 0;
        for (key, value) in self.kv.scan(Tree::Throttle)? {
            if !keep(&decode(&value)?) {
                self.kv.remove(Tree::Throttle, &key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

// ----- signing keys kept in the store (sealed PKCS#8 PEM, by key name) -----

impl Store {
    /// Adds a key, durably; false if one of that name exists.
    pub fn add_signing_key(&self, name: &str, sealed: &[u8]) -> Result<bool> {
        let key = name.as_bytes().to_vec();
        let added = self
            .kv
            .apply(vec![Op::Expect(Tree::Keys, key.clone(), None), Op::Put(Tree::Keys, key, sealed.to_vec())])?;
        self.kv.make_durable()?;
        Ok(added)
    }

    /// Replaces key `name`, sealed as `seen`, with `next` (the same key
    /// sealed anew), durably; false if it changed or went meanwhile.
    pub fn reseal_signing_key(&self, name: &str, seen: &[u8], next: &[u8]) -> Result<bool> {
        let key = name.as_bytes().to_vec();
        let replaced = self.kv.apply(vec![
            Op::Expect(Tree::Keys, key.clone(), Some(seen.to_vec())),
            Op::Put(Tree::Keys, key, next.to_vec()),
        ])?;
        if replaced {
            self.kv.make_durable()?;
        }
        Ok(replaced)
    }

    /// Every key: (name, sealed PEM).
    pub fn signing_keys(&self) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self.kv.scan(Tree::Keys)?.into_iter().map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v)).collect())
    }
}
