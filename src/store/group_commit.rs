//! Group commit: one fsync makes every write before it durable, so callers
//! that asked while another caller's fsync ran share the next one instead of
//! queueing one each. On a Raspberry Pi's SD card an fdatasync takes 10–50 ms;
//! without this, N concurrent refreshes wait N of them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct GroupCommit {
    /// Tickets handed out: one per `make_durable` call, taken after the
    /// caller's writes are done.
    requested: AtomicU64,
    /// The highest ticket whose writes are known to be on stable storage.
    /// Held across the sync, so syncs never overlap.
    synced: Mutex<u64>,
}

impl GroupCommit {
    /// Returns once everything the caller wrote before calling is durable,
    /// running `sync` only if no sync that started after this call covers it.
    pub fn make_durable<E>(&self, sync: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= ticket {
            return Ok(());
        }
        // Read before syncing: every ticket up to here was taken after its
        // writes finished, so this sync covers them all. A ticket taken
        // during the sync may belong to a write the sync missed.
        let covered = self.requested.load(Ordering::SeqCst);
        sync()?;
        *synced = covered;
        Ok(())
    }

    #[cfg(test)]
    fn requested(&self) -> u64 {
        self.requested.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    /// A first caller whose sync is held open until two more callers have
    /// taken their tickets, so their writes may have come too late for it.
    /// Returns how many syncs ran and what the two later callers got.
    fn two_arrive_during_a_sync(
        later_sync: fn(usize) -> Result<(), &'static str>,
    ) -> (usize, Vec<Result<(), &'static str>>) {
        let commit = Arc::new(GroupCommit::default());
        let syncs = Arc::new(AtomicUsize::new(0));
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let first = {
            let (commit, syncs) = (commit.clone(), syncs.clone());
            std::thread::spawn(move || {
                commit.make_durable(|| {
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    syncs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, &str>(())
                })
            })
        };
        entered_rx.recv().unwrap();
        let later: Vec<_> = (0..2)
            .map(|_| {
                let (commit, syncs) = (commit.clone(), syncs.clone());
                std::thread::spawn(move || commit.make_durable(|| later_sync(syncs.fetch_add(1, Ordering::SeqCst))))
            })
            .collect();
        while commit.requested() < 3 {
            std::thread::yield_now();
        }
        release_tx.send(()).unwrap();
        first.join().unwrap().unwrap();
        let results = later.into_iter().map(|caller| caller.join().unwrap()).collect();
        (syncs.load(Ordering::SeqCst), results)
    }

    #[test]
    fn callers_that_arrive_during_a_sync_share_the_next_one() {
        let (syncs, results) = two_arrive_during_a_sync(|_| Ok(()));
        // Not 2 (the first sync could not cover them), not 3 (one suffices).
        assert_eq!(syncs, 2);
        assert_eq!(results, [Ok(()), Ok(())]);
    }

    #[test]
    fn a_failed_sync_covers_nobody() {
        // The second sync (the first latecomer's) fails: the other latecomer
        // must not take it as covering its writes, and syncs itself.
        let (syncs, mut results) = two_arrive_during_a_sync(|n| if n == 1 { Err("disk full") } else { Ok(()) });
        assert_eq!(syncs, 3);
        results.sort();
        assert_eq!(results, [Ok(()), Err("disk full")]);
    }
}
