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

fn add_grafana(app: &TestApp) -> String {
    app.add_app("grafana", "https://grafana.example/login")
}

#[tokio::test]
async fn renaming_a_group_carries_its_members_and_the_applications_that_name_it() {
    use ferrid::admin::{AdminCommand, AppUpdate};
    let app = spawn_app().await;
    app.admin(AdminCommand::GroupAdd { name: "ops".into(), description: None }).unwrap();
    let secret = add_grafana(&app);
    let update = AppUpdate {
        slug: "grafana".into(),
        allowed_groups: Some(vec!["ops".into()]),
        claims: Some(vec!["grafana_role: ops=Admin,Editor".into()]),
        ..Default::default()
    };
    app.admin(AdminCommand::AppUpdate(Box::new(update))).unwrap();
    app.add_user("olive", &["ops"]);
    app.add_user("tom", &["viewers"]);
    let (token, _) = app.create_pat("olive", "grafana", 3600);
    let err = app
        .admin(AdminCommand::PatCreate {
            username: "tom".into(),
            app: "grafana".into(),
            scope: None,
            expires_in: 3600,
            description: String::new(),
        })
        .unwrap_err();
    assert!(err.contains("may not use grafana"), "the policy admits ops only: {err}");

    let renamed = app.admin(AdminCommand::GroupRename { name: "ops".into(), new_name: "sre".into() }).unwrap();
    assert_eq!((renamed["users"].as_u64(), renamed["apps"].as_u64()), (Some(1), Some(1)));
    let shown = app.admin(AdminCommand::AppShow { slug: "grafana".into() }).unwrap();
    assert_eq!(shown["allowed_groups"], serde_json::json!(["sre"]));
    assert_eq!(shown["claim_mappings"], serde_json::json!(["grafana_role: sre=Admin,Editor"]));
    // What the application sees: olive's token still works, with the mapped claim.
    let info = app.introspect(&token, ("grafana", &secret)).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["grafana_role"], serde_json::json!(["Admin", "Editor"]), "{info}");

    let err = app.admin(AdminCommand::GroupRename { name: "sre".into(), new_name: "viewers".into() }).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    let err = app.admin(AdminCommand::GroupRename { name: "admins".into(), new_name: "root".into() }).unwrap_err();
    assert!(err.contains("declared in config.yaml"), "{err}");
    let err = app.admin(AdminCommand::GroupRename { name: "ghosts".into(), new_name: "x".into() }).unwrap_err();
    assert!(err.contains("no group named ghosts"), "{err}");
}

#[tokio::test]
async fn app_update_checks_every_field_and_leaves_declared_applications_to_the_config() {
    use ferrid::admin::{AdminCommand, AppUpdate};
    let app = spawn_app().await;
    app.admin(AdminCommand::AppAdd {
        slug: "cron".into(),
        name: None,
        client_id: None,
        public: false,
        redirect_uris: vec![],
        signing_alg: None,
        machine: true,
        switches: Default::default(),
    })
    .unwrap();
    let bad = [
        (
            AppUpdate { redirect_uris: Some(vec!["https://x.example/cb#frag".into()]), ..Default::default() },
            "redirect URI",
        ),
        (AppUpdate { claims: Some(vec!["sub: admins=x".into()]), ..Default::default() }, "set by ferrid"),
        (AppUpdate { claims: Some(vec!["perm: ghosts=x".into()]), ..Default::default() }, "no group named ghosts"),
        (AppUpdate { consent: Some("sometimes".into()), ..Default::default() }, "consent"),
        (AppUpdate { signing_alg: Some("HS256".into()), ..Default::default() }, "HS256"),
        (AppUpdate { allowed_users: Some(vec!["bad name!".into()]), ..Default::default() }, "allowed user"),
    ];
    let before = app.admin(AdminCommand::AppShow { slug: "cron".into() }).unwrap();
    for (update, says) in bad {
        let update = AppUpdate { slug: "cron".into(), ..update };
        let err = app.admin(AdminCommand::AppUpdate(Box::new(update))).unwrap_err();
        assert!(err.contains(says), "{says}: {err}");
    }
    assert_eq!(app.admin(AdminCommand::AppShow { slug: "cron".into() }).unwrap(), before, "nothing changed");

    let update = AppUpdate {
        slug: "cron".into(),
        name: Some("Nightly backup".into()),
        signing_alg: Some("EdDSA".into()),
        consent: Some("once".into()),
        ..Default::default()
    };
    let after = app.admin(AdminCommand::AppUpdate(Box::new(update))).unwrap();
    assert_eq!((after["name"].as_str(), after["signing_alg"].as_str()), (Some("Nightly backup"), Some("EdDSA")));
    assert_eq!(after["redirect_uris"], serde_json::json!([]), "untouched fields stay");
    // The new algorithm's key is published at once.
    let jwks: serde_json::Value =
        reqwest::get(app.url("/application/o/cron/jwks/")).await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["alg"] == "EdDSA"), "{jwks}");

    let update = AppUpdate { slug: "web".into(), name: Some("x".into()), ..Default::default() };
    let err = app.admin(AdminCommand::AppUpdate(Box::new(update))).unwrap_err();
    assert!(err.contains("declared in config.yaml"), "{err}");
    let err = app.admin(AdminCommand::AppRemove { slug: "web".into() }).unwrap_err();
    assert!(err.contains("declared in config.yaml"), "{err}");
}

#[tokio::test]
async fn removing_an_application_revokes_its_tokens_so_a_new_one_of_the_same_name_inherits_nothing() {
    use ferrid::admin::AdminCommand;
    let app = spawn_app().await;
    let secret = add_grafana(&app);
    app.add_user("olive", &[]);
    let (token, id) = app.create_pat("olive", "grafana", 3600);
    assert_eq!(app.introspect(&token, ("grafana", &secret)).await["active"], true);

    let removed = app.admin(AdminCommand::AppRemove { slug: "grafana".into() }).unwrap();
    assert_eq!(removed["tokens"], 1);
    let gone = reqwest::Client::new()
        .post(app.url("/application/o/introspect/"))
        .basic_auth("grafana", Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401, "the client itself is gone");
    let discovery = reqwest::get(app.url("/application/o/grafana/.well-known/openid-configuration")).await.unwrap();
    assert_eq!(discovery.status(), 404, "no longer published");

    let secret = add_grafana(&app);
    let answer = app.introspect(&token, ("grafana", &secret)).await;
    assert_eq!(answer["active"], false, "the old token stays revoked under a new application: {answer}");
    let listed = app.admin(AdminCommand::PatList { username: Some("olive".into()) }).unwrap();
    let row = listed.as_array().unwrap().iter().find(|p| p["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["status"], "revoked", "{row}");
}

/// Whether `username` is an enabled member of ferrid-admins now.
fn is_administrator(app: &TestApp, username: &str) -> bool {
    let users = app.admin(ferrid::admin::AdminCommand::UserList).unwrap();
    users.as_array().unwrap().iter().any(|u| {
        u["username"] == username
            && u["disabled"] == false
            && u["groups"].as_array().unwrap().iter().any(|g| g == "ferrid-admins")
    })
}

#[tokio::test]
async fn ferrid_admins_cannot_be_renamed_or_removed_over_the_admin_api() {
    use ferrid::admin::AdminCommand;
    let app = spawn_app().await;
    let endpoint = endpoint(&app);
    for body in [
        r#"{"command":"group-rename","name":"ferrid-admins","new_name":"ex-admins"}"#,
        r#"{"command":"group-remove","name":"ferrid-admins"}"#,
    ] {
        let (status, text) = exec(&endpoint, &endpoint.token, body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains("ferrid-admins cannot be renamed or removed"), "{text}");
    }
    let groups = app.admin(AdminCommand::GroupList).unwrap();
    assert!(groups.as_array().unwrap().iter().any(|g| g["name"] == "ferrid-admins"));
    assert!(is_administrator(&app, "admin"), "the first administrator kept the group");
}

#[tokio::test]
async fn the_last_enabled_administrator_cannot_be_disabled_deleted_or_taken_out_of_ferrid_admins() {
    use ferrid::admin::AdminCommand;
    let app = spawn_app().await;
    // The first start made `admin`, the only administrator.
    let refusals = [
        AdminCommand::UserDisable { username: "admin".into(), disabled: true },
        AdminCommand::UserDelete { username: "admin".into() },
        AdminCommand::UserGroups { username: "admin".into(), groups: vec![] },
        AdminCommand::UserGroups { username: "ADMIN".into(), groups: vec!["viewers".into()] },
    ];
    for command in refusals {
        let described = format!("{command:?}");
        let err = app.admin(command).unwrap_err();
        assert!(err.contains("admin is the last enabled administrator"), "{described}: {err}");
        assert!(err.contains("add them to ferrid-admins"), "{err}");
        assert!(is_administrator(&app, "admin"), "{described} changed nothing");
    }
    // Over the admin API (what the CLI sends to a running server): 409.
    let endpoint = endpoint(&app);
    let (status, text) = exec(&endpoint, &endpoint.token, r#"{"command":"user-delete","username":"admin"}"#).await;
    assert_eq!(status, 409, "{text}");
    // Keeping the group while changing the others is no demotion.
    app.admin(AdminCommand::UserGroups { username: "admin".into(), groups: vec!["viewers,ferrid-admins".into()] })
        .unwrap();
    assert!(is_administrator(&app, "admin"));

    // With a second administrator, either can go; then the other is the last.
    app.add_user("root", &["ferrid-admins"]);
    app.admin(AdminCommand::UserGroups { username: "admin".into(), groups: vec!["viewers".into()] }).unwrap();
    assert!(!is_administrator(&app, "admin"));
    let err = app.admin(AdminCommand::UserDisable { username: "root".into(), disabled: true }).unwrap_err();
    assert!(err.contains("root is the last enabled administrator"), "{err}");
    // A disabled member of ferrid-admins is no administrator to count on.
    app.admin(AdminCommand::UserGroups { username: "admin".into(), groups: vec!["ferrid-admins".into()] }).unwrap();
    app.admin(AdminCommand::UserDisable { username: "admin".into(), disabled: true }).unwrap();
    let err = app.admin(AdminCommand::UserDelete { username: "root".into() }).unwrap_err();
    assert!(err.contains("root is the last enabled administrator"), "{err}");
    // Non-administrators are not held back by any of this.
    app.admin(AdminCommand::UserDelete { username: "admin".into() }).unwrap();
    assert!(is_administrator(&app, "root"));
}
