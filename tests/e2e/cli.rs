//! The real binary: configuration errors, hash-pw, and administration
//! while `ferrid serve` holds the database.

use crate::binary::*;
use crate::helpers::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

#[test]
fn the_cli_administers_a_running_server_without_lock_errors() {
    // `_dir` keeps the temporary directory alive for the whole test.
    let BinaryConfig { dir: _dir, public, path: config } = binary_config(None, |yaml| yaml);

    let mut server = serve(&config);
    let base = server.base.clone();
    let printed = server.printed_until("Created user `admin`");
    let admin_password = printed
        .split("Created user `admin` with password: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("first start prints the admin password: {printed}"))
        .to_owned();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(sign_in_as_admin(&base, &admin_password));

    // Where admin is signed in, then "sign out everywhere" from the CLI.
    let sessions = |config: &std::path::Path| {
        let out = ferrid().arg("--config").arg(config).args(["user", "sessions", "admin", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let listed = sessions(&config);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["applications"], serde_json::json!(["web"]));
    assert!(listed[0]["sid"].as_str().is_some_and(|sid| sid.len() == 22));
    let out = ferrid().arg("--config").arg(&config).args(["user", "logout", "admin"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "admin: 1 session(s) ended\n");
    assert_eq!(sessions(&config), serde_json::json!([]));

    let out = run_with_stdin(
        ferrid().arg("--config").arg(&config).args(["user", "add", "dave", "--groups", "admins", "--json"]),
        "dave-password-1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dave: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dave["username"], "dave");
    assert_eq!(dave["groups"], serde_json::json!(["admins"]));

    // From a script with nothing on standard input: a password is made and
    // shown once, as on a terminal. One piped in that is too short says so.
    let out = run_with_stdin(ferrid().arg("--config").arg(&config).args(["user", "add", "erin"]), "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = stderr.split("password (shown once): ").nth(1).expect("a generated password").trim();
    assert!(shown.len() >= 16, "{stderr}");
    let out = run_with_stdin(ferrid().arg("--config").arg(&config).args(["user", "add", "frank"]), "short\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the password given on standard input is refused: password must be between 8"), "{stderr}");

    let out = ferrid()
        .arg("--config")
        .arg(&config)
        .args([
            "app",
            "add",
            "grafana",
            "--redirect-uri",
            "https://grafana.example/login",
            "--signing-alg",
            "ES256",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let grafana: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = grafana["client_secret"].as_str().expect("secret shown once").to_owned();
    assert_eq!(secret.len(), 43, "256-bit secret");

    // The running server knows the new application at once.
    let doc = blocking_get(&format!("{base}/application/o/grafana/.well-known/openid-configuration")).unwrap();
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["issuer"], format!("{public}/application/o/grafana/"));
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["ES256"]));
    let status = rt.block_on(async { client_credentials(&base, "grafana", &secret).await.status() });
    assert_eq!(status, 200);

    let out = ferrid()
        .arg("--config")
        .arg(&config)
        .args(["audit", "--user", "dave", "--since", "1h", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trail: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(trail[0]["kind"], "user_changed");
    assert_eq!(trail[0]["detail"], "user added");

    // A script's client: no redirect URI, client_credentials only.
    let out = ferrid()
        .arg("--config")
        .arg(&config)
        .args(["app", "add", "backup-script", "--machine", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let script: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(script["redirect_uris"], serde_json::json!([]));
    let status = rt.block_on(async {
        client_credentials(&base, "backup-script", script["client_secret"].as_str().unwrap()).await.status()
    });
    assert_eq!(status, 200);
    let refused = ferrid().arg("--config").arg(&config).args(["app", "add", "nowhere"]).output().unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--redirect-uri"), "still required otherwise");

    // Disabled, then enabled again with `user enable`.
    let out = ferrid().arg("--config").arg(&config).args(["user", "disable", "dave"]).output().unwrap();
    assert!(out.status.success());
    let out = ferrid().arg("--config").arg(&config).args(["user", "enable", "dave"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = ferrid().arg("--config").arg(&config).args(["user", "list", "--json"]).output().unwrap();
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(users[1]["disabled"], false, "dave is enabled again");
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "dave", "erin"], "and not frank, whose password was refused");

    let out = ferrid().arg("--config").arg(&config).args(["keys", "rotate", "--alg", "RS256"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jwks: Value = serde_json::from_str(&blocking_get(&format!("{base}/application/o/web/jwks/")).unwrap()).unwrap();
    let rsa = jwks["keys"].as_array().unwrap().iter().filter(|k| k["kty"] == "RSA").count();
    assert_eq!(rsa, 2, "old and new RSA keys are both published");
    drop(server);

    // With the server stopped, the same commands work on the store directly.
    let out = ferrid().arg("--config").arg(&config).args(["keys", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(keys.as_array().unwrap().iter().any(|k| k["status"] == "published"));
}

/// The printed first-start password signs `admin` in through the real form.
/// Returns every secret the flow handled: code, access, id and refresh tokens.
async fn sign_in_as_admin(public: &str, password: &str) -> Vec<String> {
    let browser = browser();
    let params =
        [("response_type", "code"), ("client_id", "web"), ("redirect_uri", WEB_CB), ("scope", "openid profile")];
    let response = browser.get(format!("{public}/application/o/authorize/")).query(&params).send().await.unwrap();
    let login = location(&response);
    let html = browser.get(format!("{public}{login}")).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", "admin".to_owned()),
        ("password", password.to_owned()),
    ];
    let response = browser.post(format!("{public}/login")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303, "admin signs in with the printed password");
    let code = query_of(&location(&response))["code"].clone();
    let token_form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_CB)];
    let tokens: Value = reqwest::Client::new()
        .post(format!("{public}/application/o/token/"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&token_form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me: Value = reqwest::Client::new()
        .get(format!("{public}/application/o/userinfo/"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["preferred_username"], "admin");
    let mut secrets = vec![code];
    for key in ["access_token", "id_token"] {
        secrets.push(tokens[key].as_str().unwrap().to_owned());
    }
    secrets
}

#[test]
fn no_secret_reaches_the_debug_log_and_sigterm_stops_cleanly() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let log = dir.path().join("ferrid.log");
    let mut server = serve_logging(&config, Some(&log), &[]);
    let public = server.base.clone();
    let printed = server.printed_until("Created user `admin`");
    let password = printed
        .split("Created user `admin` with password: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut secrets = rt.block_on(sign_in_as_admin(&public, &password));
    // A wrong password too: it must not be logged either.
    let wrong = "Wrong-Horse-Battery-42";
    rt.block_on(async {
        let browser = browser();
        let params = [("response_type", "code"), ("client_id", "web"), ("redirect_uri", WEB_CB), ("scope", "openid")];
        let r = browser.get(format!("{public}/application/o/authorize/")).query(&params).send().await.unwrap();
        let html = browser.get(format!("{public}{}", location(&r))).send().await.unwrap().text().await.unwrap();
        let form = [
            ("tx", hidden_field(&html, "tx").unwrap()),
            ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
            ("username", "admin".to_owned()),
            ("password", wrong.to_owned()),
        ];
        browser.post(format!("{public}/login")).form(&form).send().await.unwrap();
    });
    secrets.extend([password, wrong.to_owned(), WEB_SECRET.to_owned()]);
    // Two machine tokens: the second is only counted until the minute ends or the server stops.
    rt.block_on(async {
        for _ in 0..2 {
            assert_eq!(client_credentials(&public, "web", WEB_SECRET).await.status(), 200);
        }
    });

    // SIGTERM: a graceful stop, exit status 0, the admin endpoint file removed,
    // and the machine-token count written to the audit trail.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?} after SIGTERM");
    assert!(!dir.path().join("data/admin.json").exists());
    let trail = ferrid().arg("--config").arg(&config).args(["audit", "--app", "web"]).output().unwrap();
    let trail = String::from_utf8_lossy(&trail.stdout);
    assert!(trail.contains("client_credentials: 1 more in the 60 s after the first"), "{trail}");

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("DEBUG") || logged.contains("INFO"), "the log was captured: {logged}");
    assert!(logged.contains("signed in"), "the flow was logged");
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a secret reached the log: {}…", &secret[..8.min(secret.len())]);
    }
}

#[test]
fn a_damaged_database_stops_start_up_with_advice_and_is_never_replaced_by_an_empty_one() {
    for damage in ["data file overwritten, conf gone", "conf garbled"] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        let data = dir.path().join("data");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:0\ndata_dir: {}\nkeys_dir: {}\n",
                data.display(),
                dir.path().join("keys").display()
            ),
        )
        .unwrap();
        // An admin command makes no database: the first start does.
        let refused =
            run_with_stdin(ferrid().arg("--config").arg(&config).args(["user", "add", "carol"]), "carol-password-1\n");
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(&format!("no ferrid database at {}", data.display()))
        );
        assert!(!data.exists(), "and none was made");
        drop(serve(&config));
        let out =
            run_with_stdin(ferrid().arg("--config").arg(&config).args(["user", "add", "carol"]), "carol-password-1\n");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let db = data.join("db");
        if damage.starts_with("data file") {
            let noise: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
            std::fs::write(db.join("db"), noise).unwrap();
            std::fs::remove_file(db.join("conf")).unwrap();
        } else {
            std::fs::write(db.join("conf"), b"\xff\xfe garbage").unwrap();
        }
        for sub in [&["user", "list"][..], &["serve"][..]] {
            let out = ferrid().arg("--config").arg(&config).args(sub).output().unwrap();
            assert!(!out.status.success(), "{damage}: {sub:?} accepted a damaged database");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(&data.display().to_string()) && stderr.contains("backup"), "{damage}: {stderr}");
        }
    }
}

#[test]
fn hsts_is_sent_when_the_public_url_is_https_and_not_otherwise() {
    for (public, expect_hsts) in [("https://id.home.example", true), ("", false)] {
        let config = binary_config(if public.is_empty() { None } else { Some(public) }, |yaml| yaml);
        let server = serve(&config.path);
        let local = server.base.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let response = rt.block_on(reqwest::get(format!("{local}/application/o/web/jwks/"))).unwrap();
        let hsts = response.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(hsts.is_some(), expect_hsts, "{public:?}: {hsts:?}");
    }
}

#[test]
fn json_logs_carry_the_request_id_the_client_saw() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let log = dir.path().join("ferrid.log");
    let server = serve_logging(&config, Some(&log), &["--log-format", "json"]);
    let base = server.base.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let request_id = rt.block_on(async {
        let response = reqwest::get(format!("{base}/healthz")).await.unwrap();
        response.headers()["x-request-id"].to_str().unwrap().to_owned()
    });
    // The request's log line is written after its response: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log).unwrap().contains(&request_id) {
        assert!(std::time::Instant::now() < deadline, "no log line carries {request_id}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let handled = lines
        .iter()
        .find(|l| l["span"]["id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no log line for request {request_id}:\n{text}"));
    assert_eq!(handled["fields"]["message"], "handled");
    assert_eq!(handled["fields"]["status"], 200);
    assert_eq!(handled["span"]["path"], "/healthz");
}

#[tokio::test]
async fn a_closed_pipe_ends_ferrid_audit_quietly_as_head_expects() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let app = spawn_app().await;
    // Far more than a pipe holds (64 KiB), so the writes meet the closed end.
    for i in 0..2_000 {
        let event = ferrid::store::AuditEvent::new(ferrid::store::AuditKind::UserChanged, app.clock.now())
            .user(format!("user{i}"))
            .detail("a line of the audit trail, long enough to fill a pipe soon");
        app.state.store.record(&event);
    }
    let config = app.config_path.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrid"))
            .arg("--config")
            .arg(&config)
            .args(["audit", "--since", "1h"])
            .env("FERRID_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout); // what `head` does once it has its lines
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "ended by SIGPIPE, quietly: {:?}", out.status);
}

#[test]
fn paths_in_the_config_file_mean_the_folder_beside_it_wherever_the_cli_runs() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc/ferrid");
    std::fs::create_dir_all(&etc).unwrap();
    let config = etc.join("config.yaml");
    std::fs::write(&config, "listen: 127.0.0.1:0\ndata_dir: ./data\n").unwrap();
    let elsewhere = dir.path().join("home");
    std::fs::create_dir_all(&elsewhere).unwrap();

    // First start, from another folder: the database goes beside the config.
    let child = ferrid()
        .current_dir(&elsewhere)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(crate::binary::await_server(child));
    assert!(etc.join("data").is_dir() && etc.join("keys").is_dir(), "data and keys beside config.yaml");

    let out = ferrid().current_dir(&elsewhere).arg("--config").arg(&config).args(["user", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin"), "the same database: the first-start admin");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing made where the command ran");
}

#[test]
fn healthcheck_exits_0_while_the_server_answers_and_1_when_it_is_gone() {
    let BinaryConfig { dir: _dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let server = serve(&config);
    let base = server.base.clone();
    let check = || ferrid().arg("--config").arg(&config).args(["healthcheck", "--url", &base]).output().unwrap();
    let up = check();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert!(String::from_utf8_lossy(&up.stdout).contains("/healthz: 200 OK"));
    drop(server);
    let down = check();
    assert_eq!(down.status.code(), Some(1), "{}", String::from_utf8_lossy(&down.stderr));
}

#[test]
fn groups_and_applications_are_renamed_updated_and_removed_through_the_running_server() {
    let BinaryConfig { dir: _dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let _server = serve(&config);
    let run = |args: &[&str]| {
        let out = ferrid().arg("--config").arg(&config).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["group", "add", "ops"]);
    run(&["app", "add", "cron", "--machine"]);
    let updated: Value = serde_json::from_str(&run(&[
        "app",
        "update",
        "cron",
        "--name",
        "Nightly backup",
        "--allowed-groups",
        "ops",
        "--claim",
        "role: ops=backup,restore",
        "--consent",
        "once",
        "--json",
    ]))
    .unwrap();
    assert_eq!(updated["name"], "Nightly backup");
    assert_eq!(updated["claim_mappings"], serde_json::json!(["role: ops=backup,restore"]));
    assert_eq!(
        run(&["group", "rename", "ops", "sre"]),
        "group ops renamed to sre; 0 member(s) and 1 application(s) updated\n"
    );
    let shown: Value = serde_json::from_str(&run(&["app", "show", "cron", "--json"])).unwrap();
    assert_eq!(shown["allowed_groups"], serde_json::json!(["sre"]));
    let user = run(&["user", "update", "admin", "--email", "root@home.lan"]);
    assert!(user.contains("root@home.lan"), "{user}");
    assert!(run(&["app", "remove", "cron"]).starts_with("cron removed;"));
    let out = ferrid().arg("--config").arg(&config).args(["app", "show", "cron"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no application with slug cron"));
}

#[test]
fn user_invite_and_user_link_print_one_time_links_the_running_server_honours() {
    let BinaryConfig { dir: _dir, path: config, public } = binary_config(None, |yaml| yaml);
    let server = serve(&config);
    let run = |args: &[&str]| {
        let out = ferrid().arg("--config").arg(&config).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let printed = run(&["user", "invite", "erin", "--groups", "admins"]);
    // "Invitation for erin (link_…), works once until …:" then the URL alone on its line.
    let mut lines = printed.lines();
    assert!(lines.next().unwrap().starts_with("Invitation for erin (link_"), "{printed}");
    let invitation = lines.next().unwrap().to_owned();
    assert!(invitation.starts_with(&format!("{public}/setup/")), "{printed}");
    // Reached here at the server's own address (public_url names the host a proxy would serve).
    let invitation = invitation.replace(&public, &server.base);
    let link: Value = serde_json::from_str(&run(&["user", "link", "erin", "--json"])).unwrap();
    let recovery = link["url"].as_str().unwrap().to_owned();
    assert!(recovery.starts_with(&format!("{public}/recover/")), "{link}");
    let recovery = recovery.replace(&public, &server.base);
    let listed: Value = serde_json::from_str(&run(&["user", "links", "erin", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains("/setup/"), "a listing never holds a link's secret: {listed}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        assert_eq!(reqwest::get(&invitation).await.unwrap().status(), 200);
        let revoked = run(&["user", "revoke-link", link["id"].as_str().unwrap()]);
        assert!(revoked.contains("recovery"), "{revoked}");
        assert_eq!(reqwest::get(&recovery).await.unwrap().status(), 410);
    });
}

/// `app add` and `app update` set the per-client switches on a running
/// server (its discovery and token endpoint follow at once), refuse the
/// ones a client cannot take, and `app values` prints what to paste:
/// OpenID Connect's names, or Grafana's, never the secret.
#[test]
fn app_add_and_update_take_the_client_switches_and_app_values_names_the_endpoints() {
    let BinaryConfig { dir: _dir, public, path: config } = binary_config(None, |yaml| yaml);
    let server = serve(&config);
    let base = server.base.clone();
    let run = |args: &[&str]| ferrid().arg("--config").arg(&config).args(args).output().unwrap();
    let json = |args: &[&str]| {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let discovery = |slug: &str| {
        let doc = blocking_get(&format!("{base}/application/o/{slug}/.well-known/openid-configuration")).unwrap();
        serde_json::from_str::<Value>(&doc).unwrap()
    };

    let grafana = json(&[
        "app",
        "add",
        "grafana",
        "--redirect-uri",
        "https://grafana.example/login/generic_oauth",
        "--pkce",
        "required",
        "--token-endpoint-auth-method",
        "client_secret_post",
        "--id-token-claims",
        "minimal",
        "--json",
    ]);
    let secret = grafana["client_secret"].as_str().expect("shown once").to_owned();
    assert_eq!(grafana["pkce"], "required");
    assert_eq!(grafana["token_endpoint_auth_methods"], serde_json::json!(["client_secret_post"]));
    assert_eq!(grafana["id_token_claims"], "minimal");
    assert_eq!(
        discovery("grafana")["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_post"])
    );
    // Basic is not allowed now: the running server refuses it.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(async { client_credentials(&base, "grafana", &secret).await.status() }), 401);

    let updated = json(&[
        "app",
        "update",
        "grafana",
        "--pkce",
        "optional",
        "--token-endpoint-auth-method",
        "client_secret_basic,client_secret_post",
        "--id-token-claims",
        "full",
        "--json",
    ]);
    assert_eq!(updated["pkce"], "optional");
    assert_eq!(
        updated["token_endpoint_auth_methods"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(updated["id_token_claims"], "full");
    assert_eq!(rt.block_on(async { client_credentials(&base, "grafana", &secret).await.status() }), 200);
    // Only what is given changes.
    let again = json(&["app", "update", "grafana", "--token-endpoint-auth-method", "client_secret_basic", "--json"]);
    assert_eq!((again["pkce"].as_str(), again["id_token_claims"].as_str()), (Some("optional"), Some("full")));

    // What a client cannot take is refused, with the reason, and nothing changes.
    for (args, says) in [
        (&["app", "update", "grafana", "--pkce", "sometimes"][..], "\"sometimes\" is not required or optional"),
        (&["app", "update", "grafana", "--id-token-claims", "tiny"][..], "not full or minimal"),
        (&["app", "update", "grafana", "--token-endpoint-auth-method", "private_key_jwt"][..], "private_key_jwt"),
        (
            &["app", "add", "fresh-spa", "--public", "--redirect-uri", "https://spa.example/cb", "--pkce", "optional"]
                [..],
            "a public client always sends PKCE",
        ),
        (
            &[
                "app",
                "add",
                "fresh-spa",
                "--public",
                "--redirect-uri",
                "https://spa.example/cb",
                "--token-endpoint-auth-method",
                "client_secret_post",
            ][..],
            "a public client has no secret to send",
        ),
        (&["app", "add", "fresh-gate", "--proxy", "gate.example", "--pkce", "required"][..], "proxy application"),
        (&["app", "update", "web", "--pkce", "required"][..], "declared in config.yaml"),
        (&["app", "values", "grafana", "--for", "gitlab"][..], "is not one of grafana, proxmox"),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(
        json(&["app", "show", "grafana", "--json"])["token_endpoint_auth_methods"],
        again["token_endpoint_auth_methods"]
    );
    let listed = json(&["app", "list", "--json"]);
    assert!(
        listed.as_array().unwrap().iter().all(|a| a["slug"] != "fresh-spa" && a["slug"] != "fresh-gate"),
        "{listed}"
    );

    // The values to paste: OpenID Connect's names, with this server's URLs.
    let out = run(&["app", "values", "grafana"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for (name, value) in [
        ("issuer", format!("{public}/application/o/grafana/")),
        ("discovery", format!("{public}/application/o/grafana/.well-known/openid-configuration")),
        ("client_id", "grafana".to_owned()),
        ("authorization_endpoint", format!("{public}/application/o/authorize/")),
        ("token_endpoint", format!("{public}/application/o/token/")),
        ("userinfo_endpoint", format!("{public}/application/o/userinfo/")),
        ("end_session_endpoint", format!("{public}/application/o/grafana/end-session/")),
        ("jwks_uri", format!("{public}/application/o/grafana/jwks/")),
        ("scopes", "openid profile email".to_owned()),
        ("redirect_uri", "https://grafana.example/login/generic_oauth".to_owned()),
        ("token_endpoint_auth_methods", "client_secret_basic".to_owned()),
    ] {
        let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{name} "))).unwrap_or_default();
        assert_eq!(line.split_whitespace().skip(1).collect::<Vec<_>>().join(" "), value, "{name}:\n{text}");
    }
    assert_eq!(discovery("grafana")["issuer"], format!("{public}/application/o/grafana/"), "the same issuer");
    assert!(text.contains("Client secret: not shown: ferrid keeps only its hash"), "{text}");
    assert!(!text.contains(&secret), "never the secret: {text}");

    // Under Grafana's own names, as grafana.ini takes them.
    let out = run(&["app", "values", "grafana", "--for", "grafana"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in [
        "[auth.generic_oauth]".to_owned(),
        "client_id = grafana".to_owned(),
        format!("auth_url = {public}/application/o/authorize/"),
        format!("token_url = {public}/application/o/token/"),
        format!("api_url = {public}/application/o/userinfo/"),
        "use_pkce = true".to_owned(),
        "auth_style = InHeader".to_owned(),
        "client_secret = <client secret of grafana>".to_owned(),
    ] {
        assert!(text.lines().any(|l| l.trim() == line), "{line:?} in:\n{text}");
    }
    // PKCE is optional again: the values say Grafana sends it.
    assert!(text.contains("Note: this application sends PKCE: `ferrid app update grafana --pkce required`"), "{text}");
    assert!(!text.contains(&secret), "{text}");

    // A declared application, for Proxmox: the realm command, and the
    // switch to set in config.yaml rather than with `app update`.
    let web = json(&["app", "values", "web", "--for", "proxmox", "--json"]);
    let snippet = web["snippet"].as_str().unwrap();
    assert!(snippet.starts_with("pveum realm add ferrid --type openid"), "{snippet}");
    assert!(snippet.contains(&format!("--issuer-url {public}/application/o/web/")), "{snippet}");
    assert!(web["notes"].to_string().contains("`pkce: required` in config.yaml"), "{web}");
    assert_eq!(web["guide"], "docs/integrations/proxmox.md");
}
