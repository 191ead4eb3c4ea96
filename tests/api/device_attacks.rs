//! Attacks on the device authorization grant (RFC 8628), from outside and
//! over real HTTP: making someone else's browser approve a request,
//! approving out of order or twice, a password where a second factor is
//! due, a session from a source the application does not take, device
//! codes of another client or after a change to the user, guessing user
//! codes (a forged X-Forwarded-For, fresh cookies, other spellings), what
//! a code's page gives away, and what signing out tells the device's
//! application. `device_flow.rs` shows the flow as meant.

use crate::fake_github::FakeGithub;
use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use crate::sources::{github_decl, octocat};
use ferrid::admin::AdminCommand;
use serde_json::Value;

const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The sign-in pages are rate limited per address; these tests walk them
/// many times from one.
const RATE_LIMITS: &str = "rate_limits: { userinfo: 20, sign_in: 100000, authorize: 100000, pages: 100000 }";

/// `tv`: public, with the device flow; `box`: confidential, admins only;
/// `vault`: public, wants a second factor; plus `extra` (YAML list items).
async fn spawn_with(extra: &str) -> TestApp {
    let digest = sha256_hex(WEB_SECRET);
    let apps = format!(
        "  - slug: tv\n    name: Living-room TV\n    public: true\n    device_flow: true\n  - slug: box\n    \
         client_secret_sha256: {digest}\n    device_flow: true\n    allowed_groups: [admins]\n  - slug: vault\n    \
         public: true\n    device_flow: true\n    require_mfa: true\n{extra}"
    );
    spawn_app_edited(|yaml| format!("{yaml}{apps}").replace("rate_limits: { userinfo: 20 }", RATE_LIMITS)).await
}

async fn spawn() -> TestApp {
    spawn_with("").await
}

/// The public URL's origin: what a browser uses (`localhost` in the source test).
fn base(app: &TestApp) -> String {
    app.state.config.public_url.as_str().trim_end_matches('/').to_owned()
}

fn at(app: &TestApp, path: &str) -> String {
    format!("{}{path}", base(app))
}

/// A new request of public `client` for `scope`: the device's answer.
async fn asks(app: &TestApp, client: &str, scope: &str) -> Value {
    let form = [("client_id", client), ("scope", scope)];
    let response = reqwest::Client::new().post(app.url("/application/o/device/")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A new request of the confidential `box`.
async fn box_asks(app: &TestApp) -> Value {
    let response = reqwest::Client::new()
        .post(app.url("/application/o/device/"))
        .basic_auth("box", Some(WEB_SECRET))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn codes(asked: &Value) -> (String, String) {
    (asked["user_code"].as_str().unwrap().to_owned(), asked["device_code"].as_str().unwrap().to_owned())
}

/// The device polls as public `client`: (status, error or "(none)", body).
async fn poll(app: &TestApp, client: &str, device_code: &str) -> (u16, String, Value) {
    let form = [("grant_type", DEVICE_CODE), ("device_code", device_code), ("client_id", client)];
    answer_of(app.post_token(&form, None).await).await
}

async fn poll_box(app: &TestApp, device_code: &str) -> (u16, String, Value) {
    let form = [("grant_type", DEVICE_CODE), ("device_code", device_code)];
    answer_of(app.post_token(&form, Some(("box", WEB_SECRET))).await).await
}

async fn answer_of(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or("(none)").to_owned(), body)
}

async fn text(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    browser.get(at(app, path)).send().await.unwrap().text().await.unwrap()
}

/// In `browser`: the code entered on `/device`; where it leads.
async fn enter_code(app: &TestApp, browser: &reqwest::Client, typed: &str) -> reqwest::Response {
    let html = text(app, browser, "/device").await;
    let form = [("csrf_token", hidden_field(&html, "csrf_token").unwrap()), ("code", typed.to_owned())];
    browser.post(at(app, "/device")).form(&form).send().await.unwrap()
}

/// `enter_code` from a browser behind the trusted proxy (127.0.0.1 in the
/// test config), which sent `forwarded` as X-Forwarded-For.
async fn enter_code_via(app: &TestApp, browser: &reqwest::Client, typed: &str, forwarded: &str) -> reqwest::Response {
    enter_code_lines(app, browser, typed, &[forwarded]).await
}

/// `enter_code_via`, with X-Forwarded-For as several header lines, in order.
async fn enter_code_lines(app: &TestApp, browser: &reqwest::Client, typed: &str, lines: &[&str]) -> reqwest::Response {
    let with_lines = |mut request: reqwest::RequestBuilder| {
        for line in lines {
            request = request.header("x-forwarded-for", *line);
        }
        request
    };
    let html = with_lines(browser.get(at(app, "/device"))).send().await.unwrap().text().await.unwrap();
    let form = [("csrf_token", hidden_field(&html, "csrf_token").unwrap()), ("code", typed.to_owned())];
    with_lines(browser.post(at(app, "/device")).form(&form)).send().await.unwrap()
}

/// The approval page at `location` in `browser`: its form's fields.
async fn approval_form(app: &TestApp, browser: &reqwest::Client, location: &str) -> (String, String) {
    let page = browser.get(at(app, location)).send().await.unwrap();
    assert_eq!(page.status(), 200, "{location}");
    let html = page.text().await.unwrap();
    (hidden_field(&html, "tx").unwrap(), hidden_field(&html, "csrf_token").unwrap())
}

async fn post_approval(
    app: &TestApp,
    browser: &reqwest::Client,
    tx: &str,
    csrf: &str,
    decision: &str,
) -> reqwest::Response {
    let form = [("tx", tx), ("csrf_token", csrf), ("decision", decision)];
    browser.post(at(app, "/device/approve")).form(&form).send().await.unwrap()
}

/// The approval page at `location`, answered with `decision`: the status.
async fn answer(app: &TestApp, browser: &reqwest::Client, location: &str, decision: &str) -> u16 {
    let (tx, csrf) = approval_form(app, browser, location).await;
    post_approval(app, browser, &tx, &csrf, decision).await.status().as_u16()
}

/// `user` enters `user_code` in a fresh browser and signs in with the
/// password: the browser and where the sign-in led.
async fn sign_in_for(app: &TestApp, user: &TestUser, user_code: &str) -> (reqwest::Client, String) {
    let browser = browser();
    let response = enter_code(app, &browser, user_code).await;
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "{login}");
    let response = sign_in_with(&browser, &base(app), &login, &user.username, &user.password).await;
    (browser, location(&response))
}

/// `user` signs in to `web` with the password in `browser` (an ordinary
/// SSO session, password only).
async fn sign_in_at_web(app: &TestApp, browser: &reqwest::Client, user: &TestUser) {
    let pkce = Pkce::new();
    let params = web_params("openid", &pkce, "n", "s");
    let response = browser.get(at(app, "/application/o/authorize/")).query(&params).send().await.unwrap();
    let response = sign_in_with(browser, &base(app), &location(&response), &user.username, &user.password).await;
    assert!(location(&response).starts_with(WEB_CB), "{}", location(&response));
}

fn tx_of(location: &str) -> String {
    location.split_once("tx=").unwrap().1.to_owned()
}

/// The claims of a JWT, unverified (its signature is other tests' business).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&ferrid::crypto::secrets::b64url_decode(payload).unwrap()).unwrap()
}

/// A victim signed in at ferrid is sent the attacker's code (the link the
/// device shows, with the code filled in). Nothing but her own click on
/// Approve, on a page of her own browser's sign-in, may answer it: not
/// opening the link, not a forged form to `/device` or `/device/approve`,
/// not a GET with the decision, not the attacker's own CSRF pair.
#[tokio::test]
async fn an_attackers_code_is_not_approved_by_a_link_a_forged_form_or_a_get() {
    let app = spawn().await;
    let alice = app.add_user("alice", &[]);
    let victim = browser();
    sign_in_at_web(&app, &victim, &alice).await;
    let asked = asks(&app, "tv", "openid offline_access").await;
    let (user_code, device_code) = codes(&asked);
    let attacker = browser();
    let attacker_csrf = hidden_field(&text(&app, &attacker, "/device").await, "csrf_token").unwrap();

    let before = app.state.store.fingerprint_with_parked().unwrap();
    let page = victim.get(asked["verification_uri_complete"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(page.status(), 200, "the link only shows the form");
    for token in ["", "forged", attacker_csrf.as_str()] {
        let form = [("csrf_token", token), ("code", user_code.as_str())];
        let response = victim.post(at(&app, "/device")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 403, "a form with the token {token:?}");
    }
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before, "nothing was parked");

    // She presses Continue herself: her approval page.
    let response = enter_code(&app, &victim, &user_code).await;
    let approve = location(&response);
    assert!(approve.starts_with("/device/approve?tx="), "{approve}");
    let tx = tx_of(&approve);
    let before = app.state.store.fingerprint_with_parked().unwrap();
    let page = victim.get(at(&app, &format!("{approve}&decision=approve"))).send().await.unwrap();
    assert_eq!(page.status(), 200, "a GET only shows the page");
    for csrf in ["", "forged", attacker_csrf.as_str()] {
        let response = post_approval(&app, &victim, &tx, csrf, "approve").await;
        assert_eq!(response.status(), 403, "her tx with the token {csrf:?}");
    }
    let response = post_approval(&app, &attacker, &tx, &attacker_csrf, "approve").await;
    assert_eq!(response.status(), 403, "her tx from the attacker's browser, with its own token and cookie");
    let response = attacker.get(at(&app, &approve)).send().await.unwrap();
    assert_eq!(response.status(), 403, "nor is her page shown there");
    let json = serde_json::json!({ "tx": tx, "decision": "approve" });
    let response = victim.post(at(&app, "/device/approve")).json(&json).send().await.unwrap();
    assert_eq!(response.status(), 400, "not a form");
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before, "nothing was answered");
    assert_eq!(poll(&app, "tv", &device_code).await.1, "authorization_pending");
}

/// `/device/approve` with the tx of another step (the sign-in form of this
/// very request, a code-flow sign-in), before signing in, replayed after
/// its answer; and the approval's tx at the sign-in form.
#[tokio::test]
async fn approval_out_of_order_with_another_steps_tx_or_replayed_is_refused() {
    let app = spawn().await;
    let alice = app.add_user("alice", &[]);
    let (user_code, device_code) = codes(&asks(&app, "tv", "openid").await);
    let browser = browser();
    let response = enter_code(&app, &browser, &user_code).await;
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "{login}");
    let html = text(&app, &browser, &login).await;
    let (login_tx, csrf) = (hidden_field(&html, "tx").unwrap(), hidden_field(&html, "csrf_token").unwrap());
    // A code-flow sign-in parked in the same browser.
    let pkce = Pkce::new();
    let params = web_params("openid", &pkce, "n", "s");
    let response = browser.get(at(&app, "/application/o/authorize/")).query(&params).send().await.unwrap();
    let web_tx = tx_of(&location(&response));

    let before = app.state.store.fingerprint_with_parked().unwrap();
    for tx in [login_tx.as_str(), web_tx.as_str(), "", "made-up"] {
        let response = post_approval(&app, &browser, tx, &csrf, "approve").await;
        assert_eq!(response.status(), 400, "POST with the tx {tx:?}");
        assert!(response.text().await.unwrap().contains("Sign-in expired"), "POST with the tx {tx:?}");
        let response = browser.get(at(&app, &format!("/device/approve?tx={tx}"))).send().await.unwrap();
        assert_eq!(response.status(), 400, "GET with the tx {tx:?}");
    }
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before);

    let response = sign_in_with(&browser, &base(&app), &login, "alice", &alice.password).await;
    let approve = location(&response);
    assert!(approve.starts_with("/device/approve?tx="), "{approve}");
    let approve_tx = tx_of(&approve);
    // The approval's tx at the sign-in form and its POST: refused.
    let response = browser.get(at(&app, &format!("/login?tx={approve_tx}"))).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let form = [("tx", approve_tx.as_str()), ("csrf_token", &csrf), ("username", "alice"), ("password", "x")];
    let response = browser.post(at(&app, "/login")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 400);

    let (tx, csrf) = approval_form(&app, &browser, &approve).await;
    assert_eq!(post_approval(&app, &browser, &tx, &csrf, "approve").await.status(), 200);
    let before = app.state.store.fingerprint_with_parked().unwrap();
    for decision in ["approve", "deny"] {
        let response = post_approval(&app, &browser, &tx, &csrf, decision).await;
        assert_eq!(response.status(), 400, "the used tx again, to {decision}");
        assert!(response.text().await.unwrap().contains("Sign-in expired"), "the step is gone");
    }
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before);
    assert_eq!(poll(&app, "tv", &device_code).await.0, 200);
}

/// One request, several approval pages for it (its code entered twice):
/// the first answer stands; an approve and a deny at once, one wins; and
/// an approval after the request expired (its page had not) changes nothing.
#[tokio::test]
async fn a_request_is_answered_once_whatever_races_and_not_after_it_expired() {
    let app = spawn().await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    sign_in_at_web(&app, &browser, &alice).await;
    let two_pages = |user_code: String| {
        let (app, browser) = (&app, &browser);
        async move {
            let first = location(&enter_code(app, browser, &user_code).await);
            let second = location(&enter_code(app, browser, &user_code).await);
            assert!(first.starts_with("/device/approve") && second.starts_with("/device/approve"), "{second}");
            (approval_form(app, browser, &first).await, approval_form(app, browser, &second).await)
        }
    };

    // Approved on one page, then denied (or approved) on the other: refused.
    let (user_code, device_code) = codes(&asks(&app, "tv", "openid").await);
    let (first, second) = two_pages(user_code).await;
    assert_eq!(post_approval(&app, &browser, &first.0, &first.1, "approve").await.status(), 200);
    let response = post_approval(&app, &browser, &second.0, &second.1, "deny").await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("no longer waiting"));
    assert_eq!(poll(&app, "tv", &device_code).await.0, 200, "the first answer stands");

    // Denied, then approved: still denied.
    let (user_code, device_code) = codes(&asks(&app, "tv", "openid").await);
    let (first, second) = two_pages(user_code).await;
    assert_eq!(post_approval(&app, &browser, &first.0, &first.1, "deny").await.status(), 200);
    assert_eq!(post_approval(&app, &browser, &second.0, &second.1, "approve").await.status(), 400);
    assert_eq!(poll(&app, "tv", &device_code).await.1, "access_denied");

    // Approve and deny at once.
    let (user_code, device_code) = codes(&asks(&app, "tv", "openid").await);
    let (first, second) = two_pages(user_code).await;
    let (approved, denied) = tokio::join!(
        post_approval(&app, &browser, &first.0, &first.1, "approve"),
        post_approval(&app, &browser, &second.0, &second.1, "deny"),
    );
    let (approved, denied) = (approved.status().as_u16(), denied.status().as_u16());
    let mut statuses = [approved, denied];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "one answer wins");
    let polled = poll(&app, "tv", &device_code).await;
    match approved {
        200 => assert_eq!(polled.0, 200, "approve won: {polled:?}"),
        _ => assert_eq!(polled.1, "access_denied", "deny won: {polled:?}"),
    }

    // Entered 5 minutes in; its page is good for 10 minutes, the request for 10 from its start.
    let (user_code, device_code) = codes(&asks(&app, "tv", "openid").await);
    app.clock.advance(300);
    let approve = location(&enter_code(&app, &browser, &user_code).await);
    let (tx, csrf) = approval_form(&app, &browser, &approve).await;
    app.clock.advance(301);
    let response = post_approval(&app, &browser, &tx, &csrf, "approve").await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("no longer waiting"));
    assert_eq!(poll(&app, "tv", &device_code).await.1, "expired_token");
    let stored = app.state.store.device_grant(&ferrid::crypto::secrets::Digest::of(&device_code)).unwrap().unwrap();
    assert_eq!(stored.state, ferrid::store::DeviceState::Pending, "not approved late");
}

/// `vault` wants a second factor. A password alone (alice has no factor)
/// leads to setting one up, never to the approval; a password-only
/// session goes to the sign-in form; the set-up factor then approves, and
/// the device's id_token says so.
#[tokio::test]
async fn a_password_alone_never_approves_for_an_application_that_wants_a_second_factor() {
    let app = spawn().await;
    let alice = app.add_user("alice", &[]);
    let (user_code, device_code) = codes(&asks(&app, "vault", "openid").await);

    // Signed in at `web` with her password: not enough here.
    let with_session = browser();
    sign_in_at_web(&app, &with_session, &alice).await;
    let response = enter_code(&app, &with_session, &user_code).await;
    let next = location(&response);
    assert!(next.starts_with("/login?tx="), "a password-only session asks again: {next}");
    let response = sign_in_with(&with_session, &base(&app), &next, "alice", &alice.password).await;
    let enroll = location(&response);
    assert!(enroll.starts_with("/login/enroll?tx="), "{enroll}");

    // The enrollment's tx at the approval: refused.
    let html = text(&app, &with_session, &enroll).await;
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let response = post_approval(&app, &with_session, &tx_of(&enroll), &csrf, "approve").await;
    assert_eq!(response.status(), 400);
    assert_eq!(poll(&app, "vault", &device_code).await.1, "authorization_pending");

    // With the factor set up: the approval.
    let secret = secret_of(&html);
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", csrf),
        ("code", oathtool(&secret, app.clock.now())),
    ];
    let response = with_session.post(at(&app, "/login/enroll")).form(&form).send().await.unwrap();
    let approve = location(&response);
    assert!(approve.starts_with("/device/approve?tx="), "{approve}");
    assert_eq!(answer(&app, &with_session, &approve, "approve").await, 200);
    let (status, _, tokens) = poll(&app, "vault", &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");

    // The session the factor started is one to approve with, no password asked.
    let (user_code, _) = codes(&asks(&app, "vault", "openid").await);
    let next = location(&enter_code(&app, &with_session, &user_code).await);
    assert!(next.starts_with("/device/approve?tx="), "{next}");
}

/// The app under test at `localhost`, with GitHub as a source (it makes
/// accounts) and `tv` and `closed` (which takes no source) with the device flow.
async fn with_github() -> (TestApp, FakeGithub) {
    let github = FakeGithub::start(octocat()).await;
    let mut decl = github_decl(&github, "github");
    decl.create_users = true;
    let apps = "  - slug: tv\n    public: true\n    device_flow: true\n  - slug: closed\n    public: true\n    \
                device_flow: true\n    sources: []\n";
    let app = spawn_app_tuned(
        |yaml| {
            format!("{yaml}{apps}")
                .replace("public_url: http://127.0.0.1", "public_url: http://localhost")
                .replace("rate_limits: { userinfo: 20 }", RATE_LIMITS)
        },
        move |config| config.sources = vec![decl],
    )
    .await;
    (app, github)
}

/// In `browser`, the sign-in page's GitHub button (of the page `html`).
async fn press_github(app: &TestApp, browser: &reqwest::Client, html: &str) -> reqwest::Response {
    let form = [
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        ("source", "github".to_owned()),
    ];
    browser.post(at(app, "/login/source")).form(&form).send().await.unwrap()
}

/// In `browser`, a sign-in to `web` through GitHub (with `extra` authorization parameters).
async fn through_github_at_web(app: &TestApp, browser: &reqwest::Client, extra: &[(&str, &str)]) {
    let pkce = Pkce::new();
    let mut params = web_params("openid", &pkce, "n", "s");
    params.extend_from_slice(extra);
    let response = browser.get(at(app, "/application/o/authorize/")).query(&params).send().await.unwrap();
    let html = text(app, browser, &location(&response)).await;
    let response = press_github(app, browser, &html).await;
    let response = browser.get(location(&response)).send().await.unwrap();
    assert_eq!(response.status(), 302, "GitHub approves");
    let response = browser.get(location(&response)).send().await.unwrap();
    assert!(location(&response).starts_with(WEB_CB), "signed in through GitHub: {}", location(&response));
}

/// `closed` takes no source. A session begun through GitHub (at `web`,
/// which takes any) is not one to approve with: the code leads to the
/// sign-in form, which offers no GitHub button and refuses a forged press.
#[tokio::test]
async fn a_session_from_a_source_the_application_does_not_take_does_not_approve() {
    let (app, github) = with_github().await;
    let browser = browser();
    through_github_at_web(&app, &browser, &[]).await;

    // The same session approves for `tv`, which takes any source …
    let (user_code, _) = codes(&asks(&app, "tv", "openid").await);
    let next = location(&enter_code(&app, &browser, &user_code).await);
    assert!(next.starts_with("/device/approve?tx="), "{next}");
    // … but not for `closed`.
    let (user_code, device_code) = codes(&asks(&app, "closed", "openid").await);
    let next = location(&enter_code(&app, &browser, &user_code).await);
    assert!(next.starts_with("/login?tx="), "{next}");
    let html = text(&app, &browser, &next).await;
    assert!(!html.contains("Sign in with GitHub") && html.contains("name=\"password\""), "{html}");
    let calls = github.calls().len();
    let response = press_github(&app, &browser, &html).await;
    assert_eq!(response.status(), 403);
    assert_eq!(github.calls().len(), calls, "not sent to GitHub");
    assert_eq!(poll(&app, "closed", &device_code).await.1, "authorization_pending");
}

/// The approval answers with the browser's session as it is when it is
/// sent. octocat signs in to `closed` with his password and reaches the
/// approval; then, in the same browser, signs in anew at `web` through
/// GitHub, which `closed` does not take: that session does not approve.
#[tokio::test]
async fn a_session_swapped_for_one_the_application_does_not_take_does_not_approve() {
    let (app, _github) = with_github().await;
    // octocat's account (made by a first sign-in through GitHub) gets a password.
    through_github_at_web(&app, &browser(), &[]).await;
    let hash = bcrypt::hash("octocat-password-1", 4).unwrap();
    app.admin(AdminCommand::UserPasswd { username: "octocat".into(), password_hash: hash }).unwrap();

    let browser = browser();
    let (user_code, device_code) = codes(&asks(&app, "closed", "openid").await);
    let login = location(&enter_code(&app, &browser, &user_code).await);
    let response = sign_in_with(&browser, &base(&app), &login, "octocat", "octocat-password-1").await;
    let approve = location(&response);
    assert!(approve.starts_with("/device/approve?tx="), "{approve}");
    let (tx, csrf) = approval_form(&app, &browser, &approve).await;

    through_github_at_web(&app, &browser, &[("prompt", "login")]).await;
    let response = post_approval(&app, &browser, &tx, &csrf, "approve").await;
    assert_eq!(response.status(), 400, "{}", response.text().await.unwrap());
    assert_eq!(poll(&app, "closed", &device_code).await.1, "authorization_pending");
}

/// A device code answers only the client it was issued to, authenticated
/// as it must be; a user code is no device code; odd input is refused.
#[tokio::test]
async fn device_codes_answer_only_their_client_and_odd_input_is_refused() {
    let app = spawn().await;
    let (_, boxed) = codes(&box_asks(&app).await);
    // `box` is confidential: naming it without its secret, or with a wrong one.
    let form = [("grant_type", DEVICE_CODE), ("device_code", boxed.as_str()), ("client_id", "box")];
    assert_eq!(answer_of(app.post_token(&form, None).await).await.1, "invalid_client");
    let form = [("grant_type", DEVICE_CODE), ("device_code", boxed.as_str())];
    assert_eq!(answer_of(app.post_token(&form, Some(("box", "wrong"))).await).await.1, "invalid_client");
    assert_eq!(poll(&app, "tv", &boxed).await.1, "invalid_grant", "a public client with box's code");
    assert_eq!(poll(&app, "vault", &boxed).await.1, "invalid_grant");
    assert_eq!(poll_box(&app, &boxed).await.1, "authorization_pending", "box itself");

    let (user_code, device_code) = codes(&asks(&app, "tv", "openid").await);
    for wrong in [user_code.clone(), user_code.replace('-', ""), String::new(), "x".repeat(4_000)] {
        let (status, error, _) = poll(&app, "tv", &wrong).await;
        assert!(status == 400 && ["invalid_grant", "invalid_request"].contains(&error.as_str()), "{status} {error}");
    }
    let huge = "x".repeat(1_000_000);
    let form = [("grant_type", DEVICE_CODE), ("device_code", huge.as_str()), ("client_id", "tv")];
    let status = app.post_token(&form, None).await.status().as_u16();
    assert!(status == 400 || status == 413, "{status}");
    let form =
        [("grant_type", DEVICE_CODE), ("device_code", device_code.as_str()), ("device_code", "x"), ("client_id", "tv")];
    assert_eq!(answer_of(app.post_token(&form, None).await).await.1, "invalid_request", "repeated");
    // A public client with a secret, a client without the flow.
    let form = [("client_id", "tv"), ("client_secret", "anything")];
    let response = reqwest::Client::new().post(app.url("/application/o/device/")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let form = [("client_id", "spa")];
    let response = reqwest::Client::new().post(app.url("/application/o/device/")).form(&form).send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    let form = [("grant_type", DEVICE_CODE), ("device_code", device_code.as_str()), ("client_id", "spa")];
    assert_eq!(answer_of(app.post_token(&form, None).await).await.1, "invalid_grant");
    // Odd scopes: unknown ones dropped, offline_access only with openid.
    let asked = asks(&app, "tv", "offline_access admin root profile profile").await;
    let alice = app.add_user("alice", &[]);
    let (browser, approve) = sign_in_for(&app, &alice, asked["user_code"].as_str().unwrap()).await;
    assert_eq!(answer(&app, &browser, &approve, "approve").await, 200);
    let (status, _, tokens) = poll(&app, "tv", asked["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(tokens["scope"], "profile");
    assert!(tokens.get("refresh_token").is_none() && tokens.get("id_token").is_none(), "{tokens}");
}

/// A change an administrator makes to a user.
type Change = fn(&TestApp, &TestUser);

/// Approved, then (before the device polls) the user is disabled (and
/// enabled again), gets a new password, or leaves the application's
/// group: the device gets no tokens.
#[tokio::test]
async fn a_change_to_the_user_between_approval_and_poll_stops_the_tokens() {
    let app = spawn().await;
    let changes: [(&str, Change); 3] = [
        ("disabled and enabled again", |app, user| {
            app.set_disabled(user, true);
            app.set_disabled(user, false);
        }),
        ("a new password", |app, user| {
            let hash = bcrypt::hash("a-new-password-1", 4).unwrap();
            app.admin(AdminCommand::UserPasswd { username: user.username.clone(), password_hash: hash }).unwrap();
        }),
        ("out of admins", |app, user| {
            app.admin(AdminCommand::UserGroups { username: user.username.clone(), groups: vec![] }).unwrap();
        }),
    ];
    for (i, (change, apply)) in changes.into_iter().enumerate() {
        let user = app.add_user(&format!("admin{i}"), &["admins"]);
        let (user_code, device_code) = codes(&box_asks(&app).await);
        let (browser, approve) = sign_in_for(&app, &user, &user_code).await;
        assert_eq!(answer(&app, &browser, &approve, "approve").await, 200);
        apply(&app, &user);
        let (status, error, _) = poll_box(&app, &device_code).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{change}");
    }
    // Unchanged: tokens (the check above is not a broken approval).
    let user = app.add_user("admin9", &["admins"]);
    let (user_code, device_code) = codes(&box_asks(&app).await);
    let (browser, approve) = sign_in_for(&app, &user, &user_code).await;
    assert_eq!(answer(&app, &browser, &approve, "approve").await, 200);
    assert_eq!(poll_box(&app, &device_code).await.0, 200);
}

/// Wrong codes are counted per client address: behind the trusted proxy,
/// the address it appended, not those the client wrote in front; each
/// spelling of a wrong code counts; a fresh browser (new CSRF cookie) does
/// not start a new count; another address is not stopped.
#[tokio::test]
async fn guessing_is_counted_per_real_address_whatever_the_forwarded_header_cookie_or_spelling() {
    let app = spawn().await;
    let (user_code, _) = codes(&asks(&app, "tv", "openid").await);
    let guesser = "203.0.113.7";
    for (i, typed) in ["bdfg-hjkl", "BDFGHJKL", " bdfg hjkl "].into_iter().enumerate() {
        let forwarded = format!("198.51.100.{i}, 10.9.8.{i}, {guesser}");
        let response = enter_code_via(&app, &browser(), typed, &forwarded).await;
        assert_eq!(response.status(), 400, "{typed:?}");
    }
    let response = enter_code_via(&app, &browser(), &user_code, &format!("192.0.2.55, {guesser}")).await;
    assert_eq!(response.status(), 429, "the guesser is stopped, even with the right code");
    let response = enter_code_via(&app, &browser(), &user_code, guesser).await;
    assert_eq!(response.status(), 429);
    let response = enter_code_via(&app, &browser(), &user_code, "203.0.113.8").await;
    assert_eq!(response.status(), 303, "someone else is not");
}

/// A proxy that adds an X-Forwarded-For line of its own (HAProxy's
/// `option forwardfor`) rather than appending to the client's: the lines
/// are one list (RFC 9110 §5.3), so the address the proxy added is the
/// client's, not the one the client wrote on its own line before it.
#[tokio::test]
async fn an_address_the_client_writes_on_a_forwarded_line_of_its_own_does_not_hide_it() {
    let app = spawn().await;
    let (user_code, _) = codes(&asks(&app, "tv", "openid").await);
    let guesser = "203.0.113.7";
    for i in 0..3 {
        let response = enter_code_lines(&app, &browser(), "BDFG-HJKL", &[&format!("198.51.100.{i}"), guesser]).await;
        assert_eq!(response.status(), 400);
    }
    let response = enter_code_lines(&app, &browser(), &user_code, &["192.0.2.55", guesser]).await;
    assert_eq!(response.status(), 429, "the guesser is stopped");
    let response = enter_code_lines(&app, &browser(), &user_code, &[guesser, "203.0.113.8"]).await;
    assert_eq!(response.status(), 303, "the one the proxy saw last is someone else");
}

/// A code that was approved, denied, has expired or never existed gets
/// the same page; the audit names neither code; the pages of the flow show
/// no device code.
#[tokio::test]
async fn a_spent_expired_or_unknown_code_looks_the_same_and_codes_stay_out_of_the_audit() {
    let app = spawn().await;
    let alice = app.add_user("alice", &[]);
    let expired = asks(&app, "tv", "openid").await;
    let approved = asks(&app, "tv", "openid offline_access").await;
    let (browser, approve) = sign_in_for(&app, &alice, approved["user_code"].as_str().unwrap()).await;
    let html = text(&app, &browser, &approve).await;
    assert_eq!(answer(&app, &browser, &approve, "approve").await, 200);
    let (status, _, tokens) = poll(&app, "tv", approved["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let denied = asks(&app, "tv", "openid").await;
    let next = location(&enter_code(&app, &browser, denied["user_code"].as_str().unwrap()).await);
    assert_eq!(answer(&app, &browser, &next, "deny").await, 200);
    // Each from an address of its own (three wrong codes stop one).
    let page_for = |typed: String, i: usize| {
        let app = &app;
        async move {
            let response = enter_code_via(app, &crate::helpers::browser(), &typed, &format!("203.0.113.{i}")).await;
            let status = response.status().as_u16();
            let page = response.text().await.unwrap();
            let csrf = hidden_field(&page, "csrf_token").unwrap_or_else(|| panic!("{typed}: {status} {page}"));
            (status, page.replace(&csrf, "CSRF").replace(&typed, "CODE"))
        }
    };
    let unknown = page_for("XXXX-ZZZZ".into(), 0).await;
    assert_eq!(unknown.0, 400);
    for (i, asked) in [&approved, &denied].into_iter().enumerate() {
        let page = page_for(asked["user_code"].as_str().unwrap().to_owned(), i + 1).await;
        assert_eq!(page, unknown, "a used code's page is the unknown code's");
    }
    app.clock.advance(601);
    let page = page_for(expired["user_code"].as_str().unwrap().to_owned(), 3).await;
    assert_eq!(page, unknown, "an expired code's page is the unknown code's");

    let audit = app.admin(AdminCommand::AuditList { since: 0, user: None, app: None, kind: None }).unwrap().to_string();
    assert!(audit.contains("device approved") && audit.contains("device_code"), "{audit}");
    for asked in [&approved, &denied, &expired] {
        let (user_code, device_code) = codes(asked);
        assert!(!html.contains(&device_code), "the device code on the approval page");
        for secret in [user_code.clone(), user_code.replace('-', ""), device_code] {
            assert!(!audit.contains(&secret), "{secret} in the audit");
        }
    }
    for token in ["access_token", "refresh_token", "id_token"] {
        assert!(!audit.contains(tokens[token].as_str().unwrap()), "{token} in the audit");
    }
}

/// The approving session is an ordinary sign-in (another application
/// signs in with it, no password); signing it out sends the device's
/// application a back-channel logout for that session, as for any
/// application it signed in to.
#[tokio::test]
async fn signing_out_the_approving_session_tells_the_devices_application() {
    let receiver = Receiver::start(Answer::Ok).await;
    let digest = sha256_hex(WEB_SECRET);
    let app = spawn_with(&format!(
        "  - slug: settop\n    client_secret_sha256: {digest}\n    device_flow: true\n    backchannel_logout_uri: \"{}\"\n",
        receiver.url
    ))
    .await;
    let alice = app.add_user("alice", &[]);
    let response = reqwest::Client::new()
        .post(app.url("/application/o/device/"))
        .basic_auth("settop", Some(WEB_SECRET))
        .form(&[("scope", "openid offline_access")])
        .send()
        .await
        .unwrap();
    let (user_code, device_code) = codes(&response.json().await.unwrap());
    let (browser, approve) = sign_in_for(&app, &alice, &user_code).await;
    assert_eq!(answer(&app, &browser, &approve, "approve").await, 200);
    let form = [("grant_type", DEVICE_CODE), ("device_code", device_code.as_str())];
    let (status, _, tokens) = answer_of(app.post_token(&form, Some(("settop", WEB_SECRET))).await).await;
    assert_eq!(status, 200, "{tokens}");
    let sid = claims_of(tokens["id_token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned();

    // `web` takes the session as it is.
    let pkce = Pkce::new();
    let mut params = web_params("openid", &pkce, "n", "s");
    params.push(("prompt", "none"));
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let code = query_of(&location(&response)).get("code").cloned().expect("signed in by the approving session");
    let web = app.redeem_web_code(&code, &pkce).await.json::<Value>().await.unwrap();
    assert_eq!(claims_of(web["id_token"].as_str().unwrap())["sid"], sid.as_str(), "one session");

    let html = text(&app, &browser, "/account/").await;
    let form = [("csrf_token", hidden_field(&html, "csrf_token").unwrap())];
    let response = browser.post(app.url("/account/sign-out")).form(&form).send().await.unwrap();
    assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
    let logout = claims_of(&receiver.wait_for(1).await[0]);
    assert_eq!((logout["aud"].as_str(), logout["sid"].as_str()), (Some("settop"), Some(sid.as_str())));
    assert_eq!(logout["sub"], alice.sub.as_str());
}
