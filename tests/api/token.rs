use crate::helpers::*;
use jsonwebtoken::Algorithm;
use serde_json::Value;

async fn oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].as_str().is_some());
    body
}

/// A code for alice at the `web` client, with PKCE.
async fn fresh_code(app: &TestApp, user: &TestUser, scope: &str) -> (String, Pkce) {
    let pkce = Pkce::new();
    let q = app.authorize_and_sign_in(&web_params(scope, &pkce, "n", "s"), user).await;
    (q["code"].clone(), pkce)
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client_with_a_basic_challenge() {
    let app = spawn_app().await;
    let response = app.post_token(&[("grant_type", "client_credentials")], Some(("web", "wrong-secret"))).await;
    assert_eq!(response.headers()["www-authenticate"], r#"Basic realm="ferrid""#);
    oauth_error(response, 401, "invalid_client").await;

    let form = [("grant_type", "client_credentials"), ("client_id", "web"), ("client_secret", "wrong-secret")];
    oauth_error(app.post_token(&form, None).await, 401, "invalid_client").await;
    let form = [("grant_type", "client_credentials"), ("client_id", "web")];
    oauth_error(app.post_token(&form, None).await, 401, "invalid_client").await;
    let form = [("grant_type", "client_credentials"), ("client_id", "ghost"), ("client_secret", "x")];
    oauth_error(app.post_token(&form, None).await, 401, "invalid_client").await;
}

#[tokio::test]
async fn client_credentials_issues_an_offline_verifiable_jwt_for_every_algorithm() {
    let app = spawn_app().await;
    for (slug, client, secret, alg) in [
        ("web", "web", WEB_SECRET, Algorithm::RS256),
        ("ec", "ec", EC_SECRET, Algorithm::ES256),
        ("ed", "ed", ED_SECRET, Algorithm::EdDSA),
    ] {
        // client_secret_post this time.
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
            ("scope", "openid groups"),
        ];
        let response = app.post_token(&form, None).await;
        assert_eq!(response.status(), 200, "{slug}");
        let tokens: Value = response.json().await.unwrap();
        assert!(tokens.get("id_token").is_none() && tokens.get("refresh_token").is_none());
        assert_eq!(tokens["scope"], "groups", "openid means nothing without a user");
        let claims = app.verify_jwt(tokens["access_token"].as_str().unwrap(), slug, client, alg, "at+jwt").await;
        assert_eq!(claims["sub"], client);
        assert_eq!(claims["client_id"], client);
    }
}

#[tokio::test]
async fn basic_credentials_are_form_url_decoded() {
    let app = spawn_app().await;
    // RFC 6749 §2.3.1: "web" and the secret, each form-urlencoded, then Basic.
    let encoded_secret = WEB_SECRET.replace('-', "%2D");
    let response = app.post_token(&[("grant_type", "client_credentials")], Some(("web", &encoded_secret))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn public_clients_cannot_use_client_credentials() {
    let app = spawn_app().await;
    let form = [("grant_type", "client_credentials"), ("client_id", "spa")];
    oauth_error(app.post_token(&form, None).await, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn malformed_token_requests_get_rfc6749_errors() {
    let app = spawn_app().await;
    let basic = Some(("web", WEB_SECRET));
    oauth_error(app.post_token(&[("grant_type", "password")], basic).await, 400, "unsupported_grant_type").await;
    oauth_error(app.post_token(&[("scope", "x")], basic).await, 400, "invalid_request").await;
    let repeated = [("grant_type", "client_credentials"), ("grant_type", "client_credentials")];
    oauth_error(app.post_token(&repeated, basic).await, 400, "invalid_request").await;
    let json_body = reqwest::Client::new()
        .post(app.url("/application/o/token/"))
        .basic_auth("web", Some(WEB_SECRET))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(json_body, 400, "invalid_request").await;
    let bad_basic = reqwest::Client::new()
        .post(app.url("/application/o/token/"))
        .header("authorization", "Basic !!!not-base64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    oauth_error(bad_basic, 401, "invalid_client").await;
}

#[tokio::test]
async fn a_reused_code_is_invalid_grant_and_revokes_what_the_first_use_issued() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (code, pkce) = fresh_code(&app, &alice, "openid offline_access").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_CB),
        ("code_verifier", &pkce.verifier),
    ];
    let first: Value = app.post_token(&form, Some(("web", WEB_SECRET))).await.json().await.unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    let access = first["access_token"].as_str().unwrap();
    let userinfo = |token: String| {
        let url = app.url("/application/o/userinfo/");
        async move { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(userinfo(access.to_owned()).await, 200);

    oauth_error(app.post_token(&form, Some(("web", WEB_SECRET))).await, 400, "invalid_grant").await;

    let refresh_form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    oauth_error(app.post_token(&refresh_form, Some(("web", WEB_SECRET))).await, 400, "invalid_grant").await;
    assert_eq!(userinfo(access.to_owned()).await, 401, "the first access token is revoked at ferrid");
}

/// The same token request sent `n` times at once, as the `web` client.
async fn race(app: &TestApp, form: &[(&str, &str)], n: usize) -> Vec<(u16, Value)> {
    // One client, and every request built before any is sent: making a
    // client per task loads TLS roots between one task's connect and its
    // write, and on a loaded machine ferrid's 1 s head timeout (408) won.
    let client = reqwest::Client::new();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..n {
        let request = client.post(app.url("/application/o/token/")).basic_auth("web", Some(WEB_SECRET)).form(form);
        requests.spawn(async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        });
    }
    requests.join_all().await
}

fn status_of(app: &TestApp, access_token: &str) -> impl std::future::Future<Output = u16> {
    let request = reqwest::Client::new().get(app.url("/application/o/userinfo/")).bearer_auth(access_token);
    async move { request.send().await.unwrap().status().as_u16() }
}

/// The one 200 among raced responses; the others must be invalid_grant.
fn the_one_winner(results: &[(u16, Value)]) -> &Value {
    let winners: Vec<&Value> = results.iter().filter(|(status, _)| *status == 200).map(|(_, body)| body).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (status, body) in results.iter().filter(|(status, _)| *status != 200) {
        assert_eq!((*status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
    winners[0]
}

/// Concurrent uses of one code: exactly one wins, and because the others
/// are replays, what the winner got is revoked too (RFC 6749 §4.1.2), however
/// the requests interleave (a replay that loses the race, or one that comes
/// after the winner).
#[tokio::test]
async fn concurrent_uses_of_a_code_get_one_winner_whose_tokens_are_then_revoked() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (code, pkce) = fresh_code(&app, &alice, "openid offline_access").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_CB),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    // Two, so that the loser usually loses the compare-and-swap itself
    // rather than finding the code already redeemed: with six, a later
    // replay revoked the winner's tokens even when the race branch did not.
    let results = race(&app, &form, 2).await;
    let winner = the_one_winner(&results);
    assert_eq!(status_of(&app, winner["access_token"].as_str().unwrap()).await, 401);
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", winner["refresh_token"].as_str().unwrap())];
    oauth_error(app.post_token(&refresh, Some(("web", WEB_SECRET))).await, 400, "invalid_grant").await;
}

/// The same for one refresh token (RFC 9700 §4.14.2): one rotation wins,
/// and the family it rotated is revoked by the reuses around it.
#[tokio::test]
async fn concurrent_uses_of_a_refresh_token_get_one_winner_whose_family_is_then_revoked() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (code, pkce) = fresh_code(&app, &alice, "openid offline_access").await;
    let tokens: Value = app.redeem_web_code(&code, &pkce).await.json().await.unwrap();
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let results = race(&app, &refresh, 6).await;
    let winner = the_one_winner(&results);
    let rotated = [("grant_type", "refresh_token"), ("refresh_token", winner["refresh_token"].as_str().unwrap())];
    oauth_error(app.post_token(&rotated, Some(("web", WEB_SECRET))).await, 400, "invalid_grant").await;
    assert_eq!(status_of(&app, winner["access_token"].as_str().unwrap()).await, 401);
}

#[tokio::test]
async fn code_is_bound_to_pkce_redirect_uri_and_client() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let basic = Some(("web", WEB_SECRET));

    let (code, pkce) = fresh_code(&app, &alice, "openid").await;
    let other = Pkce::new();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_CB),
        ("code_verifier", &other.verifier),
    ];
    oauth_error(app.post_token(&form, basic).await, 400, "invalid_grant").await;
    let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", WEB_CB)];
    oauth_error(app.post_token(&form, basic).await, 400, "invalid_grant").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://web.example/cb/"),
        ("code_verifier", &pkce.verifier),
    ];
    oauth_error(app.post_token(&form, basic).await, 400, "invalid_grant").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_CB),
        ("code_verifier", &pkce.verifier),
    ];
    oauth_error(app.post_token(&form, Some(("other-client", OTHER_SECRET))).await, 400, "invalid_grant").await;
    // None of the failures consumed it.
    assert_eq!(app.post_token(&form, basic).await.status(), 200);
}

#[tokio::test]
async fn a_verifier_for_a_code_issued_without_pkce_is_refused_as_a_downgrade() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let params = [("response_type", "code"), ("client_id", "web"), ("redirect_uri", WEB_CB), ("scope", "openid")];
    let q = app.authorize_and_sign_in(&params, &alice).await;
    let verifier = Pkce::new().verifier;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &q["code"]),
        ("redirect_uri", WEB_CB),
        ("code_verifier", &verifier),
    ];
    oauth_error(app.post_token(&form, Some(("web", WEB_SECRET))).await, 400, "invalid_grant").await;
    // Confidential client without PKCE at all (passport-openidconnect's way) works.
    let form = [("grant_type", "authorization_code"), ("code", &q["code"]), ("redirect_uri", WEB_CB)];
    assert_eq!(app.post_token(&form, Some(("web", WEB_SECRET))).await.status(), 200);
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (code, pkce) = fresh_code(&app, &alice, "openid").await;
    app.clock.advance(61);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_CB),
        ("code_verifier", &pkce.verifier),
    ];
    let body = oauth_error(app.post_token(&form, Some(("web", WEB_SECRET))).await, 400, "invalid_grant").await;
    assert!(body["error_description"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_family() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins"]);
    let tokens = app.code_flow_tokens(&alice, "openid profile groups offline_access").await;
    let basic = Some(("web", WEB_SECRET));
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();

    let response = app.post_token(&[("grant_type", "refresh_token"), ("refresh_token", &first)], basic).await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let id = app.verify_jwt(rotated["id_token"].as_str().unwrap(), "web", "web", Algorithm::RS256, "JWT").await;
    assert_eq!(id["sub"], alice.sub.as_str());

    // Narrowing the scope is allowed; widening it is not.
    let narrow = [("grant_type", "refresh_token"), ("refresh_token", second.as_str()), ("scope", "openid email")];
    oauth_error(app.post_token(&narrow, basic).await, 400, "invalid_scope").await;

    // The old token comes back (stolen?): the family dies, including the newest member.
    oauth_error(
        app.post_token(&[("grant_type", "refresh_token"), ("refresh_token", &first)], basic).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        app.post_token(&[("grant_type", "refresh_token"), ("refresh_token", &second)], basic).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn refresh_fails_for_another_client_and_for_a_disabled_user() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let tokens = app.code_flow_tokens(&alice, "openid offline_access").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    oauth_error(app.post_token(&form, Some(("other-client", OTHER_SECRET))).await, 400, "invalid_grant").await;
    // The refused attempt used nothing up: the token is still good, so the
    // refusal below is the disabled account's, not a spent token's.
    assert_eq!(app.introspect(refresh, ("web", WEB_SECRET)).await["active"], true);

    app.set_disabled(&alice, true);
    oauth_error(app.post_token(&form, Some(("web", WEB_SECRET))).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_disabled_users_code_cannot_be_redeemed() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (code, pkce) = fresh_code(&app, &alice, "openid").await;
    app.set_disabled(&alice, true);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_CB),
        ("code_verifier", &pkce.verifier),
    ];
    oauth_error(app.post_token(&form, Some(("web", WEB_SECRET))).await, 400, "invalid_grant").await;
}

/// A plain 32-byte token, as codes and refresh tokens were before they
/// named their records (`tokens::naming_token`).
fn token_of_before() -> String {
    let bytes = [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
    ferrid::crypto::secrets::b64url(&bytes)
}

/// Codes and refresh tokens handed out before tokens named their records
/// (an upgrade with grants in flight) are found by their digest alone, and
/// are as single-use as the new ones.
#[tokio::test]
async fn a_code_and_a_refresh_token_from_before_tokens_named_their_records_still_work_once() {
    use ferrid::crypto::secrets::Digest;
    use ferrid::store::{AuditEvent, AuditKind, CodeState, RefreshOutcome, Rotation};
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let store = &app.state.store;
    let (new_code, pkce) = fresh_code(&app, &alice, "openid offline_access").await;
    let Some(CodeState::Issued(record)) = store.code(&Digest::of(&new_code)).unwrap() else {
        panic!("a code not redeemed yet")
    };
    let old_code = token_of_before();
    store.put_code(&Digest::of(&old_code), &record.record).unwrap();

    let response = app.redeem_web_code(&old_code, &pkce).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();

    // The family's current token becomes one of the old shape.
    let new_refresh = tokens["refresh_token"].as_str().unwrap();
    let names = ferrid::tokens::refresh_token_names(new_refresh).unwrap();
    let (outcome, _) = store.present_refresh_token_of(&Digest::of(new_refresh), &names.0, &names.1, 0, None).unwrap();
    let RefreshOutcome::Valid(family) = outcome else { panic!("the new refresh token is valid") };
    let old_refresh = token_of_before();
    let rotation =
        Rotation { new_token: Digest::of(&old_refresh), access: family.last_access.clone().unwrap(), retry: None };
    assert!(store.rotate_family(&family, &rotation, &AuditEvent::new(AuditKind::TokenIssued, 0)).unwrap());

    let basic = Some(("web", WEB_SECRET));
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", old_refresh.as_str())];
    let response = app.post_token(&refresh, basic).await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let next = rotated["refresh_token"].as_str().unwrap();
    assert!(ferrid::tokens::refresh_token_names(next).is_some(), "rotated into the new shape");
    oauth_error(app.post_token(&refresh, basic).await, 400, "invalid_grant").await;
    let revoked = [("grant_type", "refresh_token"), ("refresh_token", next)];
    oauth_error(app.post_token(&revoked, basic).await, 400, "invalid_grant").await;

    // The old code, used again, is refused.
    oauth_error(app.redeem_web_code(&old_code, &pkce).await, 400, "invalid_grant").await;
}
