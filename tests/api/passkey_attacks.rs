//! Passkey-first sign-in and passwordless accounts, attacked: the passkey
//! route from a sign-in in another state or of another browser, one
//! assertion sent many times at once, and the two ways to lose the last
//! way in (the password, the last passkey) raced against each other.

use crate::helpers::*;
use crate::passkeys::{account, discoverable_answer, options_in, origin, registered_in};
use ferrid::admin::AdminCommand;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// ferrid as `localhost`, with room for bursts.
async fn app() -> TestApp {
    spawn_app_edited(|yaml| {
        yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost").replace(
            "rate_limits: { userinfo: 20 }",
            "rate_limits: { userinfo: 20, sign_in: 100000, authorize: 100000, pages: 100000 }",
        )
    })
    .await
}

struct Holder {
    user: TestUser,
    key: WebauthnAuthenticator<SoftPasskey>,
    credential: String,
}

async fn holder(app: &TestApp, name: &str) -> Holder {
    let user = app.add_user(name, &[]);
    let browser = browser();
    let csrf = account(app, &browser, &user).await;
    let (key, credential) = registered_in(app, &browser, &csrf, &user).await;
    Holder { user, key, credential }
}

/// A sign-in page at `web` in a new browser: the browser, where it is, its HTML.
async fn sign_in_page(app: &TestApp) -> (reqwest::Client, String, String) {
    let browser = browser();
    let pkce = Pkce::new();
    let params = web_params("openid", &pkce, "n", "s");
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let login = location(&response);
    let html = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    (browser, login, html)
}

fn answer(app: &TestApp, holder: &mut Holder, html: &str) -> String {
    let sub = holder.user.sub.clone();
    discoverable_answer(&mut holder.key, origin(app), &options_in(html), &holder.credential, &sub)
}

fn form(html: &str, credential: String) -> [(&'static str, String); 3] {
    [
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        ("credential", credential),
    ]
}

#[tokio::test]
async fn the_passkey_route_takes_only_a_sign_in_waiting_for_its_first_step_in_its_own_browser() {
    let app = app().await;
    let mut alice = holder(&app, "alice").await;

    // The page's challenge answered, but the password sent first: the
    // sign-in now waits for a second factor, and the passkey-alone route
    // no longer takes it.
    let (browser_, login, html) = sign_in_page(&app).await;
    let signed = answer(&app, &mut alice, &html);
    let response = sign_in_with(&browser_, &app.address, &login, "alice", &alice.user.password).await;
    assert!(location(&response).starts_with("/login/code?tx="), "{}", location(&response));
    let before = app.state.store.fingerprint_with_parked().unwrap();
    let refused =
        browser_.post(app.url("/login/with-passkey")).form(&form(&html, signed.clone())).send().await.unwrap();
    assert_eq!(refused.status(), 400, "a sign-in past its first step");
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before, "nothing changed, the sign-in still waits");

    // Another browser holding the page's fields, with its own cookie: refused.
    let (thief, _, _) = sign_in_page(&app).await;
    let (_, _, html) = sign_in_page(&app).await;
    let stolen = answer(&app, &mut alice, &html);
    let response = thief.post(app.url("/login/with-passkey")).form(&form(&html, stolen)).send().await.unwrap();
    assert_ne!(response.status(), 303, "another browser's sign-in");
    let response = reqwest::Client::new()
        .post(app.url("/login/with-passkey"))
        .form(&form(&html, answer(&app, &mut alice, &html)))
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 303, "no cookie at all");

    // A finished sign-in: its page's challenge answered after it completed.
    let (browser_, _, html) = sign_in_page(&app).await;
    let first = answer(&app, &mut alice, &html);
    let done = browser_.post(app.url("/login/with-passkey")).form(&form(&html, first)).send().await.unwrap();
    assert!(location(&done).starts_with(WEB_CB));
    let again = answer(&app, &mut alice, &html);
    let response = browser_.post(app.url("/login/with-passkey")).form(&form(&html, again)).send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn one_assertion_sent_many_times_at_once_signs_in_once() {
    let app = app().await;
    let mut alice = holder(&app, "alice").await;
    for _ in 0..4 {
        let (browser_, _, html) = sign_in_page(&app).await;
        let fields = form(&html, answer(&app, &mut alice, &html));
        let sent: Vec<_> = (0..8).map(|_| browser_.post(app.url("/login/with-passkey")).form(&fields).send()).collect();
        let answers = futures_util::future::join_all(sent).await;
        let codes = answers
            .iter()
            .map(|r| r.as_ref().unwrap())
            .filter(|r| r.status() == 303 && location(r).starts_with(WEB_CB))
            .count();
        assert_eq!(codes, 1, "{:?}", answers.iter().map(|r| r.as_ref().unwrap().status()).collect::<Vec<_>>());
    }
}

/// A browser signed in to the account page with `holder`'s passkey alone.
async fn passkey_session(app: &TestApp, holder: &mut Holder) -> (reqwest::Client, String) {
    let browser = browser();
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    let html = browser.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let signed = answer(app, holder, &html);
    let response = browser.post(app.url("/login/with-passkey")).form(&form(&html, signed)).send().await.unwrap();
    assert_eq!(location(&response), "/account/");
    let html = browser.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    (browser, hidden_field(&html, "csrf_token").unwrap())
}

#[tokio::test]
async fn removing_the_password_and_the_last_passkey_at_once_never_leaves_an_account_without_a_way_in() {
    let app = app().await;
    for round in 0..8 {
        let mut someone = holder(&app, &format!("user{round}")).await;
        let (browser_, csrf) = passkey_session(&app, &mut someone).await;
        let factors = app.admin(AdminCommand::UserMfa { username: someone.user.username.clone() }).unwrap();
        let id = factors[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(factors[0]["discoverable"], true);
        let password = browser_.post(app.url("/account/password/remove")).form(&[("csrf_token", csrf.as_str())]);
        let passkey =
            browser_.post(app.url("/account/mfa/remove")).form(&[("csrf_token", csrf.as_str()), ("id", id.as_str())]);
        let (a, b) = tokio::join!(password.send(), passkey.send());
        let (a, b) = (a.unwrap(), b.unwrap());
        let user = app.state.store.user_by_sub(&someone.user.sub.parse().unwrap()).unwrap().unwrap();
        let keys = app.admin(AdminCommand::UserMfa { username: someone.user.username.clone() }).unwrap();
        let can_sign_in = user.has_password() || keys.as_array().unwrap().iter().any(|f| f["discoverable"] == true);
        assert!(
            can_sign_in,
            "round {round}: both went ({} and {}): no password and no passkey",
            a.status(),
            b.status()
        );
    }
}
