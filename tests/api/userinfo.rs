use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

fn url(app: &TestApp) -> String {
    app.url("/application/o/userinfo/")
}

async fn assert_invalid_token(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn userinfo_answers_get_and_post_with_claims_by_scope_and_the_id_token_sub() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins"]);
    let tokens = app.code_flow_tokens(&alice, "openid email groups").await;
    let access = tokens["access_token"].as_str().unwrap();

    let get: Value =
        reqwest::Client::new().get(url(&app)).bearer_auth(access).send().await.unwrap().json().await.unwrap();
    assert_eq!(get["sub"], alice.sub.as_str());
    assert_eq!(get["email"], "alice@example.org");
    assert_eq!(get["groups"], serde_json::json!(["admins"]));
    assert!(get.get("preferred_username").is_none(), "profile was not granted");

    let post = reqwest::Client::new().post(url(&app)).form(&[("access_token", access)]).send().await.unwrap();
    assert_eq!(post.status(), 200);
    assert_eq!(post.json::<Value>().await.unwrap(), get);
}

#[tokio::test]
async fn userinfo_refuses_missing_tampered_unsigned_and_expired_tokens() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let tokens = app.code_flow_tokens(&alice, "openid profile").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();

    assert_invalid_token(client.get(url(&app)).send().await.unwrap()).await;

    // Tampered payload: a different subject, original signature.
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = "someone-else".into();
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_invalid_token(client.get(url(&app)).bearer_auth(&tampered).send().await.unwrap()).await;

    // alg: none, with the real kid.
    let mut header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    header["alg"] = "none".into();
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()), parts[1]);
    assert_invalid_token(client.get(url(&app)).bearer_auth(&none).send().await.unwrap()).await;

    // HS256 keyed with the public key (the classic algorithm-confusion attack).
    let jwks: Value = client.get(app.url("/application/o/web/jwks/")).send().await.unwrap().json().await.unwrap();
    let n = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap()["n"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    hs_header.typ = Some("at+jwt".into());
    let original: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let hs =
        jsonwebtoken::encode(&hs_header, &original, &jsonwebtoken::EncodingKey::from_secret(n.as_bytes())).unwrap();
    assert_invalid_token(client.get(url(&app)).bearer_auth(&hs).send().await.unwrap()).await;

    // The id_token is not an access token (typ JWT, not at+jwt).
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_invalid_token(client.get(url(&app)).bearer_auth(id_token).send().await.unwrap()).await;

    assert_eq!(client.get(url(&app)).bearer_auth(&access).send().await.unwrap().status(), 200);
    app.clock.advance(301);
    assert_invalid_token(client.get(url(&app)).bearer_auth(&access).send().await.unwrap()).await;
}

#[tokio::test]
async fn userinfo_refuses_a_disabled_user_and_a_client_credentials_token() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let tokens = app.code_flow_tokens(&alice, "openid").await;
    let client = reqwest::Client::new();
    app.set_disabled(&alice, true);
    assert_invalid_token(
        client.get(url(&app)).bearer_auth(tokens["access_token"].as_str().unwrap()).send().await.unwrap(),
    )
    .await;

    let cc: Value =
        app.post_token(&[("grant_type", "client_credentials")], Some(("web", WEB_SECRET))).await.json().await.unwrap();
    let response = client.get(url(&app)).bearer_auth(cc["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(response.status(), 403, "no openid scope: insufficient_scope");
}

/// Tokens signed with ferrid's own key (as if it had issued them) are still
/// refused when a claim is wrong: the claim checks do not lean on the
/// signature. The unchanged claims, re-signed the same way, are the control.
#[tokio::test]
async fn userinfo_refuses_validly_signed_tokens_with_a_wrong_or_missing_claim() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let tokens = app.code_flow_tokens(&alice, "openid profile").await;
    let access = tokens["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    let original: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(access.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let key_file = std::fs::read_dir(app.signing_key_files())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("rsa-"))
        .unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(key_file).unwrap()).unwrap();
    let sign = |claims: &Value| jsonwebtoken::encode(&header, claims, &key).unwrap();
    let client = reqwest::Client::new();

    let control = client.get(url(&app)).bearer_auth(sign(&original)).send().await.unwrap();
    assert_eq!(control.status(), 200, "re-signed unchanged claims verify");
    let other_issuer = app.issuer("other");
    let changes: [(&str, Option<Value>); 8] = [
        ("aud", Some("another-client".into())),
        ("aud", Some(serde_json::json!(["another-client"]))),
        ("aud", None),
        ("iss", Some(other_issuer.into())),
        ("exp", None),
        ("exp", Some(1.into())),
        ("jti", Some("not-a-uuid".into())),
        ("client_id", Some("no-such-client".into())),
    ];
    for (claim, value) in changes {
        let mut claims = original.clone();
        match value.clone() {
            Some(v) => claims[claim] = v,
            None => {
                claims.as_object_mut().unwrap().remove(claim);
            }
        }
        let response = client.get(url(&app)).bearer_auth(sign(&claims)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{claim} = {value:?} was accepted");
    }
    // An audience list that includes the client is fine (RFC 7519 §4.1.3).
    let mut listed = original.clone();
    listed["aud"] = serde_json::json!(["api", original["aud"].clone()]);
    assert_eq!(client.get(url(&app)).bearer_auth(sign(&listed)).send().await.unwrap().status(), 200);
}
