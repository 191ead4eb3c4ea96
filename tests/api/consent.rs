//! Consent: `once` asks until the user agrees and again for more,
//! `always` asks every time, `prompt=consent` forces the page,
//! `prompt=none` gets consent_required, "Deny" gets access_denied, and a
//! consent withdrawn on the account page asks again.

use crate::helpers::*;

const ONCE_CB: &str = "https://once.example/cb";
const ALWAYS_CB: &str = "https://always.example/cb";

async fn app() -> TestApp {
    let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
    spawn_app_with(&format!(
        r#"  - slug: once
    name: Photo Frame
    client_secret_sha256: {digest}
    redirect_uris: ["{ONCE_CB}"]
    consent: once
  - slug: always
    client_secret_sha256: {digest}
    redirect_uris: ["{ALWAYS_CB}"]
    consent: always
"#
    ))
    .await
}

fn params<'a>(
    client: &'a str,
    cb: &'a str,
    scope: &'a str,
    pkce: &'a Pkce,
    prompt: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", cb),
        ("scope", scope),
        ("state", "st"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(prompt) = prompt {
        params.push(("prompt", prompt));
    }
    params
}

/// The consent page a redirect leads to, and its form.
async fn consent_page(app: &TestApp, response: reqwest::Response) -> (String, [(&'static str, String); 2]) {
    assert_eq!(response.status(), 303);
    let to = location(&response);
    assert!(to.starts_with("/consent?tx="), "{to}");
    let page = app.client.get(app.url(&to)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let form = [("tx", hidden_field(&html, "tx").unwrap()), ("csrf_token", hidden_field(&html, "csrf_token").unwrap())];
    (html, form)
}

async fn answer(
    app: &TestApp,
    form: &[(&'static str, String); 2],
    decision: &str,
) -> std::collections::HashMap<String, String> {
    let mut fields = form.to_vec();
    fields.push(("decision", decision.to_owned()));
    let response = app.client.post(app.url("/consent")).form(&fields).send().await.unwrap();
    assert_eq!(response.status(), 303);
    query_of(&location(&response))
}

#[tokio::test]
async fn once_asks_until_allowed_then_again_for_offline_access_and_after_withdrawal() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();

    // Signing in leads to the consent page, which says what the app gets.
    let response = app.get_authorize(&params("once", ONCE_CB, "openid email", &pkce, None)).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    let (html, form) = consent_page(&app, response).await;
    assert!(html.contains("<h1>Allow Photo Frame?</h1>"), "{html}");
    assert!(html.contains("Your email address"));
    assert!(!html.contains("Access while you are away"));
    let back = answer(&app, &form, "allow").await;
    assert!(back.contains_key("code"), "{back:?}");
    assert_eq!(back["state"], "st");

    // The answer is remembered, and the same form cannot be answered twice.
    let again = app.get_authorize(&params("once", ONCE_CB, "openid email", &pkce, None)).await;
    assert!(location(&again).starts_with(ONCE_CB), "no second page");
    let replay = app
        .client
        .post(app.url("/consent"))
        .form(&[("tx", &form[0].1), ("csrf_token", &form[1].1), ("decision", &"allow".to_owned())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);

    // offline_access was not agreed to: ask again (OIDC Core §11).
    let more = app.get_authorize(&params("once", ONCE_CB, "openid email offline_access", &pkce, None)).await;
    let (html, form) = consent_page(&app, more).await;
    assert!(html.contains("Access while you are away"));
    assert!(answer(&app, &form, "allow").await.contains_key("code"));

    // prompt=consent shows the page even so; prompt=none cannot show it.
    let forced = app.get_authorize(&params("once", ONCE_CB, "openid", &pkce, Some("consent"))).await;
    consent_page(&app, forced).await;

    // Withdrawn on the account page: asked again.
    let account = app.client.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("Photo Frame"), "{account}");
    let csrf = hidden_field(&account, "csrf_token").unwrap();
    let withdraw = [("csrf_token", csrf.as_str()), ("client_id", "once")];
    let response = app.client.post(app.url("/account/consents/revoke")).form(&withdraw).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=consent");
    let response = app.get_authorize(&params("once", ONCE_CB, "openid", &pkce, Some("none"))).await;
    let back = query_of(&location(&response));
    assert_eq!(back["error"], "consent_required", "{back:?}");
    assert_eq!(back["state"], "st");
}

#[tokio::test]
async fn always_asks_every_time_and_deny_sends_access_denied_back() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let response = app.get_authorize(&params("always", ALWAYS_CB, "openid", &pkce, None)).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    let (_, form) = consent_page(&app, response).await;
    assert!(answer(&app, &form, "allow").await.contains_key("code"));

    let response = app.get_authorize(&params("always", ALWAYS_CB, "openid", &pkce, None)).await;
    let (_, form) = consent_page(&app, response).await;
    let back = answer(&app, &form, "deny").await;
    assert_eq!(back["error"], "access_denied");
    assert!(!back.contains_key("code"));

    // Implicit applications (the default) never ask: Node-RED is unchanged.
    let web = app.get_authorize(&web_params("openid offline_access", &pkce, "n", "s")).await;
    assert!(location(&web).starts_with(WEB_CB));
}

#[tokio::test]
async fn a_consent_page_answers_only_the_user_it_asked_in_their_browser() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let response = app.get_authorize(&params("always", ALWAYS_CB, "openid", &pkce, None)).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    let (_, form) = consent_page(&app, response).await;

    // Another browser, even with the form's fields, has no session and no cookie.
    let stranger = browser();
    let mut fields = form.to_vec();
    fields.push(("decision", "allow".to_owned()));
    let response = stranger.post(app.url("/consent")).form(&fields).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("location").is_none());
    // Alice's own answer still works afterwards.
    assert!(answer(&app, &form, "allow").await.contains_key("code"));
}

#[tokio::test]
async fn a_session_names_an_application_only_once_it_got_a_code() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let applications = || {
        let sessions = app.admin(ferrid::admin::AdminCommand::UserSessions { username: "alice".into() }).unwrap();
        sessions[0]["applications"].clone()
    };
    let response = app.get_authorize(&params("always", ALWAYS_CB, "openid", &pkce, None)).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    let (_, form) = consent_page(&app, response).await;
    assert_eq!(applications(), serde_json::json!([]), "asked, not yet answered");
    answer(&app, &form, "deny").await;
    // Denied: it will not be sent a logout token naming her when she signs out.
    assert_eq!(applications(), serde_json::json!([]));

    let response = app.get_authorize(&params("always", ALWAYS_CB, "openid", &pkce, None)).await;
    let (_, form) = consent_page(&app, response).await;
    answer(&app, &form, "allow").await;
    assert_eq!(applications(), serde_json::json!(["always"]));
}

/// The refresh grant for `refresh`, as `client` (secret WEB_SECRET).
async fn refresh(app: &TestApp, client: &str, refresh: &str) -> reqwest::Response {
    app.post_token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some((client, WEB_SECRET))).await
}

async fn userinfo_status(app: &TestApp, access: &str) -> u16 {
    let response = app.client.get(app.url("/application/o/userinfo/")).bearer_auth(access).send().await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn withdrawing_consent_revokes_the_apps_refresh_and_personal_tokens_and_no_others() {
    let app = app().await;
    let bob = app.add_user("bob", &[]);
    let pkce = Pkce::new();

    // Bob lets Photo Frame keep access while he is away, and it refreshes once.
    let response = app.get_authorize(&params("once", ONCE_CB, "openid offline_access", &pkce, None)).await;
    let response = app.submit_sign_in(&location(&response), &bob.username, &bob.password).await;
    let (_, form) = consent_page(&app, response).await;
    let back = answer(&app, &form, "allow").await;
    let tokens = app.redeem_code("once", ONCE_CB, &back["code"], &pkce).await;
    let rotated = refresh(&app, "once", tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(rotated.status(), 200);
    let rotated: serde_json::Value = rotated.json().await.unwrap();
    let (photo_refresh, photo_access) =
        (rotated["refresh_token"].as_str().unwrap(), rotated["access_token"].as_str().unwrap());
    assert_eq!(userinfo_status(&app, photo_access).await, 200);
    // A personal access token for it too, and the same user's grant at another app.
    let (pat, _) = app.create_pat("bob", "once", 3600);
    assert_eq!(app.introspect(&pat, ("once", WEB_SECRET)).await["active"], true);
    let web_pkce = Pkce::new();
    let signed_in = app.get_authorize(&web_params("openid offline_access", &web_pkce, "n", "s")).await;
    let web_code = query_of(&location(&signed_in))["code"].clone();
    let web: serde_json::Value = app.redeem_web_code(&web_code, &web_pkce).await.json().await.unwrap();

    let account = app.client.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&account, "csrf_token").unwrap();
    let withdraw = [("csrf_token", csrf.as_str()), ("client_id", "once")];
    let response = app.client.post(app.url("/account/consents/revoke")).form(&withdraw).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=consent");

    // Photo Frame's offline access is gone: its refresh token, the access
    // token last minted from it, and the personal access token.
    let refused = refresh(&app, "once", photo_refresh).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(app.introspect(photo_access, ("once", WEB_SECRET)).await["active"], false);
    assert_eq!(userinfo_status(&app, photo_access).await, 401);
    assert_eq!(app.introspect(&pat, ("once", WEB_SECRET)).await["active"], false);
    // What bob gave another application is untouched.
    let still = refresh(&app, "web", web["refresh_token"].as_str().unwrap()).await;
    assert_eq!(still.status(), 200);
    let still: serde_json::Value = still.json().await.unwrap();
    assert_eq!(userinfo_status(&app, still["access_token"].as_str().unwrap()).await, 200);
}
