//! The device authorization grant (RFC 8628) over HTTP: the device's
//! requests (`/application/o/device/`, polling the token endpoint) and
//! the person's pages (`/device`, sign-in, `/device/approve`) as a
//! browser drives them.

use crate::helpers::*;
use serde_json::Value;

const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `tv`: a public client with the device flow; `box`: a confidential one,
/// open to admins only; `web` (the test config's) has no device flow.
async fn spawn() -> TestApp {
    let digest = sha256_hex(WEB_SECRET);
    spawn_app_with(&format!(
        "  - slug: tv\n    name: Living-room TV\n    public: true\n    device_flow: true\n  - slug: box\n    \
         client_secret_sha256: {digest}\n    device_flow: true\n    allowed_groups: [admins]\n"
    ))
    .await
}

async fn start(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(app.url("/application/o/device/")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

/// A new request of `tv` for `scope`: the device's answer.
async fn tv_asks(app: &TestApp, scope: &str) -> Value {
    let response = start(app, &[("client_id", "tv"), ("scope", scope)], None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn poll(app: &TestApp, client: &str, device_code: &str) -> (u16, Value) {
    let form = [("grant_type", DEVICE_CODE), ("device_code", device_code), ("client_id", client)];
    let response = app.post_token(&form, None).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn error_of(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or("(none)"))
}

/// In `browser`: the code entered on `/device` (as typed); where it leads.
async fn enter_code(app: &TestApp, browser: &reqwest::Client, typed: &str) -> reqwest::Response {
    let html = browser.get(app.url("/device")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf_token", hidden_field(&html, "csrf_token").unwrap()), ("code", typed.to_owned())];
    browser.post(app.url("/device")).form(&form).send().await.unwrap()
}

/// The approval page at `location`, answered with `decision`; the answer page.
async fn answer(app: &TestApp, browser: &reqwest::Client, location: &str, decision: &str) -> reqwest::Response {
    let html = browser.get(app.url(location)).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", decision.to_owned()),
    ];
    browser.post(app.url("/device/approve")).form(&form).send().await.unwrap()
}

/// `user` signs in on `/device` in a fresh browser for `user_code` and
/// lands on the approval page: the browser and that page's location.
async fn sign_in_for(app: &TestApp, user: &TestUser, user_code: &str) -> (reqwest::Client, String) {
    let browser = browser();
    let response = enter_code(app, &browser, user_code).await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "{login}");
    let response = sign_in_with(&browser, &app.address, &login, &user.username, &user.password).await;
    let approve = location(&response);
    assert!(approve.starts_with("/device/approve?tx="), "{approve}");
    (browser, approve)
}

#[tokio::test]
async fn a_device_polls_while_its_user_signs_in_on_a_phone_and_approves_then_gets_tokens_once() {
    let app = spawn().await;
    let alice = app.add_user("alice", &["viewers"]);
    let asked = tv_asks(&app, "openid profile offline_access").await;
    let user_code = asked["user_code"].as_str().unwrap();
    assert!(regex_like_user_code(user_code), "{user_code}");
    assert_eq!(asked["verification_uri"], app.url("/device"));
    assert_eq!(asked["verification_uri_complete"], app.url(&format!("/device?code={user_code}")));
    assert_eq!((asked["expires_in"].as_i64(), asked["interval"].as_i64()), (Some(600), Some(5)));
    let device_code = asked["device_code"].as_str().unwrap();

    // The device polls before anyone answered; then too soon.
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "authorization_pending"));
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "slow_down"));
    // (Margins for the real seconds a slow machine adds.)
    app.clock.advance(5);
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "slow_down"), "the interval was 10 s");
    app.clock.advance(16);
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "authorization_pending"));

    // The phone: the link from the QR code fills the code in.
    let browser = browser();
    let page = browser.get(asked["verification_uri_complete"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("value=\"{user_code}\"")), "the code is filled in");
    assert!(html.contains("<svg"), "and shown as a QR code");
    // Typed sloppily: lower case, no dash.
    let sloppy = user_code.replace('-', "").to_lowercase();
    let response = enter_code(&app, &browser, &sloppy).await;
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "{login}");
    let login_page = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    assert!(login_page.contains("Living-room TV"), "the sign-in names the application");
    let response = sign_in_with(&browser, &app.address, &login, "alice", &alice.password).await;
    let approve = location(&response);
    assert!(approve.starts_with("/device/approve?tx="), "{approve}");
    let html = browser.get(app.url(&approve)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Living-room TV") && html.contains(user_code), "app and code to compare: {html}");
    assert!(html.contains("Access while you are away"), "what it asks for");
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "slow_down"), "still waiting");

    let done = answer(&app, &browser, &approve, "approve").await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Device approved"));

    app.clock.advance(15);
    let (status, tokens) = poll(&app, "tv", device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let claims =
        app.verify_jwt(tokens["id_token"].as_str().unwrap(), "tv", "tv", jsonwebtoken::Algorithm::RS256, "JWT").await;
    assert_eq!(claims["sub"], alice.sub.as_str());
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(claims.get("nonce").is_none());
    assert!(claims["sid"].is_string(), "the approving session");
    assert_eq!(tokens["scope"], "openid profile offline_access");

    // Once: the device code is spent, and the user code too.
    app.clock.advance(15);
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "invalid_grant"));
    let again = enter_code(&app, &browser, user_code).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("not valid"));

    // The refresh token works as any other.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", "tv"),
    ];
    assert_eq!(app.post_token(&form, None).await.status(), 200);
}

fn regex_like_user_code(code: &str) -> bool {
    let (a, b) = code.split_once('-').unwrap_or_default();
    a.len() == 4 && b.len() == 4 && code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c))
}

#[tokio::test]
async fn a_denied_request_answers_access_denied_and_an_unanswered_one_expires() {
    let app = spawn().await;
    let alice = app.add_user("alice", &[]);
    let asked = tv_asks(&app, "openid").await;
    let (browser, approve) = sign_in_for(&app, &alice, asked["user_code"].as_str().unwrap()).await;
    let done = answer(&app, &browser, &approve, "deny").await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Device denied"));
    let device_code = asked["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "access_denied"));
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "access_denied"), "and stays denied");

    let late = tv_asks(&app, "openid").await;
    app.clock.advance(601);
    assert_eq!(error_of(&poll(&app, "tv", late["device_code"].as_str().unwrap()).await), (400, "expired_token"));
    let response = enter_code(&app, &browser, late["user_code"].as_str().unwrap()).await;
    assert_eq!(response.status(), 400, "an expired code is no code");
}

#[tokio::test]
async fn wrong_codes_change_nothing_and_an_address_is_stopped_after_a_few() {
    let app = spawn().await;
    let asked = tv_asks(&app, "openid").await;
    let browser = browser();
    let before = app.state.store.fingerprint_with_parked().unwrap();
    for typed in ["BDFG-HJKL", "nonsense", "BDFG-HJK"] {
        let response = enter_code(&app, &browser, typed).await;
        assert_eq!(response.status(), 400, "{typed:?}");
        assert!(response.text().await.unwrap().contains("not valid"), "{typed:?}");
    }
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before, "wrong codes changed nothing");
    // The test config's max_failures is 3: the address is stopped now,
    // even with the right code.
    let response = enter_code(&app, &browser, asked["user_code"].as_str().unwrap()).await;
    assert_eq!(response.status(), 429);
    assert!(response.text().await.unwrap().contains("Too many wrong codes"));
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before);
    // A form without this browser's CSRF token is refused too.
    let form = [("csrf_token", "forged"), ("code", asked["user_code"].as_str().unwrap())];
    let response = reqwest::Client::new().post(app.url("/device")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn only_clients_with_the_device_flow_start_one_and_only_the_one_that_started_it_polls() {
    let app = spawn().await;
    let response = start(&app, &[("client_id", "web"), ("client_secret", WEB_SECRET)], None).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    let response = start(&app, &[("client_id", "box")], None).await;
    assert_eq!(response.status(), 401, "a confidential client authenticates");
    let response = start(&app, &[("scope", "openid")], Some(("box", WEB_SECRET))).await;
    assert_eq!(response.status(), 200);
    let boxed: Value = response.json().await.unwrap();

    // Another client's device code, or none of ours.
    let device_code = boxed["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(&app, "tv", device_code).await), (400, "invalid_grant"));
    assert_eq!(error_of(&poll(&app, "tv", "made-up").await), (400, "invalid_grant"));
    let form = [("grant_type", DEVICE_CODE), ("client_id", "tv")];
    let response = app.post_token(&form, None).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");

    // Discovery: the endpoint and grant where the application has them.
    let doc = |slug: &'static str| {
        let url = app.url(&format!("/application/o/{slug}/.well-known/openid-configuration"));
        async move { reqwest::get(url).await.unwrap().json::<Value>().await.unwrap() }
    };
    let tv = doc("tv").await;
    assert_eq!(tv["device_authorization_endpoint"], app.url("/application/o/device/"));
    assert!(tv["grant_types_supported"].as_array().unwrap().contains(&DEVICE_CODE.into()));
    let web = doc("web").await;
    assert!(web.get("device_authorization_endpoint").is_none());
    assert!(!web["grant_types_supported"].as_array().unwrap().contains(&DEVICE_CODE.into()));
}

#[tokio::test]
async fn a_user_the_application_does_not_allow_can_only_deny() {
    let app = spawn().await;
    let erin = app.add_user("erin", &["viewers"]);
    let response = start(&app, &[("scope", "openid")], Some(("box", WEB_SECRET))).await;
    let asked: Value = response.json().await.unwrap();
    let (browser, approve) = sign_in_for(&app, &erin, asked["user_code"].as_str().unwrap()).await;
    let done = answer(&app, &browser, &approve, "approve").await;
    assert_eq!(done.status(), 403);
    assert!(done.text().await.unwrap().contains("may not use"));
    let form = [("grant_type", DEVICE_CODE), ("device_code", asked["device_code"].as_str().unwrap())];
    let response = app.post_token(&form, Some(("box", WEB_SECRET))).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "access_denied");
}

#[tokio::test]
async fn a_signed_in_browser_goes_straight_to_approval_and_eight_racing_polls_get_one_set_of_tokens() {
    let app = spawn().await;
    let alice = app.add_user("alice", &[]);
    let first = tv_asks(&app, "openid").await;
    let (browser, approve) = sign_in_for(&app, &alice, first["user_code"].as_str().unwrap()).await;
    answer(&app, &browser, &approve, "approve").await;

    // Signed in already: the code leads to the approval, no password asked.
    let second = tv_asks(&app, "openid offline_access").await;
    let response = enter_code(&app, &browser, second["user_code"].as_str().unwrap()).await;
    let approve = location(&response);
    assert!(approve.starts_with("/device/approve?tx="), "{approve}");
    // The approval URL in another browser is refused.
    let stranger =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    assert_eq!(stranger.get(app.url(&approve)).send().await.unwrap().status(), 403);
    answer(&app, &browser, &approve, "approve").await;

    let device_code = second["device_code"].as_str().unwrap().to_owned();
    let polls = (0..8).map(|_| {
        let (app_url, device_code) = (app.url("/application/o/token/"), device_code.clone());
        tokio::spawn(async move {
            let form = [("grant_type", DEVICE_CODE), ("device_code", &device_code), ("client_id", "tv")];
            reqwest::Client::new().post(app_url).form(&form).send().await.unwrap().status().as_u16()
        })
    });
    let mut statuses: Vec<u16> = Vec::new();
    for poll in polls {
        statuses.push(poll.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 400, 400, 400, 400, 400, 400, 400], "one set of tokens");
}
