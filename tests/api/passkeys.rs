//! Passkeys over HTTP, answered by webauthn-authenticator-rs's software
//! passkey (an independent WebAuthn client): registration and sign-in, and
//! the bad inputs: a replayed assertion, a registration answered from
//! another user's session, another user's key, garbage.

use crate::helpers::*;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// ferrid as `localhost` (WebAuthn takes no IP address).
pub(crate) async fn app() -> TestApp {
    spawn_app_edited(|yaml| {
        yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost")
            .replace("rate_limits: { userinfo: 20 }", "rate_limits: { userinfo: 20, sign_in: 1000 }")
    })
    .await
}

pub(crate) fn origin(app: &TestApp) -> Url {
    Url::parse(&app.address.replace("127.0.0.1", "localhost")).unwrap()
}

/// The JSON in a page's `<script type="application/json" id="webauthn-options">`.
pub(crate) fn options_in(html: &str) -> String {
    let marker = r#"<script type="application/json" id="webauthn-options">"#;
    let start = html.find(marker).expect("passkey options on the page") + marker.len();
    html[start..start + html[start..].find("</script>").unwrap()].to_owned()
}

/// Signs `user` in to the account page in `browser` (password only); returns its CSRF token.
pub(crate) async fn account(app: &TestApp, browser: &reqwest::Client, user: &TestUser) -> String {
    let response = browser.get(app.url("/account/mfa")).send().await.unwrap();
    let response = sign_in_with(browser, &app.address, &location(&response), &user.username, &user.password).await;
    assert_eq!(location(&response), "/account/mfa");
    let html = browser.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    hidden_field(&html, "csrf_token").unwrap()
}

/// Starts a registration in `browser`; returns the page.
pub(crate) async fn start_registration(
    app: &TestApp,
    browser: &reqwest::Client,
    csrf: &str,
    user: &TestUser,
) -> String {
    let form = [("csrf_token", csrf), ("name", "soft key"), ("current_password", user.password.as_str())];
    let response = browser.post(app.url("/account/mfa/passkey")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Answers a registration page with `key`, posting from `browser`;
/// returns the answer and the new credential's id (base64url).
pub(crate) async fn answer_registration(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    csrf: &str,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
) -> (reqwest::Response, String) {
    let options: CreationChallengeResponse = serde_json::from_str(&options_in(page)).unwrap();
    let answer = key.do_registration(origin(app), options).expect("the soft key registers");
    let id = serde_json::to_value(&answer.raw_id).unwrap().as_str().unwrap().to_owned();
    let form = [
        ("csrf_token", csrf.to_owned()),
        ("ceremony", hidden_field(page, "ceremony").unwrap()),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    (browser.post(app.url("/account/mfa/passkey/finish")).form(&form).send().await.unwrap(), id)
}

/// A passkey sign-in's answer from `key`, for the options of a sign-in
/// page (`options`: no allowed credentials). webauthn-authenticator-rs's
/// soft passkey is not discoverable (it signs only for a credential it is
/// told, and gives no user handle), so the test does what a discoverable
/// authenticator does itself: it picks the credential (`credential`, its
/// id in base64url) and returns the user handle it was registered with
/// (`user_handle`: the user's `sub`, as ferrid registers keys). The user
/// handle is not signed (WebAuthn §6.3.3), so it can be set afterwards:
/// which is also how a hostile client would name another user.
pub(crate) fn discoverable_answer(
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    origin: Url,
    options: &str,
    credential: &str,
    user_handle: &str,
) -> String {
    answer_as(key, origin, options, credential, user_handle, true)
}

/// As `discoverable_answer`; `verified` false: the key reports a touch
/// but no PIN or biometric (it is asked for "discouraged" verification),
/// as an authenticator with user verification off answers.
pub(crate) fn answer_as(
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    origin: Url,
    options: &str,
    credential: &str,
    user_handle: &str,
    verified: bool,
) -> String {
    let mut options: serde_json::Value = serde_json::from_str(options).unwrap();
    assert_eq!(options["publicKey"]["allowCredentials"], serde_json::json!([]), "a sign-in names no key");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert!(options.get("mediation").is_none(), "the page chooses the mediation");
    options["publicKey"]["allowCredentials"] = serde_json::json!([{ "type": "public-key", "id": credential }]);
    if !verified {
        options["publicKey"]["userVerification"] = "discouraged".into();
    }
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let answer = key.do_authentication(origin, options).expect("the soft key signs");
    let mut answer = serde_json::to_value(answer).unwrap();
    let sub = uuid::Uuid::parse_str(user_handle).unwrap();
    answer["response"]["userHandle"] =
        serde_json::json!(base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sub.as_bytes()));
    answer.to_string()
}

pub(crate) fn soft_key() -> WebauthnAuthenticator<SoftPasskey> {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// Registers a soft key for `user` in a new browser; returns it.
async fn registered(app: &TestApp, user: &TestUser) -> WebauthnAuthenticator<SoftPasskey> {
    let browser = browser();
    let csrf = account(app, &browser, user).await;
    registered_in(app, &browser, &csrf, user).await.0
}

/// Registers a soft key for `user`, signed in in `browser`; returns it
/// and its credential id (base64url).
pub(crate) async fn registered_in(
    app: &TestApp,
    browser: &reqwest::Client,
    csrf: &str,
    user: &TestUser,
) -> (WebauthnAuthenticator<SoftPasskey>, String) {
    let page = start_registration(app, browser, csrf, user).await;
    let mut key = soft_key();
    let (response, id) = answer_registration(app, browser, &page, csrf, &mut key).await;
    assert_eq!(location(&response), "/account/mfa?done=passkey");
    (key, id)
}

/// The password at `web` in a new browser; returns it and the code page.
pub(crate) async fn second_step(app: &TestApp, user: &TestUser) -> (reqwest::Client, String) {
    let browser = browser();
    let pkce = Pkce::new();
    let params = web_params("openid", &pkce, "n", "s");
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), &user.username, &user.password).await;
    assert!(location(&response).starts_with("/login/code?tx="), "{}", location(&response));
    let html = browser.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    (browser, html)
}

pub(crate) fn assertion_form(html: &str, credential: String) -> [(&'static str, String); 3] {
    [
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        ("credential", credential),
    ]
}

#[tokio::test]
async fn a_passkey_registers_and_signs_in_and_its_assertion_cannot_be_replayed() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let mut key = registered(&app, &alice).await;
    let factors = app.admin(ferrid::admin::AdminCommand::UserMfa { username: "alice".into() }).unwrap();
    assert_eq!(factors[0]["kind"], "passkey");
    assert_eq!(factors[0]["name"], "soft key");

    let (browser, html) = second_step(&app, &alice).await;
    let options: RequestChallengeResponse = serde_json::from_str(&options_in(&html)).unwrap();
    let answer = serde_json::to_string(&key.do_authentication(origin(&app), options).unwrap()).unwrap();
    let form = assertion_form(&html, answer);
    let response = browser.post(app.url("/login/passkey")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let back = query_of(&location(&response));
    assert!(back.contains_key("code"));
    let pkce_less = app.state.store.audit_since(0).unwrap();
    assert!(pkce_less.iter().any(|e| e.detail.as_deref() == Some("pwd hwk user mfa")));

    // The same assertion again: the sign-in it belonged to is over.
    let before = app.state.store.fingerprint().unwrap();
    let replay = browser.post(app.url("/login/passkey")).form(&form).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("Sign-in expired"));
    assert_eq!(app.state.store.fingerprint().unwrap(), before);

    // Replayed into a new sign-in (a new challenge): refused.
    let (browser, html) = second_step(&app, &alice).await;
    let stale = assertion_form(&html, form[2].1.clone());
    let refused = browser.post(app.url("/login/passkey")).form(&stale).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("That passkey was not accepted."));
}

#[tokio::test]
async fn a_registration_answered_from_another_users_session_and_another_users_key_are_refused() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let bob = app.add_user("bob", &[]);
    let (alices, bobs) = (browser(), browser());
    let csrf = account(&app, &alices, &alice).await;
    let bobs_csrf = account(&app, &bobs, &bob).await;
    let (mut bobs_key, _) = registered_in(&app, &bobs, &bobs_csrf, &bob).await;
    // Alice starts a registration (before her first key: once she has a
    // factor, another needs a session that proved it).
    let page = start_registration(&app, &alices, &csrf, &alice).await;
    registered_in(&app, &alices, &csrf, &alice).await;

    // Bob's session posts an answer to Alice's registration.
    let before = app.state.store.fingerprint().unwrap();
    let (response, _) = answer_registration(&app, &bobs, &page, &bobs_csrf, &mut soft_key()).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("has expired or is not yours"));
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "nothing registered");

    // At Alice's second step, Bob's key signs her challenge: not one of hers.
    let (browser, html) = second_step(&app, &alice).await;
    let mut options: serde_json::Value = serde_json::from_str(&options_in(&html)).unwrap();
    let bob_options: serde_json::Value = {
        let (_, bob_html) = second_step(&app, &bob).await;
        serde_json::from_str(&options_in(&bob_html)).unwrap()
    };
    options["publicKey"]["allowCredentials"] = bob_options["publicKey"]["allowCredentials"].clone();
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let answer = serde_json::to_string(&bobs_key.do_authentication(origin(&app), options).unwrap()).unwrap();
    let response = browser.post(app.url("/login/passkey")).form(&assertion_form(&html, answer)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("That passkey was not accepted."));

    // Garbage is an error on the page, not a 5xx.
    let response =
        browser.post(app.url("/login/passkey")).form(&assertion_form(&html, "{]".into())).send().await.unwrap();
    assert!(response.text().await.unwrap().contains("not a WebAuthn assertion"));
}
