//! Attacks from outside on the sign-in state machine, the
//! re-authentication gate ("sudo mode") and the PAT's amr, with what an
//! attacker has: a victim's password, a stolen session cookie, an
//! unlocked browser, requests out of order, replays, races and tampered
//! fields. Each test asserts the safe behaviour: one that passes is a
//! defence that holds; one marked `` fails
//! today and is a finding.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use reqwest::cookie::{CookieStore, Jar};
use std::sync::Arc;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const SECURE_CB: &str = "https://secure.example/cb";
const ASKS_CB: &str = "https://asks.example/cb";
const SESSION: &str = "ferrid_session";
const CSRF: &str = "ferrid_csrf";

/// ferrid as `localhost` (for passkeys), with an app that needs a second
/// factor (`secure`), one that always asks consent (`asks`), and rate
/// limits out of the way.
async fn world() -> TestApp {
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

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.address.replace("127.0.0.1", "localhost")).unwrap()
}

/// A browser whose cookie jar we can read and write (to steal cookies).
fn jar_browser() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (client, jar)
}

fn cookie_of(app: &TestApp, jar: &Jar, name: &str) -> Option<String> {
    let url = Url::parse(&app.address).unwrap();
    let header = jar.cookies(&url)?;
    header.to_str().unwrap().split("; ").find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

fn plant(app: &TestApp, jar: &Jar, name: &str, value: &str) {
    let url = Url::parse(&app.address).unwrap();
    jar.add_cookie_str(&format!("{name}={value}; Path=/"), &url);
}

/// The attacker's own browser holding `session` (a stolen cookie value),
/// and a CSRF token of its own from the (ungated) account page.
async fn attacker_with(app: &TestApp, session: &str) -> (reqwest::Client, Arc<Jar>, String) {
    let (client, jar) = jar_browser();
    plant(app, &jar, SESSION, session);
    let response = client.get(app.url("/account/")).send().await.unwrap();
    assert_eq!(response.status(), 200, "the stolen cookie is a live session");
    let csrf = hidden_field(&response.text().await.unwrap(), "csrf_token").unwrap();
    (client, jar, csrf)
}

async fn text(browser: &reqwest::Client, app: &TestApp, path: &str) -> String {
    browser.get(app.url(path)).send().await.unwrap().text().await.unwrap()
}

fn next_of(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default()
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

/// The password at `client` in `browser`; returns where it sent the browser.
async fn password_at(app: &TestApp, browser: &reqwest::Client, client: &str, cb: &str, user: &TestUser) -> String {
    let pkce = Pkce::new();
    let params = params_for(client, cb, &pkce);
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    assert_eq!(response.status(), 303);
    next_of(&sign_in_with(browser, &app.address, &location(&response), &user.username, &user.password).await)
}

/// Signs `user` (no factor) in to the account page in `browser`; returns its CSRF token.
async fn account_sign_in(app: &TestApp, browser: &reqwest::Client, user: &TestUser) -> String {
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    let response = sign_in_with(browser, &app.address, &location(&response), &user.username, &user.password).await;
    assert_eq!(location(&response), "/account/");
    hidden_field(&text(browser, app, "/account/").await, "csrf_token").unwrap()
}

/// `user` sets up an authenticator app at sign-in to `secure`, in
/// `browser` (which ends signed in with it); returns the TOTP key.
async fn enroll_totp(app: &TestApp, browser: &reqwest::Client, user: &TestUser) -> String {
    let next = password_at(app, browser, "secure", SECURE_CB, user).await;
    assert!(next.starts_with("/login/enroll?tx="), "{next}");
    let html = text(browser, app, &next).await;
    let secret = secret_of(&html);
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("code", oathtool(&secret, app.clock.now())),
    ];
    let response = browser.post(app.url("/login/enroll")).form(&form).send().await.unwrap();
    assert!(next_of(&response).starts_with(SECURE_CB), "enrolled");
    secret
}

fn factors(app: &TestApp, user: &str) -> serde_json::Value {
    app.admin(AdminCommand::UserMfa { username: user.into() }).unwrap()
}

fn sessions(app: &TestApp, user: &str) -> usize {
    app.admin(AdminCommand::UserSessions { username: user.into() }).unwrap().as_array().unwrap().len()
}

/// A stale session (`browser`, CSRF `csrf`) asks for a PAT: the gate
/// parks a re-authentication; returns its sign-in path.
async fn park_reauth(app: &TestApp, browser: &reqwest::Client, csrf: &str) -> String {
    let form = [("csrf_token", csrf), ("app", "web"), ("expires_days", "1")];
    let response = browser.post(app.url("/account/tokens")).form(&form).send().await.unwrap();
    let login = next_of(&response);
    assert!(login.starts_with("/login?tx="), "sent to confirm: {login}");
    login
}

fn confirm_form(html: &str, username: &str, password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ]
}

fn pat_count(app: &TestApp, user: &str) -> usize {
    app.admin(AdminCommand::PatList { username: Some(user.into()) }).unwrap().as_array().unwrap().len()
}

// ---------------------------------------------------------------------
// A stolen session cookie, with and without the password.
// ---------------------------------------------------------------------

/// Stolen cookie + password of a user WITH a second factor: the own
/// password change on the account page takes only the current password,
/// not the gate, so it goes through, ends the owner's other sessions and
/// keeps the attacker's. Safe: it needs the factor (a re-authentication).
#[tokio::test]
async fn a_stolen_session_and_the_password_cannot_change_the_password_of_a_user_with_a_factor() {
    let app = world().await;
    let alice = app.add_user("alice", &[]);
    let (victim, victim_jar) = jar_browser();
    enroll_totp(&app, &victim, &alice).await;
    let stolen = cookie_of(&app, &victim_jar, SESSION).unwrap();
    app.clock.advance(3600);
    let (attacker, _, csrf) = attacker_with(&app, &stolen).await;

    let form = [
        ("csrf_token", csrf.as_str()),
        ("current_password", alice.password.as_str()),
        ("new_password", "attacker-owns-it-1"),
        ("repeat_password", "attacker-owns-it-1"),
    ];
    let response = attacker.post(app.url("/account/password")).form(&form).send().await.unwrap();
    let next = next_of(&response);
    assert_ne!(next, "/account/?done=password", "the password was changed without the second factor");
    // The owner's password still leads to her code step.
    let stranger = browser();
    let login = location(&stranger.get(app.url("/account/")).send().await.unwrap());
    let response = sign_in_with(&stranger, &app.address, &login, &alice.username, &alice.password).await;
    assert!(next_of(&response).starts_with("/login/code?tx="), "alice's own password still works");
}

/// Stolen stale cookie + password of a user with a factor: typing the
/// password into the factor forms (`current_password`) or the console
/// (`confirm_password`) does not stand in for the factor.
#[tokio::test]
async fn a_stolen_session_and_the_password_cannot_change_factors_or_act_as_admin_when_the_user_has_a_factor() {
    let app = world().await;
    let root = app.add_user("root", &["ferrid-admins"]);
    let bob = app.add_user("bob", &[]);
    let (victim, victim_jar) = jar_browser();
    enroll_totp(&app, &victim, &root).await;
    let stolen = cookie_of(&app, &victim_jar, SESSION).unwrap();
    app.clock.advance(301);
    let (attacker, _, csrf) = attacker_with(&app, &stolen).await;
    let before = factors(&app, "root");
    let page = text(&attacker, &app, "/account/mfa").await;
    let id = hidden_field(&page, "id").expect("the factor's id is on the page");

    let pw = root.password.as_str();
    for (path, form) in [
        ("/account/mfa/remove", vec![("csrf_token", csrf.as_str()), ("id", id.as_str()), ("current_password", pw)]),
        ("/account/mfa/recovery", vec![("csrf_token", csrf.as_str()), ("current_password", pw)]),
        ("/account/mfa/totp", vec![("csrf_token", csrf.as_str()), ("current_password", pw)]),
        ("/account/mfa/passkey", vec![("csrf_token", csrf.as_str()), ("current_password", pw)]),
        (
            "/account/tokens",
            vec![
                ("csrf_token", csrf.as_str()),
                ("app", "web"),
                ("expires_days", "1"),
                ("current_password", pw),
                ("confirm_password", pw),
            ],
        ),
    ] {
        let response = attacker.post(app.url(path)).form(&form).send().await.unwrap();
        let next = next_of(&response);
        let body = response.text().await.unwrap();
        assert!(next.starts_with("/login?tx="), "{path}: sent to confirm, got {next} {body}");
        assert!(!body.contains("totp-secret") && !body.contains("webauthn-options"), "{path}: nothing shown");
    }
    assert_eq!(factors(&app, "root"), before, "root's factors are as they were");
    assert_eq!(pat_count(&app, "root"), 0);

    let form = [
        ("action", "user-groups"),
        ("csrf_token", csrf.as_str()),
        ("username", bob.username.as_str()),
        ("groups", "ferrid-admins"),
        ("confirm_password", pw),
    ];
    let response = attacker.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert!(next_of(&response).starts_with("/login?tx="));
    let user = app.state.store.user_by_name(&ferrid::domain::Username::parse("bob").unwrap()).unwrap().unwrap();
    assert!(user.groups.is_empty(), "bob was not made an administrator");
}

/// Stolen stale cookie alone (no password) of a user without a factor:
/// no factor form, no token, no password change goes through.
#[tokio::test]
async fn a_stolen_stale_session_alone_changes_nothing_that_signs_in() {
    let app = world().await;
    let carol = app.add_user("carol", &[]);
    let (victim, victim_jar) = jar_browser();
    account_sign_in(&app, &victim, &carol).await;
    let stolen = cookie_of(&app, &victim_jar, SESSION).unwrap();
    app.clock.advance(301);
    let (attacker, _, csrf) = attacker_with(&app, &stolen).await;
    let before = app.state.store.fingerprint().unwrap();
    for (path, form) in [
        ("/account/mfa/totp", vec![("csrf_token", csrf.as_str())]),
        ("/account/mfa/recovery", vec![("csrf_token", csrf.as_str()), ("current_password", "")]),
        ("/account/mfa/passkey", vec![("csrf_token", csrf.as_str()), ("current_password", "guess-1")]),
        ("/account/tokens", vec![("csrf_token", csrf.as_str()), ("app", "web"), ("expires_days", "1")]),
        (
            "/account/password",
            vec![
                ("csrf_token", csrf.as_str()),
                ("current_password", "guess-1"),
                ("new_password", "attacker-owns-it-1"),
                ("repeat_password", "attacker-owns-it-1"),
            ],
        ),
    ] {
        let response = attacker.post(app.url(path)).form(&form).send().await.unwrap();
        let (status, next) = (response.status().as_u16(), next_of(&response));
        let body = response.text().await.unwrap();
        assert!(
            next.starts_with("/login?tx=") || status == 400 || status == 403,
            "{path}: refused or sent to confirm, got {status} {next}"
        );
        assert!(!body.contains("totp-secret") && !body.contains("webauthn-options") && !body.contains("ferrid_pat_"));
    }
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "nothing changed");
}

/// An administrator's unlocked browser (stale session, no password):
/// duplicated `action` fields, an empty first `action`, and a
/// privileged action behind a harmless one run nothing privileged.
#[tokio::test]
async fn duplicated_action_fields_in_an_unlocked_console_run_nothing_privileged() {
    let app = world().await;
    let root = app.add_user("root", &["ferrid-admins"]);
    app.add_user("bob", &[]);
    let browser = browser();
    let response = browser.get(app.url("/admin/")).send().await.unwrap();
    sign_in_with(&browser, &app.address, &location(&response), &root.username, &root.password).await;
    let csrf = hidden_field(&text(&browser, &app, "/admin/users").await, "csrf_token").unwrap();
    app.clock.advance(301);
    for body in [
        format!("action=&action=user-groups&csrf_token={csrf}&username=bob&groups=ferrid-admins"),
        format!("action=group-add&action=user-groups&csrf_token={csrf}&username=bob&groups=ferrid-admins&name=x1"),
        format!("action=user-groups&action=group-add&csrf_token={csrf}&username=bob&groups=ferrid-admins&name=x2"),
        format!("action=USER-GROUPS&csrf_token={csrf}&username=bob&groups=ferrid-admins"),
        format!("action=user-groups%00&csrf_token={csrf}&username=bob&groups=ferrid-admins"),
        format!("csrf_token=&csrf_token={csrf}&action=user-groups&username=bob&groups=ferrid-admins&confirm_password="),
    ] {
        let response = browser
            .post(app.url("/admin/act"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let user = app.state.store.user_by_name(&ferrid::domain::Username::parse("bob").unwrap()).unwrap().unwrap();
        assert!(user.groups.is_empty(), "{body}: bob was made an administrator ({status})");
    }
}

// ---------------------------------------------------------------------
// The re-authentication's parked sign-in, from elsewhere.
// ---------------------------------------------------------------------

/// A re-authentication parked for carol: from another browser (even with
/// her form's CSRF token) it is refused; with her CSRF cookie and tx
/// stolen into a browser with no session, her password starts no new
/// session; afterwards her stale session is still stale.
#[tokio::test]
async fn a_reauthentication_cannot_be_finished_elsewhere_nor_start_a_session_where_there_is_none() {
    let app = world().await;
    let carol = app.add_user("carol", &[]);
    let (victim, victim_jar) = jar_browser();
    let csrf = account_sign_in(&app, &victim, &carol).await;
    app.clock.advance(301);
    let login = park_reauth(&app, &victim, &csrf).await;
    let html = text(&victim, &app, &login).await;
    let form = confirm_form(&html, &carol.username, &carol.password);

    // 1. A stranger's browser, with the form's fields as they were.
    let stranger = browser();
    let _ = stranger.get(app.url("/account/")).send().await.unwrap(); // a CSRF cookie of its own
    let response = stranger.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 403, "another browser's re-authentication");
    assert!(stranger.get(app.url(&login)).send().await.unwrap().status().is_client_error());

    // 2. A browser with no session but the victim's CSRF cookie (and tx, and the password).
    let (thief, thief_jar) = jar_browser();
    plant(&app, &thief_jar, CSRF, &cookie_of(&app, &victim_jar, CSRF).unwrap());
    let sessions_before = sessions(&app, "carol");
    let response = thief.post(app.url("/login")).form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    assert_ne!(status, 303, "no redirect onward: {}", next_of(&response));
    assert!(cookie_of(&app, &thief_jar, SESSION).is_none_or(|v| v.is_empty()), "no session cookie was set");
    assert_eq!(sessions(&app, "carol"), sessions_before, "no new session for carol");
    assert_eq!(
        app.admin(AdminCommand::UserSessions { username: "carol".into() }).unwrap().as_array().unwrap().len(),
        1
    );

    // 3. The victim's own session was not refreshed by the thief's attempt.
    let again = park_reauth(&app, &victim, &csrf).await;
    assert!(again.starts_with("/login?tx="));
}

/// A re-authentication parked for alice in a browser that then signs in
/// as bob: alice's password finishes nothing and refreshes nobody; bob's
/// password is refused for alice's confirmation.
#[tokio::test]
async fn a_reauthentication_for_alice_in_a_browser_now_signed_in_as_bob_refreshes_nobody() {
    let app = world().await;
    let alice = app.add_user("alice", &[]);
    let bob = app.add_user("bob", &[]);
    let browser = browser();
    let csrf = account_sign_in(&app, &browser, &alice).await;
    app.clock.advance(301);
    let login = park_reauth(&app, &browser, &csrf).await;
    let html = text(&browser, &app, &login).await;

    // bob's name and password on alice's confirmation.
    let response =
        browser.post(app.url("/login")).form(&confirm_form(&html, "bob", &bob.password)).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // The browser becomes bob's (prompt=login at an application), and goes stale.
    let pkce = Pkce::new();
    let mut params = params_for("web", WEB_CB, &pkce);
    params.push(("prompt", "login"));
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), &bob.username, &bob.password).await;
    assert!(next_of(&response).starts_with(WEB_CB));
    app.clock.advance(301);

    let response = browser
        .post(app.url("/login"))
        .form(&confirm_form(&html, &alice.username, &alice.password))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "alice's re-authentication ends: the browser is bob's now");
    // bob's session is still stale: his PAT asks to confirm.
    let csrf = hidden_field(&text(&browser, &app, "/account/tokens").await, "csrf_token").unwrap();
    let again = park_reauth(&app, &browser, &csrf).await;
    assert!(again.starts_with("/login?tx="), "bob was not refreshed by alice's password");
    assert_eq!(pat_count(&app, "bob") + pat_count(&app, "alice"), 0);
}

/// The re-authentication's password posted twice at once, then replayed:
/// one goes on, the rest find it ended.
#[tokio::test]
async fn a_reauthentication_goes_on_once_under_a_race_and_not_on_replay() {
    let app = world().await;
    let carol = app.add_user("carol", &[]);
    let browser = browser();
    let csrf = account_sign_in(&app, &browser, &carol).await;
    app.clock.advance(301);
    let login = park_reauth(&app, &browser, &csrf).await;
    let html = text(&browser, &app, &login).await;
    let form = confirm_form(&html, &carol.username, &carol.password);
    let (a, b) = tokio::join!(
        browser.post(app.url("/login")).form(&form).send(),
        browser.post(app.url("/login")).form(&form).send()
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let onward = [&a, &b].iter().filter(|r| next_of(r) == "/account/tokens").count();
    assert_eq!(onward, 1, "{} {} / {} {}", a.status(), next_of(&a), b.status(), next_of(&b));
    let replay = browser.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(replay.status(), 400);
}

/// During a re-authentication of a user with a factor, the code step's id
/// does not open an enrollment (no second factor set up with a password).
#[tokio::test]
async fn a_reauthentication_of_a_user_with_a_factor_cannot_enroll_a_new_one() {
    let app = world().await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    enroll_totp(&app, &browser, &alice).await;
    let csrf = hidden_field(&text(&browser, &app, "/account/tokens").await, "csrf_token").unwrap();
    app.clock.advance(301);
    let login = park_reauth(&app, &browser, &csrf).await;
    let html = text(&browser, &app, &login).await;
    let response = browser
        .post(app.url("/login"))
        .form(&confirm_form(&html, &alice.username, &alice.password))
        .send()
        .await
        .unwrap();
    let code = next_of(&response);
    assert!(code.starts_with("/login/code?tx="), "{code}");
    let before = factors(&app, "alice");
    let tx = code.trim_start_matches("/login/code?tx=");
    let shown = browser.get(app.url(&format!("/login/enroll?tx={tx}"))).send().await.unwrap();
    assert_eq!(shown.status(), 400);
    assert!(!shown.text().await.unwrap().contains("totp-secret"));
    let form = [("tx", tx), ("csrf_token", &csrf), ("code", "123456")];
    assert_eq!(browser.post(app.url("/login/enroll")).form(&form).send().await.unwrap().status(), 400);
    // Nor does the password page of the re-authentication, replayed, start over.
    let replay = browser
        .post(app.url("/login"))
        .form(&confirm_form(&html, &alice.username, &alice.password))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(factors(&app, "alice"), before);
}

/// Return paths: whatever the console form names, the page a
/// re-authentication returns to is on this site.
#[tokio::test]
async fn the_return_path_after_a_reauthentication_never_leaves_the_site() {
    let app = world().await;
    let root = app.add_user("root", &["ferrid-admins"]);
    let browser = browser();
    let response = browser.get(app.url("/admin/")).send().await.unwrap();
    sign_in_with(&browser, &app.address, &location(&response), &root.username, &root.password).await;
    let csrf = hidden_field(&text(&browser, &app, "/admin/users").await, "csrf_token").unwrap();
    for hostile in [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "\t//evil.example",
        "..//..//evil.example",
        "x\r\nSet-Cookie: owned=1",
        "%2F%2Fevil.example",
    ] {
        app.clock.advance(301);
        let form = [("action", "user-update"), ("csrf_token", &csrf), ("username", hostile), ("name", "x")];
        let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
        let login = next_of(&response);
        assert!(login.starts_with("/login?tx="), "{hostile:?}: {login}");
        let html = text(&browser, &app, &login).await;
        let response = browser
            .post(app.url("/login"))
            .form(&confirm_form(&html, &root.username, &root.password))
            .send()
            .await
            .unwrap();
        assert!(response.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("owned")));
        let back = next_of(&response);
        let resolved = url::Url::parse(&app.address).unwrap().join(&back).unwrap();
        assert_eq!(resolved.host_str(), Some("127.0.0.1"), "{hostile:?} → {back}");
        assert!(back.starts_with('/') && !back.starts_with("//") && !back.contains('\\'), "{hostile:?} → {back}");
    }
}

// ---------------------------------------------------------------------
// Passkeys: challenges and ceremonies.
// ---------------------------------------------------------------------

fn options_in(html: &str) -> Option<String> {
    let marker = r#"<script type="application/json" id="webauthn-options">"#;
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find("</script>")?].to_owned())
}

/// Registers a soft passkey for `user` in `browser` (signed in, fresh).
async fn register_passkey(app: &TestApp, browser: &reqwest::Client, csrf: &str) -> WebauthnAuthenticator<SoftPasskey> {
    let form = [("csrf_token", csrf), ("name", "soft key")];
    let page = browser.post(app.url("/account/mfa/passkey")).form(&form).send().await.unwrap().text().await.unwrap();
    let options: CreationChallengeResponse = serde_json::from_str(&options_in(&page).unwrap()).unwrap();
    let mut key = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let answer = key.do_registration(origin(app), options).unwrap();
    let form = [
        ("csrf_token", csrf.to_owned()),
        ("ceremony", hidden_field(&page, "ceremony").unwrap()),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    let response = browser.post(app.url("/account/mfa/passkey/finish")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/account/mfa?done=passkey");
    key
}

/// A code page (password done) for `user` at `web`, in a new browser.
async fn code_page(app: &TestApp, user: &TestUser) -> (reqwest::Client, String, String) {
    let browser = browser();
    let next = password_at(app, &browser, "web", WEB_CB, user).await;
    assert!(next.starts_with("/login/code?tx="), "{next}");
    let html = text(&browser, app, &next).await;
    (browser, next, html)
}

/// An assertion answers only the challenge of the page that offered it:
/// not another sign-in's, not the same sign-in's after the page was
/// reloaded (a new challenge), and not twice.
#[tokio::test]
async fn a_passkey_assertion_answers_only_its_own_challenge_once() {
    let app = world().await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let csrf = account_sign_in(&app, &browser, &alice).await;
    let mut key = register_passkey(&app, &browser, &csrf).await;

    let sign = |key: &mut WebauthnAuthenticator<SoftPasskey>, html: &str| {
        let options: RequestChallengeResponse = serde_json::from_str(&options_in(html).unwrap()).unwrap();
        serde_json::to_string(&key.do_authentication(origin(&app), options).unwrap()).unwrap()
    };
    let post = |browser: &reqwest::Client, html: &str, credential: String| {
        let form = [
            ("tx", hidden_field(html, "tx").unwrap()),
            ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
            ("credential", credential),
        ];
        browser.post(app.url("/login/passkey")).form(&form).send()
    };

    // Another sign-in's challenge.
    let (b1, _, html1) = code_page(&app, &alice).await;
    let (b2, _, html2) = code_page(&app, &alice).await;
    let for_one = sign(&mut key, &html1);
    let response = post(&b2, &html2, for_one.clone()).await.unwrap();
    assert!(!next_of(&response).starts_with(WEB_CB), "b2 took b1's assertion");

    // The same sign-in, reloaded: the old challenge is gone.
    let (b3, next3, old) = code_page(&app, &alice).await;
    let stale = sign(&mut key, &old);
    let _reloaded = text(&b3, &app, &next3).await;
    let response = post(&b3, &old, stale).await.unwrap();
    assert!(!next_of(&response).starts_with(WEB_CB), "an assertion for a replaced challenge");

    // Its own, once; then replayed.
    let response = post(&b1, &html1, for_one.clone()).await.unwrap();
    assert!(next_of(&response).starts_with(WEB_CB), "the real assertion works");
    let response = post(&b1, &html1, for_one).await.unwrap();
    assert!(!next_of(&response).starts_with(WEB_CB), "replayed");
    let _ = b2;
}

/// docs/security.md: "a registration ceremony is answered once and only
/// from the session that started it". Another session of the same user
/// (a stolen, stale one) answers alice's ceremony with its own key.
#[tokio::test]
async fn a_passkey_ceremony_is_answered_only_from_the_session_that_started_it() {
    let app = world().await;
    let alice = app.add_user("alice", &[]);
    // The attacker's copy of an old session of alice's.
    let (old, old_jar) = jar_browser();
    account_sign_in(&app, &old, &alice).await;
    let stolen = cookie_of(&app, &old_jar, SESSION).unwrap();
    app.clock.advance(301);
    // alice, in a fresh session, starts adding a passkey.
    let browser = browser();
    let csrf = account_sign_in(&app, &browser, &alice).await;
    let form = [("csrf_token", csrf.as_str()), ("name", "alice's key")];
    let page = browser.post(app.url("/account/mfa/passkey")).form(&form).send().await.unwrap().text().await.unwrap();

    // The attacker (stale session: the gate would refuse it) finishes it.
    let (attacker, _, attacker_csrf) = attacker_with(&app, &stolen).await;
    let options: CreationChallengeResponse = serde_json::from_str(&options_in(&page).unwrap()).unwrap();
    let mut key = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let answer = key.do_registration(origin(&app), options).unwrap();
    let form = [
        ("csrf_token", attacker_csrf),
        ("ceremony", hidden_field(&page, "ceremony").unwrap()),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    let before = factors(&app, "alice");
    let response = attacker.post(app.url("/account/mfa/passkey/finish")).form(&form).send().await.unwrap();
    assert_ne!(next_of(&response), "/account/mfa?done=passkey", "the attacker's key was registered");
    assert_eq!(factors(&app, "alice"), before);
}

// ---------------------------------------------------------------------
// Races on single-use steps.
// ---------------------------------------------------------------------

/// Two enrollments at once with the same code: one sign-in goes on, the
/// user ends with one authenticator app.
#[tokio::test]
async fn an_enrollment_posted_twice_at_once_goes_on_once_and_makes_one_factor() {
    let app = world().await;
    let user = app.add_user("newcomer", &[]);
    let browser = browser();
    let next = password_at(&app, &browser, "secure", SECURE_CB, &user).await;
    let html = text(&browser, &app, &next).await;
    let code = oathtool(&secret_of(&html), app.clock.now());
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("code", code),
    ];
    let (a, b) = tokio::join!(
        browser.post(app.url("/login/enroll")).form(&form).send(),
        browser.post(app.url("/login/enroll")).form(&form).send()
    );
    let onward = [a.unwrap(), b.unwrap()].iter().filter(|r| next_of(r).starts_with(SECURE_CB)).count();
    assert_eq!(onward, 1);
    let listed = factors(&app, "newcomer");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// One TOTP code, two sign-ins (two browsers with the password) at once:
/// the code opens one of them.
#[tokio::test]
async fn one_code_opens_one_of_two_parallel_sign_ins() {
    let app = world().await;
    let alice = app.add_user("alice", &[]);
    let secret = enroll_totp(&app, &browser(), &alice).await;
    app.clock.advance(30);
    let (b1, _, h1) = code_page(&app, &alice).await;
    let (b2, _, h2) = code_page(&app, &alice).await;
    let code = oathtool(&secret, app.clock.now());
    let form = |html: &str| {
        [
            ("tx", hidden_field(html, "tx").unwrap()),
            ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
            ("code", code.clone()),
        ]
    };
    let (f1, f2) = (form(&h1), form(&h2));
    let (a, b) = tokio::join!(
        b1.post(app.url("/login/code")).form(&f1).send(),
        b2.post(app.url("/login/code")).form(&f2).send()
    );
    let onward = [a.unwrap(), b.unwrap()].iter().filter(|r| next_of(r).starts_with(WEB_CB)).count();
    assert_eq!(onward, 1);
}

/// Consent allowed twice at once, and allow racing deny: one answer, one code.
#[tokio::test]
async fn a_consent_is_answered_once_under_a_race() {
    let app = world().await;
    let carol = app.add_user("carol", &[]);
    for other in ["allow", "deny"] {
        let browser = browser();
        let next = password_at(&app, &browser, "asks", ASKS_CB, &carol).await;
        assert!(next.starts_with("/consent?tx="), "{next}");
        let html = text(&browser, &app, &next).await;
        let form = |decision: &'static str| {
            [
                ("tx", hidden_field(&html, "tx").unwrap()),
                ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
                ("decision", decision.to_owned()),
            ]
        };
        let (fa, fb) = (form("allow"), form(if other == "allow" { "allow" } else { "deny" }));
        let (a, b) = tokio::join!(
            browser.post(app.url("/consent")).form(&fa).send(),
            browser.post(app.url("/consent")).form(&fb).send()
        );
        let answers: Vec<String> = [a.unwrap(), b.unwrap()].iter().map(next_of).collect();
        let codes = answers.iter().filter(|n| n.starts_with(ASKS_CB) && n.contains("code=")).count();
        let replies = answers.iter().filter(|n| n.starts_with(ASKS_CB)).count();
        assert_eq!(replies, 1, "{other}: one answer reaches the app: {answers:?}");
        assert!(codes <= 1, "{answers:?}");
    }
}

/// The sign-out confirmation, posted twice at once and then replayed:
/// used once.
#[tokio::test]
async fn a_sign_out_confirmation_is_used_once_under_a_race() {
    let app = world().await;
    let erin = app.add_user("erin", &[]);
    let browser = browser();
    password_at(&app, &browser, "web", WEB_CB, &erin).await;
    let html = text(&browser, &app, "/application/o/web/end-session/?client_id=web").await;
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "sign_out".to_owned()),
    ];
    let (a, b) = tokio::join!(
        browser.post(app.url("/logout/confirm")).form(&form).send(),
        browser.post(app.url("/logout/confirm")).form(&form).send()
    );
    let ok = [a.unwrap(), b.unwrap()].iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 1);
    assert_eq!(browser.post(app.url("/logout/confirm")).form(&form).send().await.unwrap().status(), 400);
}

// ---------------------------------------------------------------------
// PATs and the amr.
// ---------------------------------------------------------------------

/// A password-only session: a duplicated `app` field does not sneak a
/// PAT for `secure` past the check, none is made for `secure`, and one
/// made for `web` stops working when the user joins a group that needs a
/// second factor.
#[tokio::test]
async fn a_password_only_session_makes_no_pat_that_works_where_a_factor_is_needed() {
    let app = world().await;
    app.admin(AdminCommand::GroupAdd { name: "ops".into(), description: None }).unwrap();
    let carol = app.add_user("carol", &[]);
    let browser = browser();
    let csrf = account_sign_in(&app, &browser, &carol).await;
    for body in [
        format!("csrf_token={csrf}&app=secure&expires_days=30"),
        format!("csrf_token={csrf}&app=&app=secure&expires_days=30"),
        format!("csrf_token={csrf}&app=SECURE&expires_days=30"),
    ] {
        let response = browser
            .post(app.url("/account/tokens"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    assert_eq!(pat_count(&app, "carol"), 0);
    let response = browser
        .post(app.url("/account/tokens"))
        .form(&[("csrf_token", csrf.as_str()), ("app", "web"), ("app", "secure"), ("expires_days", "30")])
        .send()
        .await
        .unwrap();
    let html = response.text().await.unwrap();
    let start = html.find("ferrid_pat_").expect("a token for web");
    let token = html[start..start + "ferrid_pat_".len() + 43].to_owned();
    let pats = app.admin(AdminCommand::PatList { username: Some("carol".into()) }).unwrap();
    assert_eq!(pats[0]["app"], "web", "{pats}");
    assert_eq!(introspect_as_web(&app.address, &token).await["active"], true);
    app.admin(AdminCommand::GroupRequireMfa { group: "ops".into(), required: true }).unwrap();
    app.admin(AdminCommand::UserGroups { username: "carol".into(), groups: vec!["ops".into()] }).unwrap();
    assert_eq!(introspect_as_web(&app.address, &token).await["active"], false, "made without a factor");
    let form = [("grant_type", "client_credentials"), ("username", "carol"), ("password", token.as_str())];
    assert_eq!(app.post_token(&form, Some(("web", WEB_SECRET))).await.status(), 400);
}

// ---------------------------------------------------------------------
// Injection.
// ---------------------------------------------------------------------

/// HTML in the username echoed by a failed sign-in is escaped; a tx with
/// CR LF sets no header.
#[tokio::test]
async fn markup_and_line_breaks_in_fields_are_neither_rendered_nor_sent_as_headers() {
    let app = world().await;
    let browser = browser();
    let pkce = Pkce::new();
    let response = browser
        .get(app.url("/application/o/authorize/"))
        .query(&web_params("openid", &pkce, "n", "s"))
        .send()
        .await
        .unwrap();
    let login = location(&response);
    let evil = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;
    let response = sign_in_with(&browser, &app.address, &login, evil, "wrong").await;
    assert_eq!(response.status(), 401);
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)") && !html.contains("<img src=x"), "{html}");

    let response = browser.get(app.url("/login?tx=a%0d%0aSet-Cookie:%20owned=1")).send().await.unwrap();
    assert!(response.status().is_client_error());
    assert!(response.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().contains("owned")));
    let response = browser
        .get(app.url("/application/o/web/end-session/?client_id=web&state=x%0d%0aSet-Cookie:%20owned=1"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().contains("owned")));
}
