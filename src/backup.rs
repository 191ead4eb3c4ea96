//! `ferrid backup FILE` / `ferrid restore FILE`: the store and the signing
//! keys in one file, so tokens issued before the backup still verify after
//! a restore.
//!
//! The file is JSON followed by a line `sha256 <hex of the JSON>`: a
//! truncated or edited backup is refused before anything is written. It
//! holds private keys and secret hashes, so it is written with mode 0600.

use crate::crypto::secrets::Digest;
use crate::keys::KeyRing;
use crate::store::{SCHEMA_VERSION, Store, TreeDump};
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT: &str = "ferrid-backup";
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Backup {
    format: String,
    version: u32,
    schema: u32,
    created_at: String,
    store: TreeDump,
    keys: Vec<KeyFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    file: String,
    pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a ferrid backup, or damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Conflict(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.display().to_string(), source }
}

/// Copies the store (writers paused for the copy) and the key files.
pub fn take(store: &Store, keys_dir: &Path, now: i64) -> Result<Backup, BackupError> {
    let store_dump = store.dump()?;
    let mut keys = Vec::new();
    for key in KeyRing::load(keys_dir)?.all() {
        let pem = std::fs::read_to_string(&key.path).map_err(io(&key.path))?;
        let file = key.path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        keys.push(KeyFile { file, pem });
    }
    // The key TOTP seeds are sealed with: without it they would not open.
    let seal = keys_dir.join(crate::keys::SEAL_KEY_FILE);
    if seal.exists() {
        let text = std::fs::read_to_string(&seal).map_err(io(&seal))?;
        keys.push(KeyFile { file: crate::keys::SEAL_KEY_FILE.to_owned(), pem: text });
    }
    Ok(Backup {
        format: FORMAT.into(),
        version: VERSION,
        schema: SCHEMA_VERSION,
        created_at: crate::clock::rfc3339(now),
        store: store_dump,
        keys,
    })
}

pub fn encode(backup: &Backup) -> Vec<u8> {
    let body = serde_json::to_string(backup).unwrap_or_default();
    let checksum = Digest::of(&body).to_hex();
    format!("{body}\nsha256 {checksum}\n").into_bytes()
}

pub fn decode(bytes: &[u8]) -> Result<Backup, BackupError> {
    let damaged = |m: &str| BackupError::Damaged(m.to_owned());
    let text = std::str::from_utf8(bytes).map_err(|_| damaged("not UTF-8"))?;
    let (body, trailer) = text.trim_end().rsplit_once("\nsha256 ").ok_or_else(|| damaged("no checksum line"))?;
    if !Digest::from_hex(trailer.trim()).is_some_and(|checksum| checksum.matches(body)) {
        return Err(damaged("the checksum does not match (truncated or edited)"));
    }
    let backup: Backup = serde_json::from_str(body).map_err(|e| BackupError::Damaged(e.to_string()))?;
    if backup.format != FORMAT || backup.version != VERSION {
        return Err(damaged("unknown format or version"));
    }
    Ok(backup)
}

/// What a restore brought back, for the CLI to report.
pub struct Restored {
    pub users: usize,
    pub apps: usize,
    pub keys_written: usize,
}

/// Restores into an empty data dir; key files go into `keys_dir` unless an
/// identical one is there (a different file of the same name is a conflict,
/// found before anything is written).
/// Restores `backup` into a new sled store in `data_dir`, or, given
/// `into` (an empty PostgreSQL database), into that, checked by counts and
/// checksum; key files the backup holds go to `keys_dir` either way.
pub fn restore(
    backup: &Backup,
    data_dir: &Path,
    keys_dir: &Path,
    into: Option<&Store>,
) -> Result<Restored, BackupError> {
    let mut missing = Vec::new();
    for key in &backup.keys {
        let plain_name = (!key.file.is_empty()
            && key.file.ends_with(".pem")
            && !key.file.contains('/')
            && !key.file.starts_with('.'))
            || key.file == crate::keys::SEAL_KEY_FILE;
        if !plain_name {
            return Err(BackupError::Damaged(format!("bad key file name {:?}", key.file)));
        }
        let path = keys_dir.join(&key.file);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == key.pem => {}
            Ok(_) => {
                return Err(BackupError::Conflict(format!(
                    "{} exists and differs from the backup's; move it away first (nothing was restored)",
                    path.display()
                )));
            }
            Err(_) => missing.push((path, key.pem.as_bytes())),
        }
    }
    let restored = match into {
        Some(target) => {
            target.restore_into(&backup.store, backup.schema)?;
            None
        }
        None => Some(Store::restore(data_dir, &backup.store, backup.schema)?),
    };
    let store = restored.as_ref().or(into).expect("one of the two");
    crate::fsutil::create_private_dir(keys_dir).map_err(io(keys_dir))?;
    for (path, pem) in &missing {
        crate::fsutil::write_new_file(path, pem, 0o600).map_err(io(path))?;
    }
    // The restored key files must load, or the server would not start on
    // them (on PostgreSQL the keys may live in the database instead).
    if into.is_none() || backup.keys.iter().any(|k| k.file.ends_with(".pem")) {
        KeyRing::load(keys_dir)?;
    }
    Ok(Restored { users: store.user_count(), apps: store.apps()?.len(), keys_written: missing.len() })
}
