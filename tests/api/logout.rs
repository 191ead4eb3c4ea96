//! Sessions that end: RP-Initiated Logout 1.0 (with and without a hint, and
//! every bad input), Back-Channel Logout 1.0 (the logout_token as a relying
//! party checks it, a receiver that hangs, one that keeps failing), and
//! the administrator's and the account page's ways of ending sessions.

use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use ferrid::admin::AdminCommand;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

const RP1_CB: &str = "https://rp1.example/cb";
const RP1_BYE: &str = "https://rp1.example/signed-out";
const RP2_CB: &str = "https://rp2.example/cb";

/// Two applications with back-channel logout, each to its own receiver.
async fn app_with(rp1: &Receiver, rp2: &Receiver) -> TestApp {
    let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
    spawn_app_with(&format!(
        r#"  - slug: rp1
    client_secret_sha256: {digest}
    redirect_uris: ["{RP1_CB}"]
    post_logout_redirect_uris: ["{RP1_BYE}"]
    backchannel_logout_uri: "{}"
    backchannel_logout_session_required: true
  - slug: rp2
    client_secret_sha256: {digest}
    redirect_uris: ["{RP2_CB}"]
    backchannel_logout_uri: "{}"
"#,
        rp1.url, rp2.url
    ))
    .await
}

fn params<'a>(
    client: &'a str,
    cb: &'a str,
    scope: &'a str,
    pkce: &'a Pkce,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", cb),
        ("scope", scope),
        ("state", "st"),
        ("nonce", "n-1"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    params
}

async fn authorize(app: &TestApp, browser: &reqwest::Client, params: &[(&str, &str)]) -> reqwest::Response {
    browser.get(app.url("/application/o/authorize/")).query(params).send().await.unwrap()
}

/// Signs `user` in to `client` in `browser` (with the password if needed); returns the tokens.
async fn sign_in(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &str,
    cb: &str,
    user: &TestUser,
    scope: &str,
) -> Value {
    let pkce = Pkce::new();
    let mut response = authorize(app, browser, &params(client, cb, scope, &pkce, &[])).await;
    if location(&response).starts_with("/login") {
        response = sign_in_with(browser, &app.address, &location(&response), &user.username, &user.password).await;
    }
    let code = query_of(&location(&response))["code"].clone();
    app.redeem_code(client, cb, &code, &pkce).await
}

/// Is `browser` still signed in? (prompt=none answers with a code or login_required.)
async fn signed_in(app: &TestApp, browser: &reqwest::Client, client: &str, cb: &str) -> bool {
    let pkce = Pkce::new();
    let response = authorize(app, browser, &params(client, cb, "openid", &pkce, &[("prompt", "none")])).await;
    let query = query_of(&location(&response));
    assert!(query.contains_key("code") || query["error"] == "login_required", "{query:?}");
    query.contains_key("code")
}

fn end_session_url(app: &TestApp, slug: &str) -> String {
    app.url(&format!("/application/o/{slug}/end-session/"))
}

/// Verifies a logout token as a relying party must (Back-Channel Logout 1.0 §2.6).
async fn verify_logout_token(app: &TestApp, token: &str, slug: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks = app.jwks(slug).await;
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[app.issuer(slug)]);
    validation.set_audience(&[slug]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a valid logout token").claims;
    assert_eq!(claims["events"], serde_json::json!({ "http://schemas.openid.net/event/backchannel-logout": {} }));
    assert!(claims.get("nonce").is_none(), "§2.4: a logout token never carries a nonce");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 120);
    claims
}

#[tokio::test]
async fn discovery_advertises_end_session_back_channel_logout_and_the_prompts_supported() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/application/o/web/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["end_session_endpoint"], app.url("/application/o/web/end-session/"));
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
    assert_eq!(doc["prompt_values_supported"], serde_json::json!(["none", "login", "consent", "select_account"]));
}

#[tokio::test]
async fn a_hint_for_this_session_signs_out_at_once_and_every_application_gets_a_logout_token() {
    let (rp1, rp2) = (Receiver::start(Answer::Ok).await, Receiver::start(Answer::Ok).await);
    let app = app_with(&rp1, &rp2).await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let tokens = sign_in(&app, &browser, "rp1", RP1_CB, &alice, "openid").await;
    sign_in(&app, &browser, "rp2", RP2_CB, &alice, "openid").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let id = app.verify_jwt(id_token, "rp1", "rp1", Algorithm::RS256, "JWT").await;
    let sid = id["sid"].as_str().expect("id_tokens carry sid").to_owned();

    let response = browser
        .get(end_session_url(&app, "rp1"))
        .query(&[("id_token_hint", id_token), ("post_logout_redirect_uri", RP1_BYE), ("state", "bye-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{RP1_BYE}?state=bye-1"));
    let removal = response.headers()["set-cookie"].to_str().unwrap();
    assert!(removal.starts_with("ferrid_session=;") && removal.contains("Max-Age=0"), "{removal}");
    assert!(!signed_in(&app, &browser, "rp1", RP1_CB).await, "the next authorize asks for the password");

    for (receiver, slug) in [(&rp1, "rp1"), (&rp2, "rp2")] {
        let token = receiver.wait_for(1).await.remove(0);
        let claims = verify_logout_token(&app, &token, slug).await;
        assert_eq!(claims["sid"], sid.as_str(), "the id_token's session");
        assert_eq!(claims["sub"], alice.sub.as_str());
    }
}

#[tokio::test]
async fn without_a_hint_the_user_confirms_and_a_replayed_confirmation_changes_nothing() {
    let (rp1, rp2) = (Receiver::start(Answer::Ok).await, Receiver::start(Answer::Ok).await);
    let app = app_with(&rp1, &rp2).await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let first = sign_in(&app, &browser, "rp1", RP1_CB, &alice, "openid").await;
    let query = [("client_id", "rp1"), ("post_logout_redirect_uri", RP1_BYE), ("state", "s2")];

    // A bare link (an <img> on another site, say) only shows a page.
    let page = browser.get(end_session_url(&app, "rp1")).query(&query).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Sign out?</h1>"), "{html}");
    assert!(signed_in(&app, &browser, "rp1", RP1_CB).await, "nothing ended yet");
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "sign_out".to_owned()),
    ];

    // A cross-site POST without the CSRF token is refused.
    let forged = [("tx", form[0].1.clone()), ("decision", "sign_out".to_owned())];
    let response = reqwest::Client::new().post(app.url("/logout/confirm")).form(&forged).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(signed_in(&app, &browser, "rp1", RP1_CB).await);

    let response = browser.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{RP1_BYE}?state=s2"));
    assert!(!signed_in(&app, &browser, "rp1", RP1_CB).await);
    rp1.wait_for(1).await;

    // Signed in again; the old confirmation, replayed, ends nothing.
    sign_in(&app, &browser, "rp1", RP1_CB, &alice, "openid").await;
    let before = app.state.store.fingerprint().unwrap();
    let replay = browser.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("Sign-out expired"));
    assert_eq!(app.state.store.fingerprint().unwrap(), before);
    assert!(signed_in(&app, &browser, "rp1", RP1_CB).await);

    // A genuine hint, but for the session that ended: it proves nothing now.
    let stale = [("id_token_hint", first["id_token"].as_str().unwrap())];
    let page = browser.get(end_session_url(&app, "rp1")).query(&stale).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<h1>Sign out?</h1>"));
    assert!(signed_in(&app, &browser, "rp1", RP1_CB).await);

    // "Stay signed in" keeps the session.
    let html = browser.get(end_session_url(&app, "rp1")).query(&query).send().await.unwrap().text().await.unwrap();
    let stay = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "stay".to_owned()),
    ];
    let response = browser.post(app.url("/logout/confirm")).form(&stay).send().await.unwrap();
    assert_eq!((response.status().as_u16(), location(&response)), (303, "/account/".to_owned()));
    assert!(signed_in(&app, &browser, "rp1", RP1_CB).await);
}

#[tokio::test]
async fn forged_or_foreign_hints_and_unregistered_addresses_get_an_error_page_and_change_nothing() {
    let (rp1, rp2) = (Receiver::start(Answer::Ok).await, Receiver::start(Answer::Ok).await);
    let app = app_with(&rp1, &rp2).await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let rp1_tokens = sign_in(&app, &browser, "rp1", RP1_CB, &alice, "openid").await;
    let rp2_tokens = sign_in(&app, &browser, "rp2", RP2_CB, &alice, "openid").await;
    let hint = rp1_tokens["id_token"].as_str().unwrap();
    let mut forged = hint.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    // An access token is signed by the same key, but is not an ID token.
    let access_token = rp1_tokens["access_token"].as_str().unwrap();

    let before = app.state.store.fingerprint().unwrap();
    // (case, query, what the page says)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 6] = [
        ("a forged hint", vec![("id_token_hint", &forged)], "not an ID token ferrid issued"),
        ("an access token as hint", vec![("id_token_hint", access_token)], "not an ID token ferrid issued"),
        ("rp2's hint at rp1", vec![("id_token_hint", rp2_tokens["id_token"].as_str().unwrap())], "another application"),
        (
            "an unregistered return",
            vec![("id_token_hint", hint), ("post_logout_redirect_uri", "https://evil.example/")],
            "has not registered",
        ),
        (
            "a return registered elsewhere",
            vec![("client_id", "rp1"), ("post_logout_redirect_uri", RP1_CB)],
            "has not registered",
        ),
        ("another client_id", vec![("client_id", "rp2")], "another application"),
    ];
    for (case, query, says) in cases {
        let response = browser.get(end_session_url(&app, "rp1")).query(&query).send().await.unwrap();
        assert_eq!(response.status(), 400, "{case}");
        assert!(response.headers().get("location").is_none(), "{case}: never a redirect");
        let html = response.text().await.unwrap();
        assert!(html.contains(says), "{case}: {html}");
    }
    let unknown = browser.get(end_session_url(&app, "nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "nothing changed");
    assert!(signed_in(&app, &browser, "rp1", RP1_CB).await);
    assert!(rp1.tokens().is_empty() && rp2.tokens().is_empty());
}

#[tokio::test]
async fn a_receiver_that_hangs_holds_up_neither_the_sign_out_nor_the_other_applications() {
    let (hanging, fine) = (Receiver::start(Answer::Hang).await, Receiver::start(Answer::Ok).await);
    let app = app_with(&hanging, &fine).await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let tokens = sign_in(&app, &browser, "rp1", RP1_CB, &alice, "openid").await;
    sign_in(&app, &browser, "rp2", RP2_CB, &alice, "openid").await;

    let hint = [("id_token_hint", tokens["id_token"].as_str().unwrap())];
    let response = browser.get(end_session_url(&app, "rp1")).query(&hint).send().await.unwrap();
    assert_eq!(response.status(), 200, "signed out: the signed-out page");
    assert!(response.text().await.unwrap().contains("You are signed out"));
    // rp1's receiver has its request and holds it; rp2 is told all the same.
    hanging.wait_for(1).await;
    fine.wait_for(1).await;
    hanging.release();
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_is_tried_four_times_then_the_failure_is_audited() {
    let (failing, fine) = (Receiver::start(Answer::Fail).await, Receiver::start(Answer::Ok).await);
    let app = app_with(&failing, &fine).await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    sign_in(&app, &browser, "rp1", RP1_CB, &alice, "openid").await;
    app.admin(AdminCommand::UserLogout { username: "alice".into() }).unwrap();
    app.state.logout_outbox.notify_one();

    failing.wait_for(1).await;
    // Retries wait 5 s, 30 s, 120 s after each 5 s attempt window.
    for (step, attempts) in [(11, 2), (36, 3), (126, 4)] {
        app.clock.advance(step);
        failing.wait_for(attempts).await;
    }
    let tokens = failing.tokens();
    assert_eq!(tokens.len(), 4);
    let jtis: std::collections::HashSet<_> = tokens
        .iter()
        .map(|t| jsonwebtoken::dangerous::insecure_decode::<Value>(t).unwrap().claims["jti"].clone())
        .collect();
    assert_eq!(jtis.len(), 4, "a fresh jti each time");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let audited =
            app.state.store.audit_since(0).unwrap().into_iter().find(|e| {
                e.kind == Some(ferrid::store::AuditKind::LogoutNotDelivered) && e.app.as_deref() == Some("rp1")
            });
        if let Some(event) = audited {
            assert!(event.detail.unwrap().contains("4 attempts; last: it answered 500"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the failure was never audited");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(app.state.store.logout_notices().unwrap().is_empty(), "given up on, not kept forever");
    app.clock.advance(600);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(failing.tokens().len(), 4, "no fifth attempt");
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_token(&[("grant_type", "refresh_token"), ("refresh_token", token)], Some(("rp1", WEB_SECRET))).await
}

#[tokio::test]
async fn offline_access_refresh_tokens_survive_sign_out_but_not_a_password_change() {
    let (rp1, rp2) = (Receiver::start(Answer::Ok).await, Receiver::start(Answer::Ok).await);
    let app = app_with(&rp1, &rp2).await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let tokens = sign_in(&app, &browser, "rp1", RP1_CB, &alice, "openid offline_access").await;
    let hint = [("id_token_hint", tokens["id_token"].as_str().unwrap())];
    browser.get(end_session_url(&app, "rp1")).query(&hint).send().await.unwrap();
    assert!(!signed_in(&app, &browser, "rp1", RP1_CB).await);

    let response = refresh(&app, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200, "OIDC Core §11: offline access outlives the session");
    let rotated: Value = response.json().await.unwrap();
    let id = app.verify_jwt(rotated["id_token"].as_str().unwrap(), "rp1", "rp1", Algorithm::RS256, "JWT").await;
    assert!(id["sid"].is_string(), "the family keeps naming its session");

    app.admin(AdminCommand::UserPasswd {
        username: "alice".into(),
        password_hash: bcrypt::hash("new-password-2", 4).unwrap(),
    })
    .unwrap();
    let response = refresh(&app, rotated["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 400, "a new password ends it");
}

#[tokio::test]
async fn an_administrator_lists_and_ends_a_users_sessions_and_the_applications_are_told() {
    let (rp1, rp2) = (Receiver::start(Answer::Ok).await, Receiver::start(Answer::Ok).await);
    let app = app_with(&rp1, &rp2).await;
    let alice = app.add_user("alice", &[]);
    let (laptop, phone) = (browser(), browser());
    sign_in(&app, &laptop, "rp1", RP1_CB, &alice, "openid").await;
    sign_in(&app, &phone, "rp2", RP2_CB, &alice, "openid").await;

    let sessions = app.admin(AdminCommand::UserSessions { username: "alice".into() }).unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let mut used: Vec<_> = sessions.iter().map(|s| s["applications"][0].as_str().unwrap()).collect();
    used.sort();
    assert_eq!(used, ["rp1", "rp2"]);
    assert_eq!(sessions[0]["address"], "127.0.0.1");

    let ended = app.admin(AdminCommand::UserLogout { username: "alice".into() }).unwrap();
    assert_eq!(ended["sessions"], 2);
    app.state.logout_outbox.notify_one();
    assert!(!signed_in(&app, &laptop, "rp1", RP1_CB).await);
    assert!(!signed_in(&app, &phone, "rp2", RP2_CB).await);
    verify_logout_token(&app, &rp1.wait_for(1).await[0], "rp1").await;
    verify_logout_token(&app, &rp2.wait_for(1).await[0], "rp2").await;
    assert_eq!(app.admin(AdminCommand::UserSessions { username: "alice".into() }).unwrap(), serde_json::json!([]));

    // Deleting a user ends their sessions too, and frees the name.
    sign_in(&app, &laptop, "rp1", RP1_CB, &alice, "openid").await;
    let ended = app.admin(AdminCommand::UserDelete { username: "alice".into() }).unwrap();
    assert_eq!(ended["sessions"], 1);
    app.state.logout_outbox.notify_one();
    rp1.wait_for(2).await;
    assert!(!signed_in(&app, &laptop, "rp1", RP1_CB).await);
    let err = app.admin(AdminCommand::UserSessions { username: "alice".into() }).unwrap_err();
    assert!(err.contains("no user named alice"), "{err}");
    app.add_user("alice", &[]);
}
