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
    // On PostgreSQL a new key signs after its publication lead.
    app.clock.advance(ferrid::keystore::PUBLISH_LEAD_MS / 1000 + 1);

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

#[tokio::test]
async fn keys_pem_verifies_each_applications_tokens_and_matches_the_cli_export() {
    let app = spawn_app().await;
    for (slug, secret, alg) in [("web", WEB_SECRET, Algorithm::RS256), ("ec", EC_SECRET, Algorithm::ES256)] {
        let response = app.client.get(app.url(&format!("/application/o/{slug}/keys.pem"))).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/x-pem-file");
        let pem = response.text().await.unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----") && !pem.contains("PRIVATE"), "{pem}");

        let tokens: Value =
            app.post_token(&[("grant_type", "client_credentials")], Some((slug, secret))).await.json().await.unwrap();
        let key = match alg {
            Algorithm::RS256 => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            _ => jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        };
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.set_issuer(&[app.issuer(slug)]);
        validation.set_audience(&[slug]);
        let claims = jsonwebtoken::decode::<Value>(tokens["access_token"].as_str().unwrap(), &key, &validation);
        assert_eq!(claims.expect("the PEM verifies the token").claims["sub"], slug);

        let alg_name = if alg == Algorithm::RS256 { "RS256" } else { "ES256" };
        let exported = app.admin(AdminCommand::KeysExportPem { alg: Some(alg_name.into()) }).unwrap();
        assert_eq!(exported["pem"].as_str().unwrap(), pem);
    }
    let missing = app.client.get(app.url("/application/o/nope/keys.pem")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
