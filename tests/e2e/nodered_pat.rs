//! A personal access token on Node-RED's admin API, through the `tokens`
//! function `ferrid nodered settings --pat` prints (introspection): it
//! works, and stops within a second of `ferrid token revoke`.

use crate::helpers::*;
use crate::nodered::{NODE_RED_SECRET, deploy, free_port, node_red_app_yaml, read_flows, start_node_red_with};
use crate::nodered_bearer::user_access_token;
use ferrid::nodered::INSIDE_EXPORTS_MARKER;
use std::time::{Duration, Instant};

/// The real binary's CLI against `app` (through its admin API); its stdout.
pub(crate) async fn ferrid_cli(app: &TestApp, args: &[&str]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ferrid"));
    command.arg("--config").arg(&app.config_path).args(args).env("FERRID_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "ferrid {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_personal_access_token_works_on_node_red_until_ferrid_token_revoke() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&node_red_app_yaml(&node_red_url)).await;
    let ada = app.add_user("ada", &["admins"]);

    // Everything through the CLI, while the server runs.
    let snippet = ferrid_cli(&app, &["nodered", "settings", "--app", "node-red", "--pat"]).await;
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).unwrap();
    let node_red = start_node_red_with(port, prelude, entries, None, Some(NODE_RED_SECRET)).await;
    let created: serde_json::Value = serde_json::from_str(
        &ferrid_cli(
            &app,
            &["token", "create", "--user", "ada", "--app", "node-red", "--description", "deploy bot", "--json"],
        )
        .await,
    )
    .unwrap();
    let pat = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    assert_eq!(read_flows(&node_red_url, &pat).await, 200, "{}", node_red.log());
    assert!(deploy(&node_red_url, &pat).await.is_success(), "ada's PAT carries her admin permissions");

    ferrid_cli(&app, &["token", "revoke", &id]).await;
    let revoked_at = Instant::now();
    let status = read_flows(&node_red_url, &pat).await;
    let elapsed = revoked_at.elapsed();
    assert_eq!(status, 401, "{}", node_red.log());
    assert!(elapsed < Duration::from_secs(1), "refused {elapsed:?} after revocation");

    // The same tokens function takes a user's access token for node-red, and
    // refuses one issued to another application.
    let access = user_access_token(&app, &ada, &node_red_url).await;
    assert_eq!(read_flows(&node_red_url, &access).await, 200, "{}", node_red.log());
    let for_web = app.post_token(&[("grant_type", "client_credentials")], Some(("web", WEB_SECRET))).await;
    let for_web: serde_json::Value = for_web.json().await.unwrap();
    assert_eq!(read_flows(&node_red_url, for_web["access_token"].as_str().unwrap()).await, 401);
}
