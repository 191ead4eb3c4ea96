//! Sign-in failure counters kept in the store, so that instances sharing a
//! database lock an account or address together (`throttle` decides what
//! a count means; this only keeps them). Not synced: a crash forgets at
//! most the last failures, as a restart forgets in-memory counters.

use super::backend::{Op, Tree};
use super::{Result, Store, decode, encode};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCount {
    pub count: u32,
    pub last_at: i64,
    pub locked_until: i64,
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
