//! Node-RED's admin API and HTTP endpoints accepting ferrid JWTs as bearer
//! tokens: the `adminAuth.tokens` function ferrid generates (verifying
//! against the JWKS), and passport-jwt with ferrid's PEM as `secretOrKey`.
//! Real Node-RED, real ferrid.

use crate::helpers::*;
use crate::nodered::{NODE_RED_SECRET, free_port, node_red_app_yaml, start_node_red_with};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

async fn client_credentials(app: &TestApp, client: &str, secret: &str) -> String {
    let tokens: Value =
        app.post_token(&[("grant_type", "client_credentials")], Some((client, secret))).await.json().await.unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// A user's ferrid access token for the node-red client (code flow at ferrid).
pub async fn user_access_token(app: &TestApp, user: &TestUser, node_red: &str) -> String {
    let callback = format!("{node_red}/auth/strategy/callback");
    let params =
        [("response_type", "code"), ("client_id", "node-red"), ("redirect_uri", &callback), ("scope", "openid")];
    let q = app.authorize_and_sign_in(&params, user).await;
    let form =
        [("grant_type", "authorization_code"), ("code", q["code"].as_str()), ("redirect_uri", callback.as_str())];
    let tokens: Value = app.post_token(&form, Some(("node-red", NODE_RED_SECRET))).await.json().await.unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn tampered(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["nodered_permissions"] = serde_json::json!(["*"]);
    claims["sub"] = "intruder".into();
    format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()), parts[2])
}

/// An access token whose `exp` is already past (minted on a clock set back).
async fn expired(app: &TestApp, client: &str, secret: &str) -> String {
    app.clock.advance(-600);
    let token = client_credentials(app, client, secret).await;
    app.clock.advance(600);
    token
}

async fn get(url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url).header("Node-RED-API-Version", "v2");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn node_red_admin_api_accepts_ferrid_jwts_through_admin_auth_tokens() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&node_red_app_yaml(&node_red_url)).await;
    let admin = app.add_user("ada", &["admins"]);
    let issuer = app.issuer("node-red");
    // A strategy-less adminAuth: only bearer tokens, verified by `tokens`.
    // The verifier and tokens function that `ferrid nodered settings --tokens` prints.
    let prelude = ferrid::nodered::token_verifier(&issuer, "node-red", "RS256");
    let tokens = ferrid::nodered::tokens_function("nodered_permissions");
    let entries = format!("adminAuth: {{ type: \"credentials\", users: [], tokens: {tokens} }}");
    let node_red = start_node_red_with(port, &prelude, &entries, None, None).await;
    let flows = || format!("{node_red_url}/flows");

    assert_eq!(get(flows(), None).await.status(), 401);

    // A machine client: read-only, by the settings' choice.
    let machine = client_credentials(&app, "node-red", NODE_RED_SECRET).await;
    assert_eq!(get(flows(), Some(&machine)).await.status(), 200, "{}", node_red.log());
    let deploy =
        reqwest::Client::new().post(flows()).bearer_auth(&machine).json(&serde_json::json!([])).send().await.unwrap();
    assert_eq!(deploy.status(), 401, "read-only client cannot deploy");

    // A user's access token carries the permissions ferrid mapped from groups.
    let user_token = user_access_token(&app, &admin, &node_red_url).await;
    assert_eq!(get(flows(), Some(&user_token)).await.status(), 200, "{}", node_red.log());
    let deploy = reqwest::Client::new()
        .post(flows())
        .bearer_auth(&user_token)
        .json(&serde_json::json!([{ "id": "t1", "type": "tab", "label": "deployed with a ferrid token" }]))
        .send()
        .await
        .unwrap();
    assert!(deploy.status().is_success(), "{} {}", deploy.status(), node_red.log());

    // Everything that must not pass.
    let other_app = client_credentials(&app, "web", WEB_SECRET).await;
    for (what, token) in [
        ("tampered", tampered(&user_token)),
        ("expired", expired(&app, "node-red", NODE_RED_SECRET).await),
        ("another issuer and audience", other_app),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        assert_eq!(get(flows(), Some(&token)).await.status(), 401, "{what}");
    }

    // The editor takes ?access_token= from its URL verbatim and sends it as a
    // Bearer header; the page itself loads, and the API accepts the token.
    let editor = reqwest::get(format!("{node_red_url}/?access_token={machine}")).await.unwrap();
    assert_eq!(editor.status(), 200);
    let from_url = crate::nodered::editor_token(&format!("/?access_token={machine}"));
    let settings: Value = get(format!("{node_red_url}/settings"), Some(&from_url)).await.json().await.unwrap();
    assert_eq!(settings["user"]["permissions"], serde_json::json!(["read"]), "{settings}");
}

/// An HTTP-in endpoint guarded by passport-jwt with ferrid's PEM.
const HELLO_FLOW: &str = r#"[
  { "id": "t1", "type": "tab", "label": "api" },
  { "id": "in1", "type": "http in", "z": "t1", "url": "/hello", "method": "get", "wires": [["out1"]] },
  { "id": "out1", "type": "http response", "z": "t1", "statusCode": "200", "wires": [] }
]"#;

fn passport_jwt_prelude(pem: &str, issuer: &str) -> String {
    let pem = serde_json::to_string(pem).unwrap();
    format!(
        r#"
const passport = require("passport");
const {{ Strategy: JwtStrategy, ExtractJwt }} = require("passport-jwt");
// ferrid's public key, from `ferrid keys export --pem` or /application/o/node-red/keys.pem
const FERRID_PEM = {pem};
passport.use("ferrid-jwt", new JwtStrategy({{
    secretOrKey: FERRID_PEM,
    algorithms: ["RS256"],
    issuer: "{issuer}",
    audience: "node-red",
    jwtFromRequest: ExtractJwt.fromExtractors([
        ExtractJwt.fromAuthHeaderAsBearerToken(),
        ExtractJwt.fromUrlQueryParameter("access_token"),
    ]),
}}, (claims, done) => done(null, claims)));
"#
    )
}

#[tokio::test]
async fn passport_jwt_with_ferrids_pem_guards_node_red_http_endpoints() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&node_red_app_yaml(&node_red_url)).await;
    let pem = app.client.get(app.url("/application/o/node-red/keys.pem")).send().await.unwrap().text().await.unwrap();
    let prelude = passport_jwt_prelude(&pem, &app.issuer("node-red"));
    let entries = r#"httpNodeMiddleware: function (req, res, next) {
        passport.authenticate("ferrid-jwt", { session: false })(req, res, next);
    }"#;
    let node_red = start_node_red_with(port, &prelude, entries, Some(HELLO_FLOW), None).await;
    let hello = || format!("{node_red_url}/hello");

    // The flow deploys at start; wait until the endpoint exists (401 = guarded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get(hello(), None).await.status() == 404 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(get(hello(), None).await.status(), 401, "{}", node_red.log());

    let token = client_credentials(&app, "node-red", NODE_RED_SECRET).await;
    assert_eq!(get(hello(), Some(&token)).await.status(), 200, "{}", node_red.log());
    let by_query = reqwest::get(format!("{}?access_token={token}", hello())).await.unwrap();
    assert_eq!(by_query.status(), 200, "token from a query parameter");

    let other_app = client_credentials(&app, "web", WEB_SECRET).await;
    for (what, token) in [
        ("tampered", tampered(&token)),
        ("expired", expired(&app, "node-red", NODE_RED_SECRET).await),
        ("another issuer and audience", other_app),
    ] {
        assert_eq!(get(hello(), Some(&token)).await.status(), 401, "{what}");
    }
}

/// Runs the generated verifier in Node.js on one token; prints the claims or null.
async fn verify_in_node(issuer: &str, audience: &str, alg: &str, token: &str) -> Value {
    let script = format!(
        "{}\nverifyFerridToken(process.argv[1]).then(c => console.log(JSON.stringify(c)), e => console.log('null'));",
        ferrid::nodered::token_verifier(issuer, audience, alg)
    );
    let token = token.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg("-e").arg(script).arg(token).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_generated_verifier_accepts_each_signing_algorithm_and_only_its_own() {
    let app = spawn_app().await;
    for (slug, secret, alg) in [("web", WEB_SECRET, "RS256"), ("ec", EC_SECRET, "ES256"), ("ed", ED_SECRET, "EdDSA")] {
        let token = client_credentials(&app, slug, secret).await;
        let claims = verify_in_node(&app.issuer(slug), slug, alg, &token).await;
        assert_eq!(claims["sub"], slug, "{alg}");
        assert_eq!(
            verify_in_node(&app.issuer(slug), slug, alg, &tampered(&token)).await,
            Value::Null,
            "{alg} tampered"
        );
        let wrong_alg = if alg == "RS256" { "ES256" } else { "RS256" };
        assert_eq!(
            verify_in_node(&app.issuer(slug), slug, wrong_alg, &token).await,
            Value::Null,
            "{alg} as {wrong_alg}"
        );
    }
}
