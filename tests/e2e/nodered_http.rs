//! Node-RED's HTTP-in endpoints behind ferrid without a reverse proxy:
//! the real Node-RED (pinned) with exactly the `httpNodeMiddleware` that
//! `ferrid nodered settings --app NAME --http` prints. A browser is sent to
//! ferrid and back; a flow reads who called it; curl with Basic user:PAT
//! passes, and fails once the PAT is revoked; a user outside the allowed
//! group gets 403; a Remote-User header from the client never reaches a flow.

use crate::helpers::*;
use crate::nodered::{free_port, start_node_red_with};
use crate::nodered_pat::ferrid_cli;
use ferrid::nodered::INSIDE_EXPORTS_MARKER;

/// An HTTP-in endpoint that answers with what the middleware told it.
const WHOAMI_FLOW: &str = r#"[
  { "id": "t1", "type": "tab", "label": "who" },
  { "id": "in1", "type": "http in", "z": "t1", "url": "/whoami", "method": "get", "wires": [["fn1"]] },
  { "id": "fn1", "type": "function", "z": "t1", "outputs": 1, "wires": [["out1"]],
    "func": "msg.payload = { user: msg.req.headers['remote-user'], groups: msg.req.headers['remote-groups'] };\nreturn msg;" },
  { "id": "out1", "type": "http response", "z": "t1", "wires": [] }
]"#;

#[tokio::test]
async fn node_reds_http_endpoints_sign_in_through_ferrid_with_the_printed_middleware() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&format!(
        "  - slug: nodered-http\n    name: Node-RED flows\n    proxy: {{ hosts: [\"127.0.0.1:{port}\"] }}\n    \
         allowed_groups: [admins]\n"
    ))
    .await;
    let alice = app.add_user("alice", &["admins"]);
    let bob = app.add_user("bob", &["viewers"]);

    let snippet = ferrid_cli(&app, &["nodered", "settings", "--app", "nodered-http", "--http"]).await;
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).unwrap();
    let node_red = start_node_red_with(port, prelude, entries, Some(WHOAMI_FLOW), None).await;
    let whoami = format!("{node_red_url}/whoami");

    // A browser: to ferrid's sign-in, back to the endpoint, and the flow knows who.
    let alices = browser();
    let response = alices.get(&whoami).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 302, "{}", node_red.log());
    let portal = location(&response);
    assert!(portal.starts_with(&app.url("/?rd=")), "{portal}");
    let response = alices.get(&portal).send().await.unwrap();
    let response = sign_in_with(&alices, &app.address, &location(&response), &alice.username, &alice.password).await;
    assert_eq!(location(&response), whoami);
    let seen: serde_json::Value =
        alices.get(&whoami).header("Remote-User", "mallory").send().await.unwrap().json().await.unwrap();
    assert_eq!((seen["user"].as_str(), seen["groups"].as_str()), (Some("alice"), Some("admins")), "{seen}");

    // A script: Basic user:PAT until the PAT is revoked.
    let created: serde_json::Value = serde_json::from_str(
        &ferrid_cli(&app, &["token", "create", "--user", "alice", "--app", "nodered-http", "--json"]).await,
    )
    .unwrap();
    let (pat, id) = (created["token"].as_str().unwrap(), created["id"].as_str().unwrap());
    let script = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let call = || script.get(&whoami).header("Authorization", basic_auth("alice", pat)).send();
    let seen: serde_json::Value = call().await.unwrap().json().await.unwrap();
    assert_eq!(seen["user"], "alice");
    ferrid_cli(&app, &["token", "revoke", id]).await;
    // The middleware reuses an answer for at most 2 s.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(call().await.unwrap().status(), 401);
    assert_eq!(script.get(&whoami).send().await.unwrap().status(), 401, "no credential: 401 for a script");

    // bob is signed in, but not in admins: 403.
    let bobs = browser();
    let response = bobs.get(&portal).send().await.unwrap();
    sign_in_with(&bobs, &app.address, &location(&response), &bob.username, &bob.password).await;
    assert_eq!(bobs.get(&whoami).send().await.unwrap().status(), 403);
}
