//! SIGKILL in the middle of a load of sign-ins, token grants, user and app
//! creation; after a restart, everything that was reported as created exists
//! and every refresh token handed out still works.

use crate::helpers::*;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn ferrid(config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
    command.arg("--config").arg(config).env("FERRID_LOG", "warn");
    command
}

/// Starts the binary and waits until it answers (on the port it bound).
fn start(config: &std::path::Path) -> crate::binary::Server {
    let child = ferrid(config).arg("serve").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    crate::binary::await_server(child)
}

fn cli_ok(config: &std::path::Path, args: &[&str], stdin: &str) -> bool {
    let Ok(mut child) =
        ferrid(config).args(args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()
    else {
        return false;
    };
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait().is_ok_and(|s| s.success())
}

/// A code flow with offline_access for `runner`; the refresh token, if the
/// server answered.
async fn refresh_token_for_runner(public: &str) -> Option<String> {
    let browser = browser();
    let params =
        [("response_type", "code"), ("client_id", "web"), ("redirect_uri", WEB_CB), ("scope", "openid offline_access")];
    let r = browser.get(format!("{public}/application/o/authorize/")).query(&params).send().await.ok()?;
    let login = r.headers().get("location")?.to_str().ok()?.to_owned();
    let html = browser.get(format!("{public}{login}")).send().await.ok()?.text().await.ok()?;
    let form = [
        ("tx", hidden_field(&html, "tx")?),
        ("csrf_token", hidden_field(&html, "csrf_token")?),
        ("username", "runner".to_owned()),
        ("password", "runner-password-1".to_owned()),
    ];
    let r = browser.post(format!("{public}/login")).form(&form).send().await.ok()?;
    let code = query_of(r.headers().get("location")?.to_str().ok()?).get("code")?.clone();
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_CB)];
    let r = reqwest::Client::new()
        .post(format!("{public}/application/o/token/"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&form)
        .send()
        .await
        .ok()?;
    let tokens: Value = r.json().await.ok()?;
    tokens["refresh_token"].as_str().map(str::to_owned)
}

#[test]
fn sigkill_under_load_loses_nothing_that_was_reported_created() {
    // Generous limits: this test is the load.
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| {
        yaml.replace(
            "rate_limits: { userinfo: 20 }",
            "rate_limits: { authorize: 100000, sign_in: 100000, token: 100000 }",
        )
    });

    let mut server = start(&config);
    assert!(cli_ok(&config, &["user", "add", "runner"], "runner-password-1\n"));
    let kid_before = std::fs::read_dir(dir.path().join("keys")).unwrap().count();

    let users = Arc::new(Mutex::new(Vec::<String>::new()));
    let apps = Arc::new(Mutex::new(Vec::<String>::new()));
    let refresh_tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let rounds = 3;
    let counts = || (users.lock().unwrap().len(), apps.lock().unwrap().len(), refresh_tokens.lock().unwrap().len());
    for round in 0..rounds {
        let start_counts = counts();
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        {
            let (stop, users, config) = (stop.clone(), users.clone(), config.clone());
            workers.push(std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("crash-{round}-{i}");
                    if cli_ok(&config, &["user", "add", &name], "crash-password-1\n") {
                        users.lock().unwrap().push(name);
                    }
                }
            }));
        }
        {
            let (stop, apps, config) = (stop.clone(), apps.clone(), config.clone());
            workers.push(std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let slug = format!("crash-app-{round}-{i}");
                    if cli_ok(&config, &["app", "add", &slug, "--redirect-uri", "https://x.example/cb"], "") {
                        apps.lock().unwrap().push(slug);
                    }
                }
            }));
        }
        for _ in 0..2 {
            let (stop, refresh_tokens, public) = (stop.clone(), refresh_tokens.clone(), server.base.clone());
            workers.push(std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(token) = rt.block_on(refresh_token_for_runner(&public)) {
                        refresh_tokens.lock().unwrap().push(token);
                    }
                }
            }));
        }
        // Kill once this round's load has made users, applications and
        // refresh tokens (a condition, not a guess at how long that takes).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (u, a, r) = counts();
            if u >= start_counts.0 + 3 && a >= start_counts.1 + 3 && r >= start_counts.2 + 3 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the load made too little progress: {:?}", (u, a, r));
            std::thread::sleep(Duration::from_millis(20));
        }
        server.child.kill().unwrap(); // SIGKILL, mid-load
        let _ = server.child.wait();
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.join().unwrap();
        }
        // Back up, on another port (the issuer is public_url's, unchanged).
        server = start(&config);
    }

    // Everything reported as created is there.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let out = ferrid(&config).args(["user", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    let users = users.lock().unwrap().clone();
    let apps = apps.lock().unwrap().clone();
    let refresh_tokens = refresh_tokens.lock().unwrap().clone();
    assert!(!users.is_empty() && !apps.is_empty() && !refresh_tokens.is_empty(), "the load did something");
    for user in &users {
        assert!(names.contains(&user.as_str()), "user {user} was reported created but is gone");
    }
    for slug in &apps {
        let url = server.url(&format!("/application/o/{slug}/.well-known/openid-configuration"));
        assert_eq!(rt.block_on(reqwest::get(url)).unwrap().status(), 200, "app {slug} is gone");
    }
    for token in &refresh_tokens {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
        let response = rt
            .block_on(
                reqwest::Client::new()
                    .post(server.url("/application/o/token/"))
                    .basic_auth("web", Some(WEB_SECRET))
                    .form(&form)
                    .send(),
            )
            .unwrap();
        assert_eq!(response.status(), 200, "a refresh token handed out before the crash no longer works");
    }
    assert_eq!(std::fs::read_dir(dir.path().join("keys")).unwrap().count(), kid_before, "keys survived");
    eprintln!(
        "crash rounds survived: {rounds}; users {}, apps {}, refresh tokens {} checked",
        users.len(),
        apps.len(),
        refresh_tokens.len()
    );
    drop(server);
}
