//! The loopback admin API and the store lock, as a local user meets them.

use crate::binary::ferrid;
use crate::helpers::*;
use ferrid::admin::endpoint::AdminEndpoint;

fn endpoint(app: &TestApp) -> AdminEndpoint {
    let data = app.config_path.parent().unwrap().join("data");
    serde_json::from_slice(&std::fs::read(data.join("admin.json")).unwrap()).unwrap()
}

async fn exec(endpoint: &AdminEndpoint, token: &str, body: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/admin/exec", endpoint.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn without_the_token_the_admin_api_says_nothing_not_even_its_command_list() {
    let app = spawn_app().await;
    let endpoint = endpoint(&app);
    for body in [r#"{"command":"nope"}"#, "{not json", r#"{"command":"user-list"}"#] {
        let (status, text) = exec(&endpoint, "wrong-token", body).await;
        assert_eq!(status, 401, "{body}: {text}");
        assert!(!text.contains("user-add") && !text.contains("variant"), "{body}: {text}");
    }
    // With the token, a bad body is a 400 that says why.
    let (status, text) = exec(&endpoint, &endpoint.token, r#"{"command":"nope"}"#).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not an admin command"), "{text}");
    let (status, _) = exec(&endpoint, &endpoint.token, r#"{"command":"user-list"}"#).await;
    assert_eq!(status, 200);
}

#[test]
fn serve_waits_for_a_command_that_holds_the_database_instead_of_failing() {
    let crate::helpers::BinaryConfig { dir, port, public: _, path: config } = binary_config(None, |yaml| yaml);
    // This process holds the database, as a CLI command run meanwhile would.
    let held = ferrid::store::Store::open(&dir.path().join("data")).unwrap();
    let log = dir.path().join("ferrid.log");
    let mut child = ferrid()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("waiting up to") {
        assert!(std::time::Instant::now() < deadline, "no waiting line: {}", std::fs::read_to_string(&log).unwrap());
        assert!(child.try_wait().unwrap().is_none(), "serve gave up: {}", std::fs::read_to_string(&log).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(held);
    let discovery = format!("http://127.0.0.1:{port}/application/o/web/.well-known/openid-configuration");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while crate::binary::blocking_get(&discovery).is_none() {
        assert!(child.try_wait().unwrap().is_none(), "serve exited: {}", std::fs::read_to_string(&log).unwrap());
        assert!(std::time::Instant::now() < deadline, "serve did not start after the lock was released");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
