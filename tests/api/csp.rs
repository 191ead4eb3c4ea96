//! The CSP of the pages whose form ends at the application (sign-in,
//! second factor, consent, form_post, sign-out): `form-action` names
//! exactly where the browser goes next, as a policy can spell it: an
//! origin for http(s), the scheme for a native app (`myapp:`), never
//! `null` and never a wildcard host. `tests/e2e/browser.rs` runs the same
//! policies through Chromium's parser.

use crate::helpers::*;

const NATIVE_CB: &str = "myapp://cb";
const REVERSE_DNS_CB: &str = "com.example.app:/oauth2redirect";
const LOOPBACK_CB: &str = "http://127.0.0.1:8400/cb";
const LOCALHOST_CB: &str = "http://localhost:8401/cb";
const IPV6_CB: &str = "http://[::1]:8402/cb";

/// A public native app with every kind of redirect URI RFC 8252 names, and
/// `mobile`, which asks for a second factor and consent and returns to
/// `myapp:` after signing in and after signing out.
async fn app() -> TestApp {
    spawn_app_with(&format!(
        r#"  - slug: native
    public: true
    redirect_uris: ["{NATIVE_CB}", "{REVERSE_DNS_CB}", "{LOOPBACK_CB}", "{LOCALHOST_CB}", "{IPV6_CB}"]
  - slug: mobile
    public: true
    redirect_uris: ["{NATIVE_CB}"]
    post_logout_redirect_uris: ["myapp://signed-out"]
    require_mfa: true
    consent: always
"#
    ))
    .await
}

/// The whole policy of a page whose forms may go to ferrid and `form_action`.
fn page_csp(form_action: &str) -> String {
    format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn csp_of(response: &reqwest::Response) -> String {
    response.headers()["content-security-policy"].to_str().unwrap().to_owned()
}

fn params<'a>(client: &'a str, cb: &'a str, pkce: &'a Pkce) -> Vec<(&'a str, &'a str)> {
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

/// GETs the page a 303 leads to; returns its CSP and HTML.
async fn follow(app: &TestApp, browser: &reqwest::Client, response: &reqwest::Response) -> (String, String) {
    assert_eq!(response.status(), 303);
    let page = browser.get(app.url(&location(response))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    (csp_of(&page), page.text().await.unwrap())
}

/// Posts the page's form (its `tx` and `csrf_token`, plus `extra`) to `path`.
async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    html: &str,
    extra: (&str, &str),
) -> reqwest::Response {
    let form = [
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        (extra.0, extra.1.to_owned()),
    ];
    browser.post(app.url(path)).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn the_sign_in_page_allows_exactly_the_redirect_uri_the_app_asked_for() {
    let app = app().await;
    let cases = [
        ("web", WEB_CB, "'self' https://web.example"),
        ("native", NATIVE_CB, "'self' myapp:"),
        ("native", REVERSE_DNS_CB, "'self' com.example.app:"),
        ("native", LOOPBACK_CB, "'self' http://127.0.0.1:8400"),
        ("native", LOCALHOST_CB, "'self' http://localhost:8401"),
        // A policy cannot spell an IPv6 address: nothing rather than a source
        // the browser drops with an error, or a wildcard.
        ("native", IPV6_CB, "'self'"),
    ];
    for (client, cb, form_action) in cases {
        let pkce = Pkce::new();
        let response = app.get_authorize(&params(client, cb, &pkce)).await;
        assert!(location(&response).starts_with("/login?tx="), "{cb}");
        let (csp, _) = follow(&app, &app.client, &response).await;
        assert_eq!(csp, page_csp(form_action), "{cb}");
    }
}

#[tokio::test]
async fn a_loopback_redirect_uri_on_another_port_is_refused_so_no_port_wildcard_is_needed() {
    // RFC 8252 §7.3 lets a native app pick its port at run time; ferrid
    // matches redirect URIs exactly (RFC 9700 §4.1.3), so the registered
    // port is the only one the browser is sent to, and the CSP names it.
    let app = app().await;
    let pkce = Pkce::new();
    let response = app.get_authorize(&params("native", "http://127.0.0.1:8999/cb", &pkce)).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert_eq!(csp_of(&response), page_csp("'self'"));
}

#[tokio::test]
async fn the_factor_consent_form_post_and_sign_out_pages_allow_the_native_app_scheme() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let want = page_csp("'self' myapp:");

    // First sign-in: the password, setting up a code, consent, back to the app.
    let pkce = Pkce::new();
    let response = app.get_authorize(&params("mobile", NATIVE_CB, &pkce)).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    assert!(location(&response).starts_with("/login/enroll?tx="), "{}", location(&response));
    let (csp, html) = follow(&app, &app.client, &response).await;
    assert_eq!(csp, want, "enrollment");
    let secret = secret_of(&html);
    let now = app.clock.now();
    let response = post(&app, &app.client, "/login/enroll", &html, ("code", &oathtool(&secret, now))).await;
    let (csp, html) = follow(&app, &app.client, &response).await;
    assert_eq!(csp, want, "consent");
    let response = post(&app, &app.client, "/consent", &html, ("decision", "allow")).await;
    assert!(location(&response).starts_with("myapp://cb?code="), "{}", location(&response));

    // Sign-out asked for without a hint: the confirmation returns to the app.
    let query = [("client_id", "mobile"), ("post_logout_redirect_uri", "myapp://signed-out")];
    let page = app.client.get(app.url("/application/o/mobile/end-session/")).query(&query).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(csp_of(&page), want, "sign-out confirmation");

    // Another browser, form_post: the code, consent, then the page that posts to the app.
    let browser = browser();
    let pkce = Pkce::new();
    let mut form_post = params("mobile", NATIVE_CB, &pkce);
    form_post.push(("response_mode", "form_post"));
    let response = browser.get(app.url("/application/o/authorize/")).query(&form_post).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), &alice.username, &alice.password).await;
    assert!(location(&response).starts_with("/login/code?tx="), "{}", location(&response));
    let (csp, html) = follow(&app, &browser, &response).await;
    assert_eq!(csp, want, "code");
    let response = post(&app, &browser, "/login/code", &html, ("code", &oathtool(&secret, now + 30))).await;
    let (csp, html) = follow(&app, &browser, &response).await;
    assert_eq!(csp, want, "consent again");
    let response = post(&app, &browser, "/consent", &html, ("decision", "allow")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(csp_of(&response), want, "form_post");
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"action="myapp:"#), "the form posts to the app: {html}");
}
