//! The code a person types on `/device` (RFC 8628 §6.1): 8 characters of
//! its 20 consonants: no digits (no 0/O or 1/I to confuse), no vowels (no
//! words), one case; shown as `XXXX-XXXX`. 20^8 is about 2^34.6 codes; with guesses throttled per
//! address (`oidc::device_entry`), and a code living minutes, guessing one
//! of the few codes pending at once is out of reach.

use super::ParseError;
use crate::crypto::secrets::{RandomError, random_bytes};

const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const LEN: usize = 8;

/// A user code, normalised: upper case, no dash, 8 characters of `ALPHABET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    /// A fresh code. Each character comes from a random byte below 240 (a
    /// multiple of 20), so every character is equally likely.
    pub fn generate() -> Result<UserCode, RandomError> {
        let mut code = String::with_capacity(LEN);
        while code.len() < LEN {
            for byte in random_bytes::<16>()? {
                if byte < 240 && code.len() < LEN {
                    code.push(ALPHABET[usize::from(byte % 20)] as char);
                }
            }
        }
        Ok(UserCode(code))
    }

    /// What a person typed: case, dashes and spaces do not matter.
    pub fn parse(typed: &str) -> Result<UserCode, ParseError> {
        if typed.len() > 32 {
            return Err(ParseError::new("that is not a code from a device"));
        }
        let code: String =
            typed.chars().filter(|c| !matches!(c, '-' | ' ' | '\t')).map(|c| c.to_ascii_uppercase()).collect();
        if code.len() != LEN || !code.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(ParseError::new("a code has 8 letters, like BDFG-HJKL"));
        }
        Ok(UserCode(code))
    }

    /// As stored and looked up (the digest of this).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As shown to people: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_letters_of_the_alphabet_and_typing_is_forgiving() {
        for _ in 0..200 {
            let code = UserCode::generate().unwrap();
            assert_eq!(code.as_str().len(), 8);
            assert!(code.as_str().bytes().all(|b| ALPHABET.contains(&b)), "{code:?}");
            assert_eq!(UserCode::parse(&code.display()).unwrap(), code);
            assert_eq!(UserCode::parse(&code.display().to_lowercase()).unwrap(), code);
        }
        assert_eq!(UserCode::parse("bdfg hjkl").unwrap().display(), "BDFG-HJKL");
        assert_eq!(UserCode::parse("BDFGHJKL").unwrap().as_str(), "BDFGHJKL");
        for bad in ["", "BDFG-HJK", "BDFG-HJKLM", "ABCD-EFGH", "BDFG-HJK1", "BDFG_HJKL", "ÄDFG-HJKL", &"B".repeat(40)]
        {
            assert!(UserCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_letter_comes_up() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            seen.extend(UserCode::generate().unwrap().as_str().bytes());
        }
        assert_eq!(seen.len(), 20);
    }
}
