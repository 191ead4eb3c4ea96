//! The only module that imports josekit: key pairs, signing, and verifying
//! ferrid's own JWTs.
//!
//! josekit's own payload validator accepts a token without `aud` or `exp`,
//! so the checks that matter (`alg` fixed by the key, `typ`, then `iss`,
//! `aud`, `exp` by the caller) are done here and in `oidc::bearer`.
//!
//! Signing and verifying are done here on OpenSSL directly (RFC 7515
//! compact form), josekit only reads key files and makes JWKs: per token,
//! josekit rebuilds the header and sets up an EVP context, which fetches the
//! algorithm from OpenSSL 3's provider tables under a lock. That cost more
//! than a P-256 signature and half again an RSA verification
//! (`cargo bench --bench sign_cost`).

use super::SigningAlg;
use super::secrets::{b64url, sha256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, RS256};
use openssl::bn::BigNum;
use openssl::ec::EcKey;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::{Padding, Rsa};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;

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
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A JWT's `typ` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// RFC 9068 access tokens: `at+jwt`.
    AccessToken,
    /// id_tokens: `JWT`.
    IdToken,
    /// Back-Channel Logout 1.0 §2.4: `logout+jwt`.
    LogoutToken,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::AccessToken => "at+jwt",
            TokenType::IdToken => "JWT",
            TokenType::LogoutToken => "logout+jwt",
        }
    }
}

/// The private half, in the form OpenSSL signs with fastest.
enum Signer {
    /// ECDSA through `ECDSA_do_sign` on a SHA-256 digest we compute.
    P256(EcKey<Private>),
    /// RSA PKCS#1 v1.5 with SHA-256 (the digest is part of the EVP call).
    Rs256(PKey<Private>),
    /// Ed25519 signs the message itself.
    Ed25519(PKey<Private>),
}

impl Signer {
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        match self {
            Signer::P256(key) => {
                // RFC 7518 §3.4: R and S as 32-byte big-endian integers,
                // left-padded (a DER-to-raw slip here fails 1 token in 128).
                let sig = EcdsaSig::sign(&sha256(input), key)?;
                let mut out = sig.r().to_vec_padded(32)?;
                out.extend_from_slice(&sig.s().to_vec_padded(32)?);
                Ok(out)
            }
            Signer::Rs256(key) => openssl::sign::Signer::new(MessageDigest::sha256(), key)?.sign_oneshot_to_vec(input),
            Signer::Ed25519(key) => openssl::sign::Signer::new_without_digest(key)?.sign_oneshot_to_vec(input),
        }
    }
}

/// The DER prefix of a PKCS#1 v1.5 DigestInfo for SHA-256 (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// The public half, in the form OpenSSL verifies fastest.
enum Verifier {
    Rs256(Rsa<Public>),
    P256(EcKey<Public>),
    Ed25519(PKey<Public>),
}

impl Verifier {
    /// `public` has already been checked to be a key for `alg`.
    fn new(alg: SigningAlg, public: PKey<Public>) -> Result<Verifier, openssl::error::ErrorStack> {
        Ok(match alg {
            SigningAlg::RS256 => Verifier::Rs256(public.rsa()?),
            SigningAlg::ES256 => Verifier::P256(public.ec_key()?),
            SigningAlg::EdDSA => Verifier::Ed25519(public),
        })
    }

    fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        match self {
            Verifier::Rs256(rsa) => {
                // RFC 8017 §8.2.2: recover the encoded message (OpenSSL checks
                // the 00 01 FF… 00 padding) and compare what follows, whole,
                // with the DigestInfo we would have signed: encode and compare,
                // never parse, so nothing can hide after the hash.
                let size = rsa.size() as usize;
                if signature.len() != size {
                    return false;
                }
                let mut recovered = vec![0u8; size];
                let Ok(length) = rsa.public_decrypt(signature, &mut recovered, Padding::PKCS1) else {
                    return false;
                };
                let prefix = SHA256_DIGEST_INFO.len();
                length == prefix + 32
                    && recovered[..prefix] == SHA256_DIGEST_INFO
                    && recovered[prefix..length] == sha256(input)
            }
            Verifier::P256(key) => {
                // RFC 7518 §3.4: exactly R and S, 32 bytes each.
                if signature.len() != 64 {
                    return false;
                }
                let parts =
                    BigNum::from_slice(&signature[..32]).and_then(|r| Ok((r, BigNum::from_slice(&signature[32..])?)));
                let Ok(sig) = parts.and_then(|(r, s)| EcdsaSig::from_private_components(r, s)) else {
                    return false;
                };
                // OpenSSL refuses R or S outside [1, n-1] (an error, so false).
                sig.verify(&sha256(input), key).unwrap_or(false)
            }
            Verifier::Ed25519(key) => openssl::sign::Verifier::new_without_digest(key)
                .and_then(|mut verifier| verifier.verify_oneshot(signature, input))
                .unwrap_or(false),
        }
    }
}

pub struct KeyPair {
    pub kid: String,
    pub alg: SigningAlg,
    pub public_jwk: Map<String, Value>,
    /// SubjectPublicKeyInfo PEM, for verifiers that take a PEM (passport-jwt's `secretOrKey`).
    pub public_pem: String,
    signer: Signer,
    /// The base64url JWS header for each `TokenType`, made once.
    headers: [String; 3],
    verifier: Verifier,
}

fn key_err(e: josekit::JoseError) -> JoseError {
    JoseError::Key(e.to_string())
}

fn openssl_err(e: openssl::error::ErrorStack) -> JoseError {
    JoseError::Key(e.to_string())
}

impl KeyPair {
    pub fn from_pem(alg: SigningAlg, pem: &[u8]) -> Result<KeyPair, JoseError> {
        let private = PKey::private_key_from_pem(pem).map_err(openssl_err)?;
        // josekit gets the DER OpenSSL already decoded: its own PEM reader
        // runs regexes, whose code would otherwise stay mapped (idle RSS).
        let der = private.private_key_to_pkcs8().map_err(openssl_err)?;
        let (signer, jwk): (Signer, Jwk) = match alg {
            SigningAlg::RS256 => {
                let pair = RS256.key_pair_from_der(&der).map_err(key_err)?;
                if pair.key_len() < 256 {
                    return Err(JoseError::Key("RSA keys must be at least 2048 bits".into()));
                }
                (Signer::Rs256(private.clone()), josekit::jwk::KeyPair::to_jwk_public_key(&pair))
            }
            SigningAlg::ES256 => {
                let pair = ES256.key_pair_from_der(&der).map_err(key_err)?;
                (Signer::P256(private.ec_key().map_err(openssl_err)?), josekit::jwk::KeyPair::to_jwk_public_key(&pair))
            }
            SigningAlg::EdDSA => {
                let pair = EdDSA.key_pair_from_der(&der).map_err(key_err)?;
                (Signer::Ed25519(private.clone()), josekit::jwk::KeyPair::to_jwk_public_key(&pair))
            }
        };
        // After josekit has checked that the key is one for `alg`.
        let public_pem = private.public_key_to_pem().map_err(openssl_err)?;
        let public = PKey::public_key_from_pem(&public_pem).map_err(openssl_err)?;
        let verifier = Verifier::new(alg, public).map_err(openssl_err)?;
        let public_pem = String::from_utf8_lossy(&public_pem).into_owned();
        let mut public_jwk = jwk.as_ref().clone();
        let kid = thumbprint(&public_jwk)?;
        public_jwk.insert("kid".into(), Value::String(kid.clone()));
        public_jwk.insert("alg".into(), Value::String(alg.as_str().into()));
        public_jwk.insert("use".into(), Value::String("sig".into()));
        let header = |typ: TokenType| {
            let json = serde_json::json!({ "alg": alg.as_str(), "kid": kid, "typ": typ.as_str() });
            b64url(json.to_string().as_bytes())
        };
        let headers = [header(TokenType::AccessToken), header(TokenType::IdToken), header(TokenType::LogoutToken)];
        Ok(KeyPair { kid, alg, public_jwk, public_pem, signer, headers, verifier })
    }

    fn header(&self, typ: TokenType) -> &str {
        match typ {
            TokenType::AccessToken => &self.headers[0],
            TokenType::IdToken => &self.headers[1],
            TokenType::LogoutToken => &self.headers[2],
        }
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

/// The keys a token may be verified with, by `kid` (the key ring, which
/// lives above this module: key files are not JOSE's business).
pub trait KeyLookup {
    fn key_pair(&self, kid: &str) -> Option<&KeyPair>;
}

/// Signs `claims` with `key` as a compact JWS with header `alg`, `kid` and `typ`.
pub fn sign(claims: &impl Serialize, typ: TokenType, key: &impl AsRef<KeyPair>) -> Result<String, JoseError> {
    let key = key.as_ref();
    let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Sign(e.to_string()))?;
    let header = key.header(typ);
    // header . payload . signature, base64url each; ~4/3 growth, RSA's 342-character signature at most.
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 350);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.signer.sign(token.as_bytes()).map_err(|e| JoseError::Sign(e.to_string()))?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    Ok(token)
}

/// The JWS header members ferrid looks at. Duplicate members are refused
/// (serde), and so is `crit`: ferrid never issues one, so any is unknown.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    typ: Option<Cow<'a, str>>,
    crit: Option<serde::de::IgnoredAny>,
}

/// Verifies a JWT signed by one of `ring`'s keys. The `alg` must be exactly
/// the key's own (so `none` and HS256-with-a-public-key never verify) and
/// `typ` must match. The payload is read only once the signature verifies.
/// Returns the claims as the caller's type; the caller checks iss/aud/exp.
pub fn verify<Claims: serde::de::DeserializeOwned>(
    token: &str,
    ring: &impl KeyLookup,
    expected: TokenType,
) -> Result<Claims, JoseError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed);
    };
    let header_json = super::secrets::b64url_decode(header_b64).ok_or(JoseError::Malformed)?;
    let header: Header = serde_json::from_slice(&header_json).map_err(|_| JoseError::Malformed)?;
    if header.crit.is_some() {
        return Err(JoseError::Header("crit is not supported"));
    }
    let expected_typ = expected.as_str();
    let typ = header.typ.as_deref().unwrap_or("");
    let typ_ok = typ.eq_ignore_ascii_case(expected_typ)
        || (typ.get(..12).is_some_and(|prefix| prefix.eq_ignore_ascii_case("application/"))
            && typ.get(12..).is_some_and(|rest| rest.eq_ignore_ascii_case(expected_typ)));
    if !typ_ok {
        return Err(JoseError::Header("unexpected typ"));
    }
    let kid = header.kid.as_deref().ok_or(JoseError::Header("no kid"))?;
    let key = ring.key_pair(kid).ok_or(JoseError::Header("unknown kid"))?;
    if header.alg != key.alg.as_str() {
        return Err(JoseError::Header("alg does not match the key"));
    }
    let signature = super::secrets::b64url_decode(signature_b64).ok_or(JoseError::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verifier.verify(signing_input.as_bytes(), &signature) {
        return Err(JoseError::BadSignature);
    }
    let payload = super::secrets::b64url_decode(payload_b64).ok_or(JoseError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| JoseError::Malformed)
}

/// OIDC Core §3.1.3.6 `at_hash`: left half of the hash of the access token,
/// with the hash of the signing algorithm (SHA-512 for Ed25519).
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => b64url(&sha256(access_token.as_bytes())[..16]),
        SigningAlg::EdDSA => b64url(&openssl::sha::sha512(access_token.as_bytes())[..32]),
    }
}

/// Verifies a JWT another identity provider signed (an upstream
/// `id_token`) with one of the keys of its JWKS, and returns its claims.
/// Asymmetric algorithms only (`none` and HMAC never verify: a public key
/// is no secret); the header's `kid` picks the key (without one, the only
/// key of the set); a key that names its `alg` or `use` must agree. The
/// caller checks `iss`, `aud`, `exp` and `nonce`.
pub fn verify_upstream(token: &str, jwks: &[Map<String, Value>]) -> Result<Map<String, Value>, JoseError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed);
    };
    let header_json = super::secrets::b64url_decode(header_b64).ok_or(JoseError::Malformed)?;
    let header: Header = serde_json::from_slice(&header_json).map_err(|_| JoseError::Malformed)?;
    if header.crit.is_some() {
        return Err(JoseError::Header("crit is not supported"));
    }
    if !header.typ.as_deref().is_none_or(|typ| typ.eq_ignore_ascii_case("JWT")) {
        return Err(JoseError::Header("unexpected typ"));
    }
    let candidates: Vec<&Map<String, Value>> = match header.kid.as_deref() {
        Some(kid) => jwks.iter().filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid)).collect(),
        None => jwks.iter().collect(),
    };
    let [jwk] = candidates.as_slice() else { return Err(JoseError::Header("no single key for this kid")) };
    if jwk.get("alg").and_then(Value::as_str).is_some_and(|alg| alg != header.alg) {
        return Err(JoseError::Header("alg does not match the key"));
    }
    if jwk.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig") {
        return Err(JoseError::Header("the key is not for signatures"));
    }
    let jwk = Jwk::from_map((*jwk).clone()).map_err(key_err)?;
    let verifier: Box<dyn josekit::jws::JwsVerifier> = match header.alg.as_ref() {
        "RS256" => Box::new(RS256.verifier_from_jwk(&jwk).map_err(key_err)?),
        "RS384" => Box::new(josekit::jws::RS384.verifier_from_jwk(&jwk).map_err(key_err)?),
        "RS512" => Box::new(josekit::jws::RS512.verifier_from_jwk(&jwk).map_err(key_err)?),
        "PS256" => Box::new(josekit::jws::PS256.verifier_from_jwk(&jwk).map_err(key_err)?),
        "PS384" => Box::new(josekit::jws::PS384.verifier_from_jwk(&jwk).map_err(key_err)?),
        "PS512" => Box::new(josekit::jws::PS512.verifier_from_jwk(&jwk).map_err(key_err)?),
        "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).map_err(key_err)?),
        "ES384" => Box::new(josekit::jws::ES384.verifier_from_jwk(&jwk).map_err(key_err)?),
        "ES512" => Box::new(josekit::jws::ES512.verifier_from_jwk(&jwk).map_err(key_err)?),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(&jwk).map_err(key_err)?),
        _ => return Err(JoseError::Header("unsupported alg")),
    };
    let signature = super::secrets::b64url_decode(signature_b64).ok_or(JoseError::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    verifier.verify(signing_input.as_bytes(), &signature).map_err(|_| JoseError::BadSignature)?;
    let payload = super::secrets::b64url_decode(payload_b64).ok_or(JoseError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| JoseError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyRing;

    /// Tokens signed here verify with an independent implementation
    /// (jsonwebtoken, RustCrypto) from the public JWK alone, and with ours.
    /// 400 P-256 tokens: a missing left-pad of R or S (1 in 128 each) would
    /// slip through all of them with a chance of about 2 in 10,000.
    #[test]
    fn signed_tokens_verify_with_an_independent_library() {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
        let dir = tempfile::tempdir().unwrap();
        let algs = [SigningAlg::ES256, SigningAlg::RS256, SigningAlg::EdDSA];
        let ring = KeyRing::load_or_create(dir.path(), &algs, 1_000).unwrap();
        for (alg, their_alg, count) in [
            (SigningAlg::ES256, Algorithm::ES256, 400),
            (SigningAlg::RS256, Algorithm::RS256, 3),
            (SigningAlg::EdDSA, Algorithm::EdDSA, 3),
        ] {
            let key = ring.current(alg).unwrap();
            let jwk: Jwk = serde_json::from_value(Value::Object(key.public_jwk().clone())).unwrap();
            let decoding = DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = Validation::new(their_alg);
            validation.set_audience(&["client"]);
            for i in 0..count {
                let claims = serde_json::json!({ "sub": format!("user{i}"), "aud": "client", "exp": 4_000_000_000u64 });
                let token = sign(&claims, TokenType::AccessToken, key).unwrap();
                let header = jsonwebtoken::decode_header(&token).unwrap();
                assert_eq!(
                    (header.alg, header.kid.as_deref(), header.typ.as_deref()),
                    (their_alg, Some(key.kid.as_str()), Some("at+jwt"))
                );
                let decoded = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
                    .unwrap_or_else(|e| panic!("{alg} token {i} does not verify: {e}"));
                assert_eq!(decoded.claims["sub"], format!("user{i}"));
                assert_eq!(verify::<Value>(&token, &ring, TokenType::AccessToken).unwrap()["sub"], format!("user{i}"));
            }
            let id_token = sign(&serde_json::json!({}), TokenType::IdToken, key).unwrap();
            assert!(
                verify::<Value>(&id_token, &ring, TokenType::AccessToken).is_err(),
                "typ JWT is not an access token"
            );
        }
    }

    /// Another provider's id_token verifies by its JWKS, picked by `kid`;
    /// `none`, HMAC, a key it does not name, another `typ`, or a changed
    /// byte do not.
    #[test]
    fn upstream_tokens_verify_by_their_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load_or_create(dir.path(), &[SigningAlg::ES256, SigningAlg::RS256], 1_000).unwrap();
        let (es, rs) = (ring.current(SigningAlg::ES256).unwrap(), ring.current(SigningAlg::RS256).unwrap());
        let jwks = [es.public_jwk().clone(), rs.public_jwk().clone()];
        let claims = serde_json::json!({ "sub": "uma", "iss": "https://up.example/" });
        for key in [es, rs] {
            let token = sign(&claims, TokenType::IdToken, key).unwrap();
            assert_eq!(verify_upstream(&token, &jwks).unwrap()["sub"], "uma");
            assert!(verify_upstream(&token, &jwks[..0]).is_err(), "no keys");
            assert!(verify_upstream(&tamper(&token, 1, |p| p[2] ^= 1), &jwks).is_err(), "payload changed");
            let access = sign(&claims, TokenType::AccessToken, key).unwrap();
            assert!(verify_upstream(&access, &jwks).is_err(), "typ at+jwt is no id_token");
        }
        let token = sign(&claims, TokenType::IdToken, es).unwrap();
        // Another header over the same claims, signed anew by the ES256 key.
        let header = |json: serde_json::Value| {
            let payload = token.split('.').nth(1).unwrap();
            let input = format!("{}.{payload}", b64url(json.to_string().as_bytes()));
            format!("{input}.{}", b64url(&es.jose.signer.sign(input.as_bytes()).unwrap()))
        };
        assert!(verify_upstream(&header(serde_json::json!({ "alg": "ES256", "kid": es.kid })), &jwks).is_ok());
        for (forged, why) in [
            (header(serde_json::json!({ "alg": "none", "kid": es.kid })), "alg none"),
            (header(serde_json::json!({ "alg": "HS256", "kid": es.kid })), "HMAC"),
            (header(serde_json::json!({ "alg": "RS256", "kid": es.kid })), "another alg than the key's"),
            (header(serde_json::json!({ "alg": "ES256", "kid": "someone-else" })), "a kid not in the set"),
            (header(serde_json::json!({ "alg": "ES256" })), "no kid, two keys"),
            (header(serde_json::json!({ "alg": "ES256", "kid": es.kid, "crit": ["exp"] })), "crit"),
        ] {
            assert!(verify_upstream(&forged, &jwks).is_err(), "{why}");
        }
        let mut unnamed = es.public_jwk().clone();
        unnamed.remove("kid");
        assert!(verify_upstream(&header(serde_json::json!({ "alg": "ES256" })), &[unnamed]).is_ok(), "the only key");
    }

    fn tamper(token: &str, part: usize, f: impl Fn(&mut Vec<u8>)) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut bytes = crate::crypto::secrets::b64url_decode(&parts[part]).unwrap();
        f(&mut bytes);
        parts[part] = b64url(&bytes);
        parts.join(".")
    }

    /// Tokens signed by an independent implementation (jsonwebtoken) with
    /// ferrid's private keys verify here; anything altered, re-shaped or
    /// with a header ferrid would not issue does not.
    #[test]
    fn verification_accepts_exact_tokens_only() {
        use jsonwebtoken::{Algorithm, EncodingKey, Header as TheirHeader};
        let dir = tempfile::tempdir().unwrap();
        let algs = [SigningAlg::ES256, SigningAlg::RS256, SigningAlg::EdDSA];
        let ring = KeyRing::load_or_create(dir.path(), &algs, 1_000).unwrap();
        let claims = serde_json::json!({ "sub": "alice", "exp": 4_000_000_000u64 });
        for alg in algs {
            let key = ring.current(alg).unwrap();
            let pem = std::fs::read(&key.path).unwrap();
            let (their_alg, encoding) = match alg {
                SigningAlg::RS256 => (Algorithm::RS256, EncodingKey::from_rsa_pem(&pem).unwrap()),
                SigningAlg::ES256 => (Algorithm::ES256, EncodingKey::from_ec_pem(&pem).unwrap()),
                SigningAlg::EdDSA => (Algorithm::EdDSA, EncodingKey::from_ed_pem(&pem).unwrap()),
            };
            let header = |typ: &str| TheirHeader {
                typ: Some(typ.into()),
                kid: Some(key.kid.clone()),
                ..TheirHeader::new(their_alg)
            };
            let theirs = jsonwebtoken::encode(&header("at+jwt"), &claims, &encoding).unwrap();
            assert_eq!(verify::<Value>(&theirs, &ring, TokenType::AccessToken).unwrap()["sub"], "alice", "{alg}");
            let media_type = jsonwebtoken::encode(&header("Application/AT+JWT"), &claims, &encoding).unwrap();
            assert!(verify::<Value>(&media_type, &ring, TokenType::AccessToken).is_ok(), "{alg}: typ as a media type");

            let ours = sign(&claims, TokenType::AccessToken, key).unwrap();
            let bad = |token: &str, why: &str| {
                assert!(verify::<Value>(token, &ring, TokenType::AccessToken).is_err(), "{alg}: {why} verified");
            };
            bad(&tamper(&ours, 1, |p| p[2] ^= 1), "a changed payload");
            bad(&tamper(&ours, 2, |s| s[5] ^= 1), "a changed signature");
            bad(&tamper(&ours, 2, |s| s.truncate(s.len() - 1)), "a short signature");
            bad(&tamper(&ours, 2, |s| s.push(0)), "a long signature");
            bad(&tamper(&ours, 2, |s| s.iter_mut().for_each(|b| *b = 0)), "an all-zero signature");
            bad(&tamper(&ours, 2, |s| s.iter_mut().for_each(|b| *b = 0xff)), "an all-ones signature");
            bad(&format!("{ours}="), "padding");
            bad(&format!("{ours}.x"), "a fourth part");
            bad(&ours.replacen('.', "..", 1), "an empty part");
            bad(&ours[..ours.rfind('.').unwrap()], "no signature");
            // The same signature over another key's header, or with crit.
            let header_json =
                |extra: &str| format!(r#"{{"alg":"{}","kid":"{}","typ":"at+jwt"{extra}}}"#, alg.as_str(), key.kid);
            let resigned = |header: String| {
                let (_, rest) = ours.split_once('.').unwrap();
                let (payload, _) = rest.split_once('.').unwrap();
                let input = format!("{}.{payload}", b64url(header.as_bytes()));
                let signature = key.jose.signer.sign(input.as_bytes()).unwrap();
                format!("{input}.{}", b64url(&signature))
            };
            assert!(
                verify::<Value>(&resigned(header_json("")), &ring, TokenType::AccessToken).is_ok(),
                "{alg}: control"
            );
            bad(&resigned(header_json(r#","crit":["exp"],"exp":1"#)), "crit");
            bad(&resigned(header_json(r#","alg":"none""#)), "a duplicate alg");
            bad(&resigned(header_json("").replace(alg.as_str(), "HS256")), "alg HS256");
            bad(&resigned(header_json("").replace("at+jwt", "JWT")), "typ JWT");
            if alg == SigningAlg::RS256 {
                // Right padding and the right hash, but not exactly the
                // SHA-256 DigestInfo: another prefix, or bytes after the hash.
                let private = PKey::private_key_from_pem(&pem).unwrap().rsa().unwrap();
                let input = &ours[..ours.rfind('.').unwrap()];
                let digest = sha256(input.as_bytes());
                let mut sha1_prefix = SHA256_DIGEST_INFO.to_vec();
                sha1_prefix[14] = 0x02;
                let mut trailing = SHA256_DIGEST_INFO.to_vec();
                trailing.extend_from_slice(&digest);
                trailing.push(0);
                for encoded in [[&sha1_prefix[..], &digest[..]].concat(), trailing] {
                    let mut signature = vec![0u8; private.size() as usize];
                    private.private_encrypt(&encoded, &mut signature, Padding::PKCS1).unwrap();
                    bad(&format!("{input}.{}", b64url(&signature)), "a DigestInfo that is not exactly SHA-256's");
                }
                let mut control = vec![0u8; private.size() as usize];
                let exact = [&SHA256_DIGEST_INFO[..], &digest[..]].concat();
                private.private_encrypt(&exact, &mut control, Padding::PKCS1).unwrap();
                assert!(
                    verify::<Value>(&format!("{input}.{}", b64url(&control)), &ring, TokenType::AccessToken).is_ok()
                );
            }
        }
    }

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

    /// A key file is used only for the algorithm it is a key of, and RSA
    /// keys must have at least 2048 bits.
    #[test]
    fn key_files_of_another_kind_or_too_weak_are_refused() {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        use openssl::rsa::Rsa;
        let pem = |key: PKey<openssl::pkey::Private>| key.private_key_to_pem_pkcs8().unwrap();
        let ec =
            |nid| pem(PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(nid).unwrap()).unwrap()).unwrap());
        let rsa = |bits| pem(PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap());
        let (rsa_2048, p256, ed25519) = (rsa(2048), ec(Nid::X9_62_PRIME256V1), pem(PKey::generate_ed25519().unwrap()));
        for (alg, good) in [(SigningAlg::RS256, &rsa_2048), (SigningAlg::ES256, &p256), (SigningAlg::EdDSA, &ed25519)] {
            assert!(KeyPair::from_pem(alg, good).is_ok(), "{alg:?}");
        }
        let refused = [
            (SigningAlg::RS256, rsa(1024)),
            (SigningAlg::RS256, p256.clone()),
            (SigningAlg::ES256, rsa_2048.clone()),
            (SigningAlg::ES256, ec(Nid::SECP384R1)),
            (SigningAlg::ES256, ed25519.clone()),
            (SigningAlg::EdDSA, p256.clone()),
            (SigningAlg::EdDSA, rsa_2048.clone()),
            (SigningAlg::RS256, b"not a key".to_vec()),
        ];
        for (alg, pem) in refused {
            assert!(KeyPair::from_pem(alg, &pem).is_err(), "{alg:?} accepted {}", String::from_utf8_lossy(&pem));
        }
    }
}
