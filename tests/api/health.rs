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
