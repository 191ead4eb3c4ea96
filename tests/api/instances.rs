//! Several ferrid instances on one PostgreSQL database behave as one
//! issuer: what a client does at one is seen at the others. These tests
//! always use PostgreSQL (a server of the test process's own), whichever
//! store the rest of the run uses.

use crate::helpers::*;
use serde_json::Value;

async fn token(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.post_token(form, Some(("web", WEB_SECRET))).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_code_from_a_is_redeemed_at_b_once_and_a_refresh_replay_at_b_revokes_the_family_at_both() {
    let apps = spawn_instances(2).await;
    let (a, b) = (&apps[0], &apps[1]);
    let alice = a.add_user("alice", &[]);

    // Signed in at A; the code is exchanged at B.
    let pkce = Pkce::new();
    let q = a.authorize_and_sign_in(&web_params("openid offline_access", &pkce, "n", "s"), &alice).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", WEB_CB),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let (status, first) = token(b, &form).await;
    assert_eq!(status, 200, "{first}");
    // Single use across instances: A refuses the code B redeemed.
    let (status, reused) = token(a, &form).await;
    assert_eq!((status, reused["error"].as_str()), (400, Some("invalid_grant")));

    // ...and that replay revoked what the first use issued, everywhere.
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, _) = token(b, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 400, "the family died with the replayed code");

    // Again (single sign-on: the session at A answers at once): refresh
    // at A, then replay the old refresh token at B.
    let pkce = Pkce::new();
    let q = query_of(&location(&a.get_authorize(&web_params("openid offline_access", &pkce, "n", "s")).await));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", WEB_CB),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let (_, tokens) = token(a, &form).await;
    let old = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = token(a, &[("grant_type", "refresh_token"), ("refresh_token", &old)]).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, replay) = token(b, &[("grant_type", "refresh_token"), ("refresh_token", &old)]).await;
    assert_eq!((status, replay["error"].as_str()), (400, Some("invalid_grant")), "reuse detected at B");
    for (name, app) in [("A", a), ("B", b)] {
        let (status, _) = token(app, &[("grant_type", "refresh_token"), ("refresh_token", &new)]).await;
        assert_eq!(status, 400, "the family is revoked at {name}");
    }
}

#[tokio::test]
async fn a_pat_revoked_at_b_is_inactive_at_a_and_a_user_made_at_a_signs_in_at_b() {
    let apps = spawn_instances(2).await;
    let (a, b) = (&apps[0], &apps[1]);
    let alice = b.add_user("alice", &[]);
    let (pat, id) = a.create_pat("alice", "web", 3600);
    assert_eq!(b.introspect(&pat, ("web", WEB_SECRET)).await["active"], true, "made at A, known at B");
    b.admin(ferrid::admin::AdminCommand::PatRevoke { id }).unwrap();
    assert_eq!(a.introspect(&pat, ("web", WEB_SECRET)).await["active"], false, "revoked at B, inactive at A");

    // A user made at B signs in at A.
    let pkce = Pkce::new();
    let q = a.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;
    assert!(q.contains_key("code"), "{q:?}");
}

#[test]
fn concurrent_batches_at_two_instances_let_exactly_one_compare_and_swap_win() {
    // Two stores on one database: two instances. Each round both try to
    // create the same user name; the store's precondition (no such name
    // yet) must hold for exactly one of them.
    let url = postgres_server::new_database();
    let open = || ferrid::store::Store::open_postgres(url.parse().unwrap()).unwrap();
    let (one, two) = (std::sync::Arc::new(open()), std::sync::Arc::new(open()));
    for round in 0..25 {
        let name = format!("user{round}");
        let attempt = |store: std::sync::Arc<ferrid::store::Store>, name: String| {
            std::thread::spawn(move || {
                let user = ferrid::store::User {
                    sub: uuid::Uuid::new_v4(),
                    username: ferrid::domain::Username::parse(&name).unwrap(),
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
                store.create_user(&user).is_ok()
            })
        };
        let first = attempt(one.clone(), name.clone());
        let second = attempt(two.clone(), name.clone());
        let wins = [first.join().unwrap(), second.join().unwrap()].iter().filter(|w| **w).count();
        assert_eq!(wins, 1, "round {round}");
        assert_eq!(one.users().unwrap().len(), round + 1, "seen at the other instance too");
    }
}

#[test]
fn a_bad_database_is_refused_with_its_cause_named() {
    let error =
        |url: &str| ferrid::store::Store::open_postgres(url.parse().unwrap()).err().expect("refused").to_string();
    let url = postgres_server::new_database();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = error(&format!("postgres://ferrid@127.0.0.1:{closed}/x"));
    assert!(unreachable.contains("PostgreSQL") && unreachable.contains("refused"), "{unreachable}");
    let stranger = error(&url.replace("ferrid@", "nobody@"));
    assert!(stranger.contains("role \"nobody\" does not exist"), "{stranger}");

    // A schema from a newer ferrid: refused, and left as it was.
    drop(ferrid::store::Store::open_postgres(url.parse().unwrap()).unwrap());
    postgres_server::execute(&url, "INSERT INTO ferrid_migrations (version) VALUES (99)");
    let newer = error(&url);
    assert!(newer.contains("schema is version 99, newer than this ferrid knows"), "{newer}");
}

/// Polls `check` until it holds, up to 3 s (the instances look for
/// catalog changes every second).
async fn within_the_bound(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "{what} not seen within the bound");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_application_and_a_key_rotation_made_at_a_are_served_by_b_and_no_one_signs_with_an_unpublished_key() {
    use ferrid::admin::AdminCommand;
    let apps = spawn_instances(2).await;
    let (a, b) = (&apps[0], &apps[1]);
    let discovery = b.url("/application/o/grafana/.well-known/openid-configuration");
    assert_eq!(reqwest::get(&discovery).await.unwrap().status(), 404);
    a.add_app("grafana", "https://grafana.example/login");
    within_the_bound("the new application at B", async || reqwest::get(&discovery).await.unwrap().status() == 200)
        .await;

    // A key rotated at A: for as long as the rotation takes to settle, a
    // token either instance signs verifies with the other's JWKS.
    let rotated = a.admin(AdminCommand::KeysRotate { alg: Some("RS256".into()) }).unwrap();
    let kid = rotated[0]["kid"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut signed_with_new = (false, false);
    while std::time::Instant::now() < deadline {
        for (signer, verifier, new) in [(a, b, &mut signed_with_new.0), (b, a, &mut signed_with_new.1)] {
            let signed = signing_kid(signer).await;
            let published = published_kids(verifier).await;
            assert!(published.contains(&signed), "{signed} signs but is not in the other's JWKS {published:?}");
            *new |= signed == kid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(signed_with_new, (true, true), "both sign with the new key once its lead is over");
}

/// How many connections to `url`'s database are listening for catalog
/// changes (their last statement is the LISTEN).
pub(crate) fn catalog_listeners(url: &str) -> usize {
    let sql = "SELECT count(*) FROM pg_stat_activity \
               WHERE datname = current_database() AND query = 'LISTEN ferrid_catalog'";
    postgres_server::query(url, sql).parse().unwrap()
}

/// Waits up to `within` for `check`.
pub(crate) async fn seen_within(within: std::time::Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_application_made_at_a_is_served_by_b_when_told_long_before_b_polls_also_after_a_lost_connection() {
    // B looks at the catalog stamp every 30 s only: what it learns sooner,
    // it learns from A's notice (LISTEN/NOTIFY).
    let (url, apps) = spawn_instances_tuned(2, |c| c.catalog_poll = std::time::Duration::from_secs(30)).await;
    let (a, b) = (&apps[0], &apps[1]);
    let quick = std::time::Duration::from_secs(2);
    // (Listening starts with a look at the catalog: wait for it, so that
    // it cannot be what shows the change below.)
    assert!(seen_within(quick, async || catalog_listeners(&url) == 2).await, "both instances listen");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let usable_at_b = async |slug: &str, secret: &str| {
        let response = b.post_token(&[("grant_type", "client_credentials")], Some((slug, secret))).await;
        // Known at B: the secret is checked (then the grant refused: the
        // application is not a machine client). Unknown: invalid_client.
        response.status() != 401
    };
    let secret = a.add_app("grafana", "https://grafana.example/login");
    assert!(!usable_at_b("nobody", "x").await, "an unknown client is refused as such");
    assert!(seen_within(quick, async || usable_at_b("grafana", &secret).await).await, "told within 2 s, not 30");

    // B's listening connection is lost (a database restart, a network
    // cut): B connects again and is told again.
    postgres_server::query(
        &url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query = 'LISTEN ferrid_catalog'",
    );
    assert!(
        seen_within(std::time::Duration::from_secs(5), async || catalog_listeners(&url) == 2).await,
        "listen again"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let secret = a.add_app("wiki", "https://wiki.example/login");
    assert!(seen_within(quick, async || usable_at_b("wiki", &secret).await).await, "told again after reconnecting");
}

/// The kid of a token `app` signs now.
async fn signing_kid(app: &TestApp) -> String {
    let token = app.post_token(&[("grant_type", "client_credentials")], Some(("web", WEB_SECRET))).await;
    let token: serde_json::Value = token.json().await.unwrap();
    jsonwebtoken::decode_header(token["access_token"].as_str().unwrap()).unwrap().kid.unwrap()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: serde_json::Value =
        reqwest::get(app.url("/application/o/web/jwks/")).await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn guesses_spread_over_two_instances_lock_the_account_at_both() {
    let apps = spawn_instances(2).await;
    let (a, b) = (&apps[0], &apps[1]);
    let alice = a.add_user("alice", &[]);
    // The test config locks after 3 failures from one address.
    for (at, app) in [("A", a), ("B", b), ("A", a)] {
        assert_eq!(sign_in_status(app, "alice", "wrong-password").await, 401, "a wrong password at {at}");
    }
    assert_eq!(sign_in_status(b, "alice", &alice.password).await, 401, "locked at B too");
}

/// A sign-in attempt at `app` from a fresh authorization request: its status.
async fn sign_in_status(app: &TestApp, username: &str, password: &str) -> u16 {
    let pkce = Pkce::new();
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    app.submit_sign_in(&location(&response), username, password).await.status().as_u16()
}

#[tokio::test]
async fn signing_keys_are_in_the_database_sealed_and_open_only_with_the_seal_key() {
    let apps = spawn_instances(1).await;
    let app = &apps[0];
    let dump = app.state.store.dump().unwrap();
    let keys = &dump.0["keys"];
    assert!(keys.len() >= 3, "one per algorithm in use: {}", keys.len());
    for [_, value] in keys {
        let sealed = ferrid::crypto::secrets::b64url_decode(value).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("PRIVATE KEY"), "a key is stored in the clear");
    }
    let files: Vec<_> =
        std::fs::read_dir(app._dir.path().join("keys")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, [std::ffi::OsString::from("seal.key")], "no key files beside the seal key");

    let other = ferrid::keystore::KeyStore::Database {
        store: &app.state.store,
        seal: ferrid::crypto::seal::SealKey::from_bytes([7; 32]),
        keys_dir: app._dir.path(),
    };
    let refused = other.load().err().expect("another seal key opens nothing").to_string();
    assert!(refused.contains("does not open with this seal key"), "{refused}");
}

/// An instance on the PostgreSQL database at `url`, with the seal keys
/// `FERRID_SEAL_KEY` and `FERRID_SEAL_KEY_PREVIOUS` would give.
async fn instance_sealed_with(url: &str, seal: [u8; 32], previous: Option<[u8; 32]>) -> TestApp {
    let store = format!("store: {{ postgres: \"{url}\" }}\n");
    spawn_app_tuned(
        // In place of the test store (FERRID_TEST_STORE=postgres gives one).
        |yaml| store + &yaml.lines().filter(|l| !l.starts_with("store:")).map(|l| format!("{l}\n")).collect::<String>(),
        |config| {
            config.seal_key = Some(ferrid::config::SealSecret(seal));
            config.seal_key_previous = previous.map(ferrid::config::SealSecret);
        },
    )
    .await
}

#[tokio::test]
async fn a_seal_key_rotation_moves_the_signing_keys_and_totp_seeds_to_the_new_key_and_the_old_one_opens_nothing() {
    let (old, new) = ([1u8; 32], [2u8; 32]);
    let url = postgres_server::new_database();
    let a = instance_sealed_with(&url, old, None).await;
    let alice = a.add_user("alice", &[]);
    let user = a.state.store.user_by_name(&ferrid::domain::Username::parse(&alice.username).unwrap()).unwrap().unwrap();
    let mfa = ferrid::mfa::Mfa { store: &a.state.store, seal: &a.state.seal, throttle: &a.state.throttle };
    let enrollment = mfa.start_totp(&user, "phone", a.clock.now()).unwrap();
    let database_keys = |seal: [u8; 32]| {
        ferrid::keystore::KeyStore::Database {
            store: &a.state.store,
            seal: ferrid::crypto::seal::SealKey::from_bytes(seal),
            keys_dir: a._dir.path(),
        }
        .load()
        .map(|ring| ring.all().map(|k| k.kid.clone()).collect::<Vec<_>>())
    };
    let seed_with = |seal: [u8; 32]| {
        let seal = ferrid::crypto::seal::SealKey::from_bytes(seal);
        let mfa = ferrid::mfa::Mfa { store: &a.state.store, seal: &seal, throttle: &a.state.throttle };
        mfa.pending_seed(&user, &enrollment.id)
    };
    let keys = database_keys(old).expect("sealed with the old key");
    assert!(database_keys(new).is_err() && seed_with(new).is_err(), "nothing opens with the new key yet");

    // The new key, the old one as the previous: the start moves everything.
    let b = instance_sealed_with(&url, new, Some(old)).await;
    assert_eq!(b.client.get(b.url("/readyz")).send().await.unwrap().status(), 200);
    assert_eq!(database_keys(new).expect("the new key alone opens the signing keys"), keys);
    assert_eq!(seed_with(new).unwrap(), Some(enrollment.seed.clone()), "and the seed, unchanged");
    assert!(database_keys(old).is_err(), "the old key opens no signing key any more");
    assert!(seed_with(old).is_err(), "nor the seed");

    // Once moved, the previous key can go: an instance with the new key alone starts and signs.
    let c = instance_sealed_with(&url, new, None).await;
    assert_eq!(c.client.get(c.url("/readyz")).send().await.unwrap().status(), 200);
    let (status, body) = token(&c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_session_begun_at_a_is_signed_in_at_b_and_signing_out_at_b_ends_it_at_a() {
    let apps = spawn_instances(2).await;
    let (a, b) = (&apps[0], &apps[1]);
    let alice = a.add_user("alice", &[]);
    // One browser (its cookies go to both: same host); the load balancer
    // sends it to A, then to B.
    let pkce = Pkce::new();
    let q = a.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;
    assert!(q.contains_key("code"));
    let page = a.client.get(b.url("/account/")).send().await.unwrap();
    assert_eq!(page.status(), 200, "signed in at B with the session from A");
    let csrf = hidden_field(&page.text().await.unwrap(), "csrf_token").unwrap();
    let out = a.client.post(b.url("/account/sign-out")).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(out.status(), 200, "signed out at B");
    let page = a.client.get(a.url("/account/")).send().await.unwrap();
    assert_eq!(page.status(), 303, "A asks for the password again");
    assert!(location(&page).starts_with("/login?tx="));
}

/// Starts three instances of one issuer at the same moment on an empty
/// database (one seal key, copied to each keys dir beforehand, as
/// docs/scaling.md says); returns how many reported a first-start admin
/// password, and the instances' addresses.
async fn three_at_once() -> (usize, Vec<String>, Vec<tempfile::TempDir>) {
    let url = postgres_server::new_database();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let seal = ferrid::keys::SEAL_KEY_FILE;
    ferrid::keys::seal_key(None, None, &dirs[0].path().join("keys")).unwrap();
    for dir in &dirs[1..] {
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::copy(dirs[0].path().join("keys").join(seal), dir.path().join("keys").join(seal)).unwrap();
    }
    let listeners: Vec<std::net::TcpListener> =
        (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let addresses: Vec<String> =
        listeners.iter().map(|l| format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())).collect();
    let starts = listeners.into_iter().zip(&dirs).map(|(listener, dir)| {
        let yaml = test_config(&addresses[0], dir.path());
        let kept: Vec<&str> = yaml.lines().filter(|l| !l.starts_with("store:")).collect();
        let yaml = format!("store: {{ postgres: \"{url}\" }}\n{}\n", kept.join("\n"));
        let config = ferrid::config::Config::from_yaml(&yaml, &NoEnv).unwrap();
        tokio::spawn(async move {
            let app = ferrid::startup::Application::build_on(config, ferrid::clock::Clock::system(), listener).await;
            app.map(|app| {
                let reported = app.first_start.admin_password.is_some();
                tokio::spawn(app.run_until_stopped());
                reported
            })
            .map_err(|e| e.to_string())
        })
    });
    let mut reported = 0;
    for start in starts.collect::<Vec<_>>() {
        reported += usize::from(start.await.unwrap().expect("every instance starts"));
    }
    (reported, addresses, dirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_started_at_once_on_an_empty_database_come_up_as_one_issuer_ten_times_over() {
    for round in 0..10 {
        let (reported, addresses, _dirs) = three_at_once().await;
        assert_eq!(reported, 1, "round {round}: one first administrator, its password shown once");
        let mut seen = Vec::new();
        for address in &addresses {
            let jwks: Value =
                reqwest::get(format!("{address}/application/o/web/jwks/")).await.unwrap().json().await.unwrap();
            let mut kids: Vec<String> =
                jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
            kids.sort();
            seen.push(kids);
        }
        assert!(seen.iter().all(|kids| kids == &seen[0]), "round {round}: one set of keys: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_codes_guessed_at_once_over_two_instances_get_exactly_the_cap_and_the_owner_is_told() {
    let apps = spawn_instances(2).await;
    let (a, b) = (&apps[0], &apps[1]);
    let alice = a.add_user("alice", &[]);
    // alice sets up an authenticator app on her account page (at A).
    let owner = browser();
    let response = owner.get(a.url("/account/mfa")).send().await.unwrap();
    sign_in_with(&owner, &a.address, &location(&response), &alice.username, &alice.password).await;
    let html = owner.get(a.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let page = owner.post(a.url("/account/mfa/totp")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    let page = page.text().await.unwrap();
    let secret = secret_of(&page);
    let form = [
        ("csrf_token", csrf.clone()),
        ("id", hidden_field(&page, "id").unwrap()),
        ("code", oathtool(&secret, a.clock.now())),
    ];
    owner.post(a.url("/account/mfa/totp/confirm")).form(&form).send().await.unwrap();

    // Someone with her password, in a browser of their own, reaches the code page...
    let attacker = browser();
    let pkce = Pkce::new();
    let response =
        attacker.get(a.url("/application/o/authorize/")).query(&web_params("openid", &pkce, "n", "s")).send();
    let response = response.await.unwrap();
    let response = sign_in_with(&attacker, &a.address, &location(&response), &alice.username, &alice.password).await;
    let html = attacker.get(a.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("code", "not-a-code".to_owned()),
    ];
    // ...and sends 16 guesses at once, half to each instance.
    let guesses = (0..16).map(|i| {
        let (attacker, form) = (attacker.clone(), form.clone());
        let url = if i % 2 == 0 { a.url("/login/code") } else { b.url("/login/code") };
        tokio::spawn(async move { attacker.post(url).form(&form).send().await.unwrap().status().as_u16() })
    });
    for guess in guesses.collect::<Vec<_>>() {
        assert_eq!(guess.await.unwrap(), 401);
    }
    let trail = a.state.store.audit_since(0).unwrap();
    let detail_count = |kind: ferrid::store::AuditKind, detail: &str| {
        trail.iter().filter(|e| e.kind == Some(kind) && e.detail.as_deref().is_some_and(|d| d.contains(detail))).count()
    };
    assert_eq!(detail_count(ferrid::store::AuditKind::MfaFailed, "wrong code"), 3, "exactly the cap was evaluated");
    assert_eq!(detail_count(ferrid::store::AuditKind::MfaFailed, "while locked"), 13);
    assert_eq!(detail_count(ferrid::store::AuditKind::SignInLocked, "second-factor codes"), 1, "the lock is audited");

    // alice is told, on her account page, at either instance.
    for app in [a, b] {
        let html = owner.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("3 wrong second-factor codes were entered for this account"), "{html}");
    }
}
