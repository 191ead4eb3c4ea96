//! What signing one access token costs in ferrid (`jose::sign`), next to
//! josekit's own encoder with the same key and claims and to the bare
//! OpenSSL primitive. `cargo bench --bench sign_cost` prints medians and
//! ratios; it asserts nothing (speed is measured here, never in a test).

use ferrid::domain::SigningAlg;
use ferrid::jose::TokenType;
use ferrid::keys::KeyRing;
use josekit::jws::{ES256, JwsHeader, RS256};
use josekit::jwt::{self, JwtPayload};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use std::time::{Duration, Instant};

fn median<F: FnMut(usize)>(runs: usize, mut f: F) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|i| {
            let start = Instant::now();
            f(i);
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
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
        let pkey = PKey::private_key_from_pem(&pem).expect("openssl key");
        let raw_input = [7u8; 300];

        let ours = median(runs, |i| {
            ferrid::jose::sign(&claims(i), TokenType::AccessToken, key).expect("sign");
        });
        let theirs = median(runs, |i| {
            let mut header = JwsHeader::new();
            header.set_token_type("at+jwt");
            header.set_key_id(key.kid.clone());
            let payload = JwtPayload::from_map(claims(i).as_object().cloned().unwrap_or_default()).expect("payload");
            jwt::encode_with_signer(&payload, &header, josekit_signer.as_ref()).expect("josekit sign");
        });
        // The primitive alone, through EVP as `openssl speed` would see it
        // with a fresh context per signature.
        let primitive = median(runs, |_| {
            openssl::sign::Signer::new(MessageDigest::sha256(), &pkey)
                .and_then(|mut s| s.sign_oneshot_to_vec(&raw_input))
                .expect("openssl sign");
        });
        println!(
            "{alg}: ferrid jose::sign median {ours:?}, josekit encode_with_signer {theirs:?}, \
             OpenSSL EVP sign of 300 bytes {primitive:?}; ferrid/josekit = {:.2}, ferrid/EVP = {:.2}",
            ours.as_secs_f64() / theirs.as_secs_f64(),
            ours.as_secs_f64() / primitive.as_secs_f64()
        );
    }
}
