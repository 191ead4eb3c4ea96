//! Bearer JWTs as ferrid verifies them: header parsing, alg/kid/typ checks,
//! signature verification, against a real key ring of all three algorithms.
#![no_main]
use ferrid::domain::SigningAlg;
use ferrid::keys::KeyRing;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<(tempfile::TempDir, KeyRing)> = OnceLock::new();
    &RING
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let ring = KeyRing::load_or_create(dir.path(), &SigningAlg::ALL, 0).expect("keys");
            (dir, ring)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = ferrid::jose::verify(token, ring(), ferrid::jose::TokenType::AccessToken);
    }
});
