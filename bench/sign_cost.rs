//! What signing and verifying one access token cost in ferrid
//! (`jose::sign`, `jose::verify`), next to josekit's own encoder and decoder
//! with the same key and claims, and to the bare OpenSSL primitive. `cargo bench --bench sign_cost` prints medians and
//! ratios; it asserts nothing (speed is measured here, never in a test).

use ferrid::crypto::jose::TokenType;
use ferrid::domain::SigningAlg;
use ferrid::keys::KeyRing;
use josekit::jws::{ES256, JwsHeader, JwsVerifier, RS256};
use josekit::jwt::{self, JwtPayload};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use std::time::{Duration, Instant};

/// The median time of each of `fs`, run in turn within each round so that
/// a noisy neighbour on the machine slows them alike.
fn medians<const N: usize>(runs: usize, mut fs: [&mut dyn FnMut(usize); N]) -> [Duration; N] {
    let mut samples = [(); N].map(|_| Vec::with_capacity(runs));
    for i in 0..runs {
        for (f, samples) in fs.iter_mut().zip(samples.iter_mut()) {
            let start = Instant::now();
            f(i);
            samples.push(start.elapsed());
        }
    }
    samples.map(|mut s| {
        s.sort();
        s[s.len() / 2]
    })
}

fn claims(i: usize) -> serde_json::Value {
    serde_json::json!({
        "iss": "http://127.0.0.1:9000/application/o/node-red/", "sub": "node-red", "aud": "node-red",
        "client_id": "node-red", "scope": "", "jti": format!("8c5a1f7e-0000-4000-8000-{i:012}"),
        "iat": 1_800_000_000, "exp": 1_800_000_300
    })
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ring = KeyRing::load_or_create(dir.path(), &[SigningAlg::ES256, SigningAlg::RS256], 0).expect("keys");
    for (alg, runs) in [(SigningAlg::ES256, 20_000), (SigningAlg::RS256, 1_000)] {
        let key = ring.current(alg).expect("key");
        let pem = std::fs::read(&key.path).expect("key file");
        let josekit_signer: Box<dyn josekit::jws::JwsSigner> = match alg {
            SigningAlg::ES256 => Box::new(ES256.signer_from_pem(&pem).expect("josekit key")),
            _ => Box::new(RS256.signer_from_pem(&pem).expect("josekit key")),
        };
        let josekit_verifier: Box<dyn JwsVerifier> = match alg {
            SigningAlg::ES256 => Box::new(ES256.verifier_from_pem(key.public_pem().as_bytes()).expect("josekit key")),
            _ => Box::new(RS256.verifier_from_pem(key.public_pem().as_bytes()).expect("josekit key")),
        };
        let pkey = PKey::private_key_from_pem(&pem).expect("openssl key");
        let raw_input = [7u8; 300];

        let mut ours = |i| {
            ferrid::crypto::jose::sign(&claims(i), TokenType::AccessToken, key).expect("sign");
        };
        let mut theirs = |i: usize| {
            let mut header = JwsHeader::new();
            header.set_token_type("at+jwt");
            header.set_key_id(key.kid.clone());
            let payload = JwtPayload::from_map(claims(i).as_object().cloned().unwrap_or_default()).expect("payload");
            jwt::encode_with_signer(&payload, &header, josekit_signer.as_ref()).expect("josekit sign");
        };
        // The primitive alone, through EVP as `openssl speed` would see it
        // with a fresh context per signature.
        let mut primitive = |_| {
            openssl::sign::Signer::new(MessageDigest::sha256(), &pkey)
                .and_then(|mut s| s.sign_oneshot_to_vec(&raw_input))
                .expect("openssl sign");
        };
        let [ours, theirs, primitive] = medians(runs, [&mut ours, &mut theirs, &mut primitive]);
        let tokens: Vec<String> = (0..1000)
            .map(|i| ferrid::crypto::jose::sign(&claims(i), TokenType::AccessToken, key).expect("sign"))
            .collect();
        let mut our_verify = |i: usize| {
            ferrid::crypto::jose::verify::<serde_json::Value>(&tokens[i % 1000], &ring, TokenType::AccessToken)
                .expect("verify");
        };
        let mut their_verify = |i: usize| {
            jwt::decode_with_verifier(&tokens[i % 1000], josekit_verifier.as_ref()).expect("josekit verify");
        };
        let [our_verify, their_verify] = medians(20_000, [&mut our_verify, &mut their_verify]);
        println!(
            "{alg}: ferrid jose::verify median {our_verify:?}, josekit decode_with_verifier {their_verify:?}; \
             ferrid/josekit = {:.2}",
            our_verify.as_secs_f64() / their_verify.as_secs_f64()
        );
        println!(
            "{alg}: ferrid jose::sign median {ours:?}, josekit encode_with_signer {theirs:?}, \
             OpenSSL EVP sign of 300 bytes {primitive:?}; ferrid/josekit = {:.2}, ferrid/EVP = {:.2}",
            ours.as_secs_f64() / theirs.as_secs_f64(),
            ours.as_secs_f64() / primitive.as_secs_f64()
        );
    }
}
