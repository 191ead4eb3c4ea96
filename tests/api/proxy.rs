//! Behind a TLS-terminating reverse proxy: ferrid listens on plain HTTP,
//! `public_url` is https. Cookies are `Secure` with the `__Host-` prefix,
//! and no request header can change the issuer.

use crate::helpers::*;

const PUBLIC: &str = "https://id.example";

async fn behind_proxy() -> TestApp {
    spawn_app_edited(|yaml| {
        let line = yaml.lines().find(|l| l.starts_with("public_url: ")).unwrap().to_owned();
        yaml.replace(&line, &format!("public_url: {PUBLIC}"))
    })
    .await
}

fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

#[tokio::test]
async fn cookies_are_secure_when_public_url_is_https() {
    let app = behind_proxy().await;
    let user = app.add_user("proxied", &[]);
    // No cookie jar: a jar would (rightly) not send Secure cookies over the test's plain HTTP.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let pkce = Pkce::new();
    let authorize = client
        .get(app.url("/application/o/authorize/"))
        .query(&web_params("openid", &pkce, "n", "s"))
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), 303);
    // __Host-: a sibling host under the same parent domain cannot plant it.
    let csrf = set_cookie(&authorize, "__Host-ferrid_csrf");
    assert!(csrf.contains("Secure") && csrf.contains("HttpOnly") && csrf.contains("Path=/"), "{csrf}");
    assert!(!csrf.to_lowercase().contains("domain="), "{csrf}");
    let csrf_pair = csrf.split(';').next().unwrap().to_owned();

    let page = client.get(app.url(&location(&authorize))).header("cookie", &csrf_pair).send().await.unwrap();
    let html = page.text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", user.username.clone()),
        ("password", user.password.clone()),
    ];
    let signed_in = client.post(app.url("/login")).header("cookie", &csrf_pair).form(&form).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let session = set_cookie(&signed_in, "__Host-ferrid_session");
    assert!(session.contains("Secure") && session.contains("HttpOnly") && session.contains("Path=/"), "{session}");
    assert!(!session.to_lowercase().contains("domain="), "{session}");
    assert!(location(&signed_in).starts_with(WEB_CB), "back to the client");
    assert!(signed_in.headers().contains_key("strict-transport-security"), "HSTS: clients see https");
}

#[tokio::test]
async fn no_request_header_changes_the_issuer_or_endpoints() {
    let app = behind_proxy().await;
    let doc: serde_json::Value = reqwest::Client::new()
        .get(app.url("/application/o/web/.well-known/openid-configuration"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .header("forwarded", "host=evil.example;proto=http")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], format!("{PUBLIC}/application/o/web/"));
    assert_eq!(doc["token_endpoint"], format!("{PUBLIC}/application/o/token/"));
    assert!(!doc.to_string().contains("evil.example"));
}
