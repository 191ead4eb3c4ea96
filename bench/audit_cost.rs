//! How much an audit event adds to the requests that write one, and what a
//! durable write (flush + fdatasync) costs.
//! `cargo bench --bench audit_cost` prints medians and ratios; it asserts
//! nothing (speed is measured here, never in a timed test).
//!
//! Compared with what those requests already pay: an RS256 signature (every
//! token issued) and a bcrypt verification at cost 10 (every sign-in).

use ferrid::domain::SigningAlg;
use ferrid::keys::KeyRing;
use ferrid::store::{AuditEvent, AuditKind, Store};
use std::time::{Duration, Instant};

fn median_and_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 99 / 100])
}

fn time<F: FnMut(usize)>(runs: usize, mut f: F) -> (Duration, Duration) {
    let samples = (0..runs)
        .map(|i| {
            let start = Instant::now();
            f(i);
            start.elapsed()
        })
        .collect();
    median_and_p99(samples)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("data")).expect("store");
    let (audit, audit_p99) = time(20_000, |i| {
        let event = AuditEvent::new(AuditKind::TokenIssued, 1_800_000_000 + i as i64)
            .user("alice")
            .app("node-red")
            .detail("authorization_code")
            .from_client(Some("192.168.1.20".into()), Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into()));
        store.audit(&event).expect("audit write");
    });

    let ring = KeyRing::load_or_create(&dir.path().join("keys"), &[SigningAlg::RS256], 0).expect("key");
    let key = ring.current(SigningAlg::RS256).expect("rsa key");
    let (sign, _) = time(500, |i| {
        let claims =
            serde_json::json!({ "iss": "x", "sub": "alice", "aud": "node-red", "jti": i.to_string(), "exp": 1 });
        ferrid::crypto::jose::sign(&claims, ferrid::crypto::jose::TokenType::AccessToken, key).expect("sign");
    });

    // A write that must survive a power cut: flush, then fdatasync (a user,
    // an application, a refresh family, a PAT).
    let (durable, durable_p99) = time(300, |_| {
        store.make_everything_durable().expect("durable");
        store.audit(&AuditEvent::new(AuditKind::UserChanged, 1)).expect("write");
    });

    let hash = bcrypt::hash("correct horse battery", 10).expect("hash");
    let (bcrypt, _) = time(15, |_| {
        bcrypt::verify("correct horse battery", &hash).expect("verify");
    });

    // Retention: the store now holds 20,300 events; keep 10,000 (what the
    // per-minute housekeeping does once a busy server passes `max_events`).
    let trim_start = Instant::now();
    let trimmed = store.trim_audit(0, 10_000).expect("trim");
    let trim = trim_start.elapsed();

    println!("audit event write:   median {audit:?}, p99 {audit_p99:?} (20,000 writes, sled, no fsync)");
    println!("RS256 token signing: median {sign:?} (500 signatures)");
    println!("durable write:       median {durable:?}, p99 {durable_p99:?} (flush + fdatasync, 300 writes)");
    println!("bcrypt cost 10:      median {bcrypt:?} (15 verifications)");
    println!("audit trim:          {trimmed} events beyond max_events removed in {trim:?}");
    println!("audit / RS256 signing   = {:.3}", audit.as_secs_f64() / sign.as_secs_f64());
    println!("audit / bcrypt sign-in  = {:.5}", audit.as_secs_f64() / bcrypt.as_secs_f64());
}
