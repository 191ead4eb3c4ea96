use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn discovery_names_the_per_application_issuer_with_a_trailing_slash() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/application/o/web/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], app.issuer("web"));
    assert!(doc["issuer"].as_str().unwrap().ends_with("/application/o/web/"));
    assert_eq!(doc["authorization_endpoint"], app.url("/application/o/authorize/"));
    assert_eq!(doc["token_endpoint"], app.url("/application/o/token/"));
    assert_eq!(doc["userinfo_endpoint"], app.url("/application/o/userinfo/"));
    assert_eq!(doc["jwks_uri"], app.url("/application/o/web/jwks/"));
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["response_modes_supported"], serde_json::json!(["query", "form_post"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    let confidential = serde_json::json!(["client_secret_basic", "client_secret_post"]);
    assert_eq!(doc["token_endpoint_auth_methods_supported"], confidential, "a confidential app cannot use none");
    assert_eq!(doc["revocation_endpoint_auth_methods_supported"], confidential);
}

#[tokio::test]
async fn a_public_applications_discovery_lists_only_the_none_auth_method() {
    let app = spawn_app().await;
    let url = app.url("/application/o/spa/.well-known/openid-configuration");
    let doc: Value = app.client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["token_endpoint_auth_methods_supported"], serde_json::json!(["none"]));
    assert_eq!(doc["revocation_endpoint_auth_methods_supported"], serde_json::json!(["none"]));
}

#[tokio::test]
async fn discovery_advertises_each_applications_own_signing_algorithm() {
    let app = spawn_app().await;
    for (slug, alg) in [("ec", "ES256"), ("ed", "EdDSA")] {
        let url = app.url(&format!("/application/o/{slug}/.well-known/openid-configuration"));
        let doc: Value = app.client.get(url).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!([alg]));
        assert_eq!(doc["issuer"], app.issuer(slug));
    }
}

#[tokio::test]
async fn unknown_slug_is_404_for_discovery_and_jwks() {
    let app = spawn_app().await;
    for path in ["/application/o/nope/.well-known/openid-configuration", "/application/o/nope/jwks/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn jwks_keys_have_rfc7638_thumbprint_kids_and_no_private_parts() {
    let app = spawn_app().await;
    let jwks: Value = app.client.get(app.url("/application/o/web/jwks/")).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{alg} missing from {algs:?}");
    }
    for key in keys {
        let map = key.as_object().unwrap();
        assert_eq!(key["kid"].as_str().unwrap(), ferrid::crypto::jose::thumbprint(map).unwrap());
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(!map.contains_key(private), "private member {private} published");
        }
    }
}

#[tokio::test]
async fn pages_carry_anti_framing_and_nosniff_headers() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/application/o/authorize/?client_id=nope")).send().await.unwrap();
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

/// Public documents are gzipped for clients that ask; responses carrying a
/// secret (tokens, the sign-in page's CSRF field) never are (BREACH).
#[tokio::test]
async fn only_public_documents_are_compressed() {
    let app = spawn_app().await;
    let gzip = |request: reqwest::RequestBuilder| request.header("accept-encoding", "gzip");
    let encoding = |response: &reqwest::Response| {
        response.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned())
    };
    for path in [
        "/application/o/web/.well-known/openid-configuration",
        "/application/o/web/jwks/",
        "/application/o/web/keys.pem",
        "/static/ferrid.css",
    ] {
        let response = gzip(app.client.get(app.url(path))).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(encoding(&response).as_deref(), Some("gzip"), "{path}");
    }
    let token = gzip(reqwest::Client::new().post(app.url("/application/o/token/")))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    assert_eq!(encoding(&token), None, "token response");
    let pkce = Pkce::new();
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    let page = gzip(app.client.get(app.url(&location(&response)))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(encoding(&page), None, "sign-in page with its CSRF field");
}
