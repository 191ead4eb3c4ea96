//! Per-application switches for clients that differ (issue 29): `pkce:
//! required`, `token_endpoint_auth_methods`, `id_token_claims: minimal`.
//! Each tried over HTTP as a client would, against an application without
//! the switch beside it.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use serde_json::Value;

const STRICT_CB: &str = "https://strict.example/cb";
const BASIC_CB: &str = "https://basic.example/cb";
const MINIMAL_CB: &str = "https://minimal.example/cb";

async fn app_with_switches() -> TestApp {
    let digest = sha256_hex(WEB_SECRET);
    spawn_app_with(&format!(
        "  - slug: strict\n    client_secret_sha256: {digest}\n    redirect_uris: [\"{STRICT_CB}\"]\n    pkce: required\n  \
         - slug: basic-only\n    client_secret_sha256: {digest}\n    redirect_uris: [\"{BASIC_CB}\"]\n    \
         token_endpoint_auth_methods: [client_secret_basic]\n  - slug: minimal\n    client_secret_sha256: {digest}\n    \
         redirect_uris: [\"{MINIMAL_CB}\"]\n    id_token_claims: minimal\n    allowed_groups: [admins]\n    claims:\n      \
         role: {{ from_groups: {{ admins: boss }} }}\n"
    ))
    .await
}

fn params<'a>(client: &'a str, cb: &'a str, pkce: Option<&'a Pkce>) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", cb),
        ("scope", "openid profile email"),
        ("state", "st"),
        ("nonce", "n"),
    ];
    if let Some(pkce) = pkce {
        params.extend([("code_challenge", pkce.challenge.as_str()), ("code_challenge_method", "S256")]);
    }
    params
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&ferrid::crypto::secrets::b64url_decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn pkce_required_refuses_a_confidential_client_without_it_where_another_may_go_without() {
    let app = app_with_switches().await;
    let response = app.get_authorize(&params("strict", STRICT_CB, None)).await;
    let back = location(&response);
    assert!(back.starts_with(STRICT_CB), "an error back to the client: {back}");
    let query = query_of(&back);
    assert_eq!(query["error"], "invalid_request");
    assert!(query["error_description"].contains("PKCE"), "{query:?}");
    let pkce = Pkce::new();
    assert!(location(&app.get_authorize(&params("strict", STRICT_CB, Some(&pkce))).await).starts_with("/login?tx="));
    // Without the switch, a confidential client may still leave PKCE out (Node-RED does).
    assert!(location(&app.get_authorize(&params("web", WEB_CB, None)).await).starts_with("/login?tx="));
}

#[tokio::test]
async fn an_authentication_method_the_application_does_not_allow_is_refused_and_discovery_says_which() {
    let app = app_with_switches().await;
    let user = app.add_user("alice", &[]);
    let doc: Value = app
        .client
        .get(app.url("/application/o/basic-only/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_basic"]));
    let web: Value = app
        .client
        .get(app.url("/application/o/web/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        web["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );

    let pkce = Pkce::new();
    let query = app.authorize_and_sign_in(&params("basic-only", BASIC_CB, Some(&pkce)), &user).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", query["code"].as_str()),
        ("redirect_uri", BASIC_CB),
        ("code_verifier", pkce.verifier.as_str()),
        ("client_id", "basic-only"),
        ("client_secret", WEB_SECRET),
    ];
    let refused = app.post_token(&form, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_client");
    // The code is still good: the same request with Basic goes through.
    let response = app.post_token(&form[..4], Some(("basic-only", WEB_SECRET))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_minimal_id_token_carries_sub_and_the_protocol_and_userinfo_the_rest() {
    let app = app_with_switches().await;
    let user = app.add_user("alice", &["admins"]);
    app.admin(AdminCommand::UserUpdate {
        username: "alice".into(),
        name: None,
        email: Some("alice@example.org".into()),
        email_verified: Some(true),
    })
    .unwrap();
    let pkce = Pkce::new();
    let query = app.authorize_and_sign_in(&params("minimal", MINIMAL_CB, Some(&pkce)), &user).await;
    let tokens = app.redeem_code("minimal", MINIMAL_CB, &query["code"], &pkce).await;
    let claims = payload(tokens["id_token"].as_str().unwrap());
    let mut names: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["acr", "amr", "at_hash", "aud", "auth_time", "exp", "iat", "iss", "nonce", "sid", "sub"]);
    assert_eq!(claims["sub"], user.sub);
    let info: Value = app
        .client
        .get(app.url("/application/o/userinfo/"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (info["email"].as_str(), &info["role"]),
        (Some("alice@example.org"), &serde_json::json!(["boss"])),
        "{info}"
    );
    // Beside it, a full one (the default), in the same session.
    let pkce = Pkce::new();
    let back = location(&app.get_authorize(&web_params("openid email", &pkce, "n", "s")).await);
    let response = app.redeem_web_code(&query_of(&back)["code"], &pkce).await;
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(payload(tokens["id_token"].as_str().unwrap())["email"], "alice@example.org");
}

#[tokio::test]
async fn the_device_flow_and_the_refresh_retry_window_are_switched_by_the_admin_commands_too() {
    use ferrid::admin::{AdminCommand, AppUpdate, ClientSwitches};
    let app = spawn_app().await;
    let secret = app.add_app("tvbox", "https://tv.example/cb");
    let update = |switches: ClientSwitches| {
        AdminCommand::AppUpdate(Box::new(AppUpdate { slug: "tvbox".into(), switches, ..AppUpdate::default() }))
    };
    let discovery = || async {
        let url = app.url("/application/o/tvbox/.well-known/openid-configuration");
        reqwest::get(url).await.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    assert!(discovery().await.get("device_authorization_endpoint").is_none());
    let on =
        ClientSwitches { device_flow: Some(true), refresh_reuse_interval: Some("30s".into()), ..Default::default() };
    let shown = app.admin(update(on)).unwrap();
    assert_eq!((shown["device_flow"].as_bool(), shown["refresh_reuse_interval"].as_i64()), (Some(true), Some(30)));
    assert_eq!(discovery().await["device_authorization_endpoint"], app.url("/application/o/device/"));
    let asked = reqwest::Client::new()
        .post(app.url("/application/o/device/"))
        .basic_auth("tvbox", Some(&secret))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200, "the device flow is on");

    let too_long = ClientSwitches { refresh_reuse_interval: Some("90s".into()), ..Default::default() };
    let refused = app.admin(update(too_long)).unwrap_err();
    assert!(refused.contains("at most 60s"), "{refused}");
    let off = ClientSwitches { device_flow: Some(false), ..Default::default() };
    assert_eq!(app.admin(update(off)).unwrap()["device_flow"].as_bool(), Some(false));
}

#[tokio::test]
async fn a_device_only_client_is_made_at_run_time_without_a_redirect_uri_and_only_with_the_device_flow() {
    use ferrid::admin::{AdminCommand, ClientSwitches};
    let app = spawn_app().await;
    let add = |slug: &str, device_flow: Option<bool>| AdminCommand::AppAdd {
        slug: slug.into(),
        name: None,
        client_id: None,
        public: true,
        redirect_uris: vec![],
        signing_alg: None,
        machine: false,
        switches: ClientSwitches { device_flow, ..Default::default() },
    };
    let refused = app.admin(add("nowhere", None)).unwrap_err();
    assert!(refused.contains("--redirect-uri"), "{refused}");
    app.admin(add("tv-cli", Some(true))).unwrap();
    let asked = reqwest::Client::new()
        .post(app.url("/application/o/device/"))
        .form(&[("client_id", "tv-cli"), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    // Turning the device flow off would leave it no way in: refused.
    let off = ferrid::admin::AppUpdate {
        slug: "tv-cli".into(),
        switches: ClientSwitches { device_flow: Some(false), ..Default::default() },
        ..Default::default()
    };
    let refused = app.admin(AdminCommand::AppUpdate(Box::new(off))).unwrap_err();
    assert!(refused.contains("redirect URI"), "{refused}");
}
