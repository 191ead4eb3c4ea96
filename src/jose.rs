//! The only module that imports josekit: key pairs, signing, and verifying
//! ferrid's own JWTs.
//!
//! josekit's own payload validator accepts a token without `aud` or `exp`,
//! so the checks that matter (`alg` fixed by the key, `typ`, then `iss`,
//! `aud`, `exp` by the caller) are done here and in `oidc::bearer`.

use crate::domain::SigningAlg;
use crate::secrets::{b64url, sha256};
use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsHeader, JwsSigner, JwsVerifier, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    #[error("malformed token")]
    Malformed,
    #[error("token header: {0}")]
    Header(&'static str),
    #[error("signature does not verify")]
    BadSignature,
    #[error("key: {0}")]
    Key(String),
}

pub(crate) struct KeyPair {
    pub kid: String,
    pub public_jwk: Map<String, Value>,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
}

fn key_err(e: josekit::JoseError) -> JoseError {
    JoseError::Key(e.to_string())
}

impl KeyPair {
    pub fn from_pem(alg: SigningAlg, pem: &[u8]) -> Result<KeyPair, JoseError> {
        let (signer, jwk): (Box<dyn JwsSigner>, Jwk) = match alg {
            SigningAlg::RS256 => {
                let pair = RS256.key_pair_from_pem(pem).map_err(key_err)?;
                if pair.key_len() < 256 {
                    return Err(JoseError::Key("RSA keys must be at least 2048 bits".into()));
                }
                (
                    Box::new(RS256.signer_from_pem(pem).map_err(key_err)?),
                    josekit::jwk::KeyPair::to_jwk_public_key(&pair),
                )
            }
            SigningAlg::ES256 => {
                let pair = ES256.key_pair_from_pem(pem).map_err(key_err)?;
                (
                    Box::new(ES256.signer_from_pem(pem).map_err(key_err)?),
                    josekit::jwk::KeyPair::to_jwk_public_key(&pair),
                )
            }
            SigningAlg::EdDSA => {
                let pair = EdDSA.key_pair_from_pem(pem).map_err(key_err)?;
                (
                    Box::new(EdDSA.signer_from_pem(pem).map_err(key_err)?),
                    josekit::jwk::KeyPair::to_jwk_public_key(&pair),
                )
            }
        };
        let verifier: Box<dyn JwsVerifier> = match alg {
            SigningAlg::RS256 => Box::new(RS256.verifier_from_jwk(&jwk).map_err(key_err)?),
            SigningAlg::ES256 => Box::new(ES256.verifier_from_jwk(&jwk).map_err(key_err)?),
            SigningAlg::EdDSA => Box::new(EdDSA.verifier_from_jwk(&jwk).map_err(key_err)?),
        };
        let mut public_jwk = jwk.as_ref().clone();
        let kid = thumbprint(&public_jwk)?;
        public_jwk.insert("kid".into(), Value::String(kid.clone()));
        public_jwk.insert("alg".into(), Value::String(alg.as_str().into()));
        public_jwk.insert("use".into(), Value::String("sig".into()));
        Ok(KeyPair { kid, public_jwk, signer, verifier })
    }
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members, in
/// lexicographic order, with no whitespace.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, JoseError> {
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(JoseError::Key("unsupported key type".into())),
    };
    let mut canonical = Map::new();
    for member in required {
        let value = jwk.get(*member).ok_or_else(|| JoseError::Key(format!("JWK has no {member}")))?;
        canonical.insert((*member).to_owned(), value.clone());
    }
    // serde_json's Map is a BTreeMap here: keys serialise sorted, compactly.
    let json = serde_json::to_vec(&canonical).map_err(|e| JoseError::Key(e.to_string()))?;
    Ok(b64url(&sha256(&json)))
}

/// Signs `claims` with `key`, with header `typ` and `kid`.
pub fn sign(claims: Map<String, Value>, typ: &str, key: &crate::keys::SigningKey) -> Result<String, JoseError> {
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_key_id(key.kid.clone());
    let payload = JwtPayload::from_map(claims).map_err(key_err)?;
    jwt::encode_with_signer(&payload, &header, key.jose.signer.as_ref()).map_err(key_err)
}

/// Verifies a JWT signed by one of `ring`'s keys. The `alg` must be exactly
/// the key's own (so `none` and HS256-with-a-public-key never verify) and
/// `typ` must match. Returns the claims; the caller checks iss/aud/exp.
pub fn verify(token: &str, ring: &crate::keys::KeyRing, expected_typ: &str) -> Result<Map<String, Value>, JoseError> {
    let header = jwt::decode_header(token).map_err(|_| JoseError::Malformed)?;
    let alg = header.claim("alg").and_then(Value::as_str).ok_or(JoseError::Header("no alg"))?;
    let kid = header.claim("kid").and_then(Value::as_str).ok_or(JoseError::Header("no kid"))?;
    let typ = header.claim("typ").and_then(Value::as_str).unwrap_or("");
    let typ_ok =
        typ.eq_ignore_ascii_case(expected_typ) || typ.eq_ignore_ascii_case(&format!("application/{expected_typ}"));
    if !typ_ok {
        return Err(JoseError::Header("unexpected typ"));
    }
    let key = ring.by_kid(kid).ok_or(JoseError::Header("unknown kid"))?;
    if alg != key.alg.as_str() {
        return Err(JoseError::Header("alg does not match the key"));
    }
    let (payload, _) =
        jwt::decode_with_verifier(token, key.jose.verifier.as_ref()).map_err(|_| JoseError::BadSignature)?;
    Ok(payload.claims_set().clone())
}

/// OIDC Core §3.1.3.6 `at_hash`: left half of the hash of the access token,
/// with the hash of the signing algorithm (SHA-512 for Ed25519).
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => b64url(&sha256(access_token.as_bytes())[..16]),
        SigningAlg::EdDSA => b64url(&openssl::sha::sha512(access_token.as_bytes())[..32]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
