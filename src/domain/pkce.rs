//! PKCE (RFC 7636) with S256 only: `plain` offers no protection against an
//! attacker who can read the authorization request, so it is refused.

use super::ParseError;
use crate::crypto::secrets::{b64url, constant_time_eq, sha256};
use serde::{Deserialize, Serialize};

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// A `code_challenge` with method S256: base64url of a SHA-256, 43 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, ParseError> {
        match method {
            Some("S256") => {}
            // RFC 7636 §4.3: an absent method means `plain`.
            None | Some("plain") => {
                return Err(ParseError::new("code_challenge_method must be S256; plain is not supported"));
            }
            Some(other) => {
                return Err(ParseError::new(format!("unsupported code_challenge_method {other:?}")));
            }
        }
        if challenge.len() != 43 || !challenge.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ParseError::new("code_challenge must be 43 base64url characters (S256)"));
        }
        Ok(CodeChallenge(challenge.to_owned()))
    }

    pub fn is_satisfied_by(&self, verifier: &CodeVerifier) -> bool {
        let computed = b64url(&sha256(verifier.0.as_bytes()));
        constant_time_eq(computed.as_bytes(), self.0.as_bytes())
    }
}

/// A `code_verifier`: 43–128 unreserved characters (RFC 7636 §4.1).
#[derive(Debug)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if !(43..=128).contains(&raw.len()) || !raw.chars().all(is_unreserved) {
            return Err(ParseError::new("code_verifier must be 43 to 128 unreserved characters"));
        }
        Ok(CodeVerifier(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example_verifies() {
        let challenge = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256")).unwrap();
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert!(challenge.is_satisfied_by(&verifier));
        let other = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx").unwrap();
        assert!(!challenge.is_satisfied_by(&other));
    }

    #[test]
    fn plain_and_malformed_challenges_are_refused() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(CodeChallenge::parse(c, None).is_err());
        assert!(CodeChallenge::parse(c, Some("plain")).is_err());
        assert!(CodeChallenge::parse("short", Some("S256")).is_err());
        assert!(CodeVerifier::parse("too-short").is_err());
    }
}
