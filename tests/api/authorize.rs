use crate::helpers::*;
use jsonwebtoken::Algorithm;

#[tokio::test]
async fn code_flow_with_pkce_signs_in_through_the_form_and_returns_verified_tokens() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins", "viewers"]);
    let pkce = Pkce::new();
    let q = app
        .authorize_and_sign_in(&web_params("openid openid email profile groups", &pkce, "n-42", "st@te 1"), &alice)
        .await;
    assert_eq!(q["state"], "st@te 1");
    assert_eq!(q["iss"], app.issuer("web"), "RFC 9207 iss in the authorization response");

    let response = app.redeem_web_code(&q["code"], &pkce).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(tokens["scope"], "openid profile email groups");
    assert!(tokens.get("refresh_token").is_none(), "no offline_access, no refresh token");

    let id = app.verify_jwt(tokens["id_token"].as_str().unwrap(), "web", "web", Algorithm::RS256, "JWT").await;
    assert_eq!(id["sub"], alice.sub.as_str());
    assert_eq!(id["aud"], "web", "aud is a plain string");
    assert_eq!(id["nonce"], "n-42");
    assert_eq!(id["preferred_username"], "alice");
    assert_eq!(id["email"], "alice@example.org");
    assert_eq!(id["name"], "alice Example");
    assert_eq!(id["groups"], serde_json::json!(["admins", "viewers"]));
    assert!(id["auth_time"].as_i64().is_some());
    let access_token = tokens["access_token"].as_str().unwrap();
    let at_hash = ferrid::crypto::secrets::b64url(&ferrid::crypto::secrets::sha256(access_token.as_bytes())[..16]);
    assert_eq!(id["at_hash"], at_hash);

    let at = app.verify_jwt(access_token, "web", "web", Algorithm::RS256, "at+jwt").await;
    assert_eq!(at["sub"], alice.sub.as_str());
    assert_eq!(at["client_id"], "web");
    assert_eq!(at["scope"], "openid profile email groups");
    assert!(at["jti"].as_str().is_some() && at["iat"].as_i64().is_some());
}

#[tokio::test]
async fn an_existing_session_signs_into_a_second_application_without_a_password() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    app.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;

    let response = app
        .get_authorize(&[
            ("response_type", "code"),
            ("client_id", "other-client"),
            ("redirect_uri", OTHER_CB),
            ("scope", "openid profile"),
            ("state", "two"),
        ])
        .await;
    assert_eq!(response.status(), 303);
    let target = location(&response);
    assert!(target.starts_with("https://other.example/callback?tenant=1&code="), "{target}");
    let q = query_of(&target);
    assert_eq!(q["state"], "two");
    assert_eq!(q["tenant"], "1", "the registered query is kept");

    let response = app
        .post_token(
            &[("grant_type", "authorization_code"), ("code", &q["code"]), ("redirect_uri", OTHER_CB)],
            Some(("other-client", OTHER_SECRET)),
        )
        .await;
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    let id =
        app.verify_jwt(tokens["id_token"].as_str().unwrap(), "other", "other-client", Algorithm::RS256, "JWT").await;
    assert_eq!(id["sub"], alice.sub.as_str(), "same subject in both applications");
    assert_eq!(id["preferred_username"], "alice");
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_and_is_never_redirected() {
    let app = spawn_app().await;
    let response = app
        .get_authorize(&[("response_type", "code"), ("client_id", "nope"), ("redirect_uri", "https://evil.example/")])
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.unwrap().contains("Unknown application"));
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_error_page_and_is_never_redirected() {
    let app = spawn_app().await;
    for uri in
        ["https://evil.example/cb", "https://web.example/cb/", "https://web.example/cb?x=1", "HTTPS://web.example/cb"]
    {
        let response =
            app.get_authorize(&[("response_type", "code"), ("client_id", "web"), ("redirect_uri", uri)]).await;
        assert_eq!(response.status(), 400, "{uri}");
        assert!(response.headers().get("location").is_none(), "{uri}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Unregistered redirect URI"));
        assert!(html.contains("log names the addresses that are registered"), "{html}");
        // What is registered is for the operator's log, never for an anonymous visitor.
        assert!(!html.contains(WEB_CB) || uri.starts_with(WEB_CB), "{html}");
    }
}

#[tokio::test]
async fn bad_requests_after_the_client_is_verified_go_back_with_error_state_and_iss() {
    let app = spawn_app().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (
            &[("response_type", "code"), ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")],
            "invalid_request",
        ),
        (&[("response_type", "code"), ("request", "eyJ...")], "request_not_supported"),
        (&[("response_type", "code"), ("prompt", "none login")], "invalid_request"),
        (&[("response_type", "code"), ("max_age", "-1")], "invalid_request"),
    ];
    for (extra, expected) in cases {
        let mut params = vec![("client_id", "web"), ("redirect_uri", WEB_CB), ("state", "keep-me")];
        params.extend_from_slice(extra);
        let response = app.get_authorize(&params).await;
        assert_eq!(response.status(), 303, "{extra:?}");
        let q = query_of(&location(&response));
        assert_eq!(q["error"], expected, "{extra:?}");
        assert_eq!(q["state"], "keep-me");
        assert_eq!(q["iss"], app.issuer("web"));
        assert!(!q.contains_key("code"));
    }
}

#[tokio::test]
async fn public_clients_must_use_pkce_and_plain_is_refused() {
    let app = spawn_app().await;
    let base = [("response_type", "code"), ("client_id", "spa"), ("redirect_uri", SPA_CB), ("scope", "openid")];
    let response = app.get_authorize(&base).await;
    assert_eq!(query_of(&location(&response))["error"], "invalid_request");

    let mut plain = base.to_vec();
    plain.extend([
        ("code_challenge", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ("code_challenge_method", "plain"),
    ]);
    let q = query_of(&location(&app.get_authorize(&plain).await));
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("S256"));
}

#[tokio::test]
async fn public_client_completes_the_flow_with_pkce_and_no_secret() {
    let app = spawn_app().await;
    let bob = app.add_user("bob", &[]);
    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", SPA_CB),
        ("scope", "openid offline_access"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let q = app.authorize_and_sign_in(&params, &bob).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("code", &q["code"]),
        ("redirect_uri", SPA_CB),
        ("code_verifier", &pkce.verifier),
    ];
    let response = app.post_token(&form, None).await;
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert!(tokens["refresh_token"].as_str().is_some());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_generic_answer_and_no_code() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let mut bodies = Vec::new();
    for (username, password) in [("alice", "not-her-password"), ("nobody-here", "whatever-password")] {
        let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
        let response = app.submit_sign_in(&location(&response), username, password).await;
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("Wrong username or password."));
        bodies.push(html.replace(username, "USER"));
    }
    // Apart from the echoed username and the per-request tx, both answers are
    // the same page (the CSRF token is per browser, so it matches too).
    let strip = |s: &str| s.lines().filter(|l| !l.contains("name=\"tx\"")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&bodies[0]), strip(&bodies[1]), "{}\n----\n{}", bodies[0], bodies[1]);
    // And the real password still works afterwards.
    app.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_and_loses_their_session() {
    let app = spawn_app().await;
    let carol = app.add_user("carol", &[]);
    let pkce = Pkce::new();
    app.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &carol).await;
    app.set_disabled(&carol, true);

    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    let login = location(&response);
    assert!(login.starts_with("/login"), "the SSO session no longer counts: {login}");
    // The right password: told the account is disabled (issue 25), not signed in.
    let response = app.submit_sign_in(&login, &carol.username, &carol.password).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("ferrid_session=")));
    assert!(response.text().await.unwrap().contains("This account is disabled"));
}

#[tokio::test]
async fn prompt_none_without_a_session_returns_login_required() {
    let app = spawn_app().await;
    let pkce = Pkce::new();
    let mut params = web_params("openid", &pkce, "n", "s");
    params.push(("prompt", "none"));
    let q = query_of(&location(&app.get_authorize(&params).await));
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "s");
}

#[tokio::test]
async fn prompt_login_and_an_exceeded_max_age_ask_for_the_password_again() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    app.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;

    let mut params = web_params("openid", &pkce, "n", "s");
    params.push(("prompt", "login"));
    assert!(location(&app.get_authorize(&params).await).starts_with("/login"));

    app.clock.advance(120);
    let mut params = web_params("openid", &pkce, "n", "s");
    params.push(("max_age", "60"));
    assert!(location(&app.get_authorize(&params).await).starts_with("/login"));
    let mut params = web_params("openid", &pkce, "n", "s");
    params.push(("max_age", "3600"));
    assert!(location(&app.get_authorize(&params).await).starts_with(WEB_CB));
}

#[tokio::test]
async fn form_post_response_mode_delivers_code_state_and_iss_in_an_auto_submitting_form() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let mut params = web_params("openid", &pkce, "n", "fp-state");
    params.push(("response_mode", "form_post"));
    let response = app.get_authorize(&params).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    assert_eq!(response.status(), 200);
    assert!(is_form(&response));
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("form-action 'self' https://web.example"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"action="https:&#x2F;&#x2F;web.example&#x2F;cb""#)
            || html.contains(r#"action="https://web.example/cb""#),
        "{html}"
    );
    assert_eq!(hidden_field(&html, "state").as_deref(), Some("fp-state"));
    assert_eq!(hidden_field(&html, "iss"), Some(app.issuer("web")));
    let code = hidden_field(&html, "code").expect("code in the form");

    // A client that reads the POSTed code redeems it like any other.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_CB),
        ("code_verifier", &pkce.verifier),
    ];
    assert_eq!(app.post_token(&form, Some(("web", WEB_SECRET))).await.status(), 200);
}

#[tokio::test]
async fn sign_in_post_without_the_csrf_cookie_is_refused() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    let html = app.client.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let tx = hidden_field(&html, "tx").unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();

    // An attacker's page posting from another browser: right fields, no cookie.
    let other_browser = browser();
    let form = [
        ("tx", tx.as_str()),
        ("csrf_token", csrf.as_str()),
        ("username", "alice"),
        ("password", alice.password.as_str()),
    ];
    let response = other_browser.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("location").is_none());

    // Same browser, tampered token.
    let forged = "x".repeat(43);
    let form = [
        ("tx", tx.as_str()),
        ("csrf_token", forged.as_str()),
        ("username", "alice"),
        ("password", alice.password.as_str()),
    ];
    assert_eq!(app.client.post(app.url("/login")).form(&form).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn sign_in_issues_a_fresh_http_only_session_cookie() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ferrid_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain-http public_url: no Secure flag");
}

#[tokio::test]
async fn the_profile_scope_carries_groups_as_authentik_does() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["viewers"]);
    let tokens = app.code_flow_tokens(&alice, "openid profile email").await;
    let id = app.verify_jwt(tokens["id_token"].as_str().unwrap(), "web", "web", Algorithm::RS256, "JWT").await;
    assert_eq!(id["groups"], serde_json::json!(["viewers"]), "authentik guides check groups with these scopes");
    let other = spawn_app().await;
    let bare = other.code_flow_tokens(&other.add_user("bob", &["viewers"]), "openid").await;
    let id = other.verify_jwt(bare["id_token"].as_str().unwrap(), "web", "web", Algorithm::RS256, "JWT").await;
    assert!(id.get("groups").is_none(), "not without profile or groups");
}
