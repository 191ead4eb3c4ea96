//! Random secrets, their digests, and constant-time comparison.
//!
//! Client secrets, refresh tokens, codes and session ids are 256-bit random
//! values. They are stored only as SHA-256 digests: for high-entropy secrets a
//! fast hash is enough (no dictionary to guess from) and keeps the token
//! endpoint fast. Passwords are low-entropy and use bcrypt (`password.rs`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed: {0}")]
pub struct RandomError(#[from] openssl::error::ErrorStack);

pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(buf)
}

/// A 256-bit random value, base64url without padding (43 characters).
pub fn random_token() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    // The streaming hasher, not `openssl::sha::sha256`: OpenSSL 3's one-shot
    // SHA256() fetches the algorithm from the provider on every call.
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(data);
    hasher.finish()
}

/// A 256-bit key only a holder of `secret` can make: SHA-256 of `label`, a
/// NUL and the secret. The label keeps it apart from the secret's stored
/// `Digest` (the plain SHA-256), so the digest opens nothing.
pub fn key_from_secret(label: &str, secret: &str) -> [u8; 32] {
    sha256(&[label.as_bytes(), b"\0", secret.as_bytes()].concat())
}

/// Equality whose running time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

/// The SHA-256 digest of a secret; the only form in which secrets are stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of(secret: &str) -> Self {
        Digest(sha256(secret.as_bytes()))
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Digest(out))
    }

    /// A digest read back from where it was stored (a store key).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Does `secret` hash to this digest? Constant time in the digest bytes.
    pub fn matches(&self, secret: &str) -> bool {
        constant_time_eq(&sha256(secret.as_bytes()), &self.0)
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(d)?;
        Digest::from_hex(&hex).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_through_hex_and_matches_only_its_secret() {
        let d = Digest::of("s3cret");
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        assert!(d.matches("s3cret"));
        assert!(!d.matches("s3cre"));
        assert_eq!(Digest::from_hex("zz"), None);
    }

    #[test]
    fn random_tokens_are_43_chars_and_distinct() {
        let a = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token().unwrap());
    }
}
