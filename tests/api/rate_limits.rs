//! Per-address rate limits (userinfo: 20 a minute in the test config) and
//! X-Forwarded-For honoured only from a trusted proxy (127.0.0.1 here).

use crate::helpers::*;

async fn userinfo_from(client: &reqwest::Client, app: &TestApp, forwarded_for: &str) -> reqwest::Response {
    client.get(app.url("/application/o/userinfo/")).header("x-forwarded-for", forwarded_for).send().await.unwrap()
}

#[tokio::test]
async fn the_21st_request_a_minute_gets_429_with_retry_after_per_client_address() {
    let app = spawn_app().await;
    let via_proxy = reqwest::Client::new(); // from 127.0.0.1: a trusted proxy
    for _ in 0..20 {
        assert_eq!(userinfo_from(&via_proxy, &app, "203.0.113.5").await.status(), 401);
    }
    let limited = userinfo_from(&via_proxy, &app, "203.0.113.5").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let error: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request", "an OAuth endpoint answers JSON: {error}");
    // Prepending a made-up hop does not escape: the proxy appended the real
    // address last, and the right-most untrusted hop is the one that counts.
    assert_eq!(userinfo_from(&via_proxy, &app, "198.51.100.7, 203.0.113.5").await.status(), 429);
    // Another client behind the same proxy is not affected.
    assert_eq!(userinfo_from(&via_proxy, &app, "198.51.100.8").await.status(), 401);

    // A peer that is not a trusted proxy cannot pick its address with the header.
    let direct =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    assert_eq!(userinfo_from(&direct, &app, "198.51.100.9").await.status(), 401);
    for _ in 0..19 {
        userinfo_from(&direct, &app, "198.51.100.9").await;
    }
    assert_eq!(userinfo_from(&direct, &app, "a-new-address-each-time").await.status(), 429, "keyed by 127.0.0.2");
    assert_eq!(
        userinfo_from(&via_proxy, &app, "198.51.100.9").await.status(),
        401,
        "its header spent no one else's budget"
    );
}

/// Every limited route, each reached by its plain path and by a
/// percent-encoded spelling that actix routes to the same handler.
const SPELLINGS: [(&str, &str, &str); 21] = [
    ("GET", "/application/o/authorize/", "/application/o/%61uthorize/"),
    ("GET", "/login", "/l%6fgin"),
    ("GET", "/consent", "/c%6fnsent"),
    ("POST", "/logout/confirm", "/l%6fgout/confirm"),
    ("GET", "/application/o/web/end-session/", "/application/o/web/%65nd-session/"),
    ("GET", "/account/", "/%61ccount/"),
    ("POST", "/account/sign-out", "/account/sign-%6fut"),
    ("POST", "/account/sessions/end", "/account/sessions/%65nd"),
    ("POST", "/account/consents/revoke", "/account/consents/rev%6fke"),
    ("POST", "/account/password", "/account/p%61ssword"),
    ("GET", "/login/code", "/login/c%6fde"),
    ("GET", "/login/enroll", "/login/enr%6fll"),
    ("GET", "/account/mfa", "/account/mf%61"),
    ("GET", "/account/tokens", "/account/t%6fkens"),
    ("GET", "/admin/users", "/%61dmin/users"),
    ("POST", "/admin/act", "/admin/%61ct"),
    ("POST", "/account/tokens/revoke", "/account/tokens/rev%6fke"),
    ("POST", "/application/o/token/", "/application/o/%74oken/"),
    ("POST", "/application/o/introspect/", "/application/o/%69ntrospect/"),
    ("POST", "/application/o/revoke/", "/application/o/r%65voke/"),
    ("GET", "/application/o/userinfo/", "/application/o/userinf%6f/"),
];

#[tokio::test]
async fn a_percent_encoded_path_spends_the_same_budget_as_the_plain_one() {
    let app = spawn_app_edited(|yaml| {
        yaml.replace(
            "rate_limits: { userinfo: 20 }",
            "rate_limits: { authorize: 4, sign_in: 4, token: 4, introspect: 4, userinfo: 4, pages: 4 }",
        )
    })
    .await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (i, (method, plain, encoded)) in SPELLINGS.iter().enumerate() {
        // A fresh address per route, behind the trusted proxy (127.0.0.1), so
        // routes sharing a budget (sign-in, introspection + revocation) start full.
        let address = format!("203.0.113.{}", i + 1);
        let send = |path: &str| {
            let request = match *method {
                "GET" => client.get(app.url(path)),
                _ => client.post(app.url(path)).form(&[("token", "x")]),
            };
            request.header("x-forwarded-for", address.as_str()).send()
        };
        // The encoded spelling reaches the real handler (not a 404)...
        let first = send(encoded).await.unwrap();
        assert!(![404, 429].contains(&first.status().as_u16()), "{encoded}: {}", first.status());
        for path in [plain, encoded, plain] {
            assert_ne!(send(path).await.unwrap().status(), 429, "{path} within the budget");
        }
        // ...and spent the same budget: the fifth request is refused either way,
        // as JSON at an OAuth endpoint and as a page where a person is.
        let refused = send(encoded).await.unwrap();
        assert_eq!(refused.status(), 429, "{encoded} after 4 requests");
        let html = refused.headers()["content-type"].to_str().unwrap().starts_with("text/html");
        let page = [
            "/login",
            "/consent",
            "/logout",
            "/account",
            "/admin",
            "/application/o/authorize/",
            "/application/o/web/end-session/",
        ]
        .iter()
        .any(|p| plain.starts_with(p));
        assert_eq!(html, page, "{plain}: refused as {}", if html { "a page" } else { "JSON" });
        assert_eq!(send(plain).await.unwrap().status(), 429, "{plain} after 4 requests");
    }

    // The metrics label the route, not the spelling.
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("%6f"), "{metrics}");
    assert!(metrics.contains(r#"endpoint="/login",method="GET",status="429""#), "{metrics}");
}

#[tokio::test]
async fn signed_in_pages_have_a_budget_of_their_own_apart_from_password_guessing() {
    let app =
        spawn_app_edited(|yaml| yaml.replace("rate_limits: { userinfo: 20 }", "rate_limits: { sign_in: 3, pages: 6 }"))
            .await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |path: &'static str| client.get(app.url(path)).header("x-forwarded-for", "203.0.113.77").send();
    for _ in 0..3 {
        assert_eq!(get("/login").await.unwrap().status(), 400, "no pending sign-in: the form's error page");
    }
    assert_eq!(get("/login").await.unwrap().status(), 429, "the sign-in budget is spent");
    for path in ["/account/", "/admin/", "/account/tokens", "/admin/users", "/admin/audit", "/account/mfa"] {
        assert_eq!(get(path).await.unwrap().status(), 303, "{path}: the pages' own budget");
    }
    assert_eq!(get("/admin/keys").await.unwrap().status(), 429, "which is spent in its turn");
}
