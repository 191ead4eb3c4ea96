//! What an account change ends (issue 13, points 3 and 4): the access
//! policy is read at every introspection and userinfo call; a password
//! change ends sessions and refresh families; disabling ends them for good;
//! revoking a PAT ends the JWTs exchanged for it at ferrid's endpoints.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use serde_json::Value;

const GUARDED: (&str, &str) = ("guarded", WEB_SECRET);
const WEB: (&str, &str) = ("web", WEB_SECRET);

async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(app.url("/application/o/userinfo/"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn refresh(app: &TestApp, token: &str, client: (&str, &str)) -> reqwest::Response {
    app.post_token(&[("grant_type", "refresh_token"), ("refresh_token", token)], Some(client)).await
}

/// Code flow at the `guarded` app (admins, viewers) with offline_access.
async fn guarded_tokens(app: &TestApp, user: &TestUser) -> Value {
    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", "guarded"),
        ("redirect_uri", GUARDED_CB),
        ("scope", "openid profile offline_access"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let q = app.authorize_and_sign_in(&params, user).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", GUARDED_CB),
        ("code_verifier", &pkce.verifier),
    ];
    let response = app.post_token(&form, Some(GUARDED)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_user_removed_from_the_allowed_groups_has_no_active_token_anywhere() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins"]);
    let tokens = guarded_tokens(&app, &alice).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (pat, _) = app.create_pat("alice", "guarded", 86_400);
    for token in [access, refresh_token, pat.as_str()] {
        assert_eq!(app.introspect(token, GUARDED).await["active"], true, "while allowed");
    }
    assert_eq!(userinfo(&app, access).await, 200);

    app.admin(AdminCommand::UserGroups { username: "alice".into(), groups: vec![] }).unwrap();
    for (name, token) in [("access", access), ("refresh", refresh_token), ("pat", pat.as_str())] {
        assert_eq!(app.introspect(token, GUARDED).await, serde_json::json!({ "active": false }), "{name}");
    }
    assert_eq!(userinfo(&app, access).await, 401);

    // Back in a group, the same tokens work again: the policy is read now, not at issuance.
    app.admin(AdminCommand::UserGroups { username: "alice".into(), groups: vec!["viewers".into()] }).unwrap();
    assert_eq!(app.introspect(&pat, GUARDED).await["active"], true);
    assert_eq!(userinfo(&app, access).await, 200);
}

#[tokio::test]
async fn a_password_change_ends_sessions_and_refresh_families() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let tokens = app.code_flow_tokens(&alice, "openid offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    // The browser is signed in: authorize answers with a code straight away.
    let pkce = Pkce::new();
    let sso = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    assert!(location(&sso).starts_with(WEB_CB), "SSO before the change");

    let new_hash = bcrypt::hash("a-brand-new-password", 4).unwrap();
    app.admin(AdminCommand::UserPasswd { username: "alice".into(), password_hash: new_hash }).unwrap();

    let after = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    assert!(location(&after).starts_with("/login?tx="), "the session ended: {}", location(&after));
    assert_eq!(app.introspect(refresh_token, WEB).await["active"], false);
    let refused = refresh(&app, refresh_token, WEB).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // The new password signs in and starts a family that works.
    let renewed = TestUser { password: "a-brand-new-password".into(), ..alice };
    let fresh = TestApp { client: browser(), ..app };
    let tokens = fresh.code_flow_tokens(&renewed, "openid offline_access").await;
    assert_eq!(refresh(&fresh, tokens["refresh_token"].as_str().unwrap(), WEB).await.status(), 200);
}

#[tokio::test]
async fn disabling_ends_sessions_and_refresh_families_for_good() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let tokens = app.code_flow_tokens(&alice, "openid offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (pat, _) = app.create_pat("alice", "web", 86_400);

    app.set_disabled(&alice, true);
    assert_eq!(refresh(&app, refresh_token, WEB).await.status(), 400);
    assert_eq!(app.introspect(&pat, WEB).await["active"], false, "suspended while disabled");
    app.set_disabled(&alice, false);

    let pkce = Pkce::new();
    let after = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    assert!(location(&after).starts_with("/login?tx="), "the old session stays over: {}", location(&after));
    assert_eq!(app.introspect(refresh_token, WEB).await["active"], false);
    assert_eq!(refresh(&app, refresh_token, WEB).await.status(), 400, "re-enabling revives no refresh token");
    // A PAT is a credential the admin lists and revokes on its own: it is
    // suspended while the account is disabled, not revoked.
    assert_eq!(app.introspect(&pat, WEB).await["active"], true);
}

#[tokio::test]
async fn revoking_a_pat_ends_the_jwts_exchanged_for_it_at_ferrids_endpoints() {
    let app = spawn_app().await;
    app.add_user("alice", &[]);
    let (pat, id) = app.create_pat("alice", "web", 86_400);
    let form = [("grant_type", "client_credentials"), ("username", "alice"), ("password", pat.as_str())];
    let response = app.post_token(&form, Some(WEB)).await;
    assert_eq!(response.status(), 200);
    let jwt = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&app, &jwt).await, 200);
    assert_eq!(app.introspect(&jwt, WEB).await["active"], true);

    app.admin(AdminCommand::PatRevoke { id }).unwrap();
    assert_eq!(userinfo(&app, &jwt).await, 401);
    assert_eq!(app.introspect(&jwt, WEB).await, serde_json::json!({ "active": false }));
    // A JWT from a plain code flow is not affected by anyone's PAT.
    let alice2 = app.add_user("alice2", &[]);
    let tokens = app.code_flow_tokens(&alice2, "openid").await;
    assert_eq!(userinfo(&app, tokens["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn a_disabled_user_with_the_right_password_is_told_the_account_is_disabled_and_a_wrong_one_learns_nothing() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    app.set_disabled(&alice, true);
    let pkce = Pkce::new();
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    let login = location(&response);
    let right = app.submit_sign_in(&login, "alice", &alice.password).await;
    assert_eq!(right.status(), 403);
    assert!(right.text().await.unwrap().contains("This account is disabled"));
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    let wrong = app.submit_sign_in(&location(&response), "alice", "not-her-password").await;
    assert_eq!(wrong.status(), 401);
    let text = wrong.text().await.unwrap();
    assert!(text.contains("Wrong username or password") && !text.contains("disabled"), "{text}");
}
