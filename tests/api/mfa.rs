//! Second factors over HTTP. Every TOTP code comes from Debian's oathtool
//! (an independent RFC 6238 implementation), computed for ferrid's clock.

use crate::helpers::*;
use jsonwebtoken::Algorithm;
use serde_json::Value;

const SECURE_CB: &str = "https://secure.example/cb";

async fn app() -> TestApp {
    let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
    spawn_app_with(&format!(
        "  - slug: secure\n    client_secret_sha256: {digest}\n    redirect_uris: [\"{SECURE_CB}\"]\n    require_mfa: true\n"
    ))
    .await
}

fn secure_params(pkce: &Pkce) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", "secure"),
        ("redirect_uri", SECURE_CB),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// Posts `code` to a second-step page (`path`, whose HTML is `html`).
async fn submit(app: &TestApp, path: &str, html: &str, code: &str) -> reqwest::Response {
    let form = [
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        ("code", code.to_owned()),
    ];
    app.client.post(app.url(path)).form(&form).send().await.unwrap()
}

async fn page(app: &TestApp, response: &reqwest::Response) -> String {
    app.client.get(app.url(&location(response))).send().await.unwrap().text().await.unwrap()
}

/// Enrolls alice at sign-in to `secure` (it requires a second factor);
/// returns her TOTP key, the id_token, and the time of the code used.
async fn enroll_at_sign_in(app: &TestApp, alice: &TestUser) -> (String, Value, i64) {
    let pkce = Pkce::new();
    let response = app.get_authorize(&secure_params(&pkce)).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    assert!(location(&response).starts_with("/login/enroll?tx="), "{}", location(&response));
    let html = page(app, &response).await;
    assert!(html.contains("<svg"), "a QR code, drawn on the server");
    let secret = secret_of(&html);
    assert_eq!(secret.len(), 32, "160 bits, base32");

    let now = app.clock.now();
    let wrong = submit(app, "/login/enroll", &html, &oathtool(&secret, now - 300)).await;
    assert_eq!(wrong.status(), 400, "an old code does not confirm it");
    let response = submit(app, "/login/enroll", &html, &oathtool(&secret, now)).await;
    let back = query_of(&location(&response));
    let tokens = app.redeem_code("secure", SECURE_CB, &back["code"], &pkce).await;
    let id = app.verify_jwt(tokens["id_token"].as_str().unwrap(), "secure", "secure", Algorithm::RS256, "JWT").await;
    (secret, id, now)
}

#[tokio::test]
async fn an_application_that_requires_mfa_leads_a_user_without_one_to_enroll_and_the_id_token_says_so() {
    let app = app().await;
    // A password-only user at an application that does not ask: pwd.
    let bob = app.add_user("bob", &[]);
    let tokens = app.code_flow_tokens(&bob, "openid").await;
    let id = app.verify_jwt(tokens["id_token"].as_str().unwrap(), "web", "web", Algorithm::RS256, "JWT").await;
    assert_eq!((id["amr"].clone(), id["acr"].clone()), (serde_json::json!(["pwd"]), serde_json::json!("pwd")));

    let alice = app.add_user("alice", &[]);
    let (_, id, _) = enroll_at_sign_in(&app, &alice).await;
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], "mfa");

    let doc: Value = app
        .client
        .get(app.url("/application/o/secure/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["acr_values_supported"], serde_json::json!(["pwd", "mfa"]));
}

/// In `browser`: authorize at `web`, the password; returns the second-step page.
async fn second_step(app: &TestApp, browser: &reqwest::Client, user: &TestUser) -> String {
    let pkce = Pkce::new();
    let params = web_params("openid", &pkce, "n", "s");
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let response = sign_in_with(browser, &app.address, &location(&response), &user.username, &user.password).await;
    assert!(location(&response).starts_with("/login/code?tx="), "{}", location(&response));
    browser.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap()
}

async fn post_code(app: &TestApp, browser: &reqwest::Client, html: &str, code: &str) -> reqwest::Response {
    let form = [
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        ("code", code.to_owned()),
    ];
    browser.post(app.url("/login/code")).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn a_user_with_a_factor_is_asked_everywhere_and_each_code_works_once() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let (secret, _, enrolled_at) = enroll_at_sign_in(&app, &alice).await;

    // A new browser, an application that requires nothing: still asked.
    let browser = browser();
    let html = second_step(&app, &browser, &alice).await;
    let before = app.state.store.fingerprint().unwrap();
    // The enrollment used its step's code: refused, as are wrong and expired ones.
    let now = app.clock.now();
    for (why, code) in [
        ("used at enrollment", oathtool(&secret, enrolled_at)),
        ("wrong", "000000".to_owned()),
        ("expired", oathtool(&secret, now - 90)),
        ("not a code", "abc".to_owned()),
    ] {
        if code == oathtool(&secret, now + 30) {
            continue; // the one code that would be fine
        }
        let response = post_code(&app, &browser, &html, &code).await;
        assert_eq!(response.status(), 401, "{why}");
        assert!(response.text().await.unwrap().contains("That code is wrong, used or expired."), "{why}");
    }
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "refused codes change nothing");

    // Lock-out: three failures from this browser's address (it is not yet a
    // known browser of hers) lock the second step like a password.
    let response = post_code(&app, &browser, &html, &oathtool(&secret, now + 30)).await;
    assert_eq!(response.status(), 401, "locked after 3 failures, even the right code");
    app.clock.advance(15 * 60 + 1);
    let html = second_step(&app, &browser, &alice).await;
    let response = post_code(&app, &browser, &html, &oathtool(&secret, app.clock.now())).await;
    assert_eq!(response.status(), 303, "the lock ends");
    assert!(query_of(&location(&response)).contains_key("code"));

    let trail = app.state.store.audit_since(0).unwrap();
    let failed = trail.iter().filter(|e| e.kind == Some(ferrid::store::AuditKind::MfaFailed)).count();
    assert!(failed >= 4, "{failed}");
}

#[tokio::test]
async fn recovery_codes_need_the_password_work_once_and_say_how_many_are_left() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    enroll_at_sign_in(&app, &alice).await;

    // The account's second-factor page, signed in from the enrollment above.
    let html = app.client.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Authenticator app"), "{html}");
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let make = |password: &str| {
        let form = [("csrf_token", csrf.clone()), ("current_password", password.to_owned())];
        app.client.post(app.url("/account/mfa/recovery")).form(&form).send()
    };
    let before = app.state.store.fingerprint().unwrap();
    let refused = make("not-her-password").await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("The current password is wrong. Nothing was changed."));
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "no codes without a recent password");

    let shown = make(&alice.password).await.unwrap().text().await.unwrap();
    let codes: Vec<String> = shown.split("<li><code>").skip(1).map(|s| s[..s.find('<').unwrap()].to_owned()).collect();
    assert_eq!(codes.len(), 10);
    let stored = serde_json::to_string(&app.state.store.dump().unwrap()).unwrap();
    assert!(codes.iter().all(|c| !stored.contains(c.as_str())), "stored only as digests");

    // Sign in elsewhere with a recovery code; then the same code again.
    for attempt in 0..2 {
        let browser = browser();
        let html = second_step(&app, &browser, &alice).await;
        let response = post_code(&app, &browser, &html, &codes[2].to_uppercase()).await;
        if attempt == 0 {
            assert_eq!(response.status(), 200);
            let body = response.text().await.unwrap();
            assert!(body.contains("You have <strong>9</strong> recovery codes left"), "{body}");
            let next = body.split(r#"class="button" href=""#).nth(1).unwrap();
            assert!(next.starts_with(WEB_CB), "Continue goes on to the application");
        } else {
            assert_eq!(response.status(), 401, "a recovery code works once");
        }
    }
    let used = app.state.store.audit_since(0).unwrap();
    let used: Vec<_> = used.iter().filter(|e| e.kind == Some(ferrid::store::AuditKind::RecoveryCodeUsed)).collect();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].detail.as_deref(), Some("9 left"));
}

#[tokio::test]
async fn acr_values_mfa_asks_a_password_only_session_to_sign_in_again_with_a_factor() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    app.code_flow_tokens(&alice, "openid").await;

    // The same browser, already signed in with a password: SSO unless mfa is asked for.
    let pkce = Pkce::new();
    let mut params = web_params("openid", &pkce, "n", "s");
    let plain = app.get_authorize(&params).await;
    assert!(location(&plain).starts_with(WEB_CB), "SSO");
    params.push(("acr_values", "mfa"));
    let none: Vec<_> = params.iter().cloned().chain([("prompt", "none")]).collect();
    let response = app.get_authorize(&none).await;
    assert_eq!(query_of(&location(&response))["error"], "login_required");
    let response = app.get_authorize(&params).await;
    assert!(location(&response).starts_with("/login?tx="), "sign in again");
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    assert!(location(&response).starts_with("/login/enroll?tx="), "and set up a factor");
}

/// Where a password sign-in to `web` in `browser` leads.
async fn go(app: &TestApp, browser: &reqwest::Client, user: &TestUser) -> String {
    let pkce = Pkce::new();
    let params = web_params("openid", &pkce, "n", "s");
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    location(&sign_in_with(browser, &app.address, &location(&response), &user.username, &user.password).await)
}

#[tokio::test]
async fn administrators_list_and_reset_factors_and_require_them_per_application_and_group() {
    use ferrid::admin::AdminCommand;
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    enroll_at_sign_in(&app, &alice).await;
    let factors = app.admin(AdminCommand::UserMfa { username: "alice".into() }).unwrap();
    assert_eq!(factors[0]["kind"], "totp");
    assert!(factors[0].get("sealed_seed").is_none(), "no secret in the listing");

    let reset = app.admin(AdminCommand::UserMfaReset { username: "alice".into() }).unwrap();
    assert_eq!(reset["factors"], 1);
    let trail = app.state.store.audit_since(0).unwrap();
    assert!(trail.iter().any(|e| e.detail.as_deref() == Some("1 factor(s) removed by an administrator")));
    // Without a factor: web asks for the password only.
    assert!(go(&app, &browser(), &alice).await.starts_with(WEB_CB));

    // Required for web by an administrator, then for a group instead.
    app.admin(AdminCommand::AppRequireMfa { slug: "web".into(), required: true }).unwrap();
    app.state.republish(false).unwrap();
    assert!(go(&app, &browser(), &alice).await.starts_with("/login/enroll"));
    app.admin(AdminCommand::AppRequireMfa { slug: "web".into(), required: false }).unwrap();
    app.state.republish(false).unwrap();
    let ada = app.add_user("ada", &["admins"]);
    assert!(go(&app, &browser(), &ada).await.starts_with(WEB_CB));
    app.admin(AdminCommand::GroupRequireMfa { group: "admins".into(), required: true }).unwrap();
    assert!(go(&app, &browser(), &ada).await.starts_with("/login/enroll"));
    assert!(go(&app, &browser(), &alice).await.starts_with(WEB_CB), "not in the group");
}

#[tokio::test]
async fn a_backup_carries_the_factors_and_the_seal_key_and_the_database_alone_reveals_no_seed() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let (secret, _, _) = enroll_at_sign_in(&app, &alice).await;
    let keys_dir = app.state.config.keys_dir.clone();
    let seal_file = std::fs::read_to_string(keys_dir.join(ferrid::keys::SEAL_KEY_FILE)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(keys_dir.join(ferrid::keys::SEAL_KEY_FILE)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // The database's bytes hold neither the seed nor its base32 form.
    let dump = serde_json::to_string(&app.state.store.dump().unwrap()).unwrap();
    assert!(!dump.contains(&secret) && !dump.contains(&secret.to_lowercase()));
    assert!(!dump.contains(seal_file.trim()), "the seal key lives in keys_dir only");

    let backup = ferrid::backup::take(&app.state.store, &keys_dir, app.clock.now()).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let (data, keys) = (elsewhere.path().join("data"), elsewhere.path().join("keys"));
    ferrid::backup::restore(&backup, &data, &keys, None).unwrap();
    let store = ferrid::store::Store::open(&data).unwrap();
    let seal = ferrid::keys::seal_key(None, None, &keys).unwrap();
    let throttle = ferrid::throttle::Throttle::new(app.state.config.sign_in);
    let mfa = ferrid::mfa::Mfa { store: &store, seal: &seal, throttle: &throttle };
    let user = store.user_by_name(&ferrid::domain::Username::parse("alice").unwrap()).unwrap().unwrap();
    let later = app.clock.now() + 30;
    let checked =
        mfa.check(&user, &oathtool(&secret, later), ferrid::throttle::Client::Unknown("x"), "x", later).unwrap();
    assert_eq!(checked, ferrid::mfa::Checked::Totp, "the restored factor opens with the restored key");
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_the_second_factor_again() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let (secret, _, _) = enroll_at_sign_in(&app, &alice).await;
    let pkce = Pkce::new();
    for extra in [("prompt", "login"), ("max_age", "0")] {
        app.clock.advance(30);
        let mut params = web_params("openid", &pkce, "n", "s");
        params.push(extra);
        let response = app.get_authorize(&params).await;
        assert!(location(&response).starts_with("/login?tx="), "{extra:?}: the password again");
        let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
        assert!(location(&response).starts_with("/login/code?tx="), "{extra:?}: and the code again");
        let html = page(&app, &response).await;
        let response = submit(&app, "/login/code", &html, &oathtool(&secret, app.clock.now())).await;
        assert!(location(&response).starts_with(WEB_CB), "{extra:?}");
    }
}

#[tokio::test]
async fn with_without_factor_refuse_a_user_without_one_gets_a_clear_page_and_no_code() {
    let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
    let app = spawn_app_edited(|yaml| {
        format!(
            "{yaml}  - slug: secure\n    client_secret_sha256: {digest}\n    redirect_uris: [\"{SECURE_CB}\"]\n    require_mfa: true\nmfa: {{ without_factor: refuse }}\n"
        )
    })
    .await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let response = app.get_authorize(&secure_params(&pkce)).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("A second factor is needed") && html.contains("account page first"), "{html}");
    assert_eq!(app.state.store.session_count(), 0, "no session was started");
}
