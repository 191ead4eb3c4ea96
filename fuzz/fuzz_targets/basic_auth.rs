//! The Authorization header's Basic credentials (RFC 6749 §2.3.1).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferrid::oidc::parse_basic(data);
});
