//! Dynamic Client Registration (RFC 7591) and its management (RFC 7592),
//! over HTTP as a client does it: off by default; on, at the `web`
//! application's issuer only, for holders of an initial access token; a
//! registered client signs in under that issuer, and reads or deletes its
//! registration with its own registration access token and no other.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::{Value, json};

const REG_CB: &str = "https://registered.example/cb";
const REG_LOGOUT: &str = "https://registered.example/bye";

/// A server where the `web` application's issuer offers registration.
async fn offering() -> TestApp {
    spawn_app_edited(|yaml| format!("{yaml}registration: {{ enabled: true, application: web }}\n")).await
}

fn register_url(app: &TestApp) -> String {
    app.url("/application/o/web/register/")
}

/// An initial access token: (the secret, its id).
fn initial_token(app: &TestApp, uses: u32, expires_in: i64) -> (String, String) {
    let made = app
        .admin(AdminCommand::RegistrationTokenCreate {
            expires_in: Some(expires_in),
            uses: Some(uses),
            description: Some("test".into()),
        })
        .unwrap();
    (made["token"].as_str().unwrap().to_owned(), made["id"].as_str().unwrap().to_owned())
}

async fn register(app: &TestApp, token: Option<&str>, metadata: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(register_url(app)).json(metadata);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Registers with `metadata`; must succeed. The client information.
async fn registered(app: &TestApp, token: &str, metadata: Value) -> Value {
    let response = register(app, Some(token), &metadata).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn public_client() -> Value {
    json!({
        "redirect_uris": [REG_CB],
        "post_logout_redirect_uris": [REG_LOGOUT],
        "client_name": "Registered <i>Reader</i>",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile offline_access",
    })
}

/// The error a refused request answers, with its status.
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

async fn discovery(app: &TestApp, slug: &str) -> Value {
    let url = app.url(&format!("/application/o/{slug}/.well-known/openid-configuration"));
    app.client.get(url).send().await.unwrap().json().await.unwrap()
}

fn apps(app: &TestApp) -> usize {
    app.admin(AdminCommand::AppList).unwrap().as_array().unwrap().len()
}

#[tokio::test]
async fn registration_is_off_by_default_absent_from_discovery_and_404() {
    let app = spawn_app().await;
    assert!(discovery(&app, "web").await.get("registration_endpoint").is_none());
    let response = register(&app, Some("ferrid_iat_x"), &public_client()).await;
    assert_eq!(refusal(response).await, (404, "invalid_request".into()));
    let read = app.client.get(app.url("/application/o/web/register/web")).send().await.unwrap();
    assert_eq!(read.status(), 404);
    let made = app.admin(AdminCommand::RegistrationTokenCreate { expires_in: None, uses: None, description: None });
    assert!(made.unwrap_err().contains("registration is off"));

    // On, it is offered at the configured issuer only.
    let app = offering().await;
    assert_eq!(discovery(&app, "web").await["registration_endpoint"], register_url(&app));
    assert!(discovery(&app, "spa").await.get("registration_endpoint").is_none());
    let (token, _) = initial_token(&app, 1, 3600);
    let elsewhere = reqwest::Client::new()
        .post(app.url("/application/o/spa/register/"))
        .bearer_auth(&token)
        .json(&public_client())
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
}

#[tokio::test]
async fn without_a_valid_initial_access_token_registration_is_401_and_writes_nothing() {
    let app = offering().await;
    let (token, _) = initial_token(&app, 1, 3600);
    let before = app.state.store.fingerprint().unwrap();
    let fake = format!("ferrid_iat_{}", ferrid::crypto::secrets::random_token().unwrap());
    let pat = app.create_pat(&app.add_user("alice", &[]).username, "web", 3600).0;
    let before_pat = app.state.store.fingerprint().unwrap();
    for presented in [None, Some("not-a-token"), Some(fake.as_str()), Some(pat.as_str()), Some(&token[..20])] {
        let response = register(&app, presented, &public_client()).await;
        let challenge = response.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(refusal(response).await, (401, "invalid_token".into()), "{presented:?}");
        assert!(challenge.unwrap().starts_with("Bearer "), "RFC 6750 §3");
    }
    let basic = reqwest::Client::new()
        .post(register_url(&app))
        .basic_auth("web", Some(WEB_SECRET))
        .json(&public_client())
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(basic).await, (401, "invalid_token".into()));
    assert_ne!(before, before_pat, "the PAT and user were written");
    assert_eq!(app.state.store.fingerprint().unwrap(), before_pat, "no refusal wrote anything");
    // The token itself still works.
    registered(&app, &token, public_client()).await;
}

#[tokio::test]
async fn a_used_up_or_expired_or_revoked_initial_token_is_refused() {
    let app = offering().await;
    let (once, _) = initial_token(&app, 1, 3600);
    registered(&app, &once, public_client()).await;
    assert_eq!(refusal(register(&app, Some(&once), &public_client()).await).await, (401, "invalid_token".into()));

    let (brief, _) = initial_token(&app, 5, 60);
    app.clock.advance(61);
    assert_eq!(refusal(register(&app, Some(&brief), &public_client()).await).await, (401, "invalid_token".into()));

    let (revoked, id) = initial_token(&app, 5, 3600);
    app.admin(AdminCommand::RegistrationTokenRevoke { id }).unwrap();
    assert_eq!(refusal(register(&app, Some(&revoked), &public_client()).await).await, (401, "invalid_token".into()));
    assert_eq!(apps(&app), 7, "the six declared and the one registered");
}

#[tokio::test]
async fn bad_metadata_is_400_with_the_rfc_code_and_spends_no_use() {
    let app = offering().await;
    let (token, id) = initial_token(&app, 1, 3600);
    let with_uri = |uri: &str| json!({ "redirect_uris": [uri], "token_endpoint_auth_method": "none" });
    for uri in [
        "http://registered.example/cb",
        "https://registered.example/cb#top",
        "https://*.example/cb",
        "javascript:alert(1)",
        "https://registered.example/c b",
    ] {
        let response = register(&app, Some(&token), &with_uri(uri)).await;
        assert_eq!(refusal(response).await, (400, "invalid_redirect_uri".into()), "{uri}");
    }
    let missing = register(&app, Some(&token), &json!({ "client_name": "x" })).await;
    assert_eq!(refusal(missing).await, (400, "invalid_redirect_uri".into()));
    for metadata in [
        json!({ "redirect_uris": [REG_CB], "grant_types": ["client_credentials"] }),
        json!({ "redirect_uris": [REG_CB], "response_types": ["token"] }),
        json!({ "redirect_uris": [REG_CB], "token_endpoint_auth_method": "private_key_jwt" }),
        json!({ "redirect_uris": [REG_CB], "id_token_signed_response_alg": "none" }),
        json!([REG_CB]),
    ] {
        let response = register(&app, Some(&token), &metadata).await;
        assert_eq!(refusal(response).await, (400, "invalid_client_metadata".into()), "{metadata}");
    }
    let form = reqwest::Client::new()
        .post(register_url(&app))
        .bearer_auth(&token)
        .form(&[("redirect_uris", REG_CB)])
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(form).await, (400, "invalid_client_metadata".into()));
    let huge = json!({ "redirect_uris": [REG_CB], "client_name": "x".repeat(70_000) });
    assert_eq!(register(&app, Some(&token), &huge).await.status(), 413);
    assert_eq!(apps(&app), 6, "nothing registered");
    let listed = app.admin(AdminCommand::RegistrationTokenList).unwrap();
    assert_eq!((listed[0]["id"].as_str(), &listed[0]["used"]), (Some(id.as_str()), &json!(0)));
    // Loopback http, a native app's scheme: a stranger may register those.
    let native = json!({ "redirect_uris": ["http://127.0.0.1:8123/cb", "com.example.app:/cb"] });
    registered(&app, &token, native).await;
}

#[tokio::test]
async fn a_registered_public_client_signs_in_with_pkce_under_the_issuer_it_registered_at() {
    let app = offering().await;
    let alice = app.add_user("alice", &[]);
    let (token, id) = initial_token(&app, 1, 3600);
    let info = registered(&app, &token, public_client()).await;
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    assert!(client_id.starts_with("reg-"), "{client_id}");
    assert!(info.get("client_secret").is_none(), "a public client has no secret");
    assert_eq!(info["token_endpoint_auth_method"], "none");
    assert_eq!(info["redirect_uris"], json!([REG_CB]));
    assert_eq!(info["grant_types"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(info["scope"], "openid profile offline_access");
    assert_eq!(info["id_token_signed_response_alg"], "RS256");
    assert_eq!(info["registration_client_uri"], app.url(&format!("/application/o/web/register/{client_id}")));
    assert!(info["registration_access_token"].as_str().unwrap().starts_with("ferrid_rat_"));
    let shown = app.admin(AdminCommand::AppShow { slug: client_id.clone() }).unwrap();
    assert_eq!((shown["registered_under"].as_str(), shown["registration_token"].as_str()), (Some("web"), Some(&*id)));
    assert_eq!(shown["issuer"], app.issuer("web"));
    assert_eq!(
        app.client.get(app.url(&format!("/application/o/{client_id}/jwks/"))).send().await.unwrap().status(),
        404,
        "no issuer of its own"
    );

    let params = |pkce: Option<&Pkce>| {
        let mut params = vec![
            ("response_type", "code".to_owned()),
            ("client_id", client_id.clone()),
            ("redirect_uri", REG_CB.to_owned()),
            ("scope", "openid profile email offline_access".to_owned()),
            ("state", "st".to_owned()),
            ("nonce", "n-1".to_owned()),
        ];
        if let Some(pkce) = pkce {
            params.extend([("code_challenge", pkce.challenge.clone()), ("code_challenge_method", "S256".into())]);
        }
        params
    };
    let as_refs = |p: &[(&'static str, String)]| p.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let no_pkce = app.client.get(app.url("/application/o/authorize/")).query(&as_refs(&params(None))).send().await;
    let back = query_of(&location(&no_pkce.unwrap()));
    assert_eq!(back["error"], "invalid_request", "PKCE is required of a public client");

    let pkce = Pkce::new();
    let response = app.client.get(app.url("/application/o/authorize/")).query(&params(Some(&pkce))).send().await;
    let response = app.submit_sign_in(&location(&response.unwrap()), &alice.username, &alice.password).await;
    // A stranger's client asks for consent.
    let to = location(&response);
    assert!(to.starts_with("/consent?tx="), "{to}");
    let html = app.client.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Registered &lt;i&gt;Reader"), "the name it registered, as text");
    assert!(!html.contains("<i>Reader"), "never as markup");
    assert!(html.contains("sends you on to <strong>registered.example</strong>"), "and where it leads");
    assert!(!html.contains("Your email address"), "email is beyond its registered scope");
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "allow".into()),
    ];
    let back = query_of(&location(&app.client.post(app.url("/consent")).form(&form).send().await.unwrap()));
    assert_eq!(back["iss"], app.issuer("web"), "RFC 9207: the issuer it registered at");

    let form = [
        ("grant_type", "authorization_code"),
        ("code", back["code"].as_str()),
        ("redirect_uri", REG_CB),
        ("code_verifier", pkce.verifier.as_str()),
        ("client_id", client_id.as_str()),
    ];
    let tokens: Value = app.post_token(&form, None).await.json().await.unwrap();
    assert_eq!(tokens["scope"], "openid profile offline_access", "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = app.verify_jwt(id_token, "web", &client_id, jsonwebtoken::Algorithm::RS256, "JWT").await;
    assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(&*app.issuer("web")), Some(&*alice.sub)));
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = app.client.get(app.url("/application/o/userinfo/")).bearer_auth(access).send().await.unwrap();
    assert_eq!(userinfo.status(), 200);

    // RP-Initiated Logout at that issuer, for this client, back to its own address.
    let end = app
        .client
        .get(app.url("/application/o/web/end-session/"))
        .query(&[("id_token_hint", id_token), ("post_logout_redirect_uri", REG_LOGOUT), ("state", "s")])
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), 303);
    assert!(location(&end).starts_with(REG_LOGOUT), "{}", location(&end));
}

#[tokio::test]
async fn a_registered_confidential_client_gets_its_secret_once_and_the_one_method_it_chose() {
    let app = offering().await;
    let alice = app.add_user("alice", &[]);
    let (token, _) = initial_token(&app, 1, 3600);
    let metadata = json!({ "redirect_uris": [REG_CB], "token_endpoint_auth_method": "client_secret_post" });
    let info = registered(&app, &token, metadata).await;
    let (client_id, secret) = (info["client_id"].as_str().unwrap(), info["client_secret"].as_str().unwrap());
    assert_eq!(info["client_secret_expires_at"], 0);
    assert_eq!(info["scope"], "openid profile email groups offline_access", "all, when none was registered");

    let machine = [("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)];
    assert_eq!(refusal(app.post_token(&machine, None).await).await, (400, "unauthorized_client".into()));

    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REG_CB),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    let response = app.get_authorize(&params).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    let html = app.client.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let consent = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "allow".into()),
    ];
    let back = query_of(&location(&app.client.post(app.url("/consent")).form(&consent).send().await.unwrap()));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", back["code"].as_str()),
        ("redirect_uri", REG_CB),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let basic = app.post_token(&form, Some((client_id, secret))).await;
    assert_eq!(refusal(basic).await, (401, "invalid_client".into()), "Basic was not the method it registered");
    let posted = [&form[..], &[("client_id", client_id), ("client_secret", secret)]].concat();
    assert_eq!(app.post_token(&posted, None).await.status(), 200);
}

#[tokio::test]
async fn rfc7592_reads_and_deletes_with_the_clients_own_token_and_no_other() {
    let app = offering().await;
    let alice = app.add_user("alice", &[]);
    let (token, id) = initial_token(&app, 2, 3600);
    let a = registered(&app, &token, public_client()).await;
    let b = registered(&app, &token, json!({ "redirect_uris": [REG_CB] })).await;
    let (a_uri, a_token) =
        (a["registration_client_uri"].as_str().unwrap(), a["registration_access_token"].as_str().unwrap());
    let (b_uri, b_token) =
        (b["registration_client_uri"].as_str().unwrap(), b["registration_access_token"].as_str().unwrap());
    let http = reqwest::Client::new();
    let get = |uri: &str, bearer: &str| http.get(uri).bearer_auth(bearer).send();

    let read = get(a_uri, a_token).await.unwrap();
    assert_eq!((read.status().as_u16(), read.headers()["cache-control"].to_str().unwrap()), (200, "no-store"));
    let read: Value = read.json().await.unwrap();
    assert_eq!((read["client_id"].clone(), read["redirect_uris"].clone()), (a["client_id"].clone(), json!([REG_CB])));
    assert_eq!(read["registration_access_token"], a_token);
    assert!(read.get("client_secret").is_none());
    assert!(get(b_uri, b_token).await.unwrap().status().is_success());
    // An administrator's change shows.
    app.admin(AdminCommand::AppUpdate(Box::new(ferrid::admin::AppUpdate {
        slug: a["client_id"].as_str().unwrap().into(),
        name: Some("Renamed".into()),
        ..Default::default()
    })))
    .unwrap();
    assert_eq!(get(a_uri, a_token).await.unwrap().json::<Value>().await.unwrap()["client_name"], "Renamed");

    // Another client's token, the initial token, a made-up one, no token:
    // 401 for all, at read and delete alike.
    let web_uri = app.url("/application/o/web/register/web");
    for (uri, bearer) in [
        (a_uri, b_token),
        (b_uri, a_token),
        (a_uri, token.as_str()),
        (a_uri, "ferrid_rat_x"),
        (web_uri.as_str(), a_token),
    ] {
        assert_eq!(refusal(get(uri, bearer).await.unwrap()).await, (401, "invalid_token".into()), "{uri} {bearer}");
        let delete = http.delete(uri).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(refusal(delete).await, (401, "invalid_token".into()), "{uri} {bearer}");
    }
    assert_eq!(refusal(http.get(a_uri).send().await.unwrap()).await, (401, "invalid_token".into()));
    assert_eq!(http.put(a_uri).bearer_auth(a_token).json(&a).send().await.unwrap().status(), 405, "no PUT");
    let elsewhere = a_uri.replace("/o/web/", "/o/spa/");
    assert_eq!(get(&elsewhere, a_token).await.unwrap().status(), 404);
    // Registration tokens are no bearer tokens anywhere else.
    for bearer in [a_token, token.as_str()] {
        let userinfo = http.get(app.url("/application/o/userinfo/")).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(userinfo.status(), 401);
        assert_eq!(app.introspect(bearer, ("web", WEB_SECRET)).await["active"], false);
    }

    // A signs in and gets a refresh token; deleting A revokes it.
    let a_id = a["client_id"].as_str().unwrap();
    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", a_id),
        ("redirect_uri", REG_CB),
        ("scope", "openid offline_access"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    let response = app.get_authorize(&params).await;
    let response = app.submit_sign_in(&location(&response), &alice.username, &alice.password).await;
    let html = app.client.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let consent = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "allow".into()),
    ];
    let back = query_of(&location(&app.client.post(app.url("/consent")).form(&consent).send().await.unwrap()));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", back["code"].as_str()),
        ("redirect_uri", REG_CB),
        ("code_verifier", pkce.verifier.as_str()),
        ("client_id", a_id),
    ];
    let tokens: Value = app.post_token(&form, None).await.json().await.unwrap();
    let refresh = tokens["refresh_token"].as_str().expect("offline_access gives a refresh token");

    let deleted = http.delete(a_uri).bearer_auth(a_token).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(refusal(get(a_uri, a_token).await.unwrap()).await, (401, "invalid_token".into()), "gone");
    let again = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", a_id)];
    assert_eq!(app.post_token(&again, None).await.status(), 401, "its client is gone");
    let userinfo = http
        .get(app.url("/application/o/userinfo/"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401, "its access token stops at ferrid's endpoints");
    assert_eq!(app.get_authorize(&params).await.status(), 400, "unknown client now");
    assert!(get(b_uri, b_token).await.unwrap().status().is_success(), "B is untouched");

    // Both registrations and the deletion are audited with the initial token's id.
    let events = app.state.store.audit_since(0).unwrap();
    let kinds = |kind| events.iter().filter(move |e| e.kind == Some(kind)).collect::<Vec<_>>();
    let registrations = kinds(ferrid::store::AuditKind::AppRegistered);
    assert_eq!(registrations.len(), 2);
    assert!(registrations.iter().all(|e| e.detail.as_deref().unwrap().contains(&id)), "{registrations:?}");
    let deletions = kinds(ferrid::store::AuditKind::AppDeregistered);
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0].app.as_deref(), Some(a_id));
    assert!(deletions[0].detail.as_deref().unwrap().contains(&id));
    let trail = serde_json::to_string(&events).unwrap();
    for secret in [token.as_str(), a_token, b_token] {
        assert!(!trail.contains(secret), "no secret in the audit trail");
    }
    let listed = app.admin(AdminCommand::RegistrationTokenList).unwrap();
    assert_eq!((listed[0]["status"].as_str(), &listed[0]["clients"]), (Some("used up"), &json!([b["client_id"]])));
}

#[tokio::test]
async fn registrations_racing_on_one_token_make_no_more_clients_than_it_allows() {
    let app = offering().await;
    let (token, _) = initial_token(&app, 3, 3600);
    // Clients made first: making one takes a while, and a connection that
    // waits past `request_timeout` before its request is answered 408.
    let requests: Vec<_> = (0..12)
        .map(|_| reqwest::Client::new().post(register_url(&app)).bearer_auth(&token).json(&public_client()))
        .collect();
    let racers: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(async move { request.send().await.unwrap().status() }))
        .collect();
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap().as_u16());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 201, 201, 401, 401, 401, 401, 401, 401, 401, 401, 401]);
    assert_eq!(apps(&app), 6 + 3);
}

#[tokio::test]
async fn a_client_registered_at_one_instance_is_known_at_another_without_waiting_for_a_poll() {
    use crate::instances::{catalog_listeners, seen_within};
    // Always on PostgreSQL, as tests/api/instances.rs; polling an hour
    // away, so only the registration's own notice can tell B.
    let (url, apps) = spawn_instances_tuned(2, |config| {
        let application = ferrid::domain::Slug::parse("web").unwrap();
        config.registration = Some(ferrid::config::RegistrationConfig { application });
        config.catalog_poll = std::time::Duration::from_secs(3600);
    })
    .await;
    let (a, b) = (&apps[0], &apps[1]);
    let quick = std::time::Duration::from_secs(2);
    // Listening starts with a look at the catalog: wait for it, so that it
    // cannot be what shows the registration below.
    assert!(seen_within(quick, async || catalog_listeners(&url) == 2).await, "both instances listen");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let (token, _) = initial_token(a, 1, 3600);
    let info = registered(a, &token, public_client()).await;
    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", info["client_id"].as_str().unwrap()),
        ("redirect_uri", REG_CB),
        ("scope", "openid"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    let known_at_b = async || b.get_authorize(&params).await.status() == 303;
    assert!(seen_within(quick, known_at_b).await, "B knows the client within 2 s, not an hour");
    let at_b = info["registration_client_uri"].as_str().unwrap().replace(&a.address, &b.address);
    let token = info["registration_access_token"].as_str().unwrap();
    let read = reqwest::Client::new().get(at_b).bearer_auth(token).send().await.unwrap();
    assert_eq!(read.status(), 200, "and B reads its registration");
}

#[tokio::test]
async fn a_registered_client_gets_only_the_grants_it_registered_and_a_bad_token_is_401_whatever_the_body() {
    // The issuer's own application allows the device flow: its registered
    // clients still do not get it.
    let app = spawn_app_tuned(
        |yaml| format!("{yaml}registration: {{ enabled: true, application: web }}\n"),
        |config| config.applications[0].compat.device_flow = true,
    )
    .await;
    let (token, _) = initial_token(&app, 1, 3600);
    let mut metadata = public_client();
    metadata["grant_types"] = json!(["authorization_code"]);
    let info = registered(&app, &token, metadata).await;
    let client_id = info["client_id"].as_str().unwrap();
    let device = reqwest::Client::new()
        .post(app.url("/application/o/device/"))
        .form(&[("client_id", client_id), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(device).await, (400, "unauthorized_client".into()));

    // No refresh grant registered: no refresh token, even asked for.
    let alice = app.add_user("alice", &[]);
    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REG_CB),
        ("scope", "openid offline_access"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let browser = browser();
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), "alice", &alice.password).await;
    let consent = location(&response);
    assert!(consent.starts_with("/consent?tx="), "a registered client asks: {consent}");
    let html = browser.get(app.url(&consent)).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "allow".to_owned()),
    ];
    let response = browser.post(app.url("/consent")).form(&form).send().await.unwrap();
    let code = query_of(&location(&response))["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REG_CB),
        ("code_verifier", pkce.verifier.as_str()),
        ("client_id", client_id),
    ];
    let tokens: Value = app.post_token(&form, None).await.json().await.unwrap();
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(tokens["scope"], "openid");

    // A bad token with a body that is not even JSON: 401 first.
    let response = reqwest::Client::new()
        .post(register_url(&app))
        .bearer_auth("ferrid_iat_nonsense")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(response).await, (401, "invalid_token".into()));
}
