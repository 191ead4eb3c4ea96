//! ferrid's pages in a real browser: Debian's Chromium, driven through
//! chromedriver (WebDriver) by fantoccini, as a person would use them.
//! Each page is screenshotted at 1280 px and 375 px into
//! `target/tmp/screenshots/`, and no page may scroll sideways at 360 px.

use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// chromedriver on the port it picks (it says which), killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole process group: chromedriver and the Chromium processes it
        // started, which killing chromedriver alone left running.
        // SAFETY: a plain kill(2) of the group this Driver made.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

pub(crate) fn start_driver() -> Driver {
    // A busy machine sometimes gets a chromedriver that exits before it
    // says its port: a fresh one is tried, three times at most.
    for _ in 0..3 {
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (scripts/test.sh installs chromium-driver)");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = None;
        for line in stdout.lines().map_while(Result::ok) {
            // "ChromeDriver was started successfully on port 39007."
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                url = Some(format!("http://127.0.0.1:{}", rest.trim_end_matches('.').trim()));
                break;
            }
        }
        match url {
            Some(url) => return Driver { child, url },
            None => drop(Driver { child, url: String::new() }),
        }
    }
    panic!("chromedriver did not say its port, three times");
}

pub(crate) async fn browser(driver: &Driver) -> Client {
    connect(driver, serde_json::Map::new()).await
}

/// A browser with more command-line switches (`--host-resolver-rules=…`).
pub(crate) async fn browser_with_args(driver: &Driver, extra: &[&str]) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("ferrid:extraArgs".into(), serde_json::json!(extra));
    connect(driver, capabilities).await
}

/// A browser that keeps its console and DevTools events for `ChromeLogs`.
async fn browser_with_logs(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:loggingPrefs".into(), serde_json::json!({ "browser": "ALL", "performance": "ALL" }));
    connect(driver, capabilities).await
}

async fn connect(driver: &Driver, mut capabilities: serde_json::Map<String, serde_json::Value>) -> Client {
    // Headless, as root in CI, and nothing that calls out to the network.
    let mut args = vec![
        serde_json::json!("--headless=new"),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        "--window-size=1280,900".into(),
    ];
    if let Some(serde_json::Value::Array(extra)) = capabilities.remove("ferrid:extraArgs") {
        args.extend(extra);
    }
    capabilities
        .insert("goog:chromeOptions".into(), serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }));
    ClientBuilder::native().capabilities(capabilities).connect(&driver.url).await.expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Chromium's DevTools `Emulation.setEmulatedMedia`, through chromedriver:
/// makes the page see `prefers-color-scheme: dark` (or light), as a person
/// whose system is set to dark sees it.
#[derive(Debug)]
struct ColourScheme(&'static str);

impl fantoccini::wd::WebDriverCompatibleCommand for ColourScheme {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({
            "cmd": "Emulation.setEmulatedMedia",
            "params": { "features": [{ "name": "prefers-color-scheme", "value": self.0 }] },
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// At a phone's width, every table is a list of cards: nothing of it off
/// screen, and no word broken in two (ids and URLs in `<code>` may wrap).
/// Returns what is wrong, if anything.
const CARDS_CHECK: &str = "
  const problems = [];
  for (const td of document.querySelectorAll('td')) {
    if (!td.textContent.trim()) continue;
    const box = td.getBoundingClientRect();
    if (box.width === 0 || box.right > innerWidth + 0.5 || box.left < -0.5) {
      problems.push('off screen: ' + td.textContent.trim().slice(0, 40));
    }
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('code')) continue;
      for (const match of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) problems.push('broken mid-word: ' + match[0]);
      }
    }
  }
  return problems;";

/// Screenshots the current page at 1280 and 375 px wide, in the light and
/// the dark theme (`{name}-{width}-{theme}.png`); checks that at 375 px its
/// tables read as cards and at 360 px nothing is wider than the viewport;
/// and notes the page's weight (bytes of HTML and of what it loaded, and
/// requests) in `pages.txt`.
pub(crate) async fn look_at(client: &Client, name: &str) {
    let weight = client
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0];
             const loaded = performance.getEntriesByType('resource');
             return [nav.decodedBodySize, loaded.reduce((sum, r) => sum + r.decodedBodySize, 0), 1 + loaded.length];",
            vec![],
        )
        .await
        .unwrap();
    let line = format!("{name}: {} B HTML, {} B loaded, {} requests\n", weight[0], weight[1], weight[2]);
    // Screen readers: every field has a label tied to it, every button a name.
    let unlabelled = client
        .execute(
            "const fields = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'));
             const buttons = [...document.querySelectorAll('button')]
               .filter(b => !b.textContent.trim() && !b.getAttribute('aria-label'));
             return fields.concat(buttons).map(e => e.outerHTML.slice(0, 80));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, serde_json::json!([]), "{name}: fields or buttons without a label");
    let mut notes =
        std::fs::OpenOptions::new().create(true).append(true).open(screenshots().join("pages.txt")).unwrap();
    std::io::Write::write_all(&mut notes, line.as_bytes()).unwrap();
    for theme in ["light", "dark"] {
        client.issue_cmd(ColourScheme(theme)).await.unwrap();
        let dark = client.execute("return matchMedia('(prefers-color-scheme: dark)').matches", vec![]).await.unwrap();
        assert_eq!(dark, serde_json::json!(theme == "dark"), "{name}: the {theme} theme took");
        for width in [1280u32, 375] {
            client.set_window_size(width, 900).await.unwrap();
            let png = client.screenshot().await.unwrap();
            std::fs::write(screenshots().join(format!("{name}-{width}-{theme}.png")), png).unwrap();
        }
    }
    client.issue_cmd(ColourScheme("light")).await.unwrap();
    client.set_window_size(375, 900).await.unwrap();
    let problems = client.execute(CARDS_CHECK, vec![]).await.unwrap();
    assert_eq!(problems, serde_json::json!([]), "{name}: its tables do not read as cards at 375 px");
    client.set_window_size(360, 900).await.unwrap();
    let sizes = client
        .execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]", vec![])
        .await
        .unwrap();
    let (scroll, client_width) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
    assert!(scroll <= client_width, "{name} scrolls sideways at 360 px: {scroll} > {client_width}");
    client.set_window_size(1280, 900).await.unwrap();
}

#[tokio::test]
async fn a_person_signs_in_to_the_account_page_and_every_page_fits_a_phone() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;

    client.goto(&app.url("/account/tokens")).await.unwrap();
    client.wait().for_element(Locator::Id("username")).await.unwrap();
    look_at(&client, "sign-in").await;

    // A wrong password first: the same form, with the error.
    client.find(Locator::Id("username")).await.unwrap().send_keys("alice").await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys("not-her-password").await.unwrap();
    client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let error = client.wait().for_element(Locator::Css("p.error")).await.unwrap();
    assert!(error.text().await.unwrap().contains("Wrong username or password"));
    look_at(&client, "sign-in-error").await;

    client.find(Locator::Id("username")).await.unwrap().clear().await.unwrap();
    client.find(Locator::Id("username")).await.unwrap().send_keys("alice").await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys(&alice.password).await.unwrap();
    client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    // Wait for the navigation itself: the sign-in page's own h1 is there until then.
    let account = url::Url::parse(&app.url("/account/tokens")).unwrap();
    client.wait().for_url(&account).await.unwrap();
    let heading = client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(heading, "Access tokens");

    // Create a token the way a person does; the page shows it once.
    client.find(Locator::Id("description")).await.unwrap().send_keys("backup script").await.unwrap();
    client.find(Locator::Css("form[action='/account/tokens'] button")).await.unwrap().click().await.unwrap();
    let token = client.wait().for_element(Locator::Id("new-token")).await.unwrap();
    assert!(token.prop("value").await.unwrap().unwrap_or_default().starts_with("ferrid_pat_"));
    look_at(&client, "account-tokens").await;

    client.close().await.unwrap();
}

/// Fills the sign-in form and submits it.
pub(crate) async fn sign_in(client: &Client, user: &TestUser) {
    client.wait().for_element(Locator::Id("username")).await.unwrap();
    client.find(Locator::Id("username")).await.unwrap().send_keys(&user.username).await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys(&user.password).await.unwrap();
    client.find(Locator::Css("form[action='/login'] button")).await.unwrap().click().await.unwrap();
}

pub(crate) async fn heading(client: &Client) -> String {
    client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap()
}

/// Waits until the browser is on a page whose URL starts with `prefix`.
pub(crate) async fn wait_for_url_prefix(client: &Client, prefix: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let url = client.current_url().await.unwrap().to_string();
        if url.starts_with(prefix) {
            return url;
        }
        assert!(std::time::Instant::now() < deadline, "still on {url}, waiting for {prefix}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An application whose callback and post-logout pages are ferrid's own
/// (`/healthz` answers "ok" whatever the query; `/account/` asks a signed-out
/// browser to sign in), so the browser never leaves the test's server.
pub(crate) const PHOTOS: (&str, &str) = ("photos", WEB_SECRET);

fn photo_frame(yaml: String) -> String {
    let base = yaml.lines().find_map(|l| l.strip_prefix("public_url: ")).unwrap().trim().to_owned();
    let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
    format!(
        "{yaml}  - slug: photos\n    name: Photo Frame\n    client_secret_sha256: {digest}\n    \
         redirect_uris: [\"{base}/healthz\"]\n    post_logout_redirect_uris: [\"{base}/account/\"]\n    consent: once\n"
    )
}

/// The code the browser brought back to the callback (`/healthz`),
/// exchanged for tokens by `client` (id, secret).
pub(crate) async fn tokens_for(app: &TestApp, client: (&str, &str), callback: &str, pkce: &Pkce) -> serde_json::Value {
    let code = query_of(callback)["code"].clone();
    let redirect_uri = app.url("/healthz");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let response = app.post_token(&form, Some(client)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn authorize_url(app: &TestApp, pkce: &Pkce) -> String {
    let mut url = url::Url::parse(&app.url("/application/o/authorize/")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "photos")
        .append_pair("redirect_uri", &app.url("/healthz"))
        .append_pair("scope", "openid email")
        .append_pair("state", "browser-state")
        .append_pair("nonce", "browser-nonce")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

fn end_session_url(app: &TestApp, hint: Option<&str>) -> String {
    let mut url = url::Url::parse(&app.url("/application/o/photos/end-session/")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "photos")
        .append_pair("post_logout_redirect_uri", &app.url("/account/"));
    if let Some(hint) = hint {
        url.query_pairs_mut().append_pair("id_token_hint", hint);
    }
    url.to_string()
}

#[tokio::test]
async fn a_person_consents_signs_out_with_and_without_a_hint_and_everywhere() {
    let app = spawn_app_edited(photo_frame).await;
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;

    // Sign in to the Photo Frame: the consent page says what it will get.
    let pkce = Pkce::new();
    client.goto(&authorize_url(&app, &pkce)).await.unwrap();
    sign_in(&client, &alice).await;
    wait_for_url_prefix(&client, &app.url("/consent?tx=")).await;
    assert_eq!(heading(&client).await, "Allow Photo Frame?");
    let grants = client.find(Locator::Css("ul.grants")).await.unwrap().text().await.unwrap();
    assert!(grants.contains("Your email address"), "{grants}");
    look_at(&client, "consent").await;
    client.find(Locator::Css("button[value=allow]")).await.unwrap().click().await.unwrap();
    let callback = wait_for_url_prefix(&client, &app.url("/healthz?")).await;
    assert!(tokens_for(&app, PHOTOS, &callback, &pkce).await["id_token"].is_string());

    // The account home: her session, the consent she gave.
    client.goto(&app.url("/account/")).await.unwrap();
    assert_eq!(heading(&client).await, "alice Example");
    let body = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(body.contains("this browser") && body.contains("used Photo Frame"), "{body}");
    look_at(&client, "account").await;

    // Sign-out asked for without a hint: she confirms on ferrid's page.
    client.goto(&end_session_url(&app, None)).await.unwrap();
    assert_eq!(heading(&client).await, "Sign out?");
    look_at(&client, "logout-confirm").await;
    client.find(Locator::Css("button[value=sign_out]")).await.unwrap().click().await.unwrap();
    // Back at the post-logout address, which (signed out) asks for the password.
    wait_for_url_prefix(&client, &app.url("/login?tx=")).await;

    // Signed in again (the consent is remembered), then out with a hint: no question.
    let pkce = Pkce::new();
    client.goto(&authorize_url(&app, &pkce)).await.unwrap();
    sign_in(&client, &alice).await;
    let callback = wait_for_url_prefix(&client, &app.url("/healthz?")).await;
    let tokens = tokens_for(&app, PHOTOS, &callback, &pkce).await;
    client.goto(&end_session_url(&app, tokens["id_token"].as_str())).await.unwrap();
    wait_for_url_prefix(&client, &app.url("/login?tx=")).await;
    assert!(client.find(Locator::Id("password")).await.is_ok(), "the next page asks for the password");

    // Two browsers; "Sign out everywhere" in one ends both.
    sign_in(&client, &alice).await;
    wait_for_url_prefix(&client, &app.url("/account/")).await;
    let phone = browser(&driver).await;
    phone.goto(&app.url("/account/")).await.unwrap();
    sign_in(&phone, &alice).await;
    wait_for_url_prefix(&phone, &app.url("/account/")).await;
    client.refresh().await.unwrap();
    let sessions = client.find_all(Locator::Css("ul.rows li")).await.unwrap();
    assert_eq!(sessions.len(), 3, "two sessions and one consent");
    look_at(&client, "account-two-sessions").await;
    client
        .find(Locator::Css("form[action='/account/sessions/end']:not(.inline) button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().for_element(Locator::Css("p[role=status]")).await.unwrap();
    assert_eq!(heading(&client).await, "Signed out");
    look_at(&client, "signed-out").await;
    phone.refresh().await.unwrap();
    wait_for_url_prefix(&phone, &app.url("/login?tx=")).await;

    // A bad request gets an error page, never a redirect.
    let mut bad = url::Url::parse(&app.url("/application/o/photos/end-session/")).unwrap();
    bad.query_pairs_mut().append_pair("post_logout_redirect_uri", "https://evil.example/");
    client.goto(bad.as_str()).await.unwrap();
    assert_eq!(heading(&client).await, "Unregistered address");
    look_at(&client, "error").await;

    phone.close().await.unwrap();
    client.close().await.unwrap();
}

#[tokio::test]
async fn no_access_offers_signing_in_as_someone_else() {
    let app = spawn_app().await;
    let eve = app.add_user("eve", &[]);
    let vera = app.add_user("vera", &["viewers"]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    let pkce = Pkce::new();
    let mut url = url::Url::parse(&app.url("/application/o/authorize/")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "guarded")
        .append_pair("redirect_uri", GUARDED_CB)
        .append_pair("scope", "openid")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    client.goto(url.as_str()).await.unwrap();
    sign_in(&client, &eve).await;
    client.wait().for_element(Locator::LinkText("Sign in as someone else")).await.unwrap();
    assert_eq!(heading(&client).await, "No access to guarded");
    look_at(&client, "no-access").await;
    client.find(Locator::LinkText("Sign in as someone else")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&client, &app.url("/login?tx=")).await;
    sign_in(&client, &vera).await;
    // The same request goes on, for vera: to the application with a code.
    wait_for_url_prefix(&client, &format!("{GUARDED_CB}?code=")).await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_person_sets_up_an_authenticator_app_and_signs_in_with_its_code() {
    let app = spawn_app_edited(|yaml| format!("{yaml}mfa: {{ required: true }}\n")).await;
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;

    // The password, then (a factor is required, she has none) the enrollment page.
    client.goto(&app.url("/account/")).await.unwrap();
    sign_in(&client, &alice).await;
    wait_for_url_prefix(&client, &app.url("/login/enroll?tx=")).await;
    assert_eq!(heading(&client).await, "Set up a second factor");
    assert!(client.find(Locator::Css("figure.qr svg")).await.is_ok(), "a QR code");
    look_at(&client, "mfa-enroll").await;
    let secret = client.find(Locator::Id("totp-secret")).await.unwrap().text().await.unwrap();
    client.find(Locator::Id("code")).await.unwrap().send_keys(&oathtool(&secret, app.clock.now())).await.unwrap();
    client.find(Locator::Css("form[action='/login/enroll'] button")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&client, &app.url("/account/")).await;

    // Recovery codes: she signed in moments ago, so no password is asked; shown once.
    client.goto(&app.url("/account/mfa")).await.unwrap();
    look_at(&client, "account-mfa").await;
    assert!(client.find(Locator::Id("recovery-password")).await.is_err(), "a fresh session types no password");
    client.find(Locator::Css("form[action='/account/mfa/recovery'] button")).await.unwrap().click().await.unwrap();
    let codes = client.wait().for_element(Locator::Id("recovery-codes")).await.unwrap();
    assert_eq!(codes.find_all(Locator::Css("li")).await.unwrap().len(), 10);
    look_at(&client, "mfa-recovery-codes").await;

    // Out, and in again: the password, then a code from the app.
    client.find(Locator::Css("nav form button")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("p[role=status]")).await.unwrap();
    app.clock.advance(30);
    client.goto(&app.url("/account/")).await.unwrap();
    sign_in(&client, &alice).await;
    wait_for_url_prefix(&client, &app.url("/login/code?tx=")).await;
    assert_eq!(heading(&client).await, "One more step");
    look_at(&client, "mfa-code").await;
    client.find(Locator::Id("code")).await.unwrap().send_keys(&oathtool(&secret, app.clock.now())).await.unwrap();
    client.find(Locator::Css("form[action='/login/code'] button")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&client, &app.url("/account/")).await;
    assert_eq!(heading(&client).await, "alice Example");
    client.close().await.unwrap();
}

/// WebDriver's virtual authenticators (WebAuthn Level 2 §11), spoken to
/// chromedriver directly: fantoccini has no commands for them.
pub(crate) struct Authenticators {
    base: String,
    http: reqwest::Client,
}

impl Authenticators {
    pub(crate) async fn of(driver: &Driver, client: &Client) -> Authenticators {
        let session = client.session_id().await.unwrap().expect("a WebDriver session");
        Authenticators { base: format!("{}/session/{session}/webauthn", driver.url), http: reqwest::Client::new() }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: serde_json::Value) -> serde_json::Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: serde_json::Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {value}");
        value["value"].clone()
    }

    /// A new CTAP2 authenticator with user verification; returns its id.
    pub(crate) async fn add(&self) -> String {
        self.add_with(true).await
    }

    /// A new CTAP2 security key (USB) that can hold discoverable
    /// credentials, with user verification (a PIN or a fingerprint, which
    /// passes) or without (`verified` false: a key with no PIN set, which
    /// can show only that someone touched it); returns its id.
    pub(crate) async fn add_with(&self, verified: bool) -> String {
        self.add_kind("usb", verified).await
    }

    /// A platform authenticator (the computer's own: `internal`), with
    /// user verification. Chromium offers conditional mediation only when
    /// there is one (`isConditionalMediationAvailable`).
    pub(crate) async fn add_platform(&self) -> String {
        self.add_kind("internal", true).await
    }

    /// A platform authenticator whose new credentials are backup-eligible
    /// and backed up (the BE and BS flags): a synced passkey, as a
    /// password manager or a platform keychain makes.
    pub(crate) async fn add_synced(&self) -> String {
        let options = serde_json::json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserVerified": true,
            "defaultBackupEligibility": true, "defaultBackupState": true,
        });
        self.call(reqwest::Method::POST, "/authenticator", options).await.as_str().unwrap().to_owned()
    }

    async fn add_kind(&self, transport: &str, verified: bool) -> String {
        let options = serde_json::json!({
            "protocol": "ctap2", "transport": transport, "hasResidentKey": true,
            "hasUserVerification": verified, "isUserVerified": verified,
        });
        self.call(reqwest::Method::POST, "/authenticator", options).await.as_str().unwrap().to_owned()
    }

    pub(crate) async fn remove(&self, id: &str) {
        self.call(reqwest::Method::DELETE, &format!("/authenticator/{id}"), serde_json::json!({})).await;
    }

    pub(crate) async fn credentials(&self, id: &str) -> Vec<serde_json::Value> {
        let path = format!("/authenticator/{id}/credentials");
        self.call(reqwest::Method::GET, &path, serde_json::Value::Null).await.as_array().unwrap().clone()
    }

    /// An authenticator holding a copy of `credential` with `sign_count`.
    pub(crate) async fn with_copy(&self, credential: &serde_json::Value, sign_count: u32) -> String {
        let mut copy = credential.clone();
        copy["signCount"] = serde_json::json!(sign_count);
        self.holding(copy, true).await
    }

    /// An authenticator holding `credential` as given (WebDriver's
    /// Credential Parameters: id, private key, user handle, count), whose
    /// user verification passes or not (`verified`).
    pub(crate) async fn holding(&self, credential: serde_json::Value, verified: bool) -> String {
        let id = self.add_with(verified).await;
        self.give(&id, credential).await;
        id
    }

    /// Puts `credential` on the authenticator `id`.
    pub(crate) async fn give(&self, id: &str, credential: serde_json::Value) {
        self.call(reqwest::Method::POST, &format!("/authenticator/{id}/credential"), credential).await;
    }
}

#[tokio::test]
async fn passkeys_register_sign_in_a_second_key_works_and_a_cloned_key_is_refused() {
    // WebAuthn takes a host name, not an IP address: ferrid as localhost.
    // A person clicking through more pages than the sign-in budget (30 a
    // minute per address) allows.
    let app = spawn_app_edited(|yaml| {
        yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost")
            .replace("rate_limits: { userinfo: 20 }", "rate_limits: { userinfo: 20, sign_in: 1000 }")
    })
    .await;
    let base = app.address.replace("127.0.0.1", "localhost");
    let at = |path: &str| format!("{base}{path}");
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    let authenticators = Authenticators::of(&driver, &client).await;

    let add_passkey = |name: &'static str| {
        let (client, at, password) = (&client, &at, alice.password.clone());
        async move {
            client.goto(&at("/account/mfa")).await.unwrap();
            client.find(Locator::Id("passkey-name")).await.unwrap().send_keys(name).await.unwrap();
            // Asked only when her session is not fresh (see reauth::gate).
            if let Ok(field) = client.find(Locator::Id("passkey-password")).await {
                field.send_keys(&password).await.unwrap();
            }
            client
                .find(Locator::Css("form[action='/account/mfa/passkey'] button"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            client.wait().for_element(Locator::Id("webauthn-start")).await.unwrap();
            wait_for_url_prefix(client, &at("/account/mfa/passkey")).await;
            client.find(Locator::Id("webauthn-start")).await.unwrap().click().await.unwrap();
            wait_for_url_prefix(client, &at("/account/mfa?done=passkey")).await;
        }
    };
    // Signs out, then in with the password and a passkey; returns where it ends.
    let sign_in_with_passkey = || {
        let (client, at, alice) = (&client, &at, &alice);
        async move {
            client.goto(&at("/account/")).await.unwrap();
            if client.find(Locator::Css("nav form button")).await.is_ok() {
                client.find(Locator::Css("nav form button")).await.unwrap().click().await.unwrap();
                wait_for_url_prefix(client, &at("/account/sign-out")).await;
                client.goto(&at("/account/")).await.unwrap();
            }
            sign_in(client, alice).await;
            wait_for_url_prefix(client, &at("/login/code?tx=")).await;
            client.find(Locator::Id("webauthn-start")).await.unwrap().click().await.unwrap();
            client.wait().for_element(Locator::Css("h1")).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            client.current_url().await.unwrap().to_string()
        }
    };

    // Signed in with the password (no factor yet), she adds a passkey.
    let first = authenticators.add().await;
    client.goto(&at("/account/")).await.unwrap();
    sign_in(&client, &alice).await;
    wait_for_url_prefix(&client, &at("/account/")).await;
    add_passkey("YubiKey").await;
    look_at(&client, "passkeys").await;
    // Now that she has a factor, adding another needs a session that
    // proved one (the re-authentication gate): she signs in with the key.
    assert!(sign_in_with_passkey().await.starts_with(&at("/account/")));
    let key1 = authenticators.credentials(&first).await.remove(0);
    authenticators.remove(&first).await;

    // A second key, on another authenticator.
    let second = authenticators.add().await;
    add_passkey("Laptop").await;
    let body = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(body.contains("YubiKey") && body.contains("Laptop"), "{body}");

    // Sign in with the second key.
    let landed = sign_in_with_passkey().await;
    assert!(landed.starts_with(&at("/account/")), "{landed}");
    let trail = app.state.store.audit_since(0).unwrap();
    assert!(
        trail.iter().any(
            |e| e.kind == Some(ferrid::store::AuditKind::SignIn) && e.detail.as_deref() == Some("pwd hwk user mfa")
        )
    );
    authenticators.remove(&second).await;

    // The first key, used at count 10: fine, and ferrid remembers 11.
    let genuine = authenticators.with_copy(&key1, 10).await;
    assert!(sign_in_with_passkey().await.starts_with(&at("/account/")));
    authenticators.remove(&genuine).await;

    // A clone of it whose counter is behind: refused, not signed in.
    let clone = authenticators.with_copy(&key1, 3).await;
    let landed = sign_in_with_passkey().await;
    assert!(landed.starts_with(&at("/login/passkey")), "{landed}");
    let error = client.find(Locator::Css("p.error")).await.unwrap().text().await.unwrap();
    assert_eq!(error, "That passkey was not accepted.");
    look_at(&client, "passkey-refused").await;
    authenticators.remove(&clone).await;

    // Back in with the genuine key (further on), she removes the laptop's.
    let genuine = authenticators.with_copy(&key1, 20).await;
    assert!(sign_in_with_passkey().await.starts_with(&at("/account/")));
    client.goto(&at("/account/mfa")).await.unwrap();
    let rows = client.find_all(Locator::Css("ul.rows li")).await.unwrap();
    let mut laptop = None;
    for row in rows {
        if row.text().await.unwrap().contains("Laptop") {
            laptop = Some(row);
        }
    }
    let laptop = laptop.expect("the laptop's key is listed");
    laptop.find(Locator::Css("summary")).await.unwrap().click().await.unwrap();
    // Her session proved the key just now: no password to type.
    assert!(laptop.find(Locator::Css("input[type=password]")).await.is_err());
    laptop.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&client, &at("/account/mfa?done=removed")).await;
    let body = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(body.contains("YubiKey") && !body.contains("Laptop"), "{body}");
    authenticators.remove(&genuine).await;
    client.close().await.unwrap();
}

/// Chromium's own logs, read from chromedriver's log endpoint (fantoccini
/// has no command for it): `browser` is the console, where Chromium's CSP
/// parser and enforcement report; `performance` the DevTools events, among
/// them each request the browser starts. A read takes what came since the
/// last one.
struct ChromeLogs {
    url: String,
    http: reqwest::Client,
}

/// What the browser did after a form was sent.
struct Outcome {
    /// The URL it started to load, if it got as far as the application.
    went_to: Option<String>,
    /// Every console message about Content Security Policy, parse errors included.
    csp_messages: Vec<String>,
}

impl ChromeLogs {
    async fn of(driver: &Driver, client: &Client) -> ChromeLogs {
        let session = client.session_id().await.unwrap().expect("a WebDriver session");
        ChromeLogs { url: format!("{}/session/{session}/se/log", driver.url), http: reqwest::Client::new() }
    }

    async fn take(&self, kind: &str) -> Vec<serde_json::Value> {
        let response = self.http.post(&self.url).json(&serde_json::json!({ "type": kind })).send().await.unwrap();
        assert!(response.status().is_success(), "chromedriver reads the {kind} log");
        let body: serde_json::Value = response.json().await.unwrap();
        body["value"].as_array().cloned().unwrap_or_default()
    }

    async fn csp_messages(&self) -> Vec<String> {
        let console = self.take("browser").await;
        let messages = console.iter().filter_map(|entry| entry["message"].as_str());
        messages.filter(|m| m.contains("Content Security Policy")).map(str::to_owned).collect()
    }

    /// Waits until the browser starts a request to a URL that begins with
    /// `prefix`, or the console reports a CSP problem (a blocked form or
    /// redirect, a source the parser drops), for 10 seconds at most.
    async fn after_submit(&self, prefix: &str) -> Outcome {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut outcome = Outcome { went_to: None, csp_messages: Vec::new() };
        while outcome.went_to.is_none() && outcome.csp_messages.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let events = self.take("performance").await;
            outcome.went_to = events.iter().filter_map(requested_url).find(|url| url.starts_with(prefix));
            outcome.csp_messages.extend(self.csp_messages().await);
        }
        outcome
    }
}

/// The URL of a DevTools `Network.requestWillBeSent` event (a redirect the
/// browser follows is one too), from a performance log entry.
fn requested_url(entry: &serde_json::Value) -> Option<String> {
    let event: serde_json::Value = serde_json::from_str(entry["message"].as_str()?).ok()?;
    let event = &event["message"];
    if event["method"] != "Network.requestWillBeSent" {
        return None;
    }
    event["params"]["request"]["url"].as_str().map(str::to_owned)
}

/// A native app's loopback listener (RFC 8252 §7.3): records each
/// request as "METHOD target body", then answers with a page.
struct LoopbackApp {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
}

impl LoopbackApp {
    async fn start() -> LoopbackApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    // A browser may open a connection and send nothing on it.
                    let Some(request) = read_request(&mut stream).await else { return };
                    // Recorded before answering: the browser moves on once answered.
                    log.lock().unwrap().push(request);
                    let page = "<!doctype html><title>Signed in</title><h1>You can go back to the app</h1>";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{page}",
                        page.len()
                    );
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, response.as_bytes()).await;
                });
            }
        });
        LoopbackApp { port, received }
    }

    fn callback(&self) -> String {
        format!("http://127.0.0.1:{}/cb", self.port)
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

/// One HTTP/1.1 request as "METHOD target body"; `None` if the connection
/// ends first.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut head_end = None;
    let mut length = 0;
    while head_end.is_none_or(|end| bytes.len() < end + length) {
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        bytes.extend_from_slice(&chunk[..n]);
        if head_end.is_none() {
            head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4);
            length = head_end.map_or(0, |end| content_length(&String::from_utf8_lossy(&bytes[..end])));
        }
    }
    let (head, body) = bytes.split_at(head_end?);
    let head = String::from_utf8_lossy(head);
    let target: Vec<&str> = head.split(' ').take(2).collect();
    Some(format!("{} {}", target.join(" "), String::from_utf8_lossy(body)))
}

fn content_length(head: &str) -> usize {
    let value = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned));
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn native_authorize_url(app: &TestApp, redirect_uri: &str, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/application/o/authorize/")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "native")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", "native-state")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    url.to_string()
}

/// A native app (RFC 8252) returns to a custom scheme or a loopback port.
/// Chromium checks `form-action` on the form and on the redirect after it,
/// so the CSP must allow the app's URI there: the old `form-action 'self'
/// null` blocked the return to `myapp://`. Headless Chromium has no app
/// for `myapp:` and opens nothing, but the DevTools log shows it starting
/// the navigation, and the console shows whether a CSP stopped it.
#[tokio::test]
async fn a_native_app_is_returned_to_its_custom_scheme_and_its_loopback_port_with_no_csp_error() {
    let native = LoopbackApp::start().await;
    let app = spawn_app_with(&format!(
        "  - slug: native\n    public: true\n    redirect_uris: [\"myapp://cb\", \"{}\"]\n",
        native.callback()
    ))
    .await;
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser_with_logs(&driver).await;
    let logs = ChromeLogs::of(&driver, &client).await;

    // The custom scheme: the sign-in answers 303 to myapp://cb?code=…
    let pkce = Pkce::new();
    client.goto(&native_authorize_url(&app, "myapp://cb", &pkce, &[])).await.unwrap();
    sign_in(&client, &alice).await;
    let outcome = logs.after_submit("myapp://cb?").await;
    assert_eq!(outcome.csp_messages, Vec::<String>::new(), "Chromium's console reports no CSP problem");
    let went_to = outcome.went_to.expect("the browser set off for myapp://cb");
    let code = query_of(&went_to)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "native"),
        ("code", code.as_str()),
        ("redirect_uri", "myapp://cb"),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    assert_eq!(app.post_token(&form, None).await.status(), 200, "the code it carried works");

    // Having handed myapp:// to the system, this headless Chromium takes no
    // more typing in that window (seen here): a new browser for the rest.
    client.close().await.unwrap();
    let client = browser_with_logs(&driver).await;
    let logs = ChromeLogs::of(&driver, &client).await;

    // The loopback port (not ferrid's, so 'self' does not cover it).
    let callback = native.callback();
    client.goto(&native_authorize_url(&app, &callback, &Pkce::new(), &[])).await.unwrap();
    sign_in(&client, &alice).await;
    let outcome = logs.after_submit(&format!("{callback}?code=")).await;
    assert_eq!(outcome.csp_messages, Vec::<String>::new(), "Chromium's console reports no CSP problem");
    assert!(outcome.went_to.is_some(), "the browser set off for {callback}");
    wait_for_url_prefix(&client, &format!("{callback}?code=")).await;
    assert!(native.received().iter().any(|r| r.starts_with("GET /cb?code=")), "{:?}", native.received());

    // form_post to the loopback port (signed in now): ferrid's page posts the code there.
    client.goto(&native_authorize_url(&app, &callback, &Pkce::new(), &[("response_mode", "form_post")])).await.unwrap();
    let outcome = logs.after_submit(&callback).await;
    assert_eq!(outcome.csp_messages, Vec::<String>::new(), "Chromium's console reports no CSP problem");
    assert!(outcome.went_to.is_some(), "the form_post page posted to {callback}");
    wait_for_url_prefix(&client, &callback).await;
    let posted = native.received().into_iter().find(|r| r.starts_with("POST /cb "));
    assert!(posted.is_some_and(|r| r.contains("code=") && r.contains("state=native-state")), "{:?}", native.received());
    client.close().await.unwrap();
}

#[tokio::test]
async fn an_unregistered_redirect_uri_page_fits_a_phone() {
    let app = spawn_app().await;
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    // No hyphen or space in it: nothing a browser would break a line at.
    let long = format!("https://evil.example/{}", "x".repeat(400));
    let mut url = url::Url::parse(&app.url("/application/o/authorize/")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "web")
        .append_pair("redirect_uri", &long);
    client.goto(url.as_str()).await.unwrap();
    let heading = client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(heading, "Unregistered redirect URI");
    // look_at fails if anything is wider than a 360 px viewport.
    look_at(&client, "unregistered-redirect").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn an_invited_person_chooses_a_password_and_a_recovery_link_gets_them_back_in() {
    let app = spawn_app().await;
    let made = app
        .admin(ferrid::admin::AdminCommand::UserInvite {
            username: "erin".into(),
            email: None,
            name: Some("Erin Example".into()),
            groups: vec![],
        })
        .unwrap();
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;

    client.goto(made["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(heading(&client).await, "Welcome, Erin Example");
    look_at(&client, "setup").await;
    client.find(Locator::Id("new_password")).await.unwrap().send_keys("erins-password-1").await.unwrap();
    client.find(Locator::Id("repeat_password")).await.unwrap().send_keys("erins-password-1\u{E007}").await.unwrap();
    wait_for_url_prefix(&client, &app.url("/account/?done=setup-password")).await;
    let notice = client.find(Locator::Css("p[role=status]")).await.unwrap().text().await.unwrap();
    assert!(notice.starts_with("Welcome: your password is set."), "{notice}");

    // She forgets it; her administrator makes a recovery link, which she opens on another device.
    let link = app.admin(ferrid::admin::AdminCommand::UserLink { username: "erin".into() }).unwrap();
    let phone = browser(&driver).await;
    phone.goto(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(heading(&phone).await, "Get back in, Erin Example");
    look_at(&phone, "recover").await;
    phone.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&phone, &app.url("/account/?done=recovered")).await;
    look_at(&phone, "account-recovered").await;
    // No current password asked: she sets a new one.
    assert!(phone.find(Locator::Id("current_password")).await.is_err());
    phone.find(Locator::Id("new_password")).await.unwrap().send_keys("erins-password-2").await.unwrap();
    phone.find(Locator::Id("repeat_password")).await.unwrap().send_keys("erins-password-2\u{E007}").await.unwrap();
    wait_for_url_prefix(&phone, &app.url("/account/?done=password")).await;
    // The first browser was signed out when the link was used.
    client.refresh().await.unwrap();
    wait_for_url_prefix(&client, &app.url("/login?tx=")).await;
    // A used link is dead.
    phone.goto(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(heading(&phone).await, "This link does not work");
    client.close().await.unwrap();
    phone.close().await.unwrap();
}

#[tokio::test]
async fn the_forgot_password_and_address_check_pages_fit_a_phone() {
    // A mail server nobody listens on: the pages do not wait for mail.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_edited(|yaml| {
        format!("{yaml}smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n  from: ferrid@home.test\n")
    })
    .await;
    app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    client.goto(&app.url("/account/")).await.unwrap();
    client.wait().for_element(Locator::Css("a[href='/forgot']")).await.unwrap().click().await.unwrap();
    assert_eq!(heading(&client).await, "Forgot your password?");
    look_at(&client, "forgot").await;
    client.find(Locator::Id("who")).await.unwrap().send_keys("alice\u{E007}").await.unwrap();
    client.wait().for_element(Locator::Css("p[role=status]")).await.unwrap();
    assert_eq!(heading(&client).await, "Check your mail");
    look_at(&client, "forgot-sent").await;

    let alice = app.state.store.user_by_name(&ferrid::domain::Username::parse("alice").unwrap()).unwrap().unwrap();
    let kind = ferrid::store::LinkKind::EmailCheck;
    let made = ferrid::links::make(&app.state.store, &alice, kind, app.clock.now(), 3600, "test").unwrap();
    client.goto(&app.url(&ferrid::links::path(kind, &made.secret))).await.unwrap();
    assert_eq!(heading(&client).await, "Confirm your address");
    look_at(&client, "verify-email").await;
    client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("p[role=status]")).await.unwrap();
    look_at(&client, "verify-email-done").await;
    client.close().await.unwrap();
}
