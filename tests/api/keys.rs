use crate::helpers::*;
use ferrid::admin::AdminCommand;
use jsonwebtoken::Algorithm;
use serde_json::Value;

#[tokio::test]
async fn after_rotation_the_new_key_signs_and_the_old_one_stays_published_until_its_tokens_expire() {
    let app = spawn_app().await;
    let before: Value =
        app.post_token(&[("grant_type", "client_credentials")], Some(("web", WEB_SECRET))).await.json().await.unwrap();
    let old_token = before["access_token"].as_str().unwrap().to_owned();
    let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid.unwrap();

    app.admin(AdminCommand::KeysRotate { alg: Some("RS256".into()) }).unwrap();
    app.state.republish(true).unwrap();

    let after: Value =
        app.post_token(&[("grant_type", "client_credentials")], Some(("web", WEB_SECRET))).await.json().await.unwrap();
    let new_kid = jsonwebtoken::decode_header(after["access_token"].as_str().unwrap()).unwrap().kid.unwrap();
    assert_ne!(old_kid, new_kid, "the new key signs");
    // Both verify against the JWKS right now.
    app.verify_jwt(&old_token, "web", "web", Algorithm::RS256, "at+jwt").await;
    app.verify_jwt(after["access_token"].as_str().unwrap(), "web", "web", Algorithm::RS256, "at+jwt").await;

    // Once every token the old key signed has expired, the JWKS drops it.
    app.clock.advance(300 + 61);
    app.state.republish(false).unwrap();
    let jwks = app.jwks("web").await;
    assert!(jwks.find(&old_kid).is_none(), "old key left the JWKS");
    assert!(jwks.find(&new_kid).is_some());
}
