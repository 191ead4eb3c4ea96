//! A consistent copy of every tree, and loading one into an empty store.
//!
//! The copy is taken with writers paused (see `Backend::snapshot`), so
//! records that refer to each other (a user and their username index, a
//! refresh family and its tokens) are copied together.

use super::backend::Tree;
use super::{Result, SCHEMA_VERSION, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Trees by name; keys and values in base64url (they are binary).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct TreeDump(pub BTreeMap<String, Vec<[String; 2]>>);

impl Store {
    /// Every tree as of one instant.
    pub fn dump(&self) -> Result<TreeDump> {
        let mut trees = BTreeMap::new();
        for (tree, entries) in self.kv.snapshot()? {
            let entries = entries
                .into_iter()
                .map(|(k, v)| [crate::crypto::secrets::b64url(&k), crate::crypto::secrets::b64url(&v)])
                .collect();
            trees.insert(tree.name().to_owned(), entries);
        }
        Ok(TreeDump(trees))
    }

    /// Creates a store in `data_dir`, which must hold no database, from a
    /// dump; durable before it returns. Everything is decoded before anything
    /// is written.
    pub fn restore(data_dir: &Path, dump: &TreeDump, schema: u32) -> Result<Store> {
        if schema != SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "the backup has schema version {schema}; this ferrid restores version {SCHEMA_VERSION}"
            )));
        }
        if data_dir.join("db").exists() || data_dir.join(super::INITIALIZED_MARKER).exists() {
            return Err(StoreError::Corrupt(format!(
                "{} already holds a database; restore needs an empty data dir",
                data_dir.display()
            )));
        }
        let trees = decode_dump(dump)?;
        let store = Store::open(data_dir)?;
        for (tree, entries) in &trees {
            for (key, value) in entries {
                store.kv.put(*tree, key, value)?;
            }
        }
        store.kv.make_durable()?;
        Ok(store)
    }

    /// Writes a dump into this store (PostgreSQL, say), which must hold no
    /// records yet, checked as `ferrid migrate` checks a copy.
    pub fn restore_into(&self, dump: &TreeDump, schema: u32) -> Result<super::CopyReport> {
        if schema != SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "the backup has schema version {schema}; this ferrid restores version {SCHEMA_VERSION}"
            )));
        }
        self.fill(&decode_dump(dump)?)
    }
}

/// Every tree of a dump, decoded (before anything is written), in
/// `Tree::ALL`'s order, the Meta tree included (as `copy_into` copies it).
fn decode_dump(dump: &TreeDump) -> Result<Vec<(Tree, Vec<super::backend::Entry>)>> {
    let mut trees = Vec::new();
    for (name, entries) in &dump.0 {
        let tree = Tree::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| StoreError::Corrupt(format!("the backup has an unknown tree {name:?}")))?;
        let decode = |s: &str| {
            crate::crypto::secrets::b64url_decode(s)
                .ok_or_else(|| StoreError::Corrupt(format!("tree {name}: an entry is not base64url")))
        };
        let decoded = entries.iter().map(|[k, v]| Ok((decode(k)?, decode(v)?))).collect::<Result<Vec<_>>>()?;
        trees.push((tree, decoded));
    }
    trees.sort_by_key(|(tree, _)| Tree::ALL.iter().position(|t| t == tree));
    Ok(trees)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::Op;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_dump_never_catches_a_batch_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = i.to_be_bytes().to_vec();
                    // Like a user and its username index: always written together.
                    let batch =
                        vec![Op::Put(Tree::Users, key.clone(), vec![1]), Op::Put(Tree::Usernames, key, vec![2])];
                    store.kv.apply(batch).unwrap();
                    i += 1;
                }
            });
            // Stops the writer even when an assertion below fails.
            struct StopOnDrop<'a>(&'a AtomicBool);
            impl Drop for StopOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
            let _stop = StopOnDrop(&stop);
            for _ in 0..200 {
                let dump = store.dump().unwrap();
                assert_eq!(dump.0["users"].len(), dump.0["usernames"].len(), "a torn copy");
            }
        });
    }

    #[test]
    fn restore_refuses_a_data_dir_that_holds_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let dump = store.dump().unwrap();
        drop(store);
        assert!(Store::restore(dir.path(), &dump, SCHEMA_VERSION).is_err());
        let empty = tempfile::tempdir().unwrap();
        assert!(Store::restore(empty.path(), &dump, SCHEMA_VERSION + 1).is_err(), "other schema versions");
        assert!(Store::restore(empty.path(), &dump, SCHEMA_VERSION).is_ok());
    }
}
