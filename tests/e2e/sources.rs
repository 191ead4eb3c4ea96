//! Signing in through a source, with the real binary and a certified
//! provider: oidc-provider from npm (pinned in package-lock.json) as the
//! upstream, ferrid reading the source's secret from the environment as
//! an operator gives it. The browser goes from ferrid's sign-in page to
//! the provider and back; ferrid makes the account (in the group the
//! provider's `groups` claim maps to) and the application gets its code.

use crate::binary::{Server, await_server, ferrid};
use crate::helpers::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SECRET: &str = "the-provider-knows-ferrid-by-this-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// oidc-provider on `port`, with ferrid (at `ferrid`) as its client.
fn provider(port: u16, ferrid: &str) -> Child {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/rp/oidc_provider_op.mjs");
    let callback = format!("{ferrid}/source/oauth/callback/corp/");
    let mut child = Command::new("node")
        .arg(script)
        .args([port.to_string(), "ferrid".into(), SECRET.into(), callback])
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("LISTENING "), "oidc-provider said {first:?}");
    // Read on, so that what it prints later finds the pipe open.
    std::thread::spawn(move || stdout.lines().for_each(drop));
    child
}

/// The real binary at `public` (its listen port fixed so that the
/// provider knows the redirect URI beforehand), with the provider as the
/// source `corp`, its secret in `CORP_SECRET`.
fn ferrid_with_source(public: &str, port: u16, issuer: &str) -> (BinaryConfig, Server) {
    let config = binary_config(Some(public), |yaml| {
        format!(
            "{}sources:\n  - slug: corp\n    name: Corp\n    oidc: {{ issuer: \"{issuer}\", client_id: ferrid, \
             client_secret_env: CORP_SECRET, scopes: [openid, profile, email, groups], groups_claim: groups }}\n    \
             create_users: true\n    groups: {{ ops: admins }}\n",
            yaml.replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"))
        )
    });
    let child = ferrid()
        .env("CORP_SECRET", SECRET)
        .arg("--config")
        .arg(&config.path)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (config, await_server(child))
}

#[tokio::test]
async fn a_certified_provider_signs_a_new_user_in_through_the_real_binary() {
    let (op_port, port) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{port}");
    let issuer = format!("http://127.0.0.1:{op_port}");
    let (public_, issuer_) = (public.clone(), issuer.clone());
    // Both wait for their process to answer, blocking: off this runtime.
    let (mut op, (_config, mut server)) = tokio::task::spawn_blocking(move || {
        (provider(op_port, &public_), ferrid_with_source(&public_, port, &issuer_))
    })
    .await
    .unwrap();

    let browser = browser();
    let pkce = Pkce::new();
    let params = web_params("openid profile", &pkce, "n-1", "st-1");
    let response = browser.get(server.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let html = browser.get(server.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Sign in with Corp"), "the sign-in page offers the source");
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("source", "corp".into()),
    ];
    let response = browser.post(server.url("/login/source")).form(&form).send().await.unwrap();
    let mut next = location(&response);
    assert!(next.starts_with(&format!("{issuer}/auth?")), "{next}");

    // At the provider: its redirects (sign-in, consent) until it answers ferrid.
    let callback_prefix = format!("{public}/source/oauth/callback/corp/");
    for _ in 0..10 {
        if next.starts_with(&callback_prefix) {
            break;
        }
        let url = if next.starts_with('/') { format!("{issuer}{next}") } else { next.clone() };
        let response = browser.get(&url).send().await.unwrap();
        assert!(response.status().is_redirection(), "{url}: {}", response.status());
        next = location(&response);
    }
    let answer = query_of(&next);
    assert_eq!(answer["iss"], issuer, "RFC 9207 from the provider");

    // A tampered state is refused; the real answer signs in.
    let tampered = next.replace(&format!("state={}", answer["state"]), "state=tampered");
    assert_eq!(browser.get(&tampered).send().await.unwrap().status(), 400);
    let response = browser.get(&next).send().await.unwrap();
    let back = location(&response);
    assert!(back.starts_with(WEB_CB), "on to the application: {back}");
    let code = query_of(&back)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_CB),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(server.url("/application/o/token/"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payload = tokens["id_token"].as_str().expect("an id_token").split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&ferrid::crypto::secrets::b64url_decode(payload).unwrap()).unwrap();
    assert_eq!(claims["preferred_username"], "uma", "an account made from the provider's");
    assert_eq!(claims["amr"], serde_json::json!(["fed"]));

    // The account: made with the provider's name, in the mapped group only.
    // The command line reads the same config.yaml, so it needs the secret too.
    let listed = ferrid()
        .env("CORP_SECRET", SECRET)
        .arg("--config")
        .arg(&_config.path)
        .args(["user", "list", "--json"])
        .output()
        .unwrap();
    let users: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
    let uma = users.as_array().and_then(|all| all.iter().find(|u| u["username"] == "uma")).cloned();
    let uma = uma.unwrap_or_else(|| panic!("uma in {}", String::from_utf8_lossy(&listed.stdout)));
    assert_eq!(uma["groups"], serde_json::json!(["admins"]), "ops → admins; staff maps to nothing");

    let _ = op.kill();
    let _ = server.child.kill();
    let _ = server.child.wait();
    let _ = op.wait();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
