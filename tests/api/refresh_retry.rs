//! `refresh_reuse_interval`: a client that lost the answer to a refresh
//! and presents the same token again, within the interval, gets the same
//! successor (the family does not fork) with fresh access and id tokens.
//! After the interval, once the successor was used, or from another
//! client, it is reuse as without it: the family is revoked.

use crate::helpers::*;
use ferrid::config::Config;
use serde_json::Value;

/// `web` forgives a retry within 30 s; `other` within 30 s too.
fn forgiving(config: &mut Config) {
    for app in &mut config.applications {
        app.compat.refresh_reuse_interval = 30;
    }
}

async fn refresh(app: &TestApp, token: &str, client: (&str, &str)) -> (u16, Value) {
    let response = app.post_token(&[("grant_type", "refresh_token"), ("refresh_token", token)], Some(client)).await;
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

async fn web(app: &TestApp, token: &str) -> (u16, Value) {
    refresh(app, token, ("web", WEB_SECRET)).await
}

fn refresh_token(answer: &(u16, Value)) -> String {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["refresh_token"].as_str().unwrap().to_owned()
}

fn error(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or("(none)"))
}

#[tokio::test]
async fn a_retry_within_the_interval_gets_the_same_successor_until_the_successor_is_used() {
    let app = spawn_app_tuned(|yaml| yaml, forgiving).await;
    let alice = app.add_user("alice", &[]);
    let first = app.code_flow_tokens(&alice, "openid offline_access").await;
    let old = first["refresh_token"].as_str().unwrap().to_owned();

    let rotated = web(&app, &old).await;
    let successor = refresh_token(&rotated);
    app.clock.advance(29);
    let retried = web(&app, &old).await;
    assert_eq!(refresh_token(&retried), successor, "the same successor: the family does not fork");
    assert_ne!(retried.1["access_token"], rotated.1["access_token"], "fresh access token");
    let claims = app
        .verify_jwt(retried.1["id_token"].as_str().unwrap(), "web", "web", jsonwebtoken::Algorithm::RS256, "JWT")
        .await;
    assert_eq!(claims["sub"], alice.sub.as_str());
    let events = app.state.store.audit_since(0).unwrap();
    assert!(
        events.iter().any(|e| e.detail.as_deref().is_some_and(|d| d.contains("retry forgiven"))),
        "audited as such"
    );

    // The successor is used: the old token is reuse now, and revokes all.
    let next = refresh_token(&web(&app, &successor).await);
    assert_eq!(error(&web(&app, &old).await), (400, "invalid_grant"));
    assert_eq!(error(&web(&app, &next).await), (400, "invalid_grant"), "the family is revoked");
}

#[tokio::test]
async fn after_the_interval_or_without_one_a_retry_revokes_the_family() {
    let app = spawn_app_tuned(|yaml| yaml, forgiving).await;
    let alice = app.add_user("alice", &[]);
    let old = app.code_flow_tokens(&alice, "openid offline_access").await["refresh_token"].as_str().unwrap().to_owned();
    let successor = refresh_token(&web(&app, &old).await);
    app.clock.advance(31);
    assert_eq!(error(&web(&app, &old).await), (400, "invalid_grant"));
    assert_eq!(error(&web(&app, &successor).await), (400, "invalid_grant"), "revoked, as without an interval");

    // The default (0 s): strict, as before.
    let strict = spawn_app().await;
    let bob = strict.add_user("bob", &[]);
    let old =
        strict.code_flow_tokens(&bob, "openid offline_access").await["refresh_token"].as_str().unwrap().to_owned();
    let successor = refresh_token(&web(&strict, &old).await);
    assert_eq!(error(&web(&strict, &old).await), (400, "invalid_grant"));
    assert_eq!(error(&web(&strict, &successor).await), (400, "invalid_grant"));
}

#[tokio::test]
async fn another_clients_retry_never_matches_and_revokes_as_before() {
    let app = spawn_app_tuned(|yaml| yaml, forgiving).await;
    let alice = app.add_user("alice", &[]);
    let old = app.code_flow_tokens(&alice, "openid offline_access").await["refresh_token"].as_str().unwrap().to_owned();
    let successor = refresh_token(&web(&app, &old).await);
    let stolen = refresh(&app, &old, ("other-client", OTHER_SECRET)).await;
    assert_eq!(error(&stolen), (400, "invalid_grant"));
    assert!(stolen.1.get("refresh_token").is_none());
    assert_eq!(error(&web(&app, &successor).await), (400, "invalid_grant"), "the family is revoked");
}

#[tokio::test]
async fn eight_presentations_of_one_token_at_once_make_one_successor_and_revoke_nothing() {
    let app = spawn_app_tuned(|yaml| yaml, forgiving).await;
    let alice = app.add_user("alice", &[]);
    let old = app.code_flow_tokens(&alice, "openid offline_access").await["refresh_token"].as_str().unwrap().to_owned();
    let tries = (0..8).map(|_| {
        let (url, old) = (app.url("/application/o/token/"), old.clone());
        tokio::spawn(async move {
            let form = [("grant_type", "refresh_token"), ("refresh_token", old.as_str())];
            let response =
                reqwest::Client::new().post(url).form(&form).basic_auth("web", Some(WEB_SECRET)).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        })
    });
    let mut successors = std::collections::BTreeSet::new();
    for try_ in tries {
        successors.insert(refresh_token(&try_.await.unwrap()));
    }
    assert_eq!(successors.len(), 1, "one successor for all eight");
    let successor = successors.into_iter().next().unwrap();
    assert_eq!(web(&app, &successor).await.0, 200, "and the family lives");
}

#[tokio::test]
async fn the_first_rotation_at_one_instance_and_the_retry_at_another_get_the_same_successor() {
    let (_, apps) = spawn_instances_tuned(2, forgiving).await;
    let (a, b) = (&apps[0], &apps[1]);
    let alice = a.add_user("alice", &[]);
    let old = a.code_flow_tokens(&alice, "openid offline_access").await["refresh_token"].as_str().unwrap().to_owned();
    let successor = refresh_token(&web(a, &old).await);
    assert_eq!(refresh_token(&web(b, &old).await), successor, "B forgives what A rotated");
    let next = refresh_token(&web(b, &successor).await);
    assert_eq!(error(&web(a, &old).await), (400, "invalid_grant"), "the successor was used: reuse");
    assert_eq!(error(&web(b, &next).await), (400, "invalid_grant"), "revoked at both");
}
