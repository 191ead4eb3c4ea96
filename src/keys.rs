//! Signing keys: PEM files in `keys_dir`, their public JWKs, and rotation.
//!
//! A key file is named `{family}-{created_ms}.pem` (PKCS#8, mode 0600). The
//! newest key of a family signs; an older one stays published in the JWKS
//! until every token it may have signed has expired, i.e. until its successor
//! has existed for the longest JWT lifetime. No manifest to keep in sync: the
//! file names say it all.

use crate::crypto::jose::{self, JoseError};
use crate::domain::SigningAlg;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path}: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("cannot generate a key: {0}")]
    Generate(#[from] openssl::error::ErrorStack),
    #[error(transparent)]
    Jose(#[from] JoseError),
}

/// The file in `keys_dir` that holds the key secrets are sealed with (see
/// `crypto::seal`): 32 random bytes as base64url, mode 0600.
pub const SEAL_KEY_FILE: &str = "seal.key";

/// The seal key: `given` (FERRID_SEAL_KEY), else the one in `dir`, made on
/// first use; with `previous` (FERRID_SEAL_KEY_PREVIOUS) during a rotation.
pub fn seal_key(
    given: Option<&[u8; 32]>,
    previous: Option<&[u8; 32]>,
    dir: &Path,
) -> Result<crate::crypto::seal::SealKey, KeyError> {
    let current = current_seal_key(given, dir)?;
    Ok(match previous {
        Some(previous) => current.with_previous(*previous),
        None => current,
    })
}

fn current_seal_key(given: Option<&[u8; 32]>, dir: &Path) -> Result<crate::crypto::seal::SealKey, KeyError> {
    // From the environment (FERRID_SEAL_KEY): nothing is read or written here.
    if let Some(bytes) = given {
        return Ok(crate::crypto::seal::SealKey::from_bytes(*bytes));
    }
    let path = dir.join(SEAL_KEY_FILE);
    let bad = |message: &str| KeyError::BadKey { path: path.clone(), message: message.to_owned() };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::fsutil::create_private_dir(dir).map_err(|source| KeyError::Io { path: dir.to_owned(), source })?;
            let bytes: [u8; crate::crypto::seal::KEY_BYTES] =
                crate::crypto::secrets::random_bytes().map_err(|e| bad(&e.to_string()))?;
            let text = format!("{}\n", crate::crypto::secrets::b64url(&bytes));
            match crate::fsutil::write_new_file(&path, text.as_bytes(), 0o600) {
                Ok(()) => text,
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::read_to_string(&path).map_err(|source| KeyError::Io { path: path.clone(), source })?
                }
                Err(source) => return Err(KeyError::Io { path, source }),
            }
        }
        Err(source) => return Err(KeyError::Io { path, source }),
    };
    let bytes = crate::crypto::secrets::b64url_decode(text.trim()).ok_or_else(|| bad("not base64url"))?;
    let bytes: [u8; crate::crypto::seal::KEY_BYTES] = bytes.try_into().map_err(|_| bad("not a 256-bit key"))?;
    Ok(crate::crypto::seal::SealKey::from_bytes(bytes))
}

fn family(alg: SigningAlg) -> &'static str {
    match alg {
        SigningAlg::RS256 => "rsa",
        SigningAlg::ES256 => "p256",
        SigningAlg::EdDSA => "ed25519",
    }
}

fn alg_of_family(name: &str) -> Option<SigningAlg> {
    SigningAlg::ALL.into_iter().find(|alg| family(*alg) == name)
}

pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_ms: i64,
    /// When it starts signing. Keys kept in a shared database are published
    /// a lead time before that, so every instance's JWKS has a key before
    /// any instance signs with it; a file key (one instance) signs as soon
    /// as it exists, whatever the clock says (`i64::MIN`).
    pub active_from_ms: i64,
    /// Its file, or for a key in the database `database:{name}`.
    pub path: PathBuf,
    pub(crate) jose: jose::KeyPair,
}

impl AsRef<jose::KeyPair> for SigningKey {
    fn as_ref(&self) -> &jose::KeyPair {
        &self.jose
    }
}

impl jose::KeyLookup for KeyRing {
    fn key_pair(&self, kid: &str) -> Option<&jose::KeyPair> {
        self.by_kid(kid).map(|k| &k.jose)
    }
}

impl SigningKey {
    pub fn public_jwk(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.jose.public_jwk
    }

    /// SubjectPublicKeyInfo PEM, for verifiers that take a PEM (passport-jwt's `secretOrKey`).
    pub fn public_pem(&self) -> &str {
        &self.jose.public_pem
    }
}

/// Whether a key signs, is only published, or may be deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Published, and signing once its lead time is over.
    Next,
    Current,
    Published,
    Expired,
}

#[derive(Clone, Default)]
pub struct KeyRing {
    /// Oldest first.
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    /// Reads every key in `dir`, generating one for each needed algorithm
    /// that has none. Creates `dir` (mode 0700) if needed.
    pub fn load_or_create(dir: &Path, needed: &[SigningAlg], now_ms: i64) -> Result<KeyRing, KeyError> {
        let ring = KeyRing::load(dir)?;
        let mut keys = ring.keys;
        for alg in needed {
            if !keys.iter().any(|k| k.alg == *alg) {
                keys.push(Arc::new(generate(dir, *alg, now_ms)?));
            }
        }
        keys.sort_by_key(|k| k.created_ms);
        Ok(KeyRing { keys })
    }

    pub fn load(dir: &Path) -> Result<KeyRing, KeyError> {
        let io = |source| KeyError::Io { path: dir.to_owned(), source };
        crate::fsutil::create_private_dir(dir).map_err(io)?;
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".pem") else {
                continue;
            };
            let Some((alg, created_ms)) = parse_key_name(stem) else {
                continue;
            };
            let pem = std::fs::read(&path).map_err(|source| KeyError::Io { path: path.clone(), source })?;
            let jose = jose::KeyPair::from_pem(alg, &pem)
                .map_err(|e| KeyError::BadKey { path: path.clone(), message: e.to_string() })?;
            keys.push(Arc::new(SigningKey {
                kid: jose.kid.clone(),
                alg,
                created_ms,
                active_from_ms: i64::MIN,
                path,
                jose,
            }));
        }
        keys.sort_by_key(|k| k.created_ms);
        Ok(KeyRing { keys })
    }

    /// Keys given as (name, PKCS#8 PEM), names as `key_name` makes them (a
    /// shared database's). Each signs `lead_ms` after it was made, except
    /// the first of its algorithm, which has no predecessor to stand in.
    pub fn from_pems(entries: Vec<(String, Vec<u8>)>, lead_ms: i64) -> Result<KeyRing, KeyError> {
        let mut keys = Vec::new();
        for (name, pem) in entries {
            let path = PathBuf::from(format!("database:{name}"));
            let bad = |message: String| KeyError::BadKey { path: path.clone(), message };
            let (alg, created_ms) = parse_key_name(&name).ok_or_else(|| bad("not a key name".into()))?;
            let jose = jose::KeyPair::from_pem(alg, &pem).map_err(|e| bad(e.to_string()))?;
            keys.push(SigningKey { kid: jose.kid.clone(), alg, created_ms, active_from_ms: created_ms, path, jose });
        }
        keys.sort_by_key(|k| k.created_ms);
        for i in 0..keys.len() {
            let has_predecessor = keys[..i].iter().any(|k| k.alg == keys[i].alg);
            if has_predecessor {
                keys[i].active_from_ms = keys[i].created_ms + lead_ms;
            }
        }
        Ok(KeyRing { keys: keys.into_iter().map(Arc::new).collect() })
    }

    /// The key that signs for `alg` at `now_ms`: the newest one active.
    pub fn current_at(&self, alg: SigningAlg, now_ms: i64) -> Option<&SigningKey> {
        let mut of_alg = self.keys.iter().rev().filter(|k| k.alg == alg);
        let newest = of_alg.clone().next();
        of_alg.find(|k| k.active_from_ms <= now_ms).or(newest).map(|k| k.as_ref())
    }

    /// Writes a new key for `alg`; it signs from now on.
    pub fn rotate(dir: &Path, alg: SigningAlg, now_ms: i64) -> Result<SigningKey, KeyError> {
        generate(dir, alg, now_ms)
    }

    pub fn current(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.keys.iter().rev().find(|k| k.alg == alg).map(|k| k.as_ref())
    }

    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| k.as_ref())
    }

    /// `window_s` is the longest JWT lifetime.
    pub fn status(&self, key: &SigningKey, now_ms: i64, window_s: i64) -> KeyStatus {
        if key.active_from_ms > now_ms && self.current_at(key.alg, now_ms).is_some_and(|c| c.kid != key.kid) {
            return KeyStatus::Next;
        }
        let successor = self.keys.iter().find(|k| k.alg == key.alg && k.created_ms > key.created_ms);
        // When the successor took over signing.
        let took_over = |next: &SigningKey| next.active_from_ms.max(next.created_ms);
        match successor {
            None => KeyStatus::Current,
            Some(next) if next.active_from_ms > now_ms => KeyStatus::Current,
            // A minute of slack for clock skew between issuing and verifying.
            Some(next) if took_over(next) + (window_s + 60) * 1000 > now_ms => KeyStatus::Published,
            Some(_) => KeyStatus::Expired,
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter().map(|k| k.as_ref())
    }

    /// Keys that may have signed an unexpired token.
    pub fn published(&self, now_ms: i64, window_s: i64) -> impl Iterator<Item = &SigningKey> {
        self.all().filter(move |k| self.status(k, now_ms, window_s) != KeyStatus::Expired)
    }

    /// The published public keys of one algorithm as PEM, the current key first.
    pub fn pem_bundle(&self, alg: SigningAlg, now_ms: i64, window_s: i64) -> String {
        let mut keys: Vec<&SigningKey> = self.published(now_ms, window_s).filter(|k| k.alg == alg).collect();
        keys.reverse();
        keys.iter().map(|k| k.public_pem()).collect()
    }

    /// The JWKS document, serialised once per change.
    pub fn jwks_json(&self, now_ms: i64, window_s: i64) -> Vec<u8> {
        // Newest first: clients that pick the first key get the current one.
        let mut keys: Vec<_> = self.published(now_ms, window_s).map(|k| k.public_jwk()).collect();
        keys.reverse();
        serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap_or_default()
    }
}

/// A key's name: `{family}-{created_ms}` (also its file name, with `.pem`).
pub fn key_name(alg: SigningAlg, created_ms: i64) -> String {
    format!("{}-{created_ms}", family(alg))
}

fn parse_key_name(name: &str) -> Option<(SigningAlg, i64)> {
    let (fam, created) = name.split_once('-')?;
    Some((alg_of_family(fam)?, created.parse().ok()?))
}

fn generate(dir: &Path, alg: SigningAlg, now_ms: i64) -> Result<SigningKey, KeyError> {
    let pem = crate::crypto::keygen::private_key_pem(alg)?;
    let jose = jose::KeyPair::from_pem(alg, &pem)?;
    let io = |source| KeyError::Io { path: dir.to_owned(), source };
    crate::fsutil::create_private_dir(dir).map_err(io)?;
    let mut created_ms = now_ms;
    // Two rotations within a millisecond must not share a file name.
    // The file and its directory entry are fsynced, or a power cut loses the key.
    let path = loop {
        let path = dir.join(format!("{}.pem", key_name(alg, created_ms)));
        match crate::fsutil::write_new_file(&path, &pem, 0o600) {
            Ok(()) => break path,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => created_ms += 1,
            Err(source) => return Err(KeyError::Io { path, source }),
        }
    };
    Ok(SigningKey { kid: jose.kid.clone(), alg, created_ms, active_from_ms: i64::MIN, path, jose })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_keys_are_private_files_and_reload_with_the_same_kid() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load_or_create(dir.path(), &[SigningAlg::RS256, SigningAlg::ES256], 1_000).unwrap();
        let rsa = ring.current(SigningAlg::RS256).unwrap();
        let mode = std::fs::metadata(&rsa.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = KeyRing::load(dir.path()).unwrap();
        assert_eq!(again.current(SigningAlg::RS256).unwrap().kid, rsa.kid);
        assert_eq!(again.all().count(), 2);
    }

    #[test]
    fn a_database_key_is_published_for_its_lead_before_it_signs_and_the_first_signs_at_once() {
        let pem = |alg| crate::crypto::keygen::private_key_pem(alg).unwrap();
        let entries = vec![
            (key_name(SigningAlg::ES256, 1_000), pem(SigningAlg::ES256)),
            (key_name(SigningAlg::ES256, 5_000), pem(SigningAlg::ES256)),
        ];
        let ring = KeyRing::from_pems(entries, 3_000).unwrap();
        let (first, second) = (ring.all().next().unwrap(), ring.all().nth(1).unwrap());
        assert_eq!(ring.current_at(SigningAlg::ES256, 1_000).unwrap().kid, first.kid, "the first signs at once");
        assert_eq!(ring.current_at(SigningAlg::ES256, 7_999).unwrap().kid, first.kid, "the second waits its lead");
        assert_eq!(ring.status(second, 7_999, 300), KeyStatus::Next);
        assert_eq!(ring.published(7_999, 300).count(), 2, "both published meanwhile");
        assert_eq!(ring.current_at(SigningAlg::ES256, 8_000).unwrap().kid, second.kid);
        // The first stays published for the token lifetime after the second took over.
        assert_eq!(ring.status(first, 8_000 + 360_000 - 1, 300), KeyStatus::Published);
        assert_eq!(ring.status(first, 8_000 + 360_000 + 1, 300), KeyStatus::Expired);
        assert!(KeyRing::from_pems(vec![("rsa-x".into(), vec![])], 0).is_err(), "a bad name");
    }

    #[test]
    fn a_rotated_key_stays_published_for_the_token_lifetime_then_expires() {
        let dir = tempfile::tempdir().unwrap();
        KeyRing::load_or_create(dir.path(), &[SigningAlg::ES256], 1_000).unwrap();
        KeyRing::rotate(dir.path(), SigningAlg::ES256, 2_000).unwrap();
        let ring = KeyRing::load(dir.path()).unwrap();
        let old = ring.all().next().unwrap();
        assert_eq!(ring.current(SigningAlg::ES256).unwrap().created_ms, 2_000);
        assert_eq!(ring.status(old, 2_000 + 300_000, 300), KeyStatus::Published);
        assert_eq!(ring.status(old, 2_000 + 361_000, 300), KeyStatus::Expired);
        assert_eq!(ring.published(2_000 + 361_000, 300).count(), 1);
    }
}
