//! Signing in with a passkey alone, in Chromium with WebDriver's virtual
//! authenticators (see `browser::Authenticators`): the sign-in page's
//! button and its conditional request, a passwordless account at an
//! application that requires a second factor, and the keys that must be
//! refused (a clone whose counter is behind, another user's key, a key
//! without user verification).

use crate::browser::{Authenticators, browser, heading, look_at, sign_in, start_driver, wait_for_url_prefix};
use crate::helpers::*;
use fantoccini::{Client, Locator};

/// ferrid as `localhost` (WebAuthn takes no IP address), with `photos`,
/// whose callback is ferrid's own `/healthz` (so the browser never
/// leaves), and `vault`, the same but requiring a second factor.
async fn app() -> TestApp {
    let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
    spawn_app_edited(|yaml| {
        let yaml = yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost").replace(
            "rate_limits: { userinfo: 20 }",
            "rate_limits: { userinfo: 20, sign_in: 1000, pages: 1000, authorize: 1000 }",
        );
        let base = yaml.lines().find_map(|l| l.strip_prefix("public_url: ")).unwrap().trim().to_owned();
        format!(
            "{yaml}  - slug: photos\n    name: Photo Frame\n    client_secret_sha256: {digest}\n    \
             redirect_uris: [\"{base}/healthz\"]\n  - slug: vault\n    name: Vault\n    \
             client_secret_sha256: {digest}\n    redirect_uris: [\"{base}/healthz\"]\n    require_mfa: true\n"
        )
    })
    .await
}

/// `path` on ferrid, as the browser reaches it (localhost).
pub(crate) fn at(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.address.replace("127.0.0.1", "localhost"))
}

fn authorize_url(app: &TestApp, client: &str, pkce: &Pkce) -> String {
    let mut url = url::Url::parse(&at(app, "/application/o/authorize/")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", &at(app, "/healthz"))
        .append_pair("scope", "openid")
        .append_pair("state", "passkey-state")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// The code the browser brought back to `/healthz`, exchanged by
/// `client`: the id_token's claims (unverified: the API tests check
/// signatures; here it is what the sign-in said).
async fn id_token(app: &TestApp, client: &str, callback: &str, pkce: &Pkce) -> serde_json::Value {
    let code = query_of(callback)["code"].clone();
    let redirect_uri = at(app, "/healthz");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let response = app.post_token(&form, Some((client, WEB_SECRET))).await;
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The sign-in page's conditional request, as webauthn.js records it on
/// its form (`data-conditional`): None until it starts.
async fn conditional_state(client: &Client) -> Option<String> {
    let value = client
        .execute("const f = document.getElementById('webauthn-form'); return f && f.dataset.conditional;", vec![])
        .await
        .unwrap();
    value.as_str().map(str::to_owned)
}

/// Signs the browser out of ferrid if it is signed in.
pub(crate) async fn sign_out(client: &Client, app: &TestApp) {
    client.goto(&at(app, "/account/")).await.unwrap();
    if let Ok(button) = client.find(Locator::Css("nav form button")).await {
        button.click().await.unwrap();
        client.wait().for_element(Locator::Css("p[role=status]")).await.unwrap();
    }
}

/// On `/account/mfa`, signed in and fresh: adds a passkey named `name`.
pub(crate) async fn add_passkey(client: &Client, app: &TestApp, name: &str) {
    client.goto(&at(app, "/account/mfa")).await.unwrap();
    client.find(Locator::Id("passkey-name")).await.unwrap().send_keys(name).await.unwrap();
    client.find(Locator::Css("form[action='/account/mfa/passkey'] button")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(client, &at(app, "/account/mfa/passkey")).await;
    client.wait().for_element(Locator::Id("webauthn-start")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(client, &at(app, "/account/mfa?done=passkey")).await;
}

/// Waits until the sign-in page's conditional request has started
/// (`data-conditional` set by webauthn.js), for 10 seconds at most.
async fn wait_for_conditional(client: &Client) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(state) = conditional_state(client).await {
            return state;
        }
        assert!(std::time::Instant::now() < deadline, "no conditional request started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// On a sign-in page: clicks "Sign in with a passkey"; returns where the
/// browser ends (the application's callback, or the sign-in page again).
async fn click_passkey_button(client: &Client, app: &TestApp) -> String {
    client.wait().for_element(Locator::Id("webauthn-start")).await.unwrap().click().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // The error first: a URL read before it may be the page it replaced.
        let refused = client.find(Locator::Css("p.error")).await.is_ok();
        let url = client.current_url().await.unwrap().to_string();
        let answered = url.starts_with(&at(app, "/healthz?")) || url.starts_with(&at(app, "/account/"));
        if answered || refused {
            return url;
        }
        if std::time::Instant::now() > deadline {
            panic!("still on {url}: {:?}", client.find(Locator::Css("main")).await.unwrap().text().await);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The sign-in page's error, or its status line under the passkey button.
async fn message(client: &Client, selector: &str) -> String {
    client.find(Locator::Css(selector)).await.unwrap().text().await.unwrap()
}

/// Signed in with her password, `user` adds a passkey on a new security
/// key and signs out; the key is taken away again (she keeps its
/// credential, which the tests put on other authenticators); returns it.
async fn registered(
    client: &Client,
    app: &TestApp,
    authenticators: &Authenticators,
    user: &TestUser,
) -> serde_json::Value {
    let key = authenticators.add().await;
    client.goto(&at(app, "/account/")).await.unwrap();
    sign_in(client, user).await;
    wait_for_url_prefix(client, &at(app, "/account/")).await;
    add_passkey(client, app, "Laptop").await;
    let credential = authenticators.credentials(&key).await.remove(0);
    authenticators.remove(&key).await;
    sign_out(client, app).await;
    credential
}

const REFUSED: &str = "That passkey was not accepted. Nothing was changed; try again, or use your password.";

#[tokio::test]
async fn a_passkey_alone_signs_in_from_the_button_and_from_the_username_fields_conditional_request() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    let authenticators = Authenticators::of(&driver, &client).await;
    let credential = registered(&client, &app, &authenticators, &alice).await;
    assert_eq!(credential["isResidentCredential"], true, "residentKey preferred: a discoverable credential");
    let factors = app.admin(ferrid::admin::AdminCommand::UserMfa { username: "alice".into() }).unwrap();
    assert_eq!(factors[0]["discoverable"], true, "Chromium said so (credProps.rk)");

    // A security key alone: Chromium offers no conditional mediation
    // without a platform authenticator, so the page makes no conditional
    // request; the button asks, and she is signed in without a username.
    let key = authenticators.with_copy(&credential, 10).await;
    let pkce = Pkce::new();
    client.goto(&authorize_url(&app, "photos", &pkce)).await.unwrap();
    client.wait().for_element(Locator::Id("webauthn-start")).await.unwrap();
    let field = client.find(Locator::Id("username")).await.unwrap();
    assert_eq!(field.attr("autocomplete").await.unwrap().as_deref(), Some("username webauthn"));
    assert_eq!(conditional_state(&client).await, None);
    look_at(&client, "sign-in-passkey").await;
    let landed = click_passkey_button(&client, &app).await;
    assert!(landed.starts_with(&at(&app, "/healthz?code=")), "{landed}");
    let id = id_token(&app, "photos", &landed, &pkce).await;
    assert_eq!(id["sub"], alice.sub.as_str());
    assert_eq!((id["amr"].clone(), id["acr"].clone()), (serde_json::json!(["hwk", "user", "mfa"]), "mfa".into()));
    authenticators.remove(&key).await;
    sign_out(&client, &app).await;

    // With a platform authenticator, the page starts a conditional request
    // on load. What a virtual authenticator cannot show: the username
    // field's autofill list offering the key (no WebDriver command sees
    // it), nor a request left waiting for the person to pick (with no
    // credential anywhere, Chromium's virtual environment ends it at
    // once). What it can: the request is made (webauthn.js marks its
    // form), the button still asks plainly after it, and (below) its
    // answer signs in.
    let platform = authenticators.add_platform().await;
    let pkce = Pkce::new();
    client.goto(&authorize_url(&app, "photos", &pkce)).await.unwrap();
    let conditional = wait_for_conditional(&client).await;
    assert!(["waiting", "ended"].contains(&conditional.as_str()), "{conditional}");
    let key = authenticators.with_copy(&credential, 20).await;
    let landed = click_passkey_button(&client, &app).await;
    assert!(landed.starts_with(&at(&app, "/healthz?code=")), "{landed}");
    assert_eq!(id_token(&app, "photos", &landed, &pkce).await["sub"], alice.sub.as_str());
    authenticators.remove(&key).await;
    sign_out(&client, &app).await;

    // The platform authenticator holds her passkey: Chromium's virtual
    // authenticators answer a conditional request at once (a person would
    // pick the key from the username field's list). Nothing is clicked or
    // typed: the page loads, asks, and the answer signs her in.
    authenticators.give(&platform, with_count(&credential, 30)).await;
    let signed_in = |app: &TestApp| {
        app.state
            .store
            .audit_since(0)
            .unwrap()
            .iter()
            .filter(|e| e.kind == Some(ferrid::store::AuditKind::SignIn))
            .count()
    };
    let before = signed_in(&app);
    let pkce = Pkce::new();
    client.goto(&authorize_url(&app, "photos", &pkce)).await.unwrap();
    let landed = wait_for_url_prefix(&client, &at(&app, "/healthz?code=")).await;
    assert_eq!(signed_in(&app), before + 1);
    let id = id_token(&app, "photos", &landed, &pkce).await;
    assert_eq!(
        (id["sub"].clone(), id["amr"].clone()),
        (alice.sub.as_str().into(), serde_json::json!(["hwk", "user", "mfa"]))
    );
    client.close().await.unwrap();
}

/// `credential` with its signature counter at `count`.
fn with_count(credential: &serde_json::Value, count: u32) -> serde_json::Value {
    let mut copy = credential.clone();
    copy["signCount"] = count.into();
    copy
}

#[tokio::test]
async fn a_passwordless_account_signs_in_with_its_passkey_where_a_second_factor_is_required() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    let authenticators = Authenticators::of(&driver, &client).await;
    let credential = registered(&client, &app, &authenticators, &alice).await;
    let key = authenticators.with_copy(&credential, 10).await;

    // Signed in with the passkey alone (fresh), she removes her password.
    client.goto(&at(&app, "/account/")).await.unwrap();
    let landed = click_passkey_button(&client, &app).await;
    assert!(landed.starts_with(&at(&app, "/account/")), "{landed}");
    client.goto(&at(&app, "/account/mfa")).await.unwrap();
    let panel = message(&client, "#password + p").await;
    assert!(panel.contains("can do without its password"), "{panel}");
    look_at(&client, "account-mfa-passkeys").await;
    client.find(Locator::Css("form[action='/account/password/remove'] button")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&client, &at(&app, "/account/mfa?done=password")).await;
    assert!(message(&client, "p.notice").await.starts_with("Password removed"));
    look_at(&client, "account-mfa-passwordless").await;
    // The account page offers to set one again, with no current password to give.
    client.goto(&at(&app, "/account/")).await.unwrap();
    assert!(client.find(Locator::Id("current_password")).await.is_err());
    assert_eq!(message(&client, "form[action='/account/password'] button").await, "Set a password");
    look_at(&client, "account-passwordless").await;
    sign_out(&client, &app).await;

    // Her old password: the answer a wrong one gets.
    client.goto(&authorize_url(&app, "vault", &Pkce::new())).await.unwrap();
    sign_in(&client, &alice).await;
    client.wait().for_element(Locator::Css("p.error")).await.unwrap();
    assert_eq!(message(&client, "p.error").await, "Wrong username or password.");

    // Vault requires a second factor: the passkey alone is both.
    let pkce = Pkce::new();
    client.goto(&authorize_url(&app, "vault", &pkce)).await.unwrap();
    let landed = click_passkey_button(&client, &app).await;
    assert!(landed.starts_with(&at(&app, "/healthz?code=")), "{landed}");
    let id = id_token(&app, "vault", &landed, &pkce).await;
    assert_eq!((id["sub"].clone(), id["acr"].clone()), (alice.sub.as_str().into(), "mfa".into()));
    authenticators.remove(&key).await;

    // Five minutes on, a privileged action asks her to confirm: with the passkey.
    let key = authenticators.with_copy(&credential, 20).await;
    client.goto(&at(&app, "/account/tokens")).await.unwrap();
    app.clock.advance(301);
    client.find(Locator::Css("form[action='/account/tokens'] button")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&client, &at(&app, "/login?tx=")).await;
    assert_eq!(heading(&client).await, "Confirm it's you");
    assert_eq!(message(&client, "#webauthn-start").await, "Confirm with a passkey");
    assert!(client.find(Locator::Id("password")).await.is_err(), "she has no password: none is asked");
    look_at(&client, "confirm-with-passkey").await;
    let landed = click_passkey_button(&client, &app).await;
    assert!(landed.starts_with(&at(&app, "/account/tokens")), "{landed}");
    authenticators.remove(&key).await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_cloned_key_another_users_key_and_a_key_without_user_verification_are_refused() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let bob = app.add_user("bob", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    let authenticators = Authenticators::of(&driver, &client).await;
    let alices = registered(&client, &app, &authenticators, &alice).await;
    let bobs = registered(&client, &app, &authenticators, &bob).await;
    // Tries `credential` on a key whose verification passes or not at the
    // sign-in page; returns where it ended, the page's message, and
    // whether the store changed.
    let attempt = |credential: serde_json::Value, verified: bool| {
        let (client, app, authenticators) = (&client, &app, &authenticators);
        async move {
            let key = authenticators.holding(credential, verified).await;
            client.goto(&authorize_url(app, "photos", &Pkce::new())).await.unwrap();
            client.wait().for_element(Locator::Id("webauthn-start")).await.unwrap();
            let before = app.state.store.fingerprint().unwrap();
            let landed = click_passkey_button(client, app).await;
            let changed = app.state.store.fingerprint().unwrap() != before;
            authenticators.remove(&key).await;
            (landed, changed)
        }
    };

    // Her key, at count 10: in (ferrid keeps 11).
    let (landed, _) = attempt(with_count(&alices, 10), true).await;
    assert!(landed.starts_with(&at(&app, "/healthz?code=")), "{landed}");
    sign_out(&client, &app).await;

    // A copy of it whose counter is behind: a clone.
    let (landed, changed) = attempt(with_count(&alices, 3), true).await;
    assert!(landed.starts_with(&at(&app, "/login/with-passkey")), "{landed}");
    assert_eq!(message(&client, "p.error").await, REFUSED);
    assert!(!changed, "nothing stored");
    look_at(&client, "sign-in-passkey-refused").await;

    // Bob's key, made to name alice (its user handle says hers).
    let mut disguised = with_count(&bobs, 10);
    disguised["userHandle"] = alices["userHandle"].clone();
    let (landed, changed) = attempt(disguised, true).await;
    assert!(landed.starts_with(&at(&app, "/login/with-passkey")), "{landed}");
    assert_eq!(message(&client, "p.error").await, REFUSED);
    assert!(!changed);

    // Her key on a security key without user verification (no PIN): the
    // page asks for verification, so Chromium will not use it, and nothing
    // is sent.
    let key = authenticators.holding(with_count(&alices, 20), false).await;
    client.goto(&authorize_url(&app, "photos", &Pkce::new())).await.unwrap();
    client.wait().for_element(Locator::Id("webauthn-start")).await.unwrap().click().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !message(&client, "#webauthn-status").await.contains("was not used") {
        assert!(std::time::Instant::now() < deadline, "{}", message(&client, "#webauthn-status").await);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(client.current_url().await.unwrap().as_str().starts_with(&at(&app, "/login?tx=")));
    // A script on the page (or a hostile client) asks for less. Chromium
    // still offers no discoverable credential without verification, so it
    // names her key too; then the key answers with a touch alone, and
    // ferrid refuses it (the challenge it keeps says "required").
    client
        .execute(
            "const data = document.getElementById('webauthn-options');
             const options = JSON.parse(data.textContent);
             options.publicKey.userVerification = 'discouraged';
             options.publicKey.allowCredentials = [{ type: 'public-key', id: arguments[0] }];
             data.textContent = JSON.stringify(options);",
            vec![alices["credentialId"].clone()],
        )
        .await
        .unwrap();
    let before = app.state.store.fingerprint().unwrap();
    let landed = click_passkey_button(&client, &app).await;
    assert!(landed.starts_with(&at(&app, "/login/with-passkey")), "{landed}");
    assert_eq!(message(&client, "p.error").await, REFUSED);
    assert_eq!(app.state.store.fingerprint().unwrap(), before);
    authenticators.remove(&key).await;
    let trail = app.state.store.audit_since(0).unwrap();
    let reasons: Vec<_> =
        trail.iter().filter_map(|e| e.detail.clone()).filter(|d| d.starts_with("passkey: ")).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");

    // Her genuine key, further on: still fine.
    let (landed, _) = attempt(with_count(&alices, 30), true).await;
    assert!(landed.starts_with(&at(&app, "/healthz?code=")), "{landed}");
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_synced_passkey_is_a_software_key_in_amr() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    let authenticators = Authenticators::of(&driver, &client).await;
    // Her password manager's passkey: backup-eligible and backed up.
    let synced = authenticators.add_synced().await;
    client.goto(&at(&app, "/account/")).await.unwrap();
    sign_in(&client, &alice).await;
    wait_for_url_prefix(&client, &at(&app, "/account/")).await;
    add_passkey(&client, &app, "Password manager").await;
    let credential = authenticators.credentials(&synced).await.remove(0);
    authenticators.remove(&synced).await;
    sign_out(&client, &app).await;

    // Alone: swk, not hwk (its private key is copied between devices).
    let key = authenticators.with_copy(&credential, 10).await;
    let pkce = Pkce::new();
    client.goto(&authorize_url(&app, "photos", &pkce)).await.unwrap();
    let landed = click_passkey_button(&client, &app).await;
    assert!(landed.starts_with(&at(&app, "/healthz?code=")), "{landed}");
    let id = id_token(&app, "photos", &landed, &pkce).await;
    assert_eq!(id["amr"], serde_json::json!(["swk", "user", "mfa"]));
    authenticators.remove(&key).await;
    client.close().await.unwrap();
}
