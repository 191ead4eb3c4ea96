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

/// The seal key in `dir`, made on first use.
pub fn seal_key(dir: &Path) -> Result<crate::crypto::seal::SealKey, KeyError> {
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
            let Some((fam, created)) = stem.split_once('-') else {
                continue;
            };
            let (Some(alg), Ok(created_ms)) = (alg_of_family(fam), created.parse::<i64>()) else {
                continue;
            };
            let pem = std::fs::read(&path).map_err(|source| KeyError::Io { path: path.clone(), source })?;
            let jose = jose::KeyPair::from_pem(alg, &pem)
                .map_err(|e| KeyError::BadKey { path: path.clone(), message: e.to_string() })?;
            keys.push(Arc::new(SigningKey { kid: jose.kid.clone(), alg, created_ms, path, jose }));
        }
        keys.sort_by_key(|k| k.created_ms);
        Ok(KeyRing { keys })
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
        let successor = self.keys.iter().find(|k| k.alg == key.alg && k.created_ms > key.created_ms);
        match successor {
            None => KeyStatus::Current,
            // A minute of slack for clock skew between issuing and verifying.
            Some(next) if next.created_ms + (window_s + 60) * 1000 > now_ms => KeyStatus::Published,
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

fn generate(dir: &Path, alg: SigningAlg, now_ms: i64) -> Result<SigningKey, KeyError> {
    let pem = crate::crypto::keygen::private_key_pem(alg)?;
    let jose = jose::KeyPair::from_pem(alg, &pem)?;
    let io = |source| KeyError::Io { path: dir.to_owned(), source };
    crate::fsutil::create_private_dir(dir).map_err(io)?;
    let mut created_ms = now_ms;
    // Two rotations within a millisecond must not share a file name.
    // The file and its directory entry are fsynced, or a power cut loses the key.
    let path = loop {
        let path = dir.join(format!("{}-{created_ms}.pem", family(alg)));
        match crate::fsutil::write_new_file(&path, &pem, 0o600) {
            Ok(()) => break path,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => created_ms += 1,
            Err(source) => return Err(KeyError::Io { path, source }),
        }
    };
    Ok(SigningKey { kid: jose.kid.clone(), alg, created_ms, path, jose })
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
