//! `/metrics`: what Prometheus scrapes after real traffic, and who may scrape.

use crate::helpers::*;

async fn scrape(app: &TestApp) -> String {
    let response = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    response.text().await.unwrap()
}

/// The value of the sample line that starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_sign_ins_tokens_and_sessions() {
    let app = spawn_app().await;
    let user = app.add_user("metered", &[]);

    // One failed sign-in, then a successful code flow with a refresh token.
    let pkce = Pkce::new();
    let response = app.get_authorize(&web_params("openid offline_access", &pkce, "n", "s")).await;
    let login = location(&response);
    let failed = app.submit_sign_in(&login, &user.username, "wrong-password-123").await;
    assert_eq!(failed.status(), 401);
    let tokens = app.code_flow_tokens(&user, "openid offline_access").await;
    let refreshed = app
        .post_token(
            &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())],
            Some(("web", WEB_SECRET)),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    for _ in 0..3 {
        let cc = app.post_token(&[("grant_type", "client_credentials")], Some(("web", WEB_SECRET))).await;
        assert_eq!(cc.status(), 200);
    }
    let bad = app.post_token(&[("grant_type", "client_credentials")], Some(("web", "wrong"))).await;
    assert_eq!(bad.status(), 401);
    reqwest::get(app.url("/no/such/path?secret=1")).await.unwrap();

    let text = scrape(&app).await;
    assert_eq!(sample(&text, r#"ferrid_sign_ins_total{outcome="failed"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"ferrid_sign_ins_total{outcome="ok"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"ferrid_tokens_issued_total{grant="authorization_code"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"ferrid_tokens_issued_total{grant="refresh_token"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"ferrid_tokens_issued_total{grant="client_credentials"}"#), Some(3.0));
    let token_ok = r#"ferrid_http_requests_total{endpoint="/application/o/token/",method="POST",status="200"}"#;
    assert_eq!(sample(&text, token_ok), Some(5.0));
    let token_401 = r#"ferrid_http_requests_total{endpoint="/application/o/token/",method="POST",status="401"}"#;
    assert_eq!(sample(&text, token_401), Some(1.0));
    assert_eq!(
        sample(&text, r#"ferrid_http_requests_total{endpoint="unmatched",method="GET",status="404"}"#),
        Some(1.0)
    );
    assert!(!text.contains("/no/such/path"), "raw paths never become labels");
    assert_eq!(
        sample(&text, r#"ferrid_http_request_duration_seconds_count{endpoint="/application/o/token/"}"#),
        Some(6.0)
    );
    assert_eq!(sample(&text, "ferrid_active_sessions"), Some(1.0));
}

#[tokio::test]
async fn metrics_are_hidden_from_addresses_outside_metrics_allow() {
    let app = spawn_app().await;
    // 127.0.0.1 is a trusted proxy in the test config: the client is the forwarded address.
    let outside =
        reqwest::Client::new().get(app.url("/metrics")).header("x-forwarded-for", "203.0.113.9").send().await.unwrap();
    assert_eq!(outside.status(), 404);
    let inside =
        reqwest::Client::new().get(app.url("/metrics")).header("x-forwarded-for", "127.0.0.1").send().await.unwrap();
    assert_eq!(inside.status(), 200);
}

#[tokio::test]
async fn every_response_carries_a_distinct_request_id() {
    let app = spawn_app().await;
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let first = reqwest::get(app.url("/healthz")).await.unwrap();
    let second = reqwest::get(app.url("/no/such/path")).await.unwrap();
    assert_ne!(id(&first), id(&second));
}
