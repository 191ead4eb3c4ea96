//! Personal access tokens, introspection (RFC 7662) and revocation (RFC 7009).

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use jsonwebtoken::Algorithm;
use serde_json::Value;

fn create_pat(app: &TestApp, user: &str, slug: &str, expires_in: i64) -> (String, String) {
    let created = app
        .admin(AdminCommand::PatCreate {
            username: user.into(),
            app: slug.into(),
            scope: Some("openid profile".into()),
            expires_in,
            description: "backup script".into(),
        })
        .unwrap();
    (created["token"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned())
}

async fn introspect(app: &TestApp, token: &str, client: (&str, &str)) -> Value {
    let response = reqwest::Client::new()
        .post(app.url("/application/o/introspect/"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, token: &str, client: (&str, &str)) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(app.url("/application/o/revoke/"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

/// A confidential client authenticates as usual, plus username + PAT.
async fn exchange(app: &TestApp, username: &str, pat: &str) -> reqwest::Response {
    let form = [("grant_type", "client_credentials"), ("username", username), ("password", pat)];
    app.post_token(&form, Some(WEB)).await
}

const WEB: (&str, &str) = ("web", WEB_SECRET);

#[tokio::test]
async fn a_pat_is_created_used_by_introspection_and_exchange_then_revoked() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins"]);
    let (pat, id) = create_pat(&app, "alice", "web", 30 * 86_400);
    assert!(pat.starts_with("ferrid_pat_") && pat.len() == "ferrid_pat_".len() + 43, "{pat}");

    let answer = introspect(&app, &pat, WEB).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "personal_access_token");
    assert_eq!(answer["sub"], alice.sub.as_str());
    assert_eq!(answer["username"], "alice");
    assert_eq!(answer["scope"], "openid profile");
    assert_eq!(answer["client_id"], "web");
    assert!(answer["exp"].as_i64().unwrap() > answer["iat"].as_i64().unwrap());

    // Exchange (authentik's form): a short-lived JWT, verifiable offline.
    let response = exchange(&app, "alice", &pat).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims =
        app.verify_jwt(tokens["access_token"].as_str().unwrap(), "web", "web", Algorithm::RS256, "at+jwt").await;
    assert_eq!(claims["sub"], alice.sub.as_str());
    assert_eq!(claims["scope"], "openid profile");
    assert!(tokens.get("refresh_token").is_none());
    // Another user's name with alice's token is refused.
    app.add_user("bob", &[]);
    assert_eq!(exchange(&app, "bob", &pat).await.status(), 400);

    let listed = app.admin(AdminCommand::PatList { username: Some("alice".into()) }).unwrap();
    let row = &listed.as_array().unwrap()[0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["status"], "active");
    assert!(row["last_used"].is_string(), "last use is recorded");
    assert!(row.get("token").is_none() && !listed.to_string().contains(&pat), "lists never show the secret");

    assert_eq!(revoke(&app, &pat, WEB).await, 200);
    assert_eq!(introspect(&app, &pat, WEB).await, serde_json::json!({ "active": false }));
    assert_eq!(exchange(&app, "alice", &pat).await.status(), 400);

    let trail = app.admin(AdminCommand::AuditList { since: 0, user: None, app: None }).unwrap();
    let kinds: Vec<&str> = trail.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for expected in ["pat_created", "pat_used", "token_issued", "pat_revoked"] {
        assert!(kinds.contains(&expected), "{expected} missing from {kinds:?}");
    }
    assert!(!trail.to_string().contains(&pat), "the secret never reaches the audit trail");
}

#[tokio::test]
async fn expired_foreign_and_disabled_users_pats_are_inactive() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (short, _) = create_pat(&app, "alice", "web", 120);
    let (for_other_app, _) = create_pat(&app, "alice", "other", 3600);
    let (pat, _) = create_pat(&app, "alice", "web", 3600);

    // Another application's token: inactive for web, and web cannot revoke it.
    assert_eq!(introspect(&app, &for_other_app, WEB).await["active"], false);
    assert_eq!(revoke(&app, &for_other_app, WEB).await, 200);
    assert_eq!(introspect(&app, &for_other_app, ("other-client", OTHER_SECRET)).await["active"], true);

    app.clock.advance(121);
    assert_eq!(introspect(&app, &short, WEB).await["active"], false, "expired");
    assert_eq!(introspect(&app, &pat, WEB).await["active"], true);

    app.set_disabled(&alice, true);
    assert_eq!(introspect(&app, &pat, WEB).await["active"], false, "a disabled user's tokens stop at once");
    assert_eq!(introspect(&app, "ferrid_pat_not-a-real-token", WEB).await["active"], false);
}

#[tokio::test]
async fn introspection_covers_access_and_refresh_tokens_and_revoking_a_refresh_token_ends_its_family() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let tokens = app.code_flow_tokens(&alice, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let answer = introspect(&app, access, WEB).await;
    assert_eq!((answer["active"].clone(), answer["token_type"].clone()), (true.into(), "Bearer".into()));
    assert_eq!(answer["username"], "alice");
    let answer = introspect(&app, refresh, WEB).await;
    assert_eq!((answer["active"].clone(), answer["token_type"].clone()), (true.into(), "refresh_token".into()));
    // Another client learns nothing about web's tokens.
    assert_eq!(introspect(&app, access, ("other-client", OTHER_SECRET)).await["active"], false);
    assert_eq!(introspect(&app, refresh, ("other-client", OTHER_SECRET)).await["active"], false);

    assert_eq!(revoke(&app, refresh, WEB).await, 200);
    assert_eq!(introspect(&app, refresh, WEB).await["active"], false);
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    assert_eq!(app.post_token(&form, Some(WEB)).await.status(), 400);

    assert_eq!(revoke(&app, access, WEB).await, 200);
    assert_eq!(introspect(&app, access, WEB).await["active"], false);
    let userinfo =
        reqwest::Client::new().get(app.url("/application/o/userinfo/")).bearer_auth(access).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
}

#[tokio::test]
async fn introspection_and_revocation_require_client_authentication_and_are_advertised() {
    let app = spawn_app().await;
    let response = reqwest::Client::new()
        .post(app.url("/application/o/introspect/"))
        .form(&[("token", "x"), ("client_id", "web"), ("client_secret", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response =
        reqwest::Client::new().post(app.url("/application/o/revoke/")).form(&[("token", "x")]).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let doc: Value = app
        .client
        .get(app.url("/application/o/web/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["introspection_endpoint"], app.url("/application/o/introspect/"));
    assert_eq!(doc["revocation_endpoint"], app.url("/application/o/revoke/"));
}

#[tokio::test]
async fn pat_secrets_are_stored_only_as_digests() {
    let app = spawn_app().await;
    app.add_user("alice", &[]);
    let (pat, _) = create_pat(&app, "alice", "web", 3600);
    app.state.store.make_durable().unwrap();
    let db = std::fs::read(app._dir.path().join("data/db/db")).unwrap();
    let secret_part = pat.strip_prefix("ferrid_pat_").unwrap();
    assert!(
        !db.windows(secret_part.len()).any(|w| w == secret_part.as_bytes()),
        "the PAT secret is in the database file"
    );
}

#[tokio::test]
async fn a_public_application_takes_authentiks_exact_request_client_id_username_and_pat() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (pat, _) = create_pat(&app, "alice", "spa", 3600);
    let form =
        [("grant_type", "client_credentials"), ("client_id", "spa"), ("username", "alice"), ("password", pat.as_str())];
    let response = app.post_token(&form, None).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims =
        app.verify_jwt(tokens["access_token"].as_str().unwrap(), "spa", "spa", Algorithm::RS256, "at+jwt").await;
    assert_eq!(claims["sub"], alice.sub.as_str());
    // Without a PAT, a public client still cannot use client_credentials.
    let form = [("grant_type", "client_credentials"), ("client_id", "spa")];
    assert_eq!(app.post_token(&form, None).await.status(), 400);
}
