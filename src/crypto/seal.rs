//! Secrets ferrid must read back (TOTP seeds) are stored sealed:
//! AES-256-GCM with a key that lives in `keys_dir`, not in the database,
//! so a copy of the database alone reveals none of them. Each sealed value
//! is a fresh 96-bit nonce, the ciphertext and the 128-bit tag; `context`
//! (the owner's id) is authenticated too, so a sealed value moved to
//! another record does not open.

use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot seal: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error(transparent)]
    Random(#[from] super::secrets::RandomError),
    #[error("a sealed value does not open with this key (the wrong seal key, or altered)")]
    Open,
}

/// The key values are sealed with, and while a rotation is under way the
/// one before it, which still opens what it sealed (`reseal` moves each
/// value to the current key).
#[derive(Clone)]
pub struct SealKey {
    current: [u8; KEY_BYTES],
    previous: Option<[u8; KEY_BYTES]>,
}

impl SealKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> SealKey {
        SealKey { current: bytes, previous: None }
    }

    /// This key, still opening what `previous` sealed.
    pub fn with_previous(self, previous: [u8; KEY_BYTES]) -> SealKey {
        SealKey { previous: Some(previous), ..self }
    }

    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
    }

    /// `sealed` again with the current key if only the previous key opens
    /// it; None if the current key already does. An error if neither does.
    pub fn reseal(&self, sealed: &[u8], context: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
        if open_with(&self.current, sealed, context).is_ok() {
            return Ok(None);
        }
        let previous = self.previous.as_ref().ok_or(SealError::Open)?;
        let plain = open_with(previous, sealed, context)?;
        Ok(Some(self.seal(&plain, context)?))
    }

    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce: [u8; NONCE_BYTES] = super::secrets::random_bytes()?;
        let mut tag = [0u8; TAG_BYTES];
        let ciphertext = encrypt_aead(Cipher::aes_256_gcm(), &self.current, Some(&nonce), context, plain, &mut tag)?;
        Ok([nonce.as_slice(), &ciphertext, &tag].concat())
    }

    /// Opens with the current key, else the previous one.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        open_with(&self.current, sealed, context).or_else(|e| match &self.previous {
            Some(previous) => open_with(previous, sealed, context),
            None => Err(e),
        })
    }
}

fn open_with(key: &[u8; KEY_BYTES], sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < NONCE_BYTES + TAG_BYTES {
        return Err(SealError::Open);
    }
    let (nonce, rest) = sealed.split_at(NONCE_BYTES);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_BYTES);
    decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), context, ciphertext, tag).map_err(|_| SealError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let key = SealKey::from_bytes([7; KEY_BYTES]);
        let sealed = key.seal(b"seed", b"alice").unwrap();
        assert_ne!(&sealed[12..16], b"seed");
        assert_eq!(key.open(&sealed, b"alice").unwrap(), b"seed");
        assert!(key.open(&sealed, b"mallory").is_err(), "moved to another owner");
        assert!(SealKey::from_bytes([8; KEY_BYTES]).open(&sealed, b"alice").is_err(), "another key");
        let mut altered = sealed.clone();
        altered[13] ^= 1;
        assert!(key.open(&altered, b"alice").is_err());
        assert_ne!(key.seal(b"seed", b"alice").unwrap(), sealed, "a fresh nonce each time");
    }

    #[test]
    fn during_a_rotation_the_previous_key_still_opens_and_reseal_moves_a_value_to_the_new_key() {
        let old = SealKey::from_bytes([7; KEY_BYTES]);
        let sealed = old.seal(b"seed", b"alice").unwrap();
        let new = SealKey::from_bytes([8; KEY_BYTES]);
        assert!(new.open(&sealed, b"alice").is_err());
        assert!(new.reseal(&sealed, b"alice").is_err(), "nothing opens it");
        let rotating = new.clone().with_previous([7; KEY_BYTES]);
        assert_eq!(rotating.open(&sealed, b"alice").unwrap(), b"seed");
        let moved = rotating.reseal(&sealed, b"alice").unwrap().expect("only the previous key opened it");
        assert_eq!(new.open(&moved, b"alice").unwrap(), b"seed", "the new key alone opens it now");
        assert!(old.open(&moved, b"alice").is_err());
        assert!(rotating.reseal(&moved, b"alice").unwrap().is_none(), "nothing to do twice");
        assert!(rotating.reseal(&sealed, b"mallory").is_err(), "the context still counts");
    }
}
