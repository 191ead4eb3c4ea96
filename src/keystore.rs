//! Where the signing keys live. With sled (one process, one machine) they
//! are PEM files in `keys_dir` (`keys`). With PostgreSQL every instance
//! must sign with keys the others publish, so they are in the database,
//! sealed with the seal key (AES-256-GCM; `keys_dir/seal.key`, which every
//! instance needs a copy of, as it needs it for second factors).
//!
//! A key made in the database signs only `PUBLISH_LEAD_MS` after it was
//! made: by then every instance has looked at the catalog (each does every
//! `published::CATALOG_POLL`) and publishes it, so no instance signs with a
//! key another one's JWKS lacks. The key it replaces stays published for
//! the longest token lifetime after that.

use crate::config::{Config, StoreChoice};
use crate::crypto::seal::SealKey;
use crate::domain::SigningAlg;
use crate::keys::{KeyError, KeyRing, SigningKey, key_name};
use crate::store::{Store, StoreError};

/// How long after it is made a database key starts signing: twice the
/// catalog poll, and a second for the poll's own work.
pub const PUBLISH_LEAD_MS: i64 = 2 * crate::published::CATALOG_POLL.as_millis() as i64 + 1000;

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {0}: it does not open with this seal key (every instance needs the same keys_dir/seal.key)")]
    Sealed(String),
    #[error("cannot seal a signing key: {0}")]
    Seal(String),
}

pub enum KeyStore<'a> {
    Files(&'a std::path::Path),
    Database { store: &'a Store, seal: SealKey, keys_dir: &'a std::path::Path },
}

/// The seal key `config` names (`FERRID_SEAL_KEY`, else
/// `keys_dir/seal.key`), with `FERRID_SEAL_KEY_PREVIOUS` during a rotation.
pub fn seal_key_of(config: &Config) -> Result<SealKey, KeyError> {
    let secret = |s: &Option<crate::config::SealSecret>| s.as_ref().map(|k| k.0);
    crate::keys::seal_key(
        secret(&config.seal_key).as_ref(),
        secret(&config.seal_key_previous).as_ref(),
        &config.keys_dir,
    )
}

/// The context a key is sealed under: its name, so a sealed key cannot be
/// passed off as another.
fn context(name: &str) -> Vec<u8> {
    format!("ferrid signing key {name}").into_bytes()
}

impl<'a> KeyStore<'a> {
    pub fn of(config: &'a Config, store: &'a Store) -> Result<KeyStore<'a>, KeyStoreError> {
        Ok(match config.store {
            StoreChoice::Sled { .. } => KeyStore::Files(&config.keys_dir),
            StoreChoice::Postgres(_) => {
                KeyStore::Database { store, seal: seal_key_of(config)?, keys_dir: &config.keys_dir }
            }
        })
    }

    pub fn load(&self) -> Result<KeyRing, KeyStoreError> {
        match self {
            KeyStore::Files(dir) => Ok(KeyRing::load(dir)?),
            KeyStore::Database { store, seal, .. } => {
                let mut pems = Vec::new();
                for (name, sealed) in store.signing_keys()? {
                    let pem = seal.open(&sealed, &context(&name)).map_err(|_| KeyStoreError::Sealed(name.clone()))?;
                    pems.push((name, pem));
                }
                Ok(KeyRing::from_pems(pems, PUBLISH_LEAD_MS)?)
            }
        }
    }

    /// The keys, after making one for each algorithm in `needed` that has
    /// none. A database with no keys at all first takes the key files of
    /// `keys_dir` (a store just migrated from sled keeps its kids).
    pub fn load_or_create(&self, needed: &[SigningAlg], now_ms: i64) -> Result<KeyRing, KeyStoreError> {
        match self {
            KeyStore::Files(dir) => Ok(KeyRing::load_or_create(dir, needed, now_ms)?),
            KeyStore::Database { store, keys_dir, .. } => {
                if store.signing_keys()?.is_empty() {
                    for key in KeyRing::load(keys_dir)?.all() {
                        let pem = std::fs::read(&key.path)
                            .map_err(|source| KeyError::Io { path: key.path.clone(), source })?;
                        self.add(&key_name(key.alg, key.created_ms), &pem)?;
                    }
                }
                let ring = self.load()?;
                // Several applications may need the same algorithm: one key for all.
                let mut missing: Vec<SigningAlg> = Vec::new();
                for alg in needed {
                    if ring.all().all(|k| k.alg != *alg) && !missing.contains(alg) {
                        missing.push(*alg);
                    }
                }
                for alg in missing {
                    self.generate(alg, now_ms)?;
                }
                self.load()
            }
        }
    }

    /// A new key for `alg`: signing at once (files), or after the lead.
    pub fn rotate(&self, alg: SigningAlg, now_ms: i64) -> Result<(String, std::path::PathBuf), KeyStoreError> {
        match self {
            KeyStore::Files(dir) => {
                let key: SigningKey = KeyRing::rotate(dir, alg, now_ms)?;
                Ok((key.kid, key.path))
            }
            KeyStore::Database { .. } => self.generate(alg, now_ms),
        }
    }

    fn generate(&self, alg: SigningAlg, now_ms: i64) -> Result<(String, std::path::PathBuf), KeyStoreError> {
        let pem = crate::crypto::keygen::private_key_pem(alg).map_err(KeyError::from)?;
        let kid = crate::crypto::jose::KeyPair::from_pem(alg, &pem).map_err(KeyError::from)?.kid;
        // Two rotations within a millisecond must not share a name.
        let mut created_ms = now_ms;
        loop {
            let name = key_name(alg, created_ms);
            if self.add(&name, &pem)? {
                return Ok((kid, format!("database:{name}").into()));
            }
            created_ms += 1;
        }
    }

    /// Writes the database's keys to `dir` as the key files sled's ferrid
    /// reads (mode 0600; existing files are kept): moving back to one
    /// machine keeps every kid. Returns how many files were written.
    pub fn export_to_files(&self, dir: &std::path::Path) -> Result<usize, KeyStoreError> {
        let KeyStore::Database { store, seal, .. } = self else { return Ok(0) };
        let io = |source| KeyError::Io { path: dir.to_owned(), source };
        crate::fsutil::create_private_dir(dir).map_err(io)?;
        let mut written = 0;
        for (name, sealed) in store.signing_keys()? {
            let pem = seal.open(&sealed, &context(&name)).map_err(|_| KeyStoreError::Sealed(name.clone()))?;
            match crate::fsutil::write_new_file(&dir.join(format!("{name}.pem")), &pem, 0o600) {
                Ok(()) => written += 1,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(KeyError::Io { path: dir.join(format!("{name}.pem")), source }.into()),
            }
        }
        Ok(written)
    }

    /// During a seal-key rotation: every key in the database that only the
    /// previous seal key opens, sealed again with the current one. Returns
    /// how many moved. (Key files are not sealed: nothing to do for them.)
    pub fn reseal(&self) -> Result<usize, KeyStoreError> {
        let KeyStore::Database { store, seal, .. } = self else { return Ok(0) };
        let mut moved = 0;
        for (name, sealed) in store.signing_keys()? {
            let next = seal.reseal(&sealed, &context(&name)).map_err(|_| KeyStoreError::Sealed(name.clone()))?;
            // Another instance may move it first: then it is done.
            if let Some(next) = next
                && store.reseal_signing_key(&name, &sealed, &next)?
            {
                moved += 1;
            }
        }
        Ok(moved)
    }

    fn add(&self, name: &str, pem: &[u8]) -> Result<bool, KeyStoreError> {
        let KeyStore::Database { store, seal, .. } = self else { return Ok(false) };
        let sealed = seal.seal(pem, &context(name)).map_err(|e| KeyStoreError::Seal(e.to_string()))?;
        Ok(store.add_signing_key(name, &sealed)?)
    }
}
