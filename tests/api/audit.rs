//! The audit trail records what each step did, with who and from where.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use serde_json::Value;

fn events(app: &TestApp, user: Option<&str>, client: Option<&str>) -> Vec<Value> {
    let listed = app
        .admin(AdminCommand::AuditList {
            since: 0,
            user: user.map(str::to_owned),
            app: client.map(str::to_owned),
            kind: None,
        })
        .unwrap();
    listed.as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn sign_ins_tokens_reuse_and_admin_changes_are_audited_with_client_details() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();

    // A failed sign-in, then a good one, then the code redeemed twice.
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    let failed = app.submit_sign_in(&location(&response), "alice", "wrong-password").await;
    assert_eq!(failed.status(), 401);
    let q = app.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;
    assert_eq!(app.redeem_web_code(&q["code"], &pkce).await.status(), 200);
    assert_eq!(app.redeem_web_code(&q["code"], &pkce).await.status(), 400);
    app.set_disabled(&alice, true);

    let trail = events(&app, Some("alice"), None);
    assert_eq!(
        kinds(&trail),
        ["user_changed", "sign_in_failed", "sign_in", "token_issued", "session_ended", "user_changed"]
    );
    let failed = &trail[1];
    assert_eq!(failed["app"], "web");
    assert_eq!(failed["ip"], "127.0.0.1");
    assert!(failed["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(trail[3]["detail"], "authorization_code");
    assert_eq!(trail[4]["detail"], "account disabled", "disabling ended her session");
    assert_eq!(trail[5]["detail"], "disabled");

    let web = kinds(&events(&app, None, Some("web")));
    assert!(web.contains(&"code_reused".to_owned()), "{web:?}");
    let of_kind =
        |kind: &str| app.admin(AdminCommand::AuditList { since: 0, user: None, app: None, kind: Some(kind.into()) });
    let failures = of_kind("sign_in_failed").unwrap();
    assert_eq!(kinds(failures.as_array().unwrap()), ["sign_in_failed"], "`audit --kind`");
    let err = of_kind("sign_in_maybe").unwrap_err();
    assert!(err.contains("sign_in_maybe is not an audit event kind"), "{err}");

    // No secret ever lands in the trail.
    let everything = serde_json::to_string(&events(&app, None, None)).unwrap();
    for secret in [alice.password.as_str(), "wrong-password", q["code"].as_str(), WEB_SECRET] {
        assert!(!everything.contains(secret), "a secret leaked into the audit trail");
    }
}

/// A machine client's tokens: the first of a minute is recorded as issued,
/// the rest of that minute as one event with their count.
#[tokio::test]
async fn client_credentials_tokens_are_audited_once_a_minute_per_client_with_a_count() {
    let app = spawn_app().await;
    let issue = || async {
        let response = app.post_token(&[("grant_type", "client_credentials")], Some(("web", WEB_SECRET))).await;
        assert_eq!(response.status(), 200);
    };
    let details =
        || events(&app, None, Some("web")).iter().map(|e| e["detail"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    for _ in 0..3 {
        issue().await;
    }
    assert_eq!(details(), ["client_credentials"], "the rest of the minute is being counted");
    app.clock.advance(60);
    issue().await;
    assert_eq!(
        details(),
        ["client_credentials", "client_credentials: 2 more in the 60 s after the first", "client_credentials"]
    );
    assert!(events(&app, None, Some("web")).iter().all(|e| e["kind"] == "token_issued"));
}

#[tokio::test]
async fn the_audit_filter_takes_an_applications_slug_as_every_command_does() {
    let app = spawn_app().await;
    app.add_user("alice", &[]);
    // `other` is the slug; its client id is `other-client`.
    app.create_pat("alice", "other", 3600);
    let by = |filter: &str| {
        app.admin(AdminCommand::AuditList { since: 0, user: None, app: Some(filter.into()), kind: None }).unwrap()
    };
    let by_slug = by("other");
    assert!(!by_slug.as_array().unwrap().is_empty(), "{by_slug}");
    assert_eq!(by_slug, by("other-client"), "the slug and the client id find the same events");
    assert_eq!(by_slug[0]["app"], "other-client");
}
