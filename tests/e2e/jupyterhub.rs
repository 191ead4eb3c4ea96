//! JupyterHub signing in through the real binary: JupyterHub and
//! oauthenticator's `GenericOAuthenticator` from PyPI (pinned with their
//! hashes in tests/e2e/requirements.txt, in the virtualenv scripts/test.sh
//! makes at tests/e2e/.venv), behind the real configurable-http-proxy from
//! npm, configured by tests/e2e/rp/jupyterhub_config.py. ferrid declares
//! the application in config.yaml as an operator would, with the strictest
//! switches JupyterHub passes: PKCE required, the secret only in the form.
//!
//! Two layers decide who gets in: ferrid lets the groups jupyter-users,
//! jupyter-admins and staff use JupyterHub at all; JupyterHub, reading the
//! `groups` claim from userinfo, lets in jupyter-users, and jupyter-admins
//! as its admins. So staff pass ferrid and are refused by JupyterHub, and a
//! user in none of them is refused by ferrid before JupyterHub sees a code.

use crate::binary::{Server, ferrid, run_with_stdin, serve_logging};
use crate::helpers::*;
use crate::nodered::{free_port, node_modules};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "jupyterhub-secret-0123456789";

/// JupyterHub's message for a user its `allowed_groups` leave out
/// (oauthenticator's default `custom_403_message`).
const NOT_ALLOWED: &str = "Sorry, you are not currently authorized to use this hub.";

fn venv_bin(name: &str) -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/.venv/bin").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run ./scripts/test.sh (it makes tests/e2e/.venv from tests/e2e/requirements.txt)",
        bin.display()
    );
    bin
}

/// Prints a process's log when the test fails, for whoever reads CI's output.
struct LogOnPanic(&'static str, PathBuf);

impl Drop for LogOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            eprintln!("---- {}'s log ----\n{log}\n---- end of {}'s log ----", self.0, self.0);
        }
    }
}

/// JupyterHub and the proxy it starts, in a process group of their own:
/// stopped together on drop (SIGTERM, so that JupyterHub stops its proxy;
/// SIGKILL for whatever is left after 5 s).
struct Hub {
    child: Child,
    /// Where the browser reaches JupyterHub: the proxy.
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Hub {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) of the process group this Hub made.
        unsafe { libc::kill(-(self.child.id() as i32), signal) };
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- JupyterHub's log ----\n{}\n---- end of JupyterHub's log ----", self.log());
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Starts JupyterHub on `port` with ferrid at `ferrid` and waits (60 s at
/// most) until its login page answers through the proxy. Blocking.
fn start_hub(port: u16, ferrid_url: &str) -> Hub {
    let jupyterhub = venv_bin("jupyterhub");
    let chp = node_modules().join(".bin/configurable-http-proxy");
    assert!(chp.is_file(), "configurable-http-proxy is not in tests/e2e/node_modules: run ./scripts/test.sh");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/rp/jupyterhub_config.py");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("jupyterhub.log");
    let out = std::fs::File::create(&log).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(jupyterhub)
        .arg("--config")
        .arg(config)
        .current_dir(dir.path())
        .env("FERRID_URL", ferrid_url)
        .env("FERRID_CLIENT_SECRET", SECRET)
        .env("HUB_URL", &url)
        .env("HUB_STATE_DIR", dir.path())
        .env("HUB_API_PORT", free_port().to_string())
        .env("PROXY_API_PORT", free_port().to_string())
        .env("PROXY_TOKEN", ferrid::crypto::secrets::random_token().unwrap())
        // A node script: node comes from PATH.
        .env("CHP", chp)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("JupyterHub starts");
    let mut hub = Hub { child, url, log, _dir: dir };
    let login = format!("{}/hub/login", hub.url);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if crate::binary::blocking_get(&login).is_some_and(|page| page.contains("Sign in with ferrid")) {
            return hub;
        }
        if let Ok(Some(status)) = hub.child.try_wait() {
            panic!("JupyterHub exited ({status}) before its login page answered:\n{}", hub.log());
        }
        assert!(Instant::now() < deadline, "JupyterHub's login page did not answer at {login}:\n{}", hub.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// ferrid's config.yaml: its groups, and JupyterHub declared as an
/// operator would, its callback on `hub`.
fn jupyterhub_yaml(yaml: String, hub: &str) -> String {
    let groups = "groups:\n  - name: jupyter-users\n  - name: jupyter-admins\n  - name: staff\n";
    format!(
        r#"{yaml}  - slug: jupyterhub
    name: JupyterHub
    client_id: jupyterhub
    client_secret_sha256: {digest}
    redirect_uris: ["{hub}/hub/oauth_callback"]
    allowed_groups: [jupyter-users, jupyter-admins, staff]
    # What JupyterHub (oauthenticator 17) does by default, and so may be required of it.
    pkce: required
    token_endpoint_auth_methods: [client_secret_post]
"#,
        yaml = yaml.replacen("groups:\n", groups, 1),
        digest = ferrid::crypto::secrets::Digest::of(SECRET).to_hex()
    )
}

/// `ferrid user add NAME --groups ...` against the running server.
fn add_user(config: &Path, name: &str, groups: &str) -> TestUser {
    let password = format!("{name}-password-0123");
    let mut command = ferrid();
    command.arg("--config").arg(config).args(["user", "add", name, "--json"]);
    if !groups.is_empty() {
        command.args(["--groups", groups]);
    }
    let out = run_with_stdin(&mut command, &format!("{password}\n"));
    assert!(out.status.success(), "user add {name}: {}", String::from_utf8_lossy(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    TestUser { username: name.into(), password, sub: added["sub"].as_str().unwrap_or_default().into() }
}

/// A browser's way from JupyterHub's "Sign in with ferrid" through ferrid's
/// sign-in form; returns ferrid's answer to the form (a redirect to
/// JupyterHub's callback, or a refusal).
async fn sign_in_at_ferrid(browser: &reqwest::Client, hub: &str, ferrid: &str, user: &TestUser) -> reqwest::Response {
    let response = browser.get(format!("{hub}/hub/oauth_login?next=%2Fhub%2Fhome")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let authorize = location(&response);
    assert!(authorize.starts_with(&format!("{ferrid}/application/o/authorize/?")), "{authorize}");
    let params = query_of(&authorize);
    assert_eq!(params.get("code_challenge_method").map(String::as_str), Some("S256"), "PKCE: {authorize}");
    assert_eq!(params["scope"], "openid profile email groups");
    let response = browser.get(&authorize).send().await.unwrap();
    assert_eq!(response.status(), 303, "to ferrid's sign-in form");
    sign_in_with(browser, ferrid, &location(&response), &user.username, &user.password).await
}

/// What the hub says of the browser's session: `/hub/api/user` with its
/// cookies (status, body).
async fn hub_user(browser: &reqwest::Client, hub: &str) -> (reqwest::StatusCode, String) {
    let response = browser.get(format!("{hub}/hub/api/user")).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// A user signs in at JupyterHub through ferrid and reaches the hub's home
/// page; returns what `/hub/api/user` says of them.
async fn signs_in_to_the_hub(hub: &str, ferrid: &str, user: &TestUser) -> Value {
    let browser = browser();
    let response = sign_in_at_ferrid(&browser, hub, ferrid, user).await;
    assert_eq!(response.status(), 303, "{} passes ferrid", user.username);
    let callback = location(&response);
    assert!(callback.starts_with(&format!("{hub}/hub/oauth_callback?code=")), "{callback}");
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), 302, "JupyterHub took {}'s code", user.username);
    assert_eq!(location(&response), "/hub/home", "on to where the sign-in started");
    let response = browser.get(format!("{hub}/hub/home")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let home = response.text().await.unwrap();
    assert!(home.contains(&format!(r#"<span class="me-1">{}</span>"#, user.username)), "named on the page: {home}");
    let (status, body) = hub_user(&browser, hub).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn jupyterhub_lets_its_groups_in_through_ferrid_and_refuses_the_rest() {
    let (ferrid_port, hub_port) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{ferrid_port}");
    let hub_url = format!("http://127.0.0.1:{hub_port}");
    let config = binary_config(Some(&public), |yaml| {
        jupyterhub_yaml(yaml.replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{ferrid_port}")), &hub_url)
    });
    let ferrid_log = config.dir.path().join("ferrid.log");
    let _ferrid_log = LogOnPanic("ferrid", ferrid_log.clone());
    // Both wait for their process to answer, blocking: off this runtime,
    // and side by side (JupyterHub takes seconds to start).
    let public_ = public.clone();
    let hub = tokio::task::spawn_blocking(move || start_hub(hub_port, &public_));
    let path = config.path.clone();
    let server: Server =
        tokio::task::spawn_blocking(move || serve_logging(&path, Some(&ferrid_log), &[])).await.unwrap();
    let hub = hub.await.unwrap();
    let alice = add_user(&config.path, "alice", "jupyter-users");
    let ada = add_user(&config.path, "ada", "jupyter-admins");
    let sam = add_user(&config.path, "sam", "staff");
    let carol = add_user(&config.path, "carol", "");

    // In jupyter-users: on the hub under her own name, in her group, not an admin.
    let me = signs_in_to_the_hub(&hub.url, &public, &alice).await;
    assert_eq!(me["name"], "alice", "{me}");
    assert_eq!(me["admin"], false, "{me}");
    assert_eq!(me["groups"], serde_json::json!(["jupyter-users"]), "{me}");

    // In jupyter-admins: let in as an admin.
    let me = signs_in_to_the_hub(&hub.url, &public, &ada).await;
    assert_eq!((me["name"].clone(), me["admin"].clone()), ("ada".into(), true.into()), "{me}");

    // In staff only: ferrid lets sam through, JupyterHub refuses him and
    // keeps no session for him.
    let sams = browser();
    let response = sign_in_at_ferrid(&sams, &hub.url, &public, &sam).await;
    assert_eq!(response.status(), 303, "ferrid's policy lets staff use JupyterHub");
    let response = sams.get(location(&response)).send().await.unwrap();
    assert_eq!(response.status(), 403, "JupyterHub refuses sam");
    let page = response.text().await.unwrap();
    assert!(page.contains(NOT_ALLOWED), "{page}");
    let (status, body) = hub_user(&sams, &hub.url).await;
    assert_eq!(status, 403, "no hub session for sam: {body}");
    let response = sams.get(format!("{}/hub/home", hub.url)).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert!(location(&response).starts_with("/hub/login"), "{}", location(&response));
    assert!(hub.log().contains("User 'sam' not allowed."), "JupyterHub's reason, in its log");

    // In none of the groups: ferrid refuses carol itself; JupyterHub never
    // gets a code for her.
    let carols = browser();
    let response = sign_in_at_ferrid(&carols, &hub.url, &public, &carol).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("location").is_none(), "no way on to JupyterHub");
    assert!(response.text().await.unwrap().contains("may not use JupyterHub"));
    assert!(!hub.log().contains("carol"), "JupyterHub never heard of carol");
    drop(server);
}
