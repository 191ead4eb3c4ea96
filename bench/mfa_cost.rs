//! What each second-factor step costs the server: enrolling an
//! authenticator app (a fresh seed, sealed, written durably), checking a
//! TOTP code at sign-in (read, open the seal, three HMACs, the
//! compare-and-swap that marks the step used, durably), a recovery code,
//! and, for scale, the bcrypt check every sign-in already pays.
//! `cargo bench --bench mfa_cost` prints medians; it asserts nothing.

use ferrid::config::SignInPolicy;
use ferrid::crypto::seal::SealKey;
use ferrid::crypto::totp;
use ferrid::mfa::{Checked, Mfa};
use ferrid::store::{Store, User};
use ferrid::throttle::{Client, Throttle};
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

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("data")).expect("store");
    let policy = SignInPolicy {
        max_failures: 1_000_000,
        ip_max_failures: 1_000_000,
        account_max_failures: 1_000_000,
        lock_for: 1,
        delay_ms: 0,
    };
    let throttle = Throttle::new(policy);
    let seal = SealKey::from_bytes([9; 32]);
    let mfa = Mfa { store: &store, seal: &seal, throttle: &throttle };
    let users: Vec<User> = (0..300)
        .map(|i| {
            let user = ferrid::store::User {
                sub: uuid::Uuid::new_v4(),
                username: ferrid::domain::Username::parse(&format!("user{i}")).unwrap(),
                email: None,
                email_verified: false,
                name: None,
                password_hash: String::new(),
                groups: vec![],
                disabled: false,
                created_at: 0,
                epoch: 0,
                identities: vec![],
            };
            store.create_user(&user).unwrap();
            user
        })
        .collect();
    let now = 1_800_000_000;

    let mut seeds = Vec::new();
    let enroll = median(users.len(), |i| {
        let enrollment = mfa.start_totp(&users[i], "phone", now).expect("enroll");
        seeds.push(enrollment);
    });
    for (user, enrollment) in users.iter().zip(&seeds) {
        let code = format!("{:06}", totp::code_at(&enrollment.seed, totp::step_of(now)).unwrap());
        assert!(mfa.confirm_totp(user, &enrollment.id, &code, now).unwrap());
    }
    let later = now + 30;
    let check = median(users.len(), |i| {
        let code = format!("{:06}", totp::code_at(&seeds[i].seed, totp::step_of(later)).unwrap());
        let checked = mfa.check(&users[i], &code, Client::Known("bench"), "", later).expect("check");
        assert_eq!(checked, Checked::Totp);
    });
    let wrong = median(users.len(), |i| {
        mfa.check(&users[i], "000000", Client::Known("bench"), "", later).expect("check");
    });
    let codes: Vec<Vec<String>> = users.iter().map(|u| mfa.new_recovery_codes(u, now).unwrap()).collect();
    let recovery = median(users.len(), |i| {
        let checked = mfa.check(&users[i], &codes[i][0], Client::Known("bench"), "", later).expect("check");
        assert!(matches!(checked, Checked::Recovery { .. }));
    });
    let hmacs = median(10_000, |i| {
        let _ = totp::accepted_step(&seeds[i % seeds.len()].seed, "123456", now, None);
    });
    // WebAuthn: a software passkey answers; only ferrid's side is timed
    // (parse, the challenge and origin checks, the ES256 signature, the
    // durable counter update).
    let passkeys = ferrid::passkeys::Passkeys::for_public_url("http://localhost:9000").expect("a host name");
    let origin = webauthn_authenticator_rs::prelude::Url::parse("http://localhost:9000").unwrap();
    let mut key = webauthn_authenticator_rs::WebauthnAuthenticator::new(
        webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true),
    );
    let holder = &users[0];
    let (options, state) = passkeys.start_registration(&store, holder).unwrap();
    let answer = key.do_registration(origin.clone(), serde_json::from_value(options).unwrap()).unwrap();
    let answer = serde_json::to_string(&answer).unwrap();
    let registered = Instant::now();
    passkeys.finish_registration(&store, holder, "key", &state, &answer, now).unwrap().expect("registered");
    let registration = registered.elapsed();
    let mut verify_samples = Vec::new();
    for _ in 0..300 {
        let (options, state) = passkeys.start_authentication(&store, holder).unwrap().unwrap();
        let answer = key.do_authentication(origin.clone(), serde_json::from_value(options).unwrap()).unwrap();
        let answer = serde_json::to_string(&answer).unwrap();
        let start = Instant::now();
        passkeys.finish_authentication(&store, holder, &state, &answer, now).unwrap().expect("verified");
        verify_samples.push(start.elapsed());
    }
    verify_samples.sort();
    let webauthn = verify_samples[verify_samples.len() / 2];
    let start_auth = median(300, |_| {
        passkeys.start_authentication(&store, holder).unwrap();
    });

    let hash = bcrypt::hash("correct horse battery", 10).expect("hash");
    let bcrypt = median(15, |_| {
        bcrypt::verify("correct horse battery", &hash).expect("verify");
    });

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("enroll an authenticator app (seed, seal, durable write): {:.0} µs", us(enroll));
    println!("check a right TOTP code (open, 3 HMACs, mark used, durable): {:.0} µs", us(check));
    println!("check a wrong code (open, 3 HMACs, throttle, audit): {:.0} µs", us(wrong));
    println!("check a recovery code (digests, mark used, durable): {:.0} µs", us(recovery));
    println!("  of which the three HMACs alone: {:.1} µs", us(hmacs));
    println!("register a passkey (verify the attestation, durable write; one run): {:.0} µs", us(registration));
    println!("offer a passkey challenge (the code page): {:.0} µs", us(start_auth));
    println!("verify a passkey assertion (ES256, counter, durable): {:.0} µs", us(webauthn));
    println!("bcrypt at cost 10 (every sign-in's password check): {:.0} µs", us(bcrypt));
    println!("right TOTP code / bcrypt: {:.3}", check.as_secs_f64() / bcrypt.as_secs_f64());
}
