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
                    name: None,
                    password_hash: String::new(),
                    groups: vec![],
                    disabled: false,
                    created_at: 0,
                    epoch: 0,
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
async fn an_application_and_a_key_rotation_made_at_a_are_served_by_b_within_the_bound() {
    use ferrid::admin::AdminCommand;
    let apps = spawn_instances(2).await;
    let (a, b) = (&apps[0], &apps[1]);
    let discovery = b.url("/application/o/grafana/.well-known/openid-configuration");
    assert_eq!(reqwest::get(&discovery).await.unwrap().status(), 404);
    a.add_app("grafana", "https://grafana.example/login");
    within_the_bound("the new application at B", async || reqwest::get(&discovery).await.unwrap().status() == 200)
        .await;

    let rotated = a.admin(AdminCommand::KeysRotate { alg: Some("RS256".into()) }).unwrap();
    let kid = rotated[0]["kid"].as_str().unwrap().to_owned();
    let jwks = b.url("/application/o/web/jwks/");
    within_the_bound("the new key in B's JWKS", async || {
        let keys: serde_json::Value = reqwest::get(&jwks).await.unwrap().json().await.unwrap();
        keys["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str())
    })
    .await;
    // A token B signs now verifies with the key B publishes.
    let token = b.post_token(&[("grant_type", "client_credentials")], Some(("web", WEB_SECRET))).await;
    let token: serde_json::Value = token.json().await.unwrap();
    let header = jsonwebtoken::decode_header(token["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()), "B signs with the key A made");
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
