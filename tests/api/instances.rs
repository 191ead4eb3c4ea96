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
