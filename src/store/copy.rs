//! Copying every record from one store into another, empty one: how
//! `ferrid migrate` moves from sled to PostgreSQL and back. The source is
//! read as of one instant (`Backend::snapshot`); the copy is checked
//! afterwards, tree by tree, by count and by a SHA-256 of every key and
//! value in order.

use super::backend::{Entry, Op, Tree};
use super::{Result, Store, StoreError};
use std::collections::BTreeMap;

/// Entries per batch written to the target (one transaction on PostgreSQL).
const BATCH: usize = 500;

/// What was copied: records per tree (empty trees left out) and the
/// checksum both stores agree on.
#[derive(Debug, PartialEq, Eq)]
pub struct CopyReport {
    pub records: BTreeMap<&'static str, usize>,
    pub checksum: String,
}

fn summary(trees: &[(Tree, Vec<Entry>)]) -> CopyReport {
    let mut hasher = openssl::sha::Sha256::new();
    let mut records = BTreeMap::new();
    for (tree, entries) in trees {
        if !entries.is_empty() {
            records.insert(tree.name(), entries.len());
        }
        hasher.update(tree.name().as_bytes());
        for (key, value) in entries {
            // Lengths first, so no two different trees hash alike.
            hasher.update(&(key.len() as u64).to_be_bytes());
            hasher.update(key);
            hasher.update(&(value.len() as u64).to_be_bytes());
            hasher.update(value);
        }
    }
    CopyReport { records, checksum: crate::crypto::secrets::b64url(&hasher.finish()) }
}

impl Store {
    /// Copies everything into `target`, which must hold no records yet (a
    /// new store has only its schema record). Fails, naming the tree, when
    /// the copy does not read back the same.
    pub fn copy_into(&self, target: &Store) -> Result<CopyReport> {
        target.fill(&self.kv.snapshot()?)
    }

    /// Writes `source` (every tree's entries) into this store, which must
    /// hold no records yet, in batches, then reads it back and compares:
    /// how `copy_into` and a restore into PostgreSQL write.
    pub(super) fn fill(&self, source: &[(Tree, Vec<Entry>)]) -> Result<CopyReport> {
        let target = self;
        for tree in Tree::ALL {
            if tree != Tree::Meta && target.kv.len(tree) > 0 {
                return Err(StoreError::Corrupt(format!(
                    "the target already holds records ({}); copy only into an empty store",
                    tree.name()
                )));
            }
        }
        for (tree, entries) in source {
            for chunk in entries.chunks(BATCH) {
                let ops = chunk.iter().map(|(k, v)| Op::Put(*tree, k.clone(), v.clone())).collect();
                target.kv.apply(ops)?;
            }
        }
        target.kv.make_durable()?;
        let copied = target.kv.snapshot()?;
        let (expected, found) = (summary(source), summary(&copied));
        if expected != found {
            let differs =
                source.iter().zip(&copied).find(|((_, a), (_, b))| a != b).map_or("?", |((tree, _), _)| tree.name());
            return Err(StoreError::Corrupt(format!("the copy differs from the source in tree {differs}")));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_reads_back_the_same_and_a_full_target_is_refused() {
        let (_a, source) = crate::store::testing::temp_store();
        source.create_user(&crate::store::User::for_test("alice", String::new())).unwrap();
        for at in 0..(BATCH as i64 + 3) {
            source.audit(&crate::store::AuditEvent::new(crate::store::AuditKind::SignIn, at)).unwrap();
        }
        let (_b, target) = crate::store::testing::temp_store();
        let report = source.copy_into(&target).unwrap();
        assert_eq!(report.records["users"], 1);
        assert_eq!(report.records["audit"], BATCH + 3, "more than one batch");
        assert_eq!(target.users().unwrap()[0].username.as_str(), "alice");
        assert_eq!(report, summary(&source.kv.snapshot().unwrap()), "source and copy agree");
        let again = source.copy_into(&target).unwrap_err().to_string();
        assert!(again.contains("already holds records (users)"), "{again}");
        assert!(again.contains("copy only into an empty store"), "{again}");
    }
}
