//! Liveness and readiness probes.

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_answer_200_on_a_working_server() {
    let app = spawn_app().await;
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready\n");
}

#[tokio::test]
async fn readyz_is_503_and_names_the_app_when_its_signing_key_is_gone() {
    let app = spawn_app().await;
    app.delete_signing_keys("p256-");
    app.state.republish(true).unwrap();
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("no signing key for application ec"));
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "the process still answers");
}

#[tokio::test]
async fn while_postgresql_is_away_pages_say_so_with_a_503_and_readyz_says_why() {
    use crate::helpers::postgres_server::{OwnServer, PostgresServer};
    let database = OwnServer(PostgresServer::start(false));
    let url = database.0.new_database();
    let app = spawn_app_edited(|yaml| {
        let yaml: String = yaml.lines().filter(|l| !l.starts_with("store:")).map(|l| format!("{l}\n")).collect();
        format!("{yaml}store: {{ postgres: \"{url}\" }}\n")
    })
    .await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&browser, &app.address, &location(&response), &alice.username, &alice.password).await;
    assert_eq!(browser.get(app.url("/account/")).send().await.unwrap().status(), 200);

    database.0.stop();
    let page = browser.get(app.url("/account/")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()["retry-after"], "5");
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>The database is not reachable</h1>"), "{html}");
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.text().await.unwrap(), "store unreadable: the database is not reachable\n");
    // The CLI's way in says the same: try again, not a server fault.
    let data = app.config_path.parent().unwrap().join("data");
    let endpoint: ferrid::admin::endpoint::AdminEndpoint =
        serde_json::from_slice(&std::fs::read(data.join("admin.json")).unwrap()).unwrap();
    let listed = reqwest::Client::new()
        .post(format!("{}/admin/exec", endpoint.url))
        .bearer_auth(&endpoint.token)
        .json(&serde_json::json!({ "command": "user-list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 503, "{}", listed.text().await.unwrap());

    // Back: the same browser's page answers again, on the same session.
    database.0.start_again();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = browser.get(app.url("/account/")).send().await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {status} after the database came back");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
