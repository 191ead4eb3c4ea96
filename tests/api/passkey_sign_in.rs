//! Signing in with a passkey alone (`/login/with-passkey`), over HTTP,
//! answered by webauthn-authenticator-rs's software passkey (see
//! `passkeys::discoverable_answer` for what the test does in its place),
//! and accounts without a password. Each refusal answers the sign-in page
//! with one message and changes nothing.

use crate::helpers::*;
use crate::passkeys::{
    account, answer_as, discoverable_answer, options_in, origin, registered_in, soft_key, start_registration,
};
use ferrid::admin::AdminCommand;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const SECURE_CB: &str = "https://secure.example/cb";
const ASKS_CB: &str = "https://asks.example/cb";
const REFUSED: &str = "That passkey was not accepted. Nothing was changed; try again, or use your password.";

/// ferrid as `localhost`, with `secure` (requires a second factor) and
/// `asks` (asks for consent every time).
async fn app() -> TestApp {
    let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
    spawn_app_edited(|yaml| {
        let yaml = yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost").replace(
            "rate_limits: { userinfo: 20 }",
            "rate_limits: { userinfo: 20, sign_in: 100000, authorize: 100000, pages: 100000 }",
        );
        format!(
            "{yaml}  - slug: secure\n    client_secret_sha256: {digest}\n    redirect_uris: [\"{SECURE_CB}\"]\n    \
             require_mfa: true\n  - slug: asks\n    client_secret_sha256: {digest}\n    redirect_uris: \
             [\"{ASKS_CB}\"]\n    consent: always\n"
        )
    })
    .await
}

fn params_for<'a>(client: &'a str, cb: &'a str, pkce: &'a Pkce) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", cb),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// A user with a registered soft passkey.
struct Holder {
    user: TestUser,
    key: WebauthnAuthenticator<SoftPasskey>,
    credential: String,
}

async fn holder(app: &TestApp, name: &str, groups: &[&str]) -> Holder {
    let user = app.add_user(name, groups);
    let browser = browser();
    let csrf = account(app, &browser, &user).await;
    let (key, credential) = registered_in(app, &browser, &csrf, &user).await;
    Holder { user, key, credential }
}

/// A sign-in page: the browser it is in, and its HTML.
struct SignInPage {
    browser: reqwest::Client,
    html: String,
}

impl SignInPage {
    /// An authorization request at `client` in a new browser: its sign-in page.
    async fn at(app: &TestApp, client: &str, cb: &str, pkce: &Pkce) -> SignInPage {
        let browser = browser();
        let response = browser.get(app.url("/application/o/authorize/")).query(&params_for(client, cb, pkce)).send();
        let login = location(&response.await.unwrap());
        assert!(login.starts_with("/login?tx="), "{login}");
        let html = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
        SignInPage { browser, html }
    }

    /// A sign-in page at `web` (whose code no one redeems).
    async fn web(app: &TestApp) -> SignInPage {
        SignInPage::at(app, "web", WEB_CB, &Pkce::new()).await
    }

    fn options(&self) -> String {
        options_in(&self.html)
    }

    /// Posts `credential` to `/login/with-passkey` with this page's fields.
    async fn answer(&self, app: &TestApp, credential: String) -> reqwest::Response {
        let form = [
            ("tx", hidden_field(&self.html, "tx").unwrap()),
            ("csrf_token", hidden_field(&self.html, "csrf_token").unwrap()),
            ("credential", credential),
        ];
        self.browser.post(app.url("/login/with-passkey")).form(&form).send().await.unwrap()
    }

    /// This page's challenge, answered by `holder`'s key under `user_handle`.
    fn signed_by(&self, app: &TestApp, holder: &mut Holder, user_handle: &str) -> String {
        discoverable_answer(&mut holder.key, origin(app), &self.options(), &holder.credential, user_handle)
    }
}

/// The code a redirect to `cb` carries, redeemed: the id_token's claims.
async fn id_token(app: &TestApp, client: &str, cb: &str, response: &reqwest::Response, pkce: &Pkce) -> Value {
    let back = location(response);
    assert!(back.starts_with(cb), "{back}");
    let tokens = app.redeem_code(client, cb, &query_of(&back)["code"], pkce).await;
    let token = tokens["id_token"].as_str().unwrap();
    // Checked with an independent library against the published keys;
    // the issuer is the public URL, localhost.
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks = app.jwks(client).await;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.set_issuer(&[app.issuer(client).replace("127.0.0.1", "localhost")]);
    validation.set_audience(&[client]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("signature and claims verify").claims
}

#[tokio::test]
async fn a_passkey_alone_signs_in_to_an_application_that_requires_mfa_and_its_challenge_works_once() {
    let app = app().await;
    let mut alice = holder(&app, "alice", &[]).await;
    // Keys are made as discoverable where the authenticator can.
    let (dave, browser_) = (app.add_user("dave", &[]), browser());
    let csrf = account(&app, &browser_, &dave).await;
    let page = start_registration(&app, &browser_, &csrf, &dave).await;
    let creation: Value = serde_json::from_str(&options_in(&page)).unwrap();
    let selection = &creation["publicKey"]["authenticatorSelection"];
    assert_eq!(
        (selection["residentKey"].as_str(), selection["userVerification"].as_str()),
        (Some("preferred"), Some("required"))
    );

    let pkce = Pkce::new();
    let sign_in = SignInPage::at(&app, "secure", SECURE_CB, &pkce).await;
    assert!(sign_in.html.contains(r#"autocomplete="username webauthn""#), "conditional UI in the username field");
    assert!(sign_in.html.contains("Sign in with a passkey"));
    let alices = alice.user.sub.clone();
    let answer = sign_in.signed_by(&app, &mut alice, &alices);
    let response = sign_in.answer(&app, answer.clone()).await;
    assert_eq!(response.status(), 303, "no code asked: the passkey was both factors");
    let id = id_token(&app, "secure", SECURE_CB, &response, &pkce).await;
    assert_eq!(id["sub"], alice.user.sub.as_str());
    assert_eq!(id["amr"], serde_json::json!(["hwk", "user", "mfa"]), "a device-bound key, present and verified");
    assert_eq!(id["acr"], "mfa");
    let trail = app.state.store.audit_since(0).unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.kind == Some(ferrid::store::AuditKind::SignIn) && e.detail.as_deref() == Some("hwk user mfa"))
    );
    let factors = app.admin(AdminCommand::UserMfa { username: "alice".into() }).unwrap();
    assert_eq!(factors[0]["discoverable"], true, "it signed in on its own: it may stand in for the password");

    // The same answer again: that sign-in is over.
    let before = app.state.store.fingerprint().unwrap();
    let replay = sign_in.answer(&app, answer.clone()).await;
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("Sign-in expired"));
    // In a new sign-in (a new challenge): refused on its page.
    let other = SignInPage::web(&app).await;
    let refused = other.answer(&app, answer).await;
    assert_eq!(refused.status(), 401);
    let body = refused.text().await.unwrap();
    assert!(body.contains(REFUSED), "{body}");
    assert!(body.contains("webauthn-options"), "the page offers a fresh challenge");
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "nothing changed");
}

#[tokio::test]
async fn an_unknown_key_another_users_key_a_counter_behind_and_no_user_verification_are_refused_alike() {
    let app = app().await;
    let mut alice = holder(&app, "alice", &[]).await;
    let mut bob = holder(&app, "bob", &[]).await;
    let alices = alice.user.sub.clone();
    // Each: 401, the one message, no account named, a fresh challenge, and
    // nothing changed (counters, factors, sessions, codes).
    let refused = |response: reqwest::Response, before: String| {
        let store = app.state.store.clone();
        async move {
            assert_eq!(response.status(), 401);
            let body = response.text().await.unwrap();
            assert!(body.contains(REFUSED), "{body}");
            assert!(!body.contains("alice") && !body.contains("bob"), "no account is named");
            assert!(body.contains("webauthn-options"), "a fresh challenge to try again");
            assert_eq!(store.fingerprint().unwrap(), before, "nothing changed");
        }
    };
    let page = || SignInPage::web(&app);

    // A key ferrid never registered (made for a registration never
    // finished), claiming to be alice's.
    let mut stranger = {
        let carol = app.add_user("carol", &[]);
        let browser = browser();
        let csrf = account(&app, &browser, &carol).await;
        let registration = start_registration(&app, &browser, &csrf, &carol).await;
        let mut key = soft_key();
        let made =
            key.do_registration(origin(&app), serde_json::from_str(&options_in(&registration)).unwrap()).unwrap();
        let credential = serde_json::to_value(&made.raw_id).unwrap().as_str().unwrap().to_owned();
        Holder { user: carol, key, credential }
    };
    let before = app.state.store.fingerprint().unwrap();
    let signing_in = page().await;
    refused(signing_in.answer(&app, signing_in.signed_by(&app, &mut stranger, &alices)).await, before).await;

    // Bob's key, under alice's user handle: not one of hers.
    let before = app.state.store.fingerprint().unwrap();
    let signing_in = page().await;
    refused(signing_in.answer(&app, signing_in.signed_by(&app, &mut bob, &alices)).await, before).await;
    // A user handle that names nobody.
    let nobody = uuid::Uuid::new_v4().to_string();
    let before = app.state.store.fingerprint().unwrap();
    let signing_in = page().await;
    refused(signing_in.answer(&app, signing_in.signed_by(&app, &mut bob, &nobody)).await, before).await;
    // Garbage, and no answer at all.
    for garbage in ["{]", ""] {
        let before = app.state.store.fingerprint().unwrap();
        let signing_in = page().await;
        refused(signing_in.answer(&app, garbage.into()).await, before).await;
    }

    // Alice's own key, touched but not verified (no PIN, no fingerprint).
    let before = app.state.store.fingerprint().unwrap();
    let signing_in = page().await;
    let touched = answer_as(&mut alice.key, origin(&app), &signing_in.options(), &alice.credential, &alices, false);
    refused(signing_in.answer(&app, touched).await, before).await;

    // A clone whose counter is behind: two pages signed in one order and
    // sent in the other. The later signature goes first and counts...
    let (first, second) = (page().await, page().await);
    let behind = first.signed_by(&app, &mut alice, &alices);
    let ahead = second.signed_by(&app, &mut alice, &alices);
    assert!(location(&second.answer(&app, ahead).await).starts_with(WEB_CB));
    // ...then the earlier one, as a copy of the key would send it: refused.
    let before = app.state.store.fingerprint().unwrap();
    refused(first.answer(&app, behind).await, before).await;

    // Each refusal is audited with its reason (never shown to the browser).
    let trail = app.state.store.audit_since(0).unwrap();
    let reasons: Vec<String> = trail
        .iter()
        .filter(|e| e.kind == Some(ferrid::store::AuditKind::SignInFailed))
        .filter_map(|e| e.detail.clone())
        .collect();
    for reason in ["a key that is not the user's", "a user handle of no user", "not a WebAuthn assertion"] {
        assert!(reasons.iter().any(|r| r.contains(reason)), "{reason}: {reasons:?}");
    }
    assert!(reasons.iter().any(|r| r.contains("verif")), "no user verification: {reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("ompromise")), "the clone: {reasons:?}");
}

#[tokio::test]
async fn after_a_passkey_a_disabled_account_the_access_policy_and_consent_apply_as_after_a_password() {
    let app = app().await;
    let mut alice = holder(&app, "alice", &[]).await;
    let alices = alice.user.sub.clone();

    // Consent: the passkey signs in, and the application still asks.
    let pkce = Pkce::new();
    let signing_in = SignInPage::at(&app, "asks", ASKS_CB, &pkce).await;
    let response = signing_in.answer(&app, signing_in.signed_by(&app, &mut alice, &alices)).await;
    assert!(location(&response).starts_with("/consent?tx="), "{}", location(&response));

    // The access policy: guarded is for admins and viewers.
    let signing_in = SignInPage::at(&app, "guarded", GUARDED_CB, &Pkce::new()).await;
    let response = signing_in.answer(&app, signing_in.signed_by(&app, &mut alice, &alices)).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("No access to guarded"));

    // Disabled: the right key says so (as the right password does), and
    // nothing is stored, not even the key's counter.
    app.set_disabled(&alice.user, true);
    let signing_in = SignInPage::web(&app).await;
    let before = app.state.store.fingerprint().unwrap();
    let response = signing_in.answer(&app, signing_in.signed_by(&app, &mut alice, &alices)).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("This account is disabled") && body.contains("The passkey is right"), "{body}");
    assert_eq!(app.state.store.fingerprint().unwrap(), before);
    app.set_disabled(&alice.user, false);
    let signing_in = SignInPage::web(&app).await;
    let response = signing_in.answer(&app, signing_in.signed_by(&app, &mut alice, &alices)).await;
    assert!(location(&response).starts_with(WEB_CB), "enabled again, the same key works");
}

#[tokio::test]
async fn served_by_ip_address_the_sign_in_page_offers_no_passkey_and_the_route_says_why() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let pkce = Pkce::new();
    let response = browser.get(app.url("/application/o/authorize/")).query(&web_params("openid", &pkce, "n", "s"));
    let login = location(&response.send().await.unwrap());
    let html = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("webauthn-options") && !html.contains("Sign in with a passkey"), "{html}");
    assert!(html.contains(r#"autocomplete="username""#), "no webauthn autofill either");
    let before = app.state.store.fingerprint().unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("credential", "{}".to_owned()),
    ];
    let response = browser.post(app.url("/login/with-passkey")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("passkeys need a host name"));
    assert_eq!(app.state.store.fingerprint().unwrap(), before);
    // The password still works on the same sign-in.
    let response = sign_in_with(&browser, &app.address, &login, &alice.username, &alice.password).await;
    assert!(location(&response).starts_with(WEB_CB));
}

/// `browser` signs in to `/account/` with `holder`'s passkey alone.
async fn account_with_passkey(app: &TestApp, browser: &reqwest::Client, holder: &mut Holder) {
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "{login}");
    let html = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    let signing_in = SignInPage { browser: browser.clone(), html };
    let sub = holder.user.sub.clone();
    let response = signing_in.answer(app, signing_in.signed_by(app, holder, &sub)).await;
    assert_eq!(location(&response), "/account/");
}

/// A form on `/account/mfa` (or another page) posted from `browser`.
async fn post(app: &TestApp, browser: &reqwest::Client, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let html = browser.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(app.url(path)).form(&form).send().await.unwrap()
}

fn passkey_ids(app: &TestApp, username: &str) -> Vec<(String, bool)> {
    let factors = app.admin(AdminCommand::UserMfa { username: username.into() }).unwrap();
    let factors = factors.as_array().unwrap().iter().filter(|f| f["kind"] == "passkey");
    factors.map(|f| (f["id"].as_str().unwrap().to_owned(), f["discoverable"] == true)).collect()
}

#[tokio::test]
async fn a_user_whose_passkey_signed_in_alone_may_remove_the_password_and_then_signs_in_only_with_a_passkey() {
    let app = app().await;
    let mut alice = holder(&app, "alice", &[]).await;
    let alices = alice.user.sub.clone();
    app.add_user("erin", &[]);
    assert!(!passkey_ids(&app, "alice")[0].1, "the soft key does not say it is discoverable");

    // Password and passkey (second factor): a fresh session, but no key
    // has yet signed in on its own, so the password stays.
    let (with_password, html) = crate::passkeys::second_step(&app, &alice.user).await;
    let options = serde_json::from_str(&options_in(&html)).unwrap();
    let answer = serde_json::to_string(&alice.key.do_authentication(origin(&app), options).unwrap()).unwrap();
    let response = with_password.post(app.url("/login/passkey")).form(&crate::passkeys::assertion_form(&html, answer));
    assert!(location(&response.send().await.unwrap()).starts_with(WEB_CB));
    let page = with_password.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Once one of your passkeys has signed you in on its own"), "{page}");
    let before = app.state.store.fingerprint().unwrap();
    let refused = post(&app, &with_password, "/account/password/remove", &[]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("None of your passkeys is known to sign in on its own yet"));
    assert_eq!(app.state.store.fingerprint().unwrap(), before);

    // The passkey alone, in another browser: now it may.
    let passkey_only = browser();
    account_with_passkey(&app, &passkey_only, &mut alice).await;
    assert!(passkey_ids(&app, "alice")[0].1, "it signed in on its own");
    let page = passkey_only.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Remove my password") && page.contains("signs in alone"), "{page}");
    let removed = post(&app, &passkey_only, "/account/password/remove", &[]).await;
    assert_eq!(location(&removed), "/account/mfa?done=password");
    let user = app.state.store.user_by_sub(&alices.parse().unwrap()).unwrap().unwrap();
    assert!(!user.has_password());
    let trail = app.state.store.audit_since(0).unwrap();
    assert!(trail.iter().any(|e| e.detail.as_deref() == Some("password removed by the user")));
    // Her other session (signed in with the password) is over; this one stays.
    let response = with_password.get(app.url("/account/")).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "the password's session ended");
    assert_eq!(passkey_only.get(app.url("/account/")).send().await.unwrap().status(), 200);

    // Her old password now fails exactly as a wrong one and an unknown name do.
    let failure = |username: &'static str, password: String| {
        let app = &app;
        async move {
            let browser = browser();
            let pkce = Pkce::new();
            let response =
                browser.get(app.url("/application/o/authorize/")).query(&web_params("openid", &pkce, "n", "s"));
            let login = location(&response.send().await.unwrap());
            let response = sign_in_with(&browser, &app.address, &login, username, &password).await;
            let status = response.status();
            let body = response.text().await.unwrap();
            let error = body.split(r#"<p class="error" role="alert">"#).nth(1).unwrap().split("</p>").next().unwrap();
            (status, error.to_owned())
        }
    };
    let passwordless = failure("alice", alice.user.password.clone()).await;
    assert_eq!(passwordless, failure("erin", "not-erins-password".into()).await);
    assert_eq!(passwordless, failure("nobody", "whatever-password".into()).await);
    assert_eq!(passwordless.1, "Wrong username or password.");
    // An empty password gets no further.
    assert_eq!(failure("alice", String::new()).await.1, "Wrong username or password.");

    // Her last (and only) passkey cannot go: it is her way in.
    let (id, _) = passkey_ids(&app, "alice").remove(0);
    let before = app.state.store.fingerprint().unwrap();
    let refused = post(&app, &passkey_only, "/account/mfa/remove", &[("id", &id)]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("This is your last passkey that signs in on its own"));
    assert_eq!(app.state.store.fingerprint().unwrap(), before);

    // Passkey-only at an application that requires a second factor.
    let pkce = Pkce::new();
    let signing_in = SignInPage::at(&app, "secure", SECURE_CB, &pkce).await;
    let response = signing_in.answer(&app, signing_in.signed_by(&app, &mut alice, &alices)).await;
    let id = id_token(&app, "secure", SECURE_CB, &response, &pkce).await;
    assert_eq!(id["amr"], serde_json::json!(["hwk", "user", "mfa"]));
}

#[tokio::test]
async fn a_passwordless_user_confirms_privileged_actions_with_the_passkey_and_may_set_a_password_again() {
    let app = app().await;
    let mut alice = holder(&app, "alice", &[]).await;
    let mut bob = holder(&app, "bob", &[]).await;
    let (alices, bobs) = (alice.user.sub.clone(), bob.user.sub.clone());
    let browser = browser();
    account_with_passkey(&app, &browser, &mut alice).await;
    assert_eq!(location(&post(&app, &browser, "/account/password/remove", &[]).await), "/account/mfa?done=password");

    // Five minutes on, making a token asks her to confirm: the page offers her passkey.
    app.clock.advance(301);
    let asked = post(&app, &browser, "/account/tokens", &[("app", "web"), ("expires_days", "1")]).await;
    let login = location(&asked);
    assert!(login.starts_with("/login?tx="), "{login}");
    let html = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Confirm it") && html.contains("Confirm with a passkey"), "{html}");
    assert!(!html.contains(r#"name="password""#), "no password to ask her for");
    let mut confirming = SignInPage { browser: browser.clone(), html };
    // Bob's key (under his own handle, or under hers) is not hers.
    let before = app.state.store.fingerprint().unwrap();
    for handle in [&bobs, &alices] {
        let response = confirming.answer(&app, confirming.signed_by(&app, &mut bob, handle)).await;
        assert_eq!(response.status(), 401);
        // The page again, with a fresh challenge.
        let html = response.text().await.unwrap();
        assert!(html.contains(REFUSED) && html.contains("Confirm it"), "{html}");
        confirming = SignInPage { browser: browser.clone(), html };
    }
    assert_eq!(app.state.store.fingerprint().unwrap(), before);
    let response = confirming.answer(&app, confirming.signed_by(&app, &mut alice, &alices)).await;
    assert_eq!(location(&response), "/account/tokens", "back to the page that asked");
    let made = post(&app, &browser, "/account/tokens", &[("app", "web"), ("expires_days", "1")]).await;
    assert_eq!(made.status(), 200, "fresh now: the token is made");

    // She sets a password again: none to give as the current one.
    let html = browser.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Set a password") && !html.contains("current_password"), "{html}");
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form =
        [("csrf_token", csrf.as_str()), ("new_password", "alice-new-pass"), ("repeat_password", "alice-new-pass")];
    let response = browser.post(app.url("/account/password")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=password_set");
    let response = app.get_authorize(&web_params("openid", &Pkce::new(), "n", "s")).await;
    let response = app.submit_sign_in(&location(&response), "alice", "alice-new-pass").await;
    assert!(location(&response).starts_with("/login/code?tx="), "the password, then her passkey as a second factor");
}
