//! Personal access tokens, introspection (RFC 7662) and revocation (RFC 7009).

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use jsonwebtoken::Algorithm;
use serde_json::Value;

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
    let (pat, id) = app.create_pat("alice", "web", 30 * 86_400);
    assert!(pat.starts_with("ferrid_pat_") && pat.len() == "ferrid_pat_".len() + 43, "{pat}");

    let answer = app.introspect(&pat, WEB).await;
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
    assert_eq!(app.introspect(&pat, WEB).await, serde_json::json!({ "active": false }));
    assert_eq!(exchange(&app, "alice", &pat).await.status(), 400);

    let trail = app.admin(AdminCommand::AuditList { since: 0, user: None, app: None, kind: None }).unwrap();
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
    let (short, _) = app.create_pat("alice", "web", 120);
    let (for_other_app, _) = app.create_pat("alice", "other", 3600);
    let (pat, _) = app.create_pat("alice", "web", 3600);

    // Another application's token: inactive for web, and web cannot revoke it.
    assert_eq!(app.introspect(&for_other_app, WEB).await["active"], false);
    assert_eq!(revoke(&app, &for_other_app, WEB).await, 200);
    assert_eq!(app.introspect(&for_other_app, ("other-client", OTHER_SECRET)).await["active"], true);

    app.clock.advance(121);
    assert_eq!(app.introspect(&short, WEB).await["active"], false, "expired");
    assert_eq!(app.introspect(&pat, WEB).await["active"], true);

    app.set_disabled(&alice, true);
    assert_eq!(app.introspect(&pat, WEB).await["active"], false, "a disabled user's tokens stop at once");
    assert_eq!(app.introspect("ferrid_pat_not-a-real-token", WEB).await["active"], false);
}

#[tokio::test]
async fn introspection_covers_access_and_refresh_tokens_and_revoking_a_refresh_token_ends_its_family() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let tokens = app.code_flow_tokens(&alice, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let answer = app.introspect(access, WEB).await;
    assert_eq!((answer["active"].clone(), answer["token_type"].clone()), (true.into(), "Bearer".into()));
    assert_eq!(answer["username"], "alice");
    let answer = app.introspect(refresh, WEB).await;
    assert_eq!((answer["active"].clone(), answer["token_type"].clone()), (true.into(), "refresh_token".into()));
    // Another client learns nothing about web's tokens.
    assert_eq!(app.introspect(access, ("other-client", OTHER_SECRET)).await["active"], false);
    assert_eq!(app.introspect(refresh, ("other-client", OTHER_SECRET)).await["active"], false);

    assert_eq!(revoke(&app, refresh, WEB).await, 200);
    assert_eq!(app.introspect(refresh, WEB).await["active"], false);
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    assert_eq!(app.post_token(&form, Some(WEB)).await.status(), 400);

    assert_eq!(revoke(&app, access, WEB).await, 200);
    assert_eq!(app.introspect(access, WEB).await["active"], false);
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
    let (pat, _) = app.create_pat("alice", "web", 3600);
    app.state.store.make_everything_durable().unwrap();
    // What the store holds: with sled, every file it wrote (it keeps more
    // than data/db/db); with PostgreSQL, every key and value of every row.
    fn files(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out)
            } else {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()))
            }
        }
    }
    let mut written = Vec::new();
    if postgres_server::wanted() {
        for (tree, entries) in app.state.store.dump().unwrap().0 {
            for [key, value] in entries {
                for part in [key, value] {
                    written.push((tree.clone(), ferrid::crypto::secrets::b64url_decode(&part).unwrap()));
                }
            }
        }
    } else {
        files(&app._dir.path().join("data"), &mut written);
    }
    let contains = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    let secret_part = pat.strip_prefix("ferrid_pat_").unwrap();
    let mut digest_seen = false;
    let digest = ferrid::crypto::secrets::Digest::of(&pat);
    for (place, bytes) in &written {
        assert!(!contains(bytes, secret_part.as_bytes()), "the PAT secret is in {place}");
        digest_seen |= contains(bytes, digest.as_bytes());
    }
    assert!(digest_seen, "the token's digest is in none of {} places: the scan looked in the wrong one", written.len());
}

#[tokio::test]
async fn a_public_application_takes_authentiks_exact_request_client_id_username_and_pat() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (pat, _) = app.create_pat("alice", "spa", 3600);
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

#[tokio::test]
async fn a_token_made_without_a_scope_reads_userinfo() {
    let app = spawn_app().await;
    app.add_user("alice", &["admins"]);
    let created = app
        .admin(ferrid::admin::AdminCommand::PatCreate {
            username: "alice".into(),
            app: "web".into(),
            scope: None,
            expires_in: 3600,
            description: "no scope given".into(),
        })
        .unwrap();
    assert_eq!(created["scope"], "openid profile email groups");
    let tokens: serde_json::Value =
        exchange(&app, "alice", created["token"].as_str().unwrap()).await.json().await.unwrap();
    let me: serde_json::Value = reqwest::Client::new()
        .get(app.url("/application/o/userinfo/"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["preferred_username"], "alice", "{me}");
    assert_eq!(me["groups"], serde_json::json!(["admins"]));
}

/// The token made on the account page, from its 200 page.
fn token_on(html: &str) -> Option<String> {
    let start = html.find("ferrid_pat_")?;
    Some(html[start..start + "ferrid_pat_".len() + 43].to_owned())
}

#[tokio::test]
async fn a_password_only_session_makes_no_token_for_an_app_that_needs_a_second_factor_and_the_exchange_checks_it_now() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let response = browser.get(app.url("/account/tokens")).send().await.unwrap();
    sign_in_with(&browser, &app.address, &location(&response), &alice.username, &alice.password).await;
    let html = browser.get(app.url("/account/tokens")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let make = |slug: &'static str| {
        let (browser, csrf, url) = (browser.clone(), csrf.clone(), app.url("/account/tokens"));
        async move {
            let form = [("csrf_token", csrf.as_str()), ("app", slug), ("expires_days", "400")];
            browser.post(url).form(&form).send().await.unwrap().text().await.unwrap()
        }
    };

    // A token for `web` while it asks nothing more than a password.
    let pat = token_on(&make("web").await).expect("a token for web");
    let exchanged: serde_json::Value = exchange(&app, "alice", &pat).await.json().await.unwrap();
    let access = exchanged["access_token"].as_str().unwrap();
    let claims = app.verify_jwt(access, "web", "web", jsonwebtoken::Algorithm::RS256, "at+jwt").await;
    assert_eq!((claims["amr"].clone(), claims["acr"].clone()), (serde_json::json!(["pwd"]), serde_json::json!("pwd")));

    // `web` now requires a second factor: the password-only token stops,
    // and no new one is made from this session.
    app.admin(ferrid::admin::AdminCommand::AppRequireMfa { slug: "web".into(), required: true }).unwrap();
    let refused = exchange(&app, "alice", &pat).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(app.introspect(&pat, WEB).await["active"], false);
    let before = app.state.store.fingerprint().unwrap();
    let html = make("web").await;
    assert!(token_on(&html).is_none() && html.contains("needs a second factor"), "{html}");
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "no token was made");
}

#[tokio::test]
async fn an_administrator_setting_a_users_password_revokes_their_tokens() {
    let app = spawn_app().await;
    app.add_user("alice", &[]);
    let bob = app.add_user("bob", &[]);
    let (alices, _) = app.create_pat("alice", "web", 3600);
    let (bobs, _) = app.create_pat("bob", "web", 3600);
    assert_eq!(exchange(&app, "alice", &alices).await.status(), 200);
    let password_hash = bcrypt::hash("a new password!", 4).unwrap();
    app.admin(ferrid::admin::AdminCommand::UserPasswd { username: "alice".into(), password_hash }).unwrap();
    assert_eq!(exchange(&app, "alice", &alices).await.status(), 400, "account recovery stops alice's tokens");
    assert_eq!(exchange(&app, &bob.username, &bobs).await.status(), 200, "and no one else's");
}

#[tokio::test]
async fn signing_out_everywhere_and_a_password_change_revoke_the_users_tokens_when_asked() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let signed_in = || async {
        let browser = browser();
        let response = browser.get(app.url("/account/")).send().await.unwrap();
        sign_in_with(&browser, &app.address, &location(&response), &alice.username, &alice.password).await;
        let html = browser.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(r#"name="revoke_tokens" checked"#), "offered, and on by default");
        (browser.clone(), hidden_field(&html, "csrf_token").unwrap())
    };

    // Unticked: signing out everywhere leaves the token working.
    let (kept, _) = app.create_pat("alice", "web", 3600);
    let (browser, csrf) = signed_in().await;
    let form = [("csrf_token", csrf.as_str()), ("sid", "all")];
    browser.post(app.url("/account/sessions/end")).form(&form).send().await.unwrap();
    assert_eq!(exchange(&app, "alice", &kept).await.status(), 200);

    // Ticked (the default): the token stops.
    let (browser, csrf) = signed_in().await;
    let form = [("csrf_token", csrf.as_str()), ("sid", "all"), ("revoke_tokens", "on")];
    browser.post(app.url("/account/sessions/end")).form(&form).send().await.unwrap();
    assert_eq!(exchange(&app, "alice", &kept).await.status(), 400, "revoked with the sign-out");

    // A password change, ticked: a new token stops too.
    let (fresh, _) = app.create_pat("alice", "web", 3600);
    let (browser, csrf) = signed_in().await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("current_password", alice.password.as_str()),
        ("new_password", "a much newer password"),
        ("repeat_password", "a much newer password"),
        ("revoke_tokens", "on"),
    ];
    let response = browser.post(app.url("/account/password")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(exchange(&app, "alice", &fresh).await.status(), 400, "revoked with the new password");
}
