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

/// Where mail places (`take_mail_place`) are kept, beside the sign-in
/// failure counters. The prefix sorts after theirs (`account`, `address`,
/// `code-day`, `pair`), so a scan from it reads only places.
const MAIL_PLACES: &str = "places\0";

/// The times places were taken for one mailbox, within the window.
#[derive(Default, Serialize, Deserialize)]
struct MailPlaces {
    taken: Vec<i64>,
    window: i64,
}

impl Store {
    pub fn failure_count(&self, key: &str) -> Result<Option<FailureCount>> {
        self.get(Tree::Throttle, key.as_bytes())
    }

    /// Several counters in one read (one round trip on PostgreSQL).
    pub fn failure_counts(&self, keys: &[String]) -> Result<Vec<Option<FailureCount>>> {
        let keys: Vec<(Tree, &[u8])> = keys.iter().map(|k| (Tree::Throttle, k.as_bytes())).collect();
        self.kv.get_many(&keys)?.iter().map(|found| found.as_deref().map(decode).transpose()).collect()
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

    /// Takes one of `max` places for mail to `mailbox` in the `window`
    /// seconds up to `now` (a sliding window: no burst of twice `max`
    /// where two windows meet). A compare-and-swap, so a burst of requests,
    /// on any instance, gets exactly the places left. False when none is.
    pub fn take_mail_place(&self, mailbox: &str, now: i64, window: i64, max: usize) -> Result<bool> {
        let key = format!("{MAIL_PLACES}{mailbox}").into_bytes();
        loop {
            let seen = self.kv.get(Tree::Throttle, &key)?;
            let mut places: MailPlaces = seen.as_deref().map(decode).transpose()?.unwrap_or_default();
            places.taken.retain(|at| *at > now - window);
            if places.taken.len() >= max {
                return Ok(false);
            }
            places.taken.push(now);
            places.window = window;
            let ops = vec![
                Op::Expect(Tree::Throttle, key.clone(), seen),
                Op::Put(Tree::Throttle, key.clone(), encode(&places)),
            ];
            if self.kv.apply(ops)? {
                return Ok(true);
            }
        }
    }

    /// Forgets mail places whose window is over.
    pub fn prune_mail_places(&self, now: i64) -> Result<usize> {
        let mut removed = 0;
        for (key, value) in self.kv.scan_from(Tree::Throttle, MAIL_PLACES.as_bytes())? {
            if !key.starts_with(MAIL_PLACES.as_bytes()) {
                break;
            }
            let places: MailPlaces = decode(&value)?;
            if places.taken.iter().all(|at| *at <= now - places.window) {
                self.kv.remove(Tree::Throttle, &key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the counters `keep` says are over.
    pub fn prune_failure_counts(&self, keep: impl Fn(&FailureCount) -> bool) -> Result<usize> {
        let mut removed = 0;
        for (key, value) in self.kv.scan(Tree::Throttle)? {
            if key.starts_with(MAIL_PLACES.as_bytes()) {
                continue; // not a counter: `prune_mail_places`
            }
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_burst_takes_exactly_the_mail_places_left_and_the_window_then_starts_again() {
        let (_dir, store) = crate::store::testing::temp_store();
        let taken: usize = std::thread::scope(|s| {
            let racers: Vec<_> =
                (0..16).map(|_| s.spawn(|| store.take_mail_place("check\0alice", 1000, 3600, 3).unwrap())).collect();
            racers.into_iter().map(|r| usize::from(r.join().unwrap())).sum()
        });
        assert_eq!(taken, 3, "sixteen at once");
        assert!(store.take_mail_place("check\0bob", 1000, 3600, 3).unwrap(), "another mailbox has its own");
        assert!(!store.take_mail_place("check\0alice", 4599, 3600, 3).unwrap(), "still the first window");
        assert_eq!(store.prune_mail_places(4599).unwrap(), 0);
        assert!(store.take_mail_place("check\0alice", 4600, 3600, 3).unwrap(), "an hour after the burst");
        // Sliding: a place comes back an hour after it was taken, not all at once.
        for at in [1000, 2000, 3000] {
            assert!(store.take_mail_place("check\0dave", at, 3600, 3).unwrap());
        }
        assert!(!store.take_mail_place("check\0dave", 3500, 3600, 3).unwrap());
        assert!(store.take_mail_place("check\0dave", 4600, 3600, 3).unwrap(), "the place taken at 1000");
        assert!(!store.take_mail_place("check\0dave", 4600, 3600, 3).unwrap(), "only that one");
        assert_eq!(store.prune_mail_places(4600).unwrap(), 1, "bob's window is over, alice's and dave's not");
        assert_eq!(store.prune_mail_places(8200).unwrap(), 2);
        // The sign-in counters' pruning leaves places alone.
        assert!(store.take_mail_place("check\0carol", 9000, 3600, 3).unwrap());
        assert_eq!(store.prune_failure_counts(|_| false).unwrap(), 0);
    }
}
