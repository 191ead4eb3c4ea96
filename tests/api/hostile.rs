//! Malformed and hostile requests at every endpoint: no 5xx, no dropped
//! connection (a panic would drop it), a spec-shaped error, and the store
//! unchanged afterwards.

use crate::helpers::*;
use reqwest::Method;

struct Case {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn case(method: Method, path: &str, content_type: Option<&'static str>, body: &[u8]) -> Case {
    Case { method, path: path.to_owned(), content_type, headers: Vec::new(), body: body.to_vec() }
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
/// RFC 6749 §5.2, RFC 6750 §3.1 and RFC 7009 §2.2.1: every code a JSON
/// endpoint may answer.
const RFC_ERROR_CODES: [&str; 10] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_token",
    "insufficient_scope",
    "unsupported_token_type",
    "server_error",
];
const OAUTH_JSON_ENDPOINTS: [&str; 4] =
    ["/application/o/token/", "/application/o/introspect/", "/application/o/revoke/", "/application/o/userinfo/"];

fn corpus() -> Vec<Case> {
    let repeated = "a=1&".repeat(5000);
    let huge_value = format!("grant_type=client_credentials&scope={}", "x".repeat(60_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"grant_type=authorization_code&code=%FF%FE%00&redirect_uri=%".to_vec(),
        vec![0xff, 0xfe, 0x00, b'=', 0x80, b'&', b'='],
        b"grant_type=client_credentials&grant_type=refresh_token".to_vec(),
        b"grant_type=auth%".to_vec(),
        repeated.into_bytes(),
        huge_value.into_bytes(),
        b"{\"grant_type\":\"client_credentials\"".to_vec(),
        b"grant_type=authorization_code&code=x&redirect_uri=https://web.example/cb&code_verifier=%00%00%00".to_vec(),
        format!("grant_type=authorization_code&code={}&code_verifier={}", "c".repeat(20_000), "v".repeat(20_000))
            .into_bytes(),
        b"grant_type=refresh_token&refresh_token=ferrid_pat_".to_vec(),
        b"token=a.b.c&token_type_hint=%FF".to_vec(),
        b"token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_vec(),
        b"tx=&csrf_token=&username=%00admin&password=".to_vec(),
        format!("username={}&password={}", "u".repeat(10_000), "p".repeat(10_000)).into_bytes(),
    ];
    let post_paths = [
        "/application/o/token/",
        "/application/o/introspect/",
        "/application/o/revoke/",
        "/application/o/userinfo/",
        "/application/o/authorize/",
        "/login",
        "/consent",
        "/logout/confirm",
        "/application/o/web/end-session/",
        "/account/",
        "/account/sign-out",
        "/account/sessions/end",
        "/account/consents/revoke",
        "/account/password",
        "/account/mfa/totp",
        "/account/mfa/totp/confirm",
        "/account/mfa/recovery",
        "/account/mfa/remove",
        "/login/code",
        "/login/enroll",
        "/account/tokens",
        "/account/tokens/revoke",
    ];
    let mut cases = Vec::new();
    for path in post_paths {
        for body in &bodies {
            for content_type in [FORM, Some("application/json"), Some("text/plain; charset=utf-16"), None] {
                cases.push(case(Method::POST, path, content_type, body));
            }
        }
    }
    let queries = [
        "client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&response_type=code&code_challenge=".to_owned() + &"A".repeat(10_000) + "&code_challenge_method=S256",
        "client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&response_type=code&code_challenge_method=S256&code_challenge=%FF%FE".to_owned(),
        "client_id=%FF&redirect_uri=%".to_owned(),
        "client_id=web&client_id=spa&redirect_uri=https%3A%2F%2Fweb.example%2Fcb".to_owned(),
        "client_id=web&redirect_uri=javascript:alert(1)&response_type=code".to_owned(),
        "client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&response_type=code&max_age=99999999999999999999999&prompt=%00".to_owned(),
        "client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&response_type=code&response_mode=fragment&state=".to_owned() + &"s".repeat(5000),
        "tx=".to_owned() + &"t".repeat(5000),
        "id_token_hint=a.b.c&post_logout_redirect_uri=javascript:alert(1)&state=%FF".to_owned(),
        "id_token_hint=".to_owned() + &"e".repeat(10_000) + "&client_id=%00",
        "a=%zz&b=%&c=%%%".to_owned(),
    ];
    for query in &queries {
        for path in [
            "/application/o/authorize/",
            "/login",
            "/consent",
            "/login/code",
            "/login/enroll",
            "/account/mfa",
            "/application/o/web/end-session/",
            "/account/",
            "/application/o/userinfo/",
            "/application/o/web/jwks/",
        ] {
            cases.push(case(Method::GET, &format!("{path}?{query}"), None, b""));
        }
    }
    for path in [
        "/application/o/%FF%FE/.well-known/openid-configuration",
        "/application/o/../../etc/passwd/jwks/",
        "/application/o/web/keys.pem%00",
    ] {
        cases.push(case(Method::GET, path, None, b""));
    }
    let hostile_headers: Vec<(&'static str, String)> = vec![
        ("authorization", "Basic !!!not-base64".into()),
        ("authorization", "Basic ".to_owned() + "QUFB"),
        ("authorization", "Basic w4bDtsO8OsO2".into()),
        ("authorization", "Basic ".to_owned() + &"QUFB".repeat(2000)),
        ("authorization", "Bearer".into()),
        ("authorization", "Bearer a.b.c".into()),
        ("authorization", "Bearer ".to_owned() + &"x".repeat(8000)),
        ("authorization", "Negotiate abc".into()),
        ("cookie", "ferrid_session=forged-session-value; ferrid_csrf=x".into()),
        ("cookie", "ferrid_session=".to_owned() + &"s".repeat(4000)),
        ("x-forwarded-for", "not-an-ip, , 999.1.1.1".into()),
    ];
    for (name, value) in &hostile_headers {
        for path in [
            "/application/o/token/",
            "/application/o/userinfo/",
            "/application/o/introspect/",
            "/account/tokens",
            "/account/sessions/end",
            "/logout/confirm",
            "/application/o/web/end-session/",
        ] {
            let mut c = case(Method::POST, path, FORM, b"grant_type=client_credentials&token=x");
            c.headers.push((name, value.clone()));
            cases.push(c);
        }
    }
    cases
}

#[tokio::test]
async fn hostile_requests_get_spec_shaped_errors_never_a_5xx_and_change_nothing() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins"]);
    // Some state worth protecting: a session, tokens, a PAT.
    app.code_flow_tokens(&alice, "openid offline_access").await;
    let before = app.state.store.fingerprint().unwrap();

    let cases = corpus();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (i, c) in cases.iter().enumerate() {
        let mut request = client.request(c.method.clone(), app.url(&c.path)).body(c.body.clone());
        // Each case from its own address (through the trusted test proxy), so
        // rate limits do not answer in the handlers' place.
        if !c.headers.iter().any(|(name, _)| *name == "x-forwarded-for") {
            request = request.header("x-forwarded-for", format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256));
        }
        if let Some(content_type) = c.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in &c.headers {
            request = request.header(*name, value);
        }
        let response =
            request.send().await.unwrap_or_else(|e| panic!("{} {}: connection failed: {e}", c.method, c.path));
        let status = response.status();
        let json = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
        assert_ne!(status, 429, "{} {}: rate-limited, so the handler was not exercised", c.method, c.path);
        assert!(
            !status.is_server_error(),
            "{} {} ({:?}) answered {status}",
            c.method,
            &c.path[..c.path.len().min(80)],
            c.content_type
        );
        let path = c.path.split('?').next().unwrap_or("");
        if OAUTH_JSON_ENDPOINTS.contains(&path) && status.is_client_error() {
            assert!(json, "{} {}: a {status} without an OAuth JSON error", c.method, path);
            let body: serde_json::Value = response.json().await.unwrap();
            let code = body["error"].as_str().unwrap_or_default();
            assert!(RFC_ERROR_CODES.contains(&code), "{} {}: {status} with a non-RFC error {body}", c.method, path);
        }
    }
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "a hostile request changed the store");
    assert!(cases.len() > 500, "{} cases", cases.len());
}

/// About 16,000 distinct keys in under 64 KiB (the body limit).
fn many_distinct_keys() -> String {
    let chars: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let mut body = String::from("grant_type=client_credentials&token=x&response_type=code&client_id=web");
    'fill: for a in &chars {
        for b in &chars {
            for c in std::iter::once(None).chain(chars.iter().map(Some)) {
                let key: String = [Some(a), Some(b), c].into_iter().flatten().collect();
                if body.len() + key.len() + 1 > 64_000 {
                    break 'fill;
                }
                body.push('&');
                body.push_str(&key);
            }
        }
    }
    body
}

#[tokio::test]
async fn a_request_with_thousands_of_parameters_is_refused_as_invalid_request_before_any_work() {
    let app = spawn_app().await;
    let body = many_distinct_keys();
    assert!(body.matches('&').count() > 15_000, "{} keys", body.matches('&').count());
    for path in OAUTH_JSON_ENDPOINTS {
        // With valid client credentials, so the refusal is the parameter count, not the client.
        let response = reqwest::Client::new()
            .post(app.url(path))
            .basic_auth("web", Some(WEB_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{path}");
        assert!(error["error_description"].as_str().unwrap().contains("parameters"), "{path}: {error}");
    }
    // authorize, before its client is known: an error page, never a redirect.
    let response = app
        .client
        .post(app.url("/application/o/authorize/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("redirect_uri={WEB_CB}&{body}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(is_form(&response) && response.headers().get("location").is_none());
    assert!(response.text().await.unwrap().contains("too many parameters"));
}
