//! The loopback admin API, as a local user meets it.

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

#[tokio::test]
async fn groups_are_made_and_removed_at_run_time_and_configs_stay_read_only() {
    use ferrid::admin::AdminCommand;
    let app = spawn_app().await;
    app.admin(AdminCommand::GroupAdd { name: "ops".into(), description: Some("on call".into()) }).unwrap();
    let err = app.admin(AdminCommand::GroupAdd { name: "ops".into(), description: None }).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    let olive = app.add_user("olive", &["ops", "viewers"]);

    let groups = app.admin(AdminCommand::GroupList).unwrap();
    let declared =
        |name: &str| groups.as_array().unwrap().iter().find(|g| g["name"] == name).unwrap()["declared"].clone();
    assert_eq!((declared("ops"), declared("admins")), (serde_json::json!(false), serde_json::json!(true)));

    let err = app.admin(AdminCommand::GroupRemove { name: "admins".into() }).unwrap_err();
    assert!(err.contains("declared in config.yaml"), "{err}");
    let removed = app.admin(AdminCommand::GroupRemove { name: "ops".into() }).unwrap();
    assert_eq!(removed["members"], 1);
    let users = app.admin(AdminCommand::UserList).unwrap();
    let olive_now = users.as_array().unwrap().iter().find(|u| u["username"] == olive.username.as_str()).unwrap();
    assert_eq!(olive_now["groups"], serde_json::json!(["viewers"]), "she lost only the removed group");
    let err = app.admin(AdminCommand::UserGroups { username: "olive".into(), groups: vec!["ops".into()] }).unwrap_err();
    assert!(err.contains("no group named ops"), "{err}");
}
