//! Forward-auth over HTTP, with the test client in the reverse proxy's
//! place (the test config trusts 127.0.0.1 as a proxy): which address is
//! protected by which proxy application, who passes with a session, a
//! PAT or a token, what a browser and a script are told, `rd` never
//! leaving the protected addresses, and headers from an untrusted peer
//! ignored. The real nginx and Caddy in front are in the e2e tests.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use reqwest::StatusCode;

const PROXIES: &str = r#"  - slug: nodered
    name: Node-RED
    proxy: { hosts: ["nodered.home.test"], bypass: ["/health"] }
    allowed_groups: [admins]
  - slug: dashboard
    name: Dashboard
    proxy: { hosts: ["nodered.home.test/ui"] }
  - slug: vault
    proxy: { hosts: ["vault.home.test:8443"] }
    require_mfa: true
"#;

async fn app() -> TestApp {
    spawn_app_with(PROXIES).await
}

/// A forward-auth check (Traefik, Caddy) for `url`, as the proxy asks it:
/// the URI exactly as written (not normalised here: ferrid must do that).
async fn forward_auth(app: &TestApp, client: &reqwest::Client, url: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (host, uri) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut request = client
        .get(app.url("/api/authz/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", scheme)
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", if uri.is_empty() { "/" } else { uri });
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// A client like a proxy's: it follows no redirect.
fn proxy() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// An nginx `auth_request` check.
async fn auth_request(app: &TestApp, client: &reqwest::Client, url: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client.get(app.url("/api/authz/auth-request")).header("X-Original-URL", url);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

const HTML: (&str, &str) = ("Accept", "text/html,application/xhtml+xml");

/// Signs `user` in through the portal a proxy sends a browser to; returns
/// the browser and where it was sent back.
async fn signed_in_via_portal(app: &TestApp, user: &TestUser, rd: &str) -> (reqwest::Client, String) {
    let browser = browser();
    let response = browser.get(app.url("/")).query(&[("rd", rd)]).send().await.unwrap();
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "{login}");
    let response = sign_in_with(&browser, &app.address, &login, &user.username, &user.password).await;
    (browser, location(&response))
}

#[tokio::test]
async fn an_address_no_proxy_application_covers_is_refused_and_a_bypass_path_passes_without_identity() {
    let app = app().await;
    let client = proxy();
    for url in ["http://other.home.test/", "http://nodered.home.test.evil/", "http://vault.home.test/"] {
        assert_eq!(forward_auth(&app, &client, url, &[]).await.status(), 403, "{url}");
        assert_eq!(auth_request(&app, &client, url, &[]).await.status(), 403, "{url}");
    }
    for url in ["http://nodered.home.test/health", "http://nodered.home.test/health/live?x=1"] {
        let response = forward_auth(&app, &client, url, &[]).await;
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(header(&response, "remote-user").as_deref(), Some(""), "no one, but the header is there");
    }
    // Dressed-up paths are matched as the upstream will see them.
    let sneaky = forward_auth(&app, &client, "http://nodered.home.test/health/../flows", &[HTML]).await;
    assert_eq!(sneaky.status(), 302, "not the bypass: /flows");
    let malformed = forward_auth(&app, &client, "http://nodered.home.test/%5cflows", &[]).await;
    assert_eq!(malformed.status(), 403, "a backslash is not guessed about");
}

#[tokio::test]
async fn an_anonymous_browser_is_sent_to_sign_in_and_a_script_gets_401() {
    let app = app().await;
    let client = proxy();
    let wanted = "http://nodered.home.test/flows?tab=1&x=%20y";
    let response = forward_auth(&app, &client, wanted, &[HTML]).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let expected =
        format!("{}/?rd={}", app.address, url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect::<String>());
    assert_eq!(location(&response), expected);

    let response = forward_auth(&app, &client, wanted, &[]).await;
    assert_eq!(response.status(), 401);
    assert!(header(&response, "www-authenticate").unwrap().starts_with("Basic realm=\"ferrid\""));

    // The sign-in page names the site, and lets its form lead back there (CSP).
    let browser = browser();
    let login = location(&browser.get(&expected).send().await.unwrap());
    let page = browser.get(app.url(&login)).send().await.unwrap();
    let csp = header(&page, "content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' http://nodered.home.test"), "{csp}");
    assert!(page.text().await.unwrap().contains("Node-RED"));

    // nginx: 401 with the sign-in address for auth_request_set.
    let response = auth_request(&app, &client, wanted, &[HTML]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(location(&response), expected);
}

#[tokio::test]
async fn a_signed_in_member_passes_with_remote_headers_and_the_first_pass_is_audited_once() {
    let app = app().await;
    let alice = app.add_user("alice", &["admins", "viewers"]);
    app.admin(AdminCommand::UserUpdate {
        username: "alice".into(),
        name: Some("Alice Example".into()),
        email: Some("alice@home.test".into()),
        email_verified: None,
    })
    .unwrap();
    let wanted = "http://nodered.home.test/flows?tab=1";
    let (browser, back) = signed_in_via_portal(&app, &alice, wanted).await;
    assert_eq!(back, wanted, "back to the very URL, query and all");

    for check in [forward_auth(&app, &browser, wanted, &[HTML]).await, auth_request(&app, &browser, wanted, &[]).await]
    {
        assert_eq!(check.status(), 200);
        assert_eq!(header(&check, "remote-user").as_deref(), Some("alice"));
        assert_eq!(header(&check, "remote-groups").as_deref(), Some("admins,viewers"));
        assert_eq!(header(&check, "remote-email").as_deref(), Some("alice@home.test"));
        assert_eq!(header(&check, "remote-name").as_deref(), Some("Alice Example"));
    }
    let passes = app
        .state
        .store
        .audit_since(0)
        .unwrap()
        .into_iter()
        .filter(|e| e.detail.as_deref() == Some("forward-auth: first pass of a session"))
        .count();
    assert_eq!(passes, 1, "audited once, not per request");

    // Signed in at the portal again: straight back, no form.
    let response = browser.get(app.url("/")).query(&[("rd", wanted)]).send().await.unwrap();
    assert_eq!(location(&response), wanted);

    // Signing out ends the access at once.
    let html = browser.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    browser.post(app.url("/account/sign-out")).form(&[("csrf_token", csrf)]).send().await.unwrap();
    assert_eq!(forward_auth(&app, &browser, wanted, &[HTML]).await.status(), 302);
}

#[tokio::test]
async fn the_most_specific_application_decides_and_a_non_member_is_refused() {
    let app = app().await;
    let bob = app.add_user("bob", &["viewers"]);
    let (browser, _) = signed_in_via_portal(&app, &bob, "http://nodered.home.test/ui/").await;
    assert_eq!(forward_auth(&app, &browser, "http://nodered.home.test/ui/page", &[HTML]).await.status(), 200);
    assert_eq!(forward_auth(&app, &browser, "http://nodered.home.test/flows", &[HTML]).await.status(), 403);
    // Not by a detour: /ui/../flows is /flows.
    assert_eq!(forward_auth(&app, &browser, "http://nodered.home.test/ui/../flows", &[HTML]).await.status(), 403);
    assert_eq!(auth_request(&app, &browser, "http://nodered.home.test/%75i/x", &[]).await.status(), 200);
}

#[tokio::test]
async fn a_personal_access_token_passes_as_basic_or_bearer_until_revoked_and_guessing_locks() {
    let app = app().await;
    app.add_user("alice", &["admins"]);
    let (pat, id) = app.create_pat("alice", "nodered", 3600);
    let client = proxy();
    let url = "http://nodered.home.test/api/flows";
    let basic = basic_auth;
    let response = forward_auth(&app, &client, url, &[("Authorization", &basic("alice", &pat))]).await;
    assert_eq!((response.status().as_u16(), header(&response, "remote-user")), (200, Some("alice".into())));
    let bearer = format!("Bearer {pat}");
    assert_eq!(auth_request(&app, &client, url, &[("Authorization", &bearer)]).await.status(), 200);

    // Someone else's name with it, or another application's token: 401, never a redirect.
    app.add_user("mallory", &["admins"]);
    let wrong = forward_auth(&app, &client, url, &[("Authorization", &basic("mallory", &pat)), HTML]).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(header(&wrong, "location"), None);
    let (other, _) = app.create_pat("alice", "web", 3600);
    assert_eq!(forward_auth(&app, &client, url, &[("Authorization", &basic("alice", &other))]).await.status(), 401);

    app.admin(AdminCommand::PatRevoke { id }).unwrap();
    assert_eq!(forward_auth(&app, &client, url, &[("Authorization", &basic("alice", &pat))]).await.status(), 401);

    // Guessing: after sign_in.max_failures (3) wrong ones, even a right one is refused for a while.
    let (fresh, _) = app.create_pat("alice", "nodered", 3600);
    for _ in 0..3 {
        let guess = basic("alice", "ferrid_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(forward_auth(&app, &client, url, &[("Authorization", &guess)]).await.status(), 401);
    }
    assert_eq!(forward_auth(&app, &client, url, &[("Authorization", &basic("alice", &fresh))]).await.status(), 401);
}

#[tokio::test]
async fn an_application_that_needs_a_second_factor_does_not_pass_a_password_only_session() {
    let app = app().await;
    let alice = app.add_user("alice", &[]);
    let (_enrolling, back) = signed_in_via_portal(&app, &alice, "https://vault.home.test:8443/").await;
    assert!(back.starts_with("/login/enroll?tx="), "the sign-in asks for the factor first: {back}");
    // The account page's password-only session does not pass either.
    let other = browser();
    let response = other.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&other, &app.address, &location(&response), &alice.username, &alice.password).await;
    let check = forward_auth(&app, &other, "https://vault.home.test:8443/secrets", &[HTML]).await;
    assert_eq!(check.status(), 302, "sent to step up");
    let step_up = other.get(location(&check)).send().await.unwrap();
    assert!(location(&step_up).starts_with("/login?tx="), "a re-authentication for the factor");
}

#[tokio::test]
async fn rd_never_sends_the_browser_off_the_protected_addresses() {
    let app = app().await;
    let browser = browser();
    let hostile = [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "http://nodered.home.test@evil.example/",
        "http://evil.example/nodered.home.test",
        "http://nodered.home.test.evil.example/",
        "http://evil.example#nodered.home.test",
        "http://evil.example?http://nodered.home.test/",
        "javascript:alert(1)//nodered.home.test",
        "data:text/html,nodered.home.test",
        "http://user:pass@nodered.home.test/",
        "http://vault.home.test/",
        "http://other.home.test/",
        "ftp://nodered.home.test/",
        "http:evil.example",
        "http://nodered.home.test%2eevil.example/",
        "http://%6eodered.home.test.evil/",
        " http://evil.example/",
        "http://[::1]/",
        "",
    ];
    for rd in hostile {
        let response = browser.get(app.url("/")).query(&[("rd", rd)]).send().await.unwrap();
        assert_eq!(location(&response), "/account/", "rd={rd:?}");
    }
}

#[tokio::test]
async fn forwarded_headers_from_a_peer_that_is_not_a_trusted_proxy_are_ignored() {
    let app = spawn_app_edited(|yaml| {
        format!("{}{PROXIES}", yaml.replace("trusted_proxies: [\"127.0.0.1\"]", "trusted_proxies: [\"10.9.9.9\"]"))
    })
    .await;
    app.add_user("alice", &["admins"]);
    let (pat, _) = app.create_pat("alice", "nodered", 3600);
    let client = proxy();
    let url = "http://nodered.home.test/";
    let bearer = format!("Bearer {pat}");
    assert_eq!(forward_auth(&app, &client, url, &[("Authorization", &bearer)]).await.status(), 403);
    assert_eq!(auth_request(&app, &client, url, &[("Authorization", &bearer)]).await.status(), 403);
}

#[tokio::test]
async fn with_a_cookie_domain_the_session_cookie_is_sent_to_sibling_hosts_and_the_others_stay_host_only() {
    // public_url names ferrid by a host name under home.test (the requests
    // still go to 127.0.0.1: only the cookies' attributes are looked at).
    let app = spawn_app_edited(|yaml| {
        let port = yaml.split("public_url: http://127.0.0.1:").nth(1).unwrap().lines().next().unwrap().to_owned();
        let yaml = yaml.replace(
            &format!("public_url: http://127.0.0.1:{port}"),
            &format!("public_url: http://id.home.test:{port}\ncookie_domain: home.test"),
        );
        format!("{yaml}{PROXIES}")
    })
    .await;
    let alice = app.add_user("alice", &["admins"]);
    let client = browser();
    let response = client.get(app.url("/account/")).send().await.unwrap();
    let csrf_cookie = header(&response, "set-cookie").unwrap_or_default();
    assert!(csrf_cookie.starts_with("ferrid_csrf="), "{csrf_cookie}");
    let response = sign_in_with(&client, &app.address, &location(&response), &alice.username, &alice.password).await;
    let cookies: Vec<String> =
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let session = cookies.iter().find(|c| c.starts_with("ferrid_session=")).expect("a session cookie");
    assert!(session.contains("Domain=home.test"), "{session}");
    let device = cookies.iter().find(|c| c.starts_with("ferrid_device=")).expect("a device cookie");
    assert!(!device.contains("Domain"), "only the session is shared: {device}");
    assert!(!csrf_cookie.contains("Domain"), "{csrf_cookie}");
}

#[tokio::test]
async fn an_administrator_adds_and_restricts_a_proxy_application_in_the_console() {
    let app = app().await;
    let root = app.add_user("root", &["ferrid-admins"]);
    app.add_user("alice", &["viewers"]);
    let admin = crate::console::signed_in_browser(&app, &root).await;
    let html = admin.get(app.url("/admin/apps")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("action", "app-add"),
        ("kind", "proxy"),
        ("slug", "grafana"),
        ("name", "Grafana"),
        ("proxy_hosts", "grafana.home.test\n"),
        ("bypass", "/api/health"),
    ];
    let response = admin.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/admin/apps/grafana?done=app-add");
    let page = admin.get(app.url("/admin/apps/grafana")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<code>grafana.home.test</code>") && page.contains("/api/authz/forward-auth"), "{page}");

    let (pat, _) = app.create_pat("alice", "grafana", 3600);
    let bearer = format!("Bearer {pat}");
    let (client, auth) = (proxy(), [("Authorization", bearer.as_str())]);
    let url = "http://grafana.home.test/d/1";
    assert_eq!(forward_auth(&app, &client, url, &auth).await.status(), 200, "open to everyone at first");
    let form = [
        ("csrf_token", csrf.as_str()),
        ("action", "app-update"),
        ("slug", "grafana"),
        ("name", "Grafana"),
        ("redirect_uris", ""),
        ("allowed_groups", "admins"),
    ];
    let response = admin.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/admin/apps/grafana?done=app-update");
    app.state.republish(true).unwrap();
    assert_eq!(forward_auth(&app, &client, url, &auth).await.status(), 401, "alice's token no longer opens it");
}

#[tokio::test]
async fn a_proxy_application_that_asks_once_passes_after_the_user_allows_it() {
    let app = spawn_app_with(
        "  - slug: photos\n    name: Photo Album\n    proxy: { hosts: [\"photos.home.test\"] }\n    consent: once\n",
    )
    .await;
    let alice = app.add_user("alice", &[]);
    let wanted = "http://photos.home.test/albums";
    let (browser, back) = signed_in_via_portal(&app, &alice, wanted).await;
    assert_eq!(back, wanted);

    // Signed in, but not yet allowed: forward-auth sends the browser to the portal, which asks.
    let check = forward_auth(&app, &browser, wanted, &[HTML]).await;
    assert_eq!(check.status(), 302);
    let response = browser.get(location(&check)).send().await.unwrap();
    let consent = location(&response);
    assert!(consent.starts_with("/consent?tx="), "{consent}");
    let page = browser.get(app.url(&consent)).send().await.unwrap();
    let csp = header(&page, "content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' http://photos.home.test"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Allow Photo Album?"), "{html}");
    let form = |decision: &str| {
        [
            ("tx", hidden_field(&html, "tx").unwrap()),
            ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
            ("decision", decision.to_owned()),
        ]
    };
    let response = browser.post(app.url("/consent")).form(&form("allow")).send().await.unwrap();
    assert_eq!(location(&response), wanted, "back to the site");
    assert_eq!(forward_auth(&app, &browser, wanted, &[HTML]).await.status(), 200);
    // A replay of the answer changes nothing.
    let replay = browser.post(app.url("/consent")).form(&form("deny")).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(forward_auth(&app, &browser, wanted, &[HTML]).await.status(), 200);

    // Withdrawn on the account page: asked again.
    let account = browser.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&account, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("client_id", "photos")];
    browser.post(app.url("/account/consents/revoke")).form(&form).send().await.unwrap();
    assert_eq!(forward_auth(&app, &browser, wanted, &[HTML]).await.status(), 302);

    // Denied: to the account page, and still not passed.
    let check = forward_auth(&app, &browser, wanted, &[HTML]).await;
    let response = browser.get(location(&check)).send().await.unwrap();
    let html = browser.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "deny".to_owned()),
    ];
    let response = browser.post(app.url("/consent")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/account/");
    assert_eq!(forward_auth(&app, &browser, wanted, &[HTML]).await.status(), 302);
}
