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

#[derive(Clone)]
pub struct SealKey([u8; KEY_BYTES]);

impl SealKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> SealKey {
        SealKey(bytes)
    }

    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce: [u8; NONCE_BYTES] = super::secrets::random_bytes()?;
        let mut tag = [0u8; TAG_BYTES];
        let ciphertext = encrypt_aead(Cipher::aes_256_gcm(), &self.0, Some(&nonce), context, plain, &mut tag)?;
        Ok([nonce.as_slice(), &ciphertext, &tag].concat())
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_BYTES + TAG_BYTES {
            return Err(SealError::Open);
        }
        let (nonce, rest) = sealed.split_at(NONCE_BYTES);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_BYTES);
        decrypt_aead(Cipher::aes_256_gcm(), &self.0, Some(nonce), context, ciphertext, tag).map_err(|_| SealError::Open)
    }
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
}
