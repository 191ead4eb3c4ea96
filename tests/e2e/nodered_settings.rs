//! `ferrid nodered settings` prints a settings.js fragment; the real
//! Node-RED runs with exactly that output.

use crate::helpers::*;
use crate::nodered::{
    NODE_RED_SECRET, deploy, editor_sign_in, editor_sign_in_with, free_port, node_red_app_yaml, read_flows,
    start_node_red_with,
};
use ferrid::nodered::INSIDE_EXPORTS_MARKER;
use serde_json::Value;

async fn ferrid_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ferrid"));
    command.arg("--config").arg(&app.config_path).args(args).env("FERRID_LOG", "warn");
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

#[tokio::test]
async fn node_red_runs_with_exactly_the_generated_settings() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&node_red_app_yaml(&node_red_url)).await;
    let admin = app.add_user("ada", &["admins"]);
    let viewer = app.add_user("vic", &["viewers"]);

    // The server is running, so the CLI goes through its admin API.
    let out = ferrid_cli(&app, &["nodered", "settings", "--app", "node-red", "--tokens"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let snippet = String::from_utf8(out.stdout).unwrap();
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).expect("two parts");
    let node_red = start_node_red_with(port, prelude, entries, None, Some(NODE_RED_SECRET)).await;

    let admin_token =
        editor_sign_in(&app, &node_red_url, &admin).await.unwrap_or_else(|to| panic!("{to}\n{}", node_red.log()));
    assert!(deploy(&node_red_url, &admin_token).await.is_success(), "{}", node_red.log());
    let viewer_token =
        editor_sign_in(&app, &node_red_url, &viewer).await.unwrap_or_else(|to| panic!("{to}\n{}", node_red.log()));
    assert_eq!(read_flows(&node_red_url, &viewer_token).await, 200);
    assert_eq!(deploy(&node_red_url, &viewer_token).await, 401);

    // The optional tokens function: a machine client's ferrid JWT reads the flows.
    let tokens: Value = app
        .post_token(&[("grant_type", "client_credentials")], Some(("node-red", NODE_RED_SECRET)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read_flows(&node_red_url, tokens["access_token"].as_str().unwrap()).await, 200, "{}", node_red.log());
    assert_eq!(read_flows(&node_red_url, "not.a.token").await, 401);
}

#[tokio::test]
async fn the_editors_logout_ends_the_ferrid_session_and_the_next_visit_asks_for_the_password() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&node_red_app_yaml(&node_red_url)).await;
    let admin = app.add_user("ada", &["admins"]);
    let out = ferrid_cli(&app, &["nodered", "settings", "--app", "node-red"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let snippet = String::from_utf8(out.stdout).unwrap();
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).expect("two parts");
    let node_red = start_node_red_with(port, prelude, entries, None, Some(NODE_RED_SECRET)).await;

    let browser = browser();
    let token = editor_sign_in_with(&browser, &app, &node_red_url, &admin)
        .await
        .unwrap_or_else(|to| panic!("{to}\n{}", node_red.log()));

    // The editor's Logout: it revokes its token, then goes where Node-RED says.
    let response = reqwest::Client::new()
        .post(format!("{node_red_url}/auth/revoke"))
        .bearer_auth(&token)
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", node_red.log());
    let answer: Value = response.json().await.unwrap();
    let redirect = answer["redirect"].as_str().expect("Node-RED sends the editor to ferrid");
    assert!(redirect.starts_with(&app.url("/application/o/node-red/end-session/?client_id=node-red")), "{redirect}");

    // ferrid asks (Node-RED has no id_token to prove the session); she confirms.
    let page = browser.get(redirect).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Sign out?</h1>"), "{html}");
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "sign_out".to_owned()),
    ];
    let response = browser.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), format!("{node_red_url}/"), "back to the editor");
    assert_eq!(read_flows(&node_red_url, &token).await, 401, "Node-RED's own token is gone");

    // The next visit asks for the password.
    let response = browser.get(format!("{node_red_url}/auth/strategy")).send().await.unwrap();
    let response = browser.get(location(&response)).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "{}", location(&response));
}

#[tokio::test]
async fn with_require_mfa_the_editor_sign_in_asks_for_a_code_and_node_red_sees_amr() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let yaml = format!("{}    require_mfa: true\n", node_red_app_yaml(&node_red_url));
    let app = spawn_app_with(&yaml).await;
    let admin = app.add_user("ada", &["admins"]);
    let out = ferrid_cli(&app, &["nodered", "settings", "--app", "node-red"]).await;
    let snippet = String::from_utf8(out.stdout).unwrap();
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).expect("two parts");
    // Instrumented only to show what Node-RED received: the id_token's amr.
    let verify = "verify: function (issuer, profile, context, idToken, done) {";
    assert!(entries.contains(verify));
    let entries = entries.replacen(
        verify,
        &format!("{verify} console.log(\"ferrid amr \" + JSON.stringify(JSON.parse(Buffer.from(idToken.split(\".\")[1], \"base64url\").toString()).amr));"),
        1,
    );
    let node_red = start_node_red_with(port, prelude, &entries, None, Some(NODE_RED_SECRET)).await;

    // The editor's sign-in: password, then (no factor yet) setting up an app.
    let sign_in = |browser: reqwest::Client| {
        let (app, node_red_url, admin) = (&app, node_red_url.clone(), &admin);
        async move {
            let response = browser.get(format!("{node_red_url}/auth/strategy")).send().await.unwrap();
            let response = browser.get(location(&response)).send().await.unwrap();
            let response =
                sign_in_with(&browser, &app.address, &location(&response), &admin.username, &admin.password).await;
            let next = location(&response);
            let html = browser.get(app.url(&next)).send().await.unwrap().text().await.unwrap();
            (browser, next, html)
        }
    };
    let (first, step, html) = sign_in(browser()).await;
    assert!(step.starts_with("/login/enroll?tx="), "{step}");
    let secret = secret_of(&html);
    let finish = |browser: &reqwest::Client, path: &str, html: &str, code: String| {
        let form = [
            ("tx", hidden_field(html, "tx").unwrap()),
            ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
            ("code", code),
        ];
        browser.post(app.url(path)).form(&form).send()
    };
    let response = finish(&first, "/login/enroll", &html, oathtool(&secret, app.clock.now())).await.unwrap();
    let home = location(&first.get(location(&response)).send().await.unwrap());
    assert!(home.contains("access_token="), "{home}\n{}", node_red.log());
    assert!(deploy(&node_red_url, &crate::nodered::editor_token(&home)).await.is_success());

    // Next time, in another browser: the password, then a code.
    app.clock.advance(30);
    let (second, step, html) = sign_in(browser()).await;
    assert!(step.starts_with("/login/code?tx="), "{step}");
    let response = finish(&second, "/login/code", &html, oathtool(&secret, app.clock.now())).await.unwrap();
    let home = location(&second.get(location(&response)).send().await.unwrap());
    assert!(home.contains("access_token="), "{home}");
    let log = node_red.log();
    assert_eq!(log.matches(r#"ferrid amr ["pwd","otp","mfa"]"#).count(), 2, "{log}");
}

#[tokio::test]
async fn nodered_settings_says_what_is_wrong_with_an_unusable_application() {
    let app = spawn_app().await;
    for (slug, expected) in
        [("nope", "no application with slug nope"), ("spa", "public client"), ("web", "/auth/strategy/callback")]
    {
        let out = ferrid_cli(&app, &["nodered", "settings", "--app", slug]).await;
        assert!(!out.status.success(), "{slug}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{slug}: {stderr}");
    }
}

/// The README shows what `ferrid nodered settings --app node-red` prints for
/// the shipped config.yaml; this keeps the two from drifting apart.
#[tokio::test]
async fn the_readme_shows_the_current_output_for_the_shipped_config() {
    struct Dirs(std::path::PathBuf);
    impl ferrid::config::Env for Dirs {
        fn var(&self, name: &str) -> Option<String> {
            match name {
                "FERRID_DATA_DIR" => Some(self.0.join("data").display().to_string()),
                "FERRID_KEYS_DIR" => Some(self.0.join("keys").display().to_string()),
                _ => None,
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let config = ferrid::config::Config::load(&root.join("config.yaml"), &Dirs(dir.path().to_owned())).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server =
        ferrid::startup::Application::build_on(config, ferrid::clock::Clock::system(), listener).await.unwrap();
    let state = server.state();
    let shown = state.administer(ferrid::admin::AdminCommand::AppShow { slug: "node-red".into() }, "test").unwrap();
    let snippet = ferrid::nodered::settings(
        &shown.to_json(),
        &ferrid::nodered::Options { claim: None, tokens: false, introspect: false },
    )
    .unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains(&snippet), "README.md is out of date; paste in:\n{snippet}");
}

/// docs/nodered.md shows the introspection-based `tokens` function (`--pat`).
#[test]
fn the_nodered_guide_shows_the_current_introspection_tokens_function() {
    let shown = format!(
        "{}\ntokens: {}",
        ferrid::nodered::introspection_client("http://127.0.0.1:9000", "node-red"),
        ferrid::nodered::introspection_tokens_function("nodered_permissions")
    );
    let guide =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/nodered.md")).unwrap();
    assert!(guide.contains(&shown), "docs/nodered.md is out of date; paste in:\n{shown}");
}

/// Names, client ids, URLs and claim names from the store reach the
/// generated JavaScript only as string literals: Node loads each variant
/// of the snippet and reads every value back unchanged, and none of the
/// planted `process.exit` calls runs.
#[test]
fn hostile_names_ids_and_urls_stay_strings_in_the_generated_javascript() {
    let client_id = r#"x";process.exit(7);""#;
    let callback = r#"http://h/"+process.exit(8)+"/auth/strategy/callback"#;
    let issuer = "http://h/\u{2028}\"x/application/o/nr/";
    let app = serde_json::json!({
        "slug": "nr",
        "name": "Evil\nprocess.exit(6);",
        "client_type": "confidential",
        "client_id": client_id,
        "issuer": issuer,
        "redirect_uris": [callback],
        "mapped_claims": [r#"p"]||process.exit(9)||[""#],
        "signing_alg": "RS256",
    });
    let modules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/node_modules");
    let dir = tempfile::tempdir().unwrap();
    for (tokens, introspect) in [(false, false), (true, false), (false, true)] {
        let options = ferrid::nodered::Options { claim: None, tokens, introspect };
        let snippet = ferrid::nodered::settings(&app, &options).unwrap();
        let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).unwrap();
        let file = dir.path().join(format!("settings-{tokens}-{introspect}.js"));
        std::fs::write(&file, format!("{prelude}\nmodule.exports = {{\n{entries}\n}};\n")).unwrap();
        let script = format!(
            "const o = require({:?}).adminAuth.strategy.options; \
             console.log(JSON.stringify([o.clientID, o.callbackURL, o.issuer]))",
            file.display().to_string()
        );
        let out = std::process::Command::new("node")
            .args(["-e", &script])
            .env("NODE_PATH", &modules)
            .env("FERRID_CLIENT_SECRET", "set")
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}: {}\n{snippet}", out.status, String::from_utf8_lossy(&out.stderr));
        let read: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(read, [client_id, callback, issuer], "{snippet}");
    }
}

#[tokio::test]
async fn node_red_started_without_the_client_secret_stops_at_once_saying_why() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&node_red_app_yaml(&node_red_url)).await;
    let out = ferrid_cli(&app, &["nodered", "settings", "--app", "node-red"]).await;
    let snippet = String::from_utf8(out.stdout).unwrap();
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.js");
    std::fs::write(&settings, format!("{prelude}\nmodule.exports = {{ uiPort: {port}, {entries} }};\n")).unwrap();
    let modules = crate::nodered::node_modules();
    let node_red = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(modules.join("node-red").join("red.js"))
            .arg("--settings")
            .arg(&settings)
            .arg("--userDir")
            .arg(settings.parent().unwrap())
            .env("NODE_PATH", &modules)
            .env_remove("FERRID_CLIENT_SECRET")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!node_red.status.success(), "Node-RED must not start");
    let said = format!("{}{}", String::from_utf8_lossy(&node_red.stdout), String::from_utf8_lossy(&node_red.stderr));
    assert!(said.contains("FERRID_CLIENT_SECRET is not set"), "{said}");
}

/// A Node-RED process, stopped when the test ends (passed or not).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Node-RED with its own default settings.js (from the pinned package), to
/// which the user added the one line `ferrid nodered setup` printed.
async fn start_node_red_in(user_dir: &std::path::Path, port: u16) -> Running {
    let modules = crate::nodered::node_modules();
    let log = std::fs::File::create(user_dir.join("node-red.log")).unwrap();
    let child = std::process::Command::new("node")
        .arg(modules.join("node-red").join("red.js"))
        .arg("--userDir")
        .arg(user_dir)
        .env("PORT", port.to_string())
        .env("NODE_PATH", &modules)
        .env("FERRID_CLIENT_SECRET", NODE_RED_SECRET)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("node is on PATH");
    let running = Running(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/auth/login")).await
            && r.status() == 200
        {
            return running;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(running);
    panic!("Node-RED did not start:\n{}", std::fs::read_to_string(user_dir.join("node-red.log")).unwrap_or_default());
}

#[tokio::test]
async fn setup_works_with_node_reds_own_default_settings_and_logout_ends_the_ferrid_session() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&node_red_app_yaml(&node_red_url)).await;
    let admin = app.add_user("ada", &["admins"]);
    // The user directory as Node-RED's first start leaves it: its default settings.js.
    let user_dir = tempfile::tempdir().unwrap();
    let default_settings = crate::nodered::node_modules().join("node-red").join("settings.js");
    let mut settings = std::fs::read_to_string(default_settings).unwrap();
    assert!(settings.contains("editorTheme: {"), "the default settings.js has an editorTheme of its own");

    let dir = user_dir.path().to_str().unwrap().to_owned();
    let out = ferrid_cli(&app, &["nodered", "setup", "--app", "node-red", "--user-dir", &dir]).await;
    assert!(!out.status.success(), "no settings.js yet: says to start Node-RED once");
    assert!(String::from_utf8_lossy(&out.stderr).contains("start Node-RED once"));
    std::fs::write(user_dir.path().join("settings.js"), &settings).unwrap();
    let out = ferrid_cli(&app, &["nodered", "setup", "--app", "node-red", "--user-dir", &dir]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let told = String::from_utf8(out.stdout).unwrap();
    let line = told.lines().find(|l| l.trim_start().starts_with("require(")).expect("the line to add").trim();
    // Pasted as told: at the very end of the file.
    settings.push('\n');
    settings.push_str(line);
    settings.push('\n');
    std::fs::write(user_dir.path().join("settings.js"), &settings).unwrap();
    let _node_red = start_node_red_in(user_dir.path(), port).await;

    let browser = browser();
    let token = editor_sign_in_with(&browser, &app, &node_red_url, &admin).await.unwrap_or_else(|to| {
        panic!("{to}\n{}", std::fs::read_to_string(user_dir.path().join("node-red.log")).unwrap_or_default())
    });
    // Logout: Node-RED sends the editor to ferrid's end-session, as configured.
    let response = reqwest::Client::new()
        .post(format!("{node_red_url}/auth/revoke"))
        .bearer_auth(&token)
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    let redirect = answer["redirect"].as_str().expect("Logout leads to ferrid, the default editorTheme kept");
    assert!(redirect.starts_with(&app.url("/application/o/node-red/end-session/")), "{redirect}");
    let html = browser.get(redirect).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "sign_out".to_owned()),
    ];
    browser.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    let response = browser.get(format!("{node_red_url}/auth/strategy")).send().await.unwrap();
    let response = browser.get(location(&response)).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "the ferrid session ended: {}", location(&response));
}
