//! End to end with the real Node-RED from npm (pinned in tests/e2e/package-lock.json):
//! its editor signs in through ferrid with passport-openidconnect, exactly
//! as the README tells a user to configure it.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn node_modules() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/node_modules");
    assert!(
        dir.join("node-red").join("red.js").is_file(),
        "Node-RED is not installed in tests/e2e/node_modules: run ./scripts/test.sh (it runs `npm ci --prefix tests/e2e`)"
    );
    dir
}

pub struct NodeRed {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for NodeRed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeRed {
    pub fn log(&self) -> String {
        let mut text = String::new();
        let _ = std::fs::File::open(&self.log).and_then(|mut f| f.read_to_string(&mut text));
        text
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts Node-RED with `admin_auth` (a JS expression) as its `adminAuth`,
/// after `prelude` (JS statements) at the top of settings.js.
async fn start_node_red(port: u16, prelude: &str, admin_auth: &str) -> NodeRed {
    start_node_red_with(port, prelude, &format!("adminAuth: {admin_auth}"), None, None).await
}

/// Starts Node-RED with extra `settings` entries (JS `key: value` pairs) and,
/// optionally, a flows file.
/// `client_secret` is passed as FERRID_CLIENT_SECRET, as the generated settings expect.
pub async fn start_node_red_with(
    port: u16,
    prelude: &str,
    settings_entries: &str,
    flows: Option<&str>,
    client_secret: Option<&str>,
) -> NodeRed {
    let modules = node_modules();
    let dir = tempfile::tempdir().unwrap();
    if let Some(flows) = flows {
        std::fs::write(dir.path().join("flows.json"), flows).unwrap();
    }
    let settings = dir.path().join("settings.js");
    // No welcome tour; added to the entries' own editorTheme if they have one.
    let (theme, settings_entries) = match settings_entries.contains("editorTheme: {") {
        true => (String::new(), settings_entries.replacen("editorTheme: {", "editorTheme: { tours: false,", 1)),
        false => ("editorTheme: { tours: false },\n  ".to_owned(), settings_entries.to_owned()),
    };
    std::fs::write(
        &settings,
        format!(
            "{prelude}\nmodule.exports = {{\n  uiHost: \"127.0.0.1\",\n  uiPort: {port},\n  flowFile: \"flows.json\",\n  \
             credentialSecret: false,\n  {theme}\
             logging: {{ console: {{ level: \"info\", audit: true }} }},\n  {settings_entries}\n}};\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("node-red.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new("node")
        .arg(modules.join("node-red").join("red.js"))
        .arg("--settings")
        .arg(&settings)
        .arg("--userDir")
        .arg(dir.path())
        .env("NODE_PATH", &modules)
        .env("FERRID_CLIENT_SECRET", client_secret.unwrap_or_default())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .expect("node is on PATH");
    let node_red = NodeRed { child, url: format!("http://127.0.0.1:{port}"), log, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{}/auth/login", node_red.url)).await
            && r.status() == 200
        {
            return node_red;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Node-RED did not start:\n{}", node_red.log());
}

/// The `adminAuth` block from the README's Node-RED quickstart, with this
/// test's addresses filled in.
fn readme_admin_auth(ferrid: &str, node_red: &str, secret: &str, users: &str) -> String {
    format!(
        r#"{{
    type: "strategy",
    strategy: {{
        name: "openidconnect",
        label: "Sign in with ferrid",
        icon: "fa-lock",
        strategy: require("passport-openidconnect").Strategy,
        options: {{
            issuer: "{ferrid}/application/o/node-red/",
            authorizationURL: "{ferrid}/application/o/authorize/",
            tokenURL: "{ferrid}/application/o/token/",
            userInfoURL: "{ferrid}/application/o/userinfo/",
            clientID: "node-red",
            clientSecret: "{secret}",
            callbackURL: "{node_red}/auth/strategy/callback",
            scope: ["openid", "email", "profile"],
            proxy: true,
            verify: function (issuer, profile, done) {{ done(null, profile); }}
        }}
    }},
    users: {users}
}}"#
    )
}

/// Node-RED registered at ferrid and configured with the hand-listed form:
/// only alice, with every permission.
async fn node_red_listing_alice(app: &TestApp) -> (String, NodeRed) {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let secret = register_node_red(app, &node_red_url);
    let users = r#"[{ username: "alice", permissions: ["*"] }]"#;
    let node_red = start_node_red(port, "", &readme_admin_auth(&app.address, &node_red_url, &secret, users)).await;
    (node_red_url, node_red)
}

/// Registers Node-RED at ferrid, as `ferrid app add` would; returns the secret.
fn register_node_red(app: &TestApp, node_red: &str) -> String {
    let created = app
        .admin(AdminCommand::AppAdd {
            slug: "node-red".into(),
            name: Some("Node-RED".into()),
            client_id: Some("node-red".into()),
            public: false,
            redirect_uris: vec![format!("{node_red}/auth/strategy/callback")],
            signing_alg: None,
            machine: false,
            switches: Default::default(),
        })
        .unwrap();
    app.state.republish(true).unwrap();
    created["client_secret"].as_str().unwrap().to_owned()
}

/// Node-RED hands its editor a token in `?access_token=`. It is base64 and
/// may contain `+`: take it verbatim, as the editor does, not through
/// query decoding that would turn `+` into a space.
pub fn editor_token(location: &str) -> String {
    location.split("access_token=").nth(1).expect("access_token in the redirect").split('&').next().unwrap().to_owned()
}

#[tokio::test]
async fn node_red_editor_signs_in_through_ferrid_with_passport_openidconnect() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins"]);
    let (node_red_url, node_red) = node_red_listing_alice(&app).await;
    let browser = &app.client;

    // The editor's admin API is closed without a token.
    assert_eq!(browser.get(format!("{node_red_url}/flows")).send().await.unwrap().status(), 401);

    // "Sign in with ferrid": Node-RED → ferrid's authorize endpoint.
    let response = browser.get(format!("{node_red_url}/auth/strategy")).send().await.unwrap();
    assert_eq!(response.status(), 302, "{}", node_red.log());
    let authorize = location(&response);
    assert!(authorize.starts_with(&app.url("/application/o/authorize/")), "{authorize}");

    // ferrid → its sign-in form → back to Node-RED's callback.
    let response = browser.get(&authorize).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let login = location(&response);
    let response = app.submit_sign_in(&login, "alice", &alice.password).await;
    assert_eq!(response.status(), 303);
    let callback = location(&response);
    assert!(callback.starts_with(&format!("{node_red_url}/auth/strategy/callback?code=")), "{callback}");

    // Node-RED redeems the code and hands the editor its own token.
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), 302, "{}", node_red.log());
    let home = location(&response);
    assert!(home.starts_with("/?access_token="), "{home}\n{}", node_red.log());
    let token = editor_token(&home);

    let response = browser.get(format!("{node_red_url}/flows")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", node_red.log());
    assert!(response.json::<serde_json::Value>().await.unwrap().is_array());
    assert!(node_red.log().contains(SIGN_IN_AUDIT), "Node-RED audits the sign-in:\n{}", node_red.log());
}

/// The audit line Node-RED logs for an editor sign-in.
const SIGN_IN_AUDIT: &str = r#""event":"auth.login","#;

#[tokio::test]
async fn a_wrong_password_never_reaches_node_red() {
    let app = spawn_app().await;
    app.add_user("alice", &[]);
    let (node_red_url, node_red) = node_red_listing_alice(&app).await;

    let response = app.client.get(format!("{node_red_url}/auth/strategy")).send().await.unwrap();
    let response = app.client.get(location(&response)).send().await.unwrap();
    let response = app.submit_sign_in(&location(&response), "alice", "not-alices-password").await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("location").is_none(), "no redirect toward Node-RED");
    assert!(!node_red.log().contains(SIGN_IN_AUDIT), "Node-RED saw no sign-in:\n{}", node_red.log());
}

#[tokio::test]
async fn a_user_node_red_does_not_know_is_refused_by_node_red() {
    let app = spawn_app().await;
    let mallory = app.add_user("mallory", &[]);
    let (node_red_url, node_red) = node_red_listing_alice(&app).await;

    let response = app.client.get(format!("{node_red_url}/auth/strategy")).send().await.unwrap();
    let response = app.client.get(location(&response)).send().await.unwrap();
    let response = app.submit_sign_in(&location(&response), "mallory", &mallory.password).await;
    let response = app.client.get(location(&response)).send().await.unwrap();
    let home = location(&response);
    assert!(!home.contains("access_token="), "{home}\n{}", node_red.log());
}

/// Browser-style sign-in to the Node-RED editor through ferrid, in its own
/// cookie jar. Returns the editor token, or where Node-RED sent the browser.
pub async fn editor_sign_in(app: &TestApp, node_red: &str, user: &TestUser) -> Result<String, String> {
    editor_sign_in_with(&browser(), app, node_red, user).await
}

/// `editor_sign_in` in a given browser (its cookies kept for what follows).
pub async fn editor_sign_in_with(
    browser: &reqwest::Client,
    app: &TestApp,
    node_red: &str,
    user: &TestUser,
) -> Result<String, String> {
    let response = browser.get(format!("{node_red}/auth/strategy")).send().await.unwrap();
    let response = browser.get(location(&response)).send().await.unwrap();
    let response = sign_in_with(browser, &app.address, &location(&response), &user.username, &user.password).await;
    let callback = location(&response);
    let response = browser.get(&callback).send().await.unwrap();
    let home = location(&response);
    if home.contains("access_token=") { Ok(editor_token(&home)) } else { Err(home) }
}

pub const NODE_RED_SECRET: &str = "node-red-secret-0123456789";

/// Declares the Node-RED application the way a user would in config.yaml.
pub fn node_red_app_yaml(node_red: &str) -> String {
    format!(
        r#"  - slug: node-red
    client_secret_sha256: {digest}
    redirect_uris: ["{node_red}/auth/strategy/callback"]
    post_logout_redirect_uris: ["{node_red}/"]
    allowed_groups: [admins, viewers]
    claims:
      nodered_permissions: {{ from_groups: {{ admins: "*", viewers: read }} }}
"#,
        digest = ferrid::crypto::secrets::Digest::of(NODE_RED_SECRET).to_hex()
    )
}

pub async fn deploy(node_red: &str, token: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{node_red}/flows"))
        .bearer_auth(token)
        .header("Node-RED-Deployment-Type", "full")
        .json(&serde_json::json!([{ "id": "f1", "type": "tab", "label": "from the test" }]))
        .send()
        .await
        .unwrap()
        .status()
}

pub async fn read_flows(node_red: &str, token: &str) -> reqwest::StatusCode {
    reqwest::Client::new().get(format!("{node_red}/flows")).bearer_auth(token).send().await.unwrap().status()
}

#[tokio::test]
async fn group_permissions_reach_node_red_admins_deploy_and_viewers_only_read() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&node_red_app_yaml(&node_red_url)).await;
    let admin = app.add_user("ada", &["admins"]);
    let viewer = app.add_user("vic", &["viewers"]);
    let outsider = app.add_user("oscar", &[]);
    // The verify/users pair `ferrid nodered settings` generates, reading nodered_permissions.
    let shown = app.admin(AdminCommand::AppShow { slug: "node-red".into() }).unwrap();
    let snippet =
        ferrid::nodered::settings(&shown, &ferrid::nodered::Options { claim: None, tokens: false, introspect: false })
            .unwrap();
    let (prelude, entries) = snippet.split_once(ferrid::nodered::INSIDE_EXPORTS_MARKER).unwrap();
    let node_red = start_node_red_with(port, prelude, entries, None, Some(NODE_RED_SECRET)).await;

    let admin_token =
        editor_sign_in(&app, &node_red_url, &admin).await.unwrap_or_else(|to| panic!("{to}\n{}", node_red.log()));
    assert!(deploy(&node_red_url, &admin_token).await.is_success(), "{}", node_red.log());
    assert_eq!(read_flows(&node_red_url, &admin_token).await, 200);

    let viewer_token =
        editor_sign_in(&app, &node_red_url, &viewer).await.unwrap_or_else(|to| panic!("{to}\n{}", node_red.log()));
    assert_eq!(read_flows(&node_red_url, &viewer_token).await, 200);
    // Node-RED 4 answers a missing permission with 401 and audits it.
    assert_eq!(deploy(&node_red_url, &viewer_token).await, 401);
    assert!(node_red.log().contains(r#""event":"permission.fail","permissions":"flows.write""#), "{}", node_red.log());

    // Outside the allowed groups: ferrid refuses before Node-RED is involved.
    let browser = browser();
    let response = browser.get(format!("{node_red_url}/auth/strategy")).send().await.unwrap();
    let response = browser.get(location(&response)).send().await.unwrap();
    let html = browser.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", outsider.username.clone()),
        ("password", outsider.password.clone()),
    ];
    let response = browser.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("may not use node-red"));
}

/// authentik's own Node-RED guide (website/integrations/services/node-red),
/// with only the host names changed: callback URL with a trailing slash,
/// scopes in another order, a `users` function granting everyone `*`.
fn authentik_guide_admin_auth(ferrid: &str, node_red: &str, secret: &str) -> String {
    format!(
        r#"{{
type:"strategy",
strategy: {{
        name: "openidconnect",
        label: 'Sign in with authentik',
        icon:"fa-cloud",
        strategy: require("passport-openidconnect").Strategy,
        options: {{
                issuer: '{ferrid}/application/o/node-red/',
                authorizationURL: '{ferrid}/application/o/authorize/',
                tokenURL: '{ferrid}/application/o/token/',
                userInfoURL: '{ferrid}/application/o/userinfo/',
                clientID: 'node-red',
                clientSecret: '{secret}',
                callbackURL: '{node_red}/auth/strategy/callback/',
                scope: ['email', 'profile', 'openid'],
                proxy: true,
        verify: function(issuer, profile, done) {{
                done(null, profile)
        }}
      }}
    }},
    users: function(user) {{
        return Promise.resolve({{ username: user, permissions: "*" }});
    }}
}}"#
    )
}

#[tokio::test]
async fn authentiks_own_node_red_guide_works_with_the_host_changed() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let created = app
        .admin(AdminCommand::AppAdd {
            slug: "node-red".into(),
            name: None,
            client_id: None,
            public: false,
            // As authentik's guide registers it: with a trailing slash.
            redirect_uris: vec![format!("{node_red_url}/auth/strategy/callback/")],
            signing_alg: None,
            machine: false,
            switches: Default::default(),
        })
        .unwrap();
    app.state.republish(true).unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let node_red = start_node_red(port, "", &authentik_guide_admin_auth(&app.address, &node_red_url, secret)).await;

    let token =
        editor_sign_in(&app, &node_red_url, &alice).await.unwrap_or_else(|to| panic!("{to}\n{}", node_red.log()));
    assert_eq!(read_flows(&node_red_url, &token).await, 200, "{}", node_red.log());
    assert!(deploy(&node_red_url, &token).await.is_success());
}
