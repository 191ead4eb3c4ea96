//! Per-application access policy and group-mapped claims (the `guarded` app:
//! admins and viewers only; `nodered_permissions` from their groups).

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

fn guarded_params(pkce: &Pkce) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", "guarded"),
        ("redirect_uri", GUARDED_CB),
        ("scope", "openid profile offline_access"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
}

async fn redeem(app: &TestApp, code: &str, pkce: &Pkce) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", GUARDED_CB),
        ("code_verifier", &pkce.verifier),
    ];
    app.post_token(&form, Some(("guarded", WEB_SECRET))).await
}

#[tokio::test]
async fn a_user_outside_the_allowed_groups_gets_a_no_access_page_and_no_code() {
    let app = spawn_app().await;
    let eve = app.add_user("eve", &[]);
    let pkce = Pkce::new();
    let response = app.get_authorize(&guarded_params(&pkce)).await;
    let response = app.submit_sign_in(&location(&response), &eve.username, &eve.password).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap().replace("&#x2F;", "/");
    assert!(html.contains("<h1>No access to guarded</h1>"), "{html}");
    assert!(!html.contains("code="));

    // The way out: sign in as someone else, and the same request goes on.
    let switch = html.split("href=\"").find(|s| s.starts_with("/login?tx=")).expect("a switch-account link");
    let switch = &switch[..switch.find('"').unwrap()];
    let viewer = app.add_user("vera", &["viewers"]);
    let response = app.submit_sign_in(switch, &viewer.username, &viewer.password).await;
    assert_eq!(response.status(), 303);
    let code = query_of(&location(&response))["code"].clone();
    let tokens: serde_json::Value = redeem(&app, &code, &pkce).await.json().await.unwrap();
    let claims =
        app.verify_jwt(tokens["id_token"].as_str().unwrap(), "guarded", "guarded", Algorithm::RS256, "JWT").await;
    assert_eq!(claims["sub"], viewer.sub.to_string(), "signed in as vera now");
}

#[tokio::test]
async fn a_refused_users_session_still_signs_in_to_open_applications() {
    let app = spawn_app().await;
    let eve = app.add_user("eve", &[]);
    let pkce = Pkce::new();
    let response = app.get_authorize(&guarded_params(&pkce)).await;
    let response = app.submit_sign_in(&location(&response), &eve.username, &eve.password).await;
    assert_eq!(response.status(), 403);
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    assert!(location(&response).starts_with(WEB_CB));
}

#[tokio::test]
async fn mapped_claims_are_the_union_of_the_users_groups_in_every_token_and_userinfo() {
    let app = spawn_app().await;
    let both = app.add_user("both", &["viewers", "admins"]);
    let pkce = Pkce::new();
    let q = app.authorize_and_sign_in(&guarded_params(&pkce), &both).await;
    let tokens: Value = redeem(&app, &q["code"], &pkce).await.json().await.unwrap();
    let id = app.verify_jwt(tokens["id_token"].as_str().unwrap(), "guarded", "guarded", Algorithm::RS256, "JWT").await;
    assert_eq!(id["nodered_permissions"], json!(["*", "read"]));
    let access = tokens["access_token"].as_str().unwrap();
    let at = app.verify_jwt(access, "guarded", "guarded", Algorithm::RS256, "at+jwt").await;
    assert_eq!(at["nodered_permissions"], json!(["*", "read"]));
    let me: Value = reqwest::Client::new()
        .get(app.url("/application/o/userinfo/"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["nodered_permissions"], json!(["*", "read"]));

    // Other applications do not see this mapping.
    let web_pkce = Pkce::new();
    let sso = app.get_authorize(&web_params("openid", &web_pkce, "n", "s")).await;
    let code = query_of(&location(&sso))["code"].clone();
    let web: Value = app.redeem_web_code(&code, &web_pkce).await.json().await.unwrap();
    let id = app.verify_jwt(web["id_token"].as_str().unwrap(), "web", "web", Algorithm::RS256, "JWT").await;
    assert!(id.get("nodered_permissions").is_none());
}

#[tokio::test]
async fn removing_a_user_from_the_allowed_groups_stops_code_exchange_and_refresh() {
    let app = spawn_app().await;
    let viewer = app.add_user("viewer", &["viewers"]);
    let pkce = Pkce::new();
    let q = app.authorize_and_sign_in(&guarded_params(&pkce), &viewer).await;
    let tokens: Value = redeem(&app, &q["code"], &pkce).await.json().await.unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let pkce2 = Pkce::new();
    let response = app.get_authorize(&guarded_params(&pkce2)).await;
    let second_code = query_of(&location(&response))["code"].clone();

    app.admin(AdminCommand::UserGroups { username: "viewer".into(), groups: vec![] }).unwrap();

    let response = redeem(&app, &second_code, &pkce2).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let response = app
        .post_token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some(("guarded", WEB_SECRET)))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn prompt_none_redirects_a_refused_user_back_with_access_denied_instead_of_a_page() {
    let app = spawn_app().await;
    let eve = app.add_user("eve", &[]);
    // Signed in (at an open application), then a silent request to `guarded`.
    let pkce = Pkce::new();
    app.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &eve).await;
    let mut params = guarded_params(&pkce);
    params.extend([("prompt", "none"), ("state", "silent-1")]);
    let response = app.get_authorize(&params).await;
    assert_eq!(response.status(), 303);
    let target = location(&response);
    assert!(target.starts_with(GUARDED_CB), "{target}");
    let q = query_of(&target);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "silent-1");
    assert_eq!(q["iss"], app.issuer("guarded"));
    assert!(!q.contains_key("code"));
}
