//! Bearer JWTs as ferrid verifies them, against a real key ring of all three
//! algorithms: (1) the input as a token, which mostly exercises parsing and
//! the header checks; (2) the input as the end of a header and a payload,
//! correctly signed with the ring's Ed25519 key, which reaches signature
//! verification and payload parsing. A token whose header is exactly what
//! ferrid issues and whose payload is a JSON object must verify.
#![no_main]
use ferrid::domain::SigningAlg;
use ferrid::crypto::jose::TokenType;
use ferrid::keys::KeyRing;
use ferrid::crypto::secrets::b64url;
use libfuzzer_sys::fuzz_target;
use openssl::pkey::{PKey, Private};
use std::sync::OnceLock;

struct Fixture {
    _dir: tempfile::TempDir,
    ring: KeyRing,
    ed25519: PKey<Private>,
    kid: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let ring = KeyRing::load_or_create(dir.path(), &SigningAlg::ALL, 0).expect("keys");
        let key = ring.current(SigningAlg::EdDSA).expect("Ed25519 key");
        let pem = std::fs::read(&key.path).expect("key file");
        let ed25519 = PKey::private_key_from_pem(&pem).expect("Ed25519 PEM");
        let kid = key.kid.clone();
        Fixture { _dir: dir, ring, ed25519, kid }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = ferrid::crypto::jose::verify::<serde_json::Value>(token, &f.ring, TokenType::AccessToken);
    }

    // Header tail and payload, split at the first 0 byte.
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (tail, payload) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let mut header = format!(r#"{{"alg":"EdDSA","kid":"{}""#, f.kid).into_bytes();
    header.extend_from_slice(tail);
    let input = format!("{}.{}", b64url(&header), b64url(payload));
    let signature = openssl::sign::Signer::new_without_digest(&f.ed25519)
        .and_then(|mut signer| signer.sign_oneshot_to_vec(input.as_bytes()))
        .expect("Ed25519 signs");
    let token = format!("{input}.{}", b64url(&signature));
    let verified = ferrid::crypto::jose::verify::<serde_json::Value>(&token, &f.ring, TokenType::AccessToken);
    let issued_shape = tail == br#","typ":"at+jwt"}"#;
    let object = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(payload).is_ok();
    if issued_shape && object {
        assert!(verified.is_ok(), "a correctly signed token was refused: {verified:?}");
    }
});
