//! Attacks on forward-auth (`/api/authz/forward-auth`, `/api/authz/auth-request`)
//! and its portal (`/?rd=`), from outside. Each test asserts the SAFE
//! behaviour. The review that wrote them found 14 holes (a backslash or a
//! `?` in nginx's Host, `;` path parameters, ports, double encoding,
//! duplicate headers, the Node-RED middleware's Host and address, …); all
//! are fixed, and every test here must pass.
//!
//! The test client plays the reverse proxy (the test config trusts
//! 127.0.0.1), as in `forward_auth.rs`.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use reqwest::header::HeaderValue;

/// `site.home.test` is open to anyone signed in; its `/admin` only to
/// admins (the most specific target wins). `nodered` is admins only with a
/// `/health` bypass. `shared.home.test` is open to anyone signed in on any
/// port, except its port 8443, which is admins only. `vault` needs a
/// second factor.
const APPS: &str = r#"  - slug: aaa-site
    name: Site
    proxy: { hosts: ["site.home.test", "shared.home.test"], bypass: ["/health", "/public"] }
  - slug: site-admin
    proxy: { hosts: ["site.home.test/admin"] }
    allowed_groups: [admins]
  - slug: nodered
    name: Node-RED
    proxy: { hosts: ["nodered.home.test"], bypass: ["/health"] }
    allowed_groups: [admins]
  - slug: zzz-secure
    proxy: { hosts: ["shared.home.test:8443"] }
    allowed_groups: [admins]
  - slug: vault
    proxy: { hosts: ["vault.home.test"] }
    require_mfa: true
  - slug: nodered-http
    proxy: { hosts: ["nodered.home.test:1880"] }
    allowed_groups: [admins]
"#;

async fn app() -> TestApp {
    spawn_app_with(APPS).await
}

fn proxy() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

const HTML: (&str, &str) = ("Accept", "text/html,application/xhtml+xml");

/// A Traefik/Caddy-style check with the four headers given raw (bytes, so
/// a test can send what a proxy would copy from a hostile request line).
async fn forward_raw(
    app: &TestApp,
    client: &reqwest::Client,
    host: &[u8],
    uri: &[u8],
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client
        .get(app.url("/api/authz/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", HeaderValue::from_bytes(host).unwrap())
        .header("X-Forwarded-Uri", HeaderValue::from_bytes(uri).unwrap());
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn forward(app: &TestApp, client: &reqwest::Client, host: &str, uri: &str, extra: &[(&str, &str)]) -> u16 {
    forward_raw(app, client, host.as_bytes(), uri.as_bytes(), extra).await.status().as_u16()
}

/// An nginx-style check.
async fn original(app: &TestApp, client: &reqwest::Client, url: &[u8], extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request =
        client.get(app.url("/api/authz/auth-request")).header("X-Original-URL", HeaderValue::from_bytes(url).unwrap());
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A browser signed in with the password only, at the account page.
async fn signed_in(app: &TestApp, user: &TestUser) -> reqwest::Client {
    let browser = browser();
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), &user.username, &user.password).await;
    assert_eq!(response.status(), 303, "signed in");
    browser
}

// ---------------------------------------------------------------------------
// Path confusion between a permissive and a strict application
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sanity_the_strict_prefix_refuses_a_non_member_and_the_loose_host_admits_them() {
    let app = app().await;
    let bob = app.add_user("bob", &["viewers"]);
    let b = signed_in(&app, &bob).await;
    assert_eq!(forward(&app, &b, "site.home.test", "/", &[]).await, 200);
    assert_eq!(forward(&app, &b, "site.home.test", "/admin/users", &[]).await, 403);
    assert_eq!(forward(&app, &proxy(), "nodered.home.test", "/flows", &[]).await, 401);
}

#[tokio::test]
async fn encoded_slashes_and_dots_resolve_to_the_protected_path() {
    let app = app().await;
    let bob = app.add_user("bob", &["viewers"]);
    let b = signed_in(&app, &bob).await;
    for uri in [
        "/public/../admin/users",
        "/public/%2e%2e/admin/users",
        "/public/.%2E/admin/users",
        "/public%2f..%2fadmin/users",
        "/public%2F%2E%2E%2Fadmin",
        "/./admin",
        "//admin",
        "/%2fadmin",
        "/%61dmin",
        "/ADMIN/../admin",
        "/x/../../../admin",
        "/admin?/../public",
        "/admin%3f/../../admin",
    ] {
        assert_eq!(forward(&app, &b, "site.home.test", uri, &[]).await, 403, "{uri}");
    }
    // And no bypass path is a detour to a protected one.
    let anonymous = proxy();
    for uri in
        ["/health/../flows", "/health%2f..%2fflows", "/health/%2e%2e/flows", "/health/..%2fflows", "/health/./../flows"]
    {
        let status = forward(&app, &anonymous, "nodered.home.test", uri, &[]).await;
        assert_ne!(status, 200, "{uri}");
    }
    for url in ["http://nodered.home.test/health/%2e%2e/flows", "http://nodered.home.test/health%2F..%2Fflows"] {
        assert_ne!(original(&app, &anonymous, url.as_bytes(), &[]).await.status(), 200, "{url}");
    }
}

/// Caddy and Traefik copy the request target into `X-Forwarded-Uri` as it
/// came (Go keeps bytes >= 0x80 in a request line). `header_value` reads
/// only visible ASCII, so such a URI is dropped and the check falls back to
/// `/`: the request is judged by the host's loosest rule.
#[tokio::test]
async fn a_forwarded_uri_with_non_ascii_bytes_is_not_judged_as_the_root() {
    let app = app().await;
    let bob = app.add_user("bob", &["viewers"]);
    let b = signed_in(&app, &bob).await;
    let status = forward_raw(&app, &b, b"site.home.test", "/admin/users/é".as_bytes(), &[]).await.status();
    assert_ne!(status, 200, "bob is not an admin: /admin/… must not pass as `/`");
    let status = forward_raw(&app, &b, b"site.home.test", b"/admin/\xff", &[]).await.status();
    assert_ne!(status, 200, "invalid UTF-8 must be refused, not judged as `/`");
}

#[tokio::test]
async fn an_empty_or_blank_forwarded_uri_is_never_a_bypass() {
    let app = app().await;
    let anonymous = proxy();
    for uri in ["", " ", "\t"] {
        let status = forward(&app, &anonymous, "nodered.home.test", uri, &[]).await;
        assert_ne!(status, 200, "{uri:?}");
    }
    // No X-Forwarded-Uri at all.
    let response = anonymous
        .get(app.url("/api/authz/forward-auth"))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "nodered.home.test")
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 200);
}

/// Tomcat, Jetty and Spring strip `;params` from path segments and treat
/// `..;` as `..`: `/health/..;/admin` is `/admin` to them.
#[tokio::test]
async fn a_dot_dot_semicolon_segment_does_not_ride_a_bypass() {
    let app = app().await;
    let anonymous = proxy();
    for uri in ["/health/..;/flows", "/health/..;jsessionid=x/flows", "/health;/../flows"] {
        let status = forward(&app, &anonymous, "nodered.home.test", uri, &[]).await;
        assert_ne!(status, 200, "{uri}: anonymous past the bypass");
    }
    let status = original(&app, &anonymous, b"https://nodered.home.test/health/..;/flows", &[]).await.status();
    assert_ne!(status, 200);
}

#[tokio::test]
async fn a_path_parameter_on_a_strict_prefix_is_not_judged_by_the_looser_application() {
    let app = app().await;
    let bob = app.add_user("bob", &["viewers"]);
    let b = signed_in(&app, &bob).await;
    for uri in ["/admin;jsessionid=1/users", "/admin;/users", "/admin;"] {
        assert_eq!(forward(&app, &b, "site.home.test", uri, &[]).await, 403, "{uri}");
    }
}

/// An upstream (or a second proxy hop) that decodes once more sees
/// `/health/../flows`; ferrid decodes once and sees a segment `%2e%2e`.
#[tokio::test]
async fn double_encoded_dot_segments_do_not_ride_a_bypass() {
    let app = app().await;
    let anonymous = proxy();
    for uri in ["/health/%252e%252e/flows", "/health%252f..%252fflows"] {
        let status = forward(&app, &anonymous, "nodered.home.test", uri, &[]).await;
        assert_ne!(status, 200, "{uri}");
    }
}

/// nginx passes `$request_uri` raw; a `#` in a request line is not a
/// fragment to every upstream (Go keeps it in the path and cleans
/// `/health#/../flows` to `/flows`). ferrid cuts the path at `#`.
#[tokio::test]
async fn a_raw_hash_in_the_forwarded_uri_does_not_ride_a_bypass() {
    let app = app().await;
    let anonymous = proxy();
    assert_ne!(forward(&app, &anonymous, "nodered.home.test", "/health#/../flows", &[]).await, 200);
    let status = original(&app, &anonymous, b"http://nodered.home.test/health#/../flows", &[]).await.status();
    assert_ne!(status, 200);
}

/// nginx builds `X-Original-URL` from `$http_host` (the client's Host, as
/// sent): a Host ending in `?` or `#` moves the real path into the query
/// or fragment, and ferrid judges `/`. A `$request_uri` always starts with
/// `/`, so a URL whose path does not follow the authority is not nginx's.
#[tokio::test]
async fn an_original_url_whose_path_was_pushed_into_the_query_is_refused() {
    let app = app().await;
    let bob = app.add_user("bob", &["viewers"]);
    let b = signed_in(&app, &bob).await;
    for url in ["http://site.home.test?/admin/users", "http://site.home.test#/admin/users"] {
        assert_ne!(original(&app, &b, url.as_bytes(), &[]).await.status(), 200, "{url}");
    }
}

/// The same `$http_host`, with a backslash: WHATWG URL parsing (the `url`
/// crate) reads `\` as `/` in an http(s) URL, so the Host `nodered.home.test\health?`
/// turns `http://nodered.home.test\health?/flows` into path `/health` (the
/// bypass) with the real path in the query. nginx 1.22 accepts that Host,
/// and with an absolute-form request line (`GET http://nodered.home.test/flows`)
/// it even picks the right server block whatever the Host says; the
/// upstream gets `/flows`. Checked by hand against Debian's nginx 1.22 with
/// the shipped snippet's `X-Original-URL $scheme://$http_host$request_uri`.
#[tokio::test]
async fn an_original_url_with_a_backslash_after_the_host_is_refused() {
    let app = app().await;
    let anonymous = proxy();
    for url in [
        "http://nodered.home.test\\health?/flows",
        "http://nodered.home.test\\health#/flows",
        "http://nodered.home.test\\health/..?/flows",
        "http://site.home.test\\public?/admin/users",
    ] {
        let status = original(&app, &anonymous, url.as_bytes(), &[]).await.status();
        assert_ne!(status, 200, "{url}: anonymous through a bypass");
    }
}

// ---------------------------------------------------------------------------
// Host confusion
// ---------------------------------------------------------------------------

#[tokio::test]
async fn host_spellings_never_reach_a_looser_application() {
    let app = app().await;
    let bob = app.add_user("bob", &["viewers"]);
    let b = signed_in(&app, &bob).await;
    // Every spelling of site.home.test either is it (and /admin is refused)
    // or is no protected host (refused too): never a pass.
    for host in [
        "SITE.HOME.TEST",
        "Site.Home.Test:443",
        "site.home.test.",
        "site.home.test:",
        "site.home.test:abc",
        "site.home.test:99999999",
        "site.home.test, evil.test",
        "evil.test, site.home.test",
        "site.home.test/admin",
        "site.home.test@evil.test",
        "site.home.test%2eevil",
        "xn--site-home-test",
        "[::1]",
        "[::ffff:127.0.0.1]:80",
        " site.home.test ",
        "",
    ] {
        let status = forward(&app, &b, host, "/admin/users", &[]).await;
        assert_ne!(status, 200, "{host:?}");
    }
    for url in [
        "http://SITE.home.test/admin/users",
        "http://site.home.test:80/admin/users",
        "http://user@site.home.test/admin/users",
        "http://site.home.test./admin/users",
        "http://%73ite.home.test/admin/users",
        "http://site。home。test/admin/users",
        "//site.home.test/admin/users",
        "/admin/users",
        "site.home.test/admin/users",
        "http:site.home.test/admin/users",
        "http:/site.home.test/admin/users",
        "http://site.home.test\\admin/users",
    ] {
        let status = original(&app, &b, url.as_bytes(), &[]).await.status();
        assert_ne!(status, 200, "{url}");
    }
    // A non-ASCII (IDN) host from Caddy/Traefik: not read, refused.
    let response = forward_raw(&app, &b, "sïte.home.test".as_bytes(), b"/admin/users", &[]).await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_port_specific_target_beats_a_portless_one_on_its_port() {
    let app = app().await;
    let bob = app.add_user("bob", &["viewers"]);
    let b = signed_in(&app, &bob).await;
    assert_eq!(forward(&app, &b, "shared.home.test", "/", &[]).await, 200, "the open one");
    assert_eq!(forward(&app, &b, "shared.home.test:8443", "/", &[]).await, 403, "the admins-only one");
    assert_eq!(original(&app, &b, b"https://shared.home.test:8443/", &[]).await.status(), 403);
}

#[tokio::test]
async fn a_port_spelled_with_leading_zeros_is_the_same_port() {
    let app2 = spawn_app_with(
        r#"  - slug: open
    proxy: { hosts: ["p.home.test"] }
  - slug: locked
    proxy: { hosts: ["p.home.test:8443"] }
    allowed_groups: [admins]
"#,
    )
    .await;
    let bob = app2.add_user("bob", &["viewers"]);
    let b = signed_in(&app2, &bob).await;
    assert_eq!(forward(&app2, &b, "p.home.test:8443", "/", &[]).await, 403, "sanity (or the ordering finding)");
    assert_eq!(forward(&app2, &b, "p.home.test:08443", "/", &[]).await, 403, "08443 is 8443");
}

// ---------------------------------------------------------------------------
// Ambiguous and hostile headers
// ---------------------------------------------------------------------------

/// A proxy that appends (rather than replaces) the forwarded headers would
/// put the client's copy first; ferrid reads the first.
#[tokio::test]
async fn duplicate_forwarded_headers_are_refused() {
    let app = app().await;
    let anonymous = proxy();
    let response = anonymous
        .get(app.url("/api/authz/forward-auth"))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "nodered.home.test")
        .header("X-Forwarded-Uri", "/health")
        .header("X-Forwarded-Uri", "/flows")
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 200, "ambiguous URI");
    let response = anonymous
        .get(app.url("/api/authz/auth-request"))
        .header("X-Original-URL", "http://nodered.home.test/health")
        .header("X-Original-URL", "http://nodered.home.test/flows")
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 200, "ambiguous URL");
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_refused_whatever_it_claims() {
    let app = spawn_app_edited(|yaml| {
        format!("{}{APPS}", yaml.replace("trusted_proxies: [\"127.0.0.1\"]", "trusted_proxies: [\"10.9.9.9\"]"))
    })
    .await;
    app.add_user("alice", &["admins"]);
    let (pat, _) = app.create_pat("alice", "nodered", 3600);
    let client = proxy();
    let spoof = [
        ("X-Forwarded-For", "10.9.9.9"),
        ("X-Real-IP", "10.9.9.9"),
        ("Forwarded", "for=10.9.9.9;host=nodered.home.test;proto=https"),
    ];
    let mut with_pat: Vec<(&str, &str)> = spoof.to_vec();
    let bearer = format!("Bearer {pat}");
    with_pat.push(("Authorization", &bearer));
    for extra in [&spoof[..], &with_pat[..]] {
        assert_eq!(forward(&app, &client, "nodered.home.test", "/health", extra).await, 403);
        assert_eq!(forward(&app, &client, "nodered.home.test", "/flows", extra).await, 403);
        let status = original(&app, &client, b"http://nodered.home.test/flows", extra).await.status();
        assert_eq!(status, 403);
    }
    // The portal does not care who asks, but it still only redirects to a covered address.
    let response = browser().get(app.url("/")).query(&[("rd", "https://evil.test/")]).send().await.unwrap();
    assert_eq!(location(&response), "/account/");
}

#[tokio::test]
async fn huge_and_deep_forwarded_uris_are_cheap_and_never_pass() {
    let app = app().await;
    let anonymous = proxy();
    // Deep: 1500 `..` segments after the bypass; long: a few kilobytes.
    let deep = format!("/health/{}flows", "../".repeat(1500));
    let started = std::time::Instant::now();
    assert_ne!(forward(&app, &anonymous, "nodered.home.test", &deep, &[]).await, 200);
    let long = format!("/flows/{}", "a/".repeat(2000));
    assert_ne!(forward(&app, &anonymous, "nodered.home.test", &long, &[]).await, 200);
    let padded = format!("/health{}", "%2f".repeat(1000));
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", &padded, &[]).await, 200, "still /health");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    // Beyond the header limit: refused, and the server still answers.
    let huge = format!("/health/{}", "x".repeat(200_000));
    // A client of its own: the server may drop that connection.
    let response = proxy()
        .get(app.url("/api/authz/forward-auth"))
        .header("X-Forwarded-Host", "nodered.home.test")
        .header("X-Forwarded-Uri", huge)
        .send()
        .await;
    if let Ok(response) = response {
        assert_ne!(response.status(), 200);
    }
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", "/health", &[]).await, 200, "still up");
    // A huge rd at the portal.
    let rd = format!("http://nodered.home.test/{}", "a".repeat(6000));
    let response = browser().get(app.url("/")).query(&[("rd", rd)]).send().await.unwrap();
    assert!(response.status().is_redirection() || response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn remote_headers_carry_no_line_break_and_no_forged_field() {
    let app = app().await;
    app.add_user("eve", &["admins"]);
    let (pat, _) = app.create_pat("eve", "nodered", 3600);
    let hostile_name = "Eve\r\nRemote-User: admin\r\nRemote-Groups: admins";
    let hostile_email = "eve@home.test\r\nRemote-User: admin";
    let accepted = app.admin(AdminCommand::UserUpdate {
        username: "eve".into(),
        name: Some(hostile_name.into()),
        email: Some(hostile_email.into()),
        email_verified: None,
    });
    let response =
        forward_raw(&app, &proxy(), b"nodered.home.test", b"/", &[("Authorization", &basic_auth("eve", &pat))]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get_all("remote-user").iter().count(), 1, "one Remote-User only");
    assert_eq!(header(&response, "remote-user").as_deref(), Some("eve"));
    assert_eq!(header(&response, "remote-groups").as_deref(), Some("admins"));
    for name in ["remote-name", "remote-email"] {
        let value = header(&response, name).unwrap_or_default();
        assert!(!value.contains(['\r', '\n']), "{name}: {value:?} (update accepted: {})", accepted.is_ok());
    }
    // A non-ASCII name goes out as raw UTF-8 (obs-text): no line break either.
    app.admin(AdminCommand::UserUpdate {
        username: "eve".into(),
        name: Some("Ève Ñoño".into()),
        email: None,
        email_verified: None,
    })
    .ok();
    let response =
        forward_raw(&app, &proxy(), b"nodered.home.test", b"/", &[("Authorization", &basic_auth("eve", &pat))]).await;
    assert_eq!(response.status(), 200);
    let name = response.headers().get("remote-name").unwrap().as_bytes().to_vec();
    assert!(!name.contains(&b'\r') && !name.contains(&b'\n'));
}

// ---------------------------------------------------------------------------
// Credentials at the wrong application, revocation, second factor
// ---------------------------------------------------------------------------

#[tokio::test]
async fn credentials_of_one_application_do_not_open_another() {
    let app = app().await;
    let alice = app.add_user("alice", &["admins"]);
    let anonymous = proxy();
    let (site_pat, _) = app.create_pat("alice", "aaa-site", 3600);
    let (web_pat, _) = app.create_pat("alice", "web", 3600);
    let (nodered_pat, _) = app.create_pat("alice", "nodered", 3600);
    let tokens = app.code_flow_tokens(&alice, "openid profile offline_access").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap_or("x").to_owned();
    let attempts = [
        basic_auth("alice", &site_pat),
        format!("Bearer {site_pat}"),
        basic_auth("alice", &web_pat),
        format!("Bearer {web_pat}"),
        format!("Bearer {access}"),
        format!("Bearer {id_token}"),
        format!("Bearer {refresh}"),
        basic_auth("alice", &access),
        basic_auth("alice", &alice.password),
        basic_auth("", &nodered_pat[..20]),
        format!("Digest {nodered_pat}"),
        format!("bearer  {}", nodered_pat.to_uppercase()),
    ];
    // Each from an address of its own, so that no lock hides a pass.
    for (i, authorization) in attempts.iter().enumerate() {
        let from = format!("198.51.100.{}", i + 1);
        let extra = [("Authorization", authorization.as_str()), ("X-Forwarded-For", from.as_str())];
        let status = forward(&app, &anonymous, "nodered.home.test", "/flows", &extra).await;
        assert_eq!(status, 401, "{authorization}");
    }
    // nodered's own PAT does not open the site's strict /admin (another application).
    let bearer = format!("Bearer {nodered_pat}");
    let extra = [("Authorization", bearer.as_str()), ("X-Forwarded-For", "198.51.100.100")];
    assert_eq!(forward(&app, &anonymous, "site.home.test", "/admin", &extra).await, 401);
    // ...and it does open nodered (sanity).
    let extra = [("Authorization", bearer.as_str()), ("X-Forwarded-For", "198.51.100.101")];
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", "/flows", &extra).await, 200);
}

#[tokio::test]
async fn losing_the_group_or_being_disabled_is_seen_at_the_next_request() {
    let app = app().await;
    let alice = app.add_user("alice", &["admins"]);
    let (pat, _) = app.create_pat("alice", "nodered", 3600);
    let a = signed_in(&app, &alice).await;
    let bearer = format!("Bearer {pat}");
    let anonymous = proxy();
    assert_eq!(forward(&app, &a, "nodered.home.test", "/flows", &[]).await, 200);
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", "/flows", &[("Authorization", &bearer)]).await, 200);

    app.admin(AdminCommand::UserGroups { username: "alice".into(), groups: vec!["viewers".into()] }).unwrap();
    assert_eq!(forward(&app, &a, "nodered.home.test", "/flows", &[]).await, 403);
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", "/flows", &[("Authorization", &bearer)]).await, 401);

    app.admin(AdminCommand::UserGroups { username: "alice".into(), groups: vec!["admins".into()] }).unwrap();
    assert_eq!(forward(&app, &a, "nodered.home.test", "/flows", &[]).await, 200, "back");
    app.set_disabled(&alice, true);
    assert_eq!(forward(&app, &a, "nodered.home.test", "/flows", &[HTML]).await, 302);
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", "/flows", &[("Authorization", &bearer)]).await, 401);
    // Even the site open to anyone signed in.
    assert_eq!(forward(&app, &a, "site.home.test", "/", &[]).await, 401);
}

#[tokio::test]
async fn a_password_only_session_never_passes_an_application_that_needs_a_second_factor() {
    let app = app().await;
    let alice = app.add_user("alice", &["admins"]);
    let a = signed_in(&app, &alice).await;
    assert_eq!(forward(&app, &a, "vault.home.test", "/", &[HTML]).await, 302);
    assert_eq!(original(&app, &a, b"https://vault.home.test/", &[]).await.status(), 401);
    // Through the portal while signed in: a step-up, never straight back.
    let response = a.get(app.url("/")).query(&[("rd", "https://vault.home.test/secret")]).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "{}", location(&response));
    // A portal sign-in for an application without the factor does not count for it.
    let other = browser();
    let response = other.get(app.url("/")).query(&[("rd", "https://site.home.test/")]).send().await.unwrap();
    sign_in_with(&other, &app.address, &location(&response), &alice.username, &alice.password).await;
    assert_eq!(forward(&app, &other, "site.home.test", "/", &[]).await, 200);
    assert_eq!(forward(&app, &other, "vault.home.test", "/", &[]).await, 401);
    // A PAT made by the password-only session: refused at creation (or at use).
    let html = a.get(app.url("/account/tokens")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("app", "vault"), ("expires_days", "30")];
    let html = a.post(app.url("/account/tokens")).form(&form).send().await.unwrap().text().await.unwrap();
    if let Some(start) = html.find("ferrid_pat_") {
        let pat = &html[start..start + "ferrid_pat_".len() + 43];
        let status =
            forward(&app, &proxy(), "vault.home.test", "/", &[("Authorization", &format!("Bearer {pat}"))]).await;
        assert_eq!(status, 401, "a password-only session's PAT");
    }
}

/// A PAT made by a password-only session for an application that did not
/// need a factor is exchanged (public proxy application: client id +
/// username + PAT) for an access token; then the application starts
/// requiring a factor. The PAT stops at once; the access token should too.
#[tokio::test]
async fn an_access_token_from_a_password_only_pat_stops_when_the_application_starts_requiring_a_factor() {
    let app = app().await;
    let alice = app.add_user("alice", &["admins"]);
    let a = signed_in(&app, &alice).await;
    let html = a.get(app.url("/account/tokens")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("app", "nodered"), ("expires_days", "30")];
    let html = a.post(app.url("/account/tokens")).form(&form).send().await.unwrap().text().await.unwrap();
    let start = html.find("ferrid_pat_").expect("a token for nodered");
    let pat = html[start..start + "ferrid_pat_".len() + 43].to_owned();
    let client_id =
        app.admin(AdminCommand::AppShow { slug: "nodered".into() }).unwrap()["client_id"].as_str().unwrap().to_owned();
    let form =
        [("grant_type", "client_credentials"), ("client_id", &client_id), ("username", "alice"), ("password", &pat)];
    let response = app.post_token(&form, None).await;
    assert_eq!(response.status(), 200, "the public proxy app exchanges a PAT");
    let access = response.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let anonymous = proxy();
    let as_bearer = format!("Bearer {access}");
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", "/", &[("Authorization", &as_bearer)]).await, 200);

    app.admin(AdminCommand::AppRequireMfa { slug: "nodered".into(), required: true }).unwrap();
    let pat_bearer = format!("Bearer {pat}");
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", "/", &[("Authorization", &pat_bearer)]).await, 401);
    assert_eq!(forward(&app, &anonymous, "nodered.home.test", "/", &[("Authorization", &as_bearer)]).await, 401);
}

// ---------------------------------------------------------------------------
// The portal and the parked sign-in
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rd_spellings_never_redirect_off_the_protected_hosts() {
    let app = app().await;
    let alice = app.add_user("alice", &["admins"]);
    let a = signed_in(&app, &alice).await;
    let protected = ["nodered.home.test", "site.home.test", "shared.home.test", "vault.home.test"];
    let hostile = [
        "http://nodered.home.test\\@evil.test/",
        "http://nodered.home.test\\.evil.test/",
        "https:\\\\evil.test\\nodered.home.test",
        "http://node\tred.home.test/",
        "http://nodered.home.test\t@evil.test/",
        "http://nodered.home.test%2f@evil.test/",
        "http://nodered.home.test%40evil.test/",
        "http://nodered.home.test:80@evil.test/",
        "http://evil.test\\@nodered.home.test/",
        "http://evil.test%5c@nodered.home.test/",
        "http://nodered.home.test/..//evil.test/",
        "http://nodered.home.test/%2f%2fevil.test",
        "http://nodered.home.test/\\evil.test",
        "http://nodered.home.test/\r\nLocation: http://evil.test/",
        "http://nodered.home.test/%0d%0aSet-Cookie:x=1",
        "HTTP://NODERED.HOME.TEST/",
        "http://nodered.home.test./",
        "http://nodered.home.test:443/",
        "http://xn--nodered-.home.test/",
        "http://nodered.home.test#@evil.test",
        "http://nodered.home.test?@evil.test",
        "http:/\\/evil.test/",
        "http:\\\\nodered.home.test\\..\\@evil.test",
        "//nodered.home.test/",
        "/\\/nodered.home.test",
    ];
    for rd in hostile {
        let response = a.get(app.url("/")).query(&[("rd", rd)]).send().await.unwrap();
        let to = location(&response);
        if to == "/account/" {
            continue;
        }
        assert!(!to.contains(['\r', '\n', '\\', '\t']), "rd={rd:?} → {to:?}");
        let parsed = url::Url::parse(&to).unwrap_or_else(|_| panic!("rd={rd:?} → {to:?}"));
        assert!(matches!(parsed.scheme(), "http" | "https"), "rd={rd:?} → {to}");
        assert!(parsed.username().is_empty() && parsed.password().is_none(), "rd={rd:?} → {to}");
        assert!(protected.contains(&parsed.host_str().unwrap()), "rd={rd:?} → {to}");
    }
}

#[tokio::test]
async fn a_sign_in_parked_by_the_portal_cannot_be_used_by_another_browser() {
    let app = app().await;
    let alice = app.add_user("alice", &["admins"]);
    let mallory = app.add_user("mallory", &["viewers"]);
    // Mallory parks a sign-in and sends its link to Alice.
    let m = browser();
    let response = m.get(app.url("/")).query(&[("rd", "http://nodered.home.test/flows")]).send().await.unwrap();
    let login = location(&response);
    assert!(login.starts_with("/login?tx="));
    let victim = browser();
    victim.get(app.url("/account/")).send().await.unwrap(); // a CSRF cookie of its own
    let page = victim.get(app.url(&login)).send().await.unwrap();
    assert_ne!(page.status(), 200, "the form is not shown to another browser");
    // Nor can Mallory's form be posted from the victim's browser.
    let html = m.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", alice.username.clone()),
        ("password", alice.password.clone()),
    ];
    let response = victim.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_ne!(response.status(), 303, "no session started from another browser's sign-in");

    // A step-up parked for Alice's password-only session (vault) is no use
    // to Mallory's browser, even with Alice's password.
    let a = signed_in(&app, &alice).await;
    let response = a.get(app.url("/")).query(&[("rd", "https://vault.home.test/")]).send().await.unwrap();
    let step_up = location(&response);
    let mb = signed_in(&app, &mallory).await;
    let page = mb.get(app.url(&step_up)).send().await.unwrap();
    assert_ne!(page.status(), 200);
    assert_eq!(forward(&app, &mb, "vault.home.test", "/", &[]).await, 401);
}

// ---------------------------------------------------------------------------
// PAT guessing and the throttle
// ---------------------------------------------------------------------------

#[tokio::test]
async fn guessing_with_a_new_username_each_time_locks_the_address() {
    let app = app().await;
    app.add_user("alice", &["admins"]);
    let (pat, _) = app.create_pat("alice", "nodered", 3600);
    let client = proxy();
    let guess = "ferrid_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let from = [("X-Forwarded-For", "203.0.113.7")];
    for i in 0..50 {
        let authorization = basic_auth(&format!("user{i}"), guess);
        let status =
            forward(&app, &client, "nodered.home.test", "/", &[("Authorization", &authorization), from[0]]).await;
        assert_eq!(status, 401);
    }
    // The address is locked: a right PAT from it is refused, Basic or Bearer.
    let right = [("Authorization", basic_auth("alice", &pat)), ("X-Forwarded-For", "203.0.113.7".to_owned())];
    let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(forward(&app, &client, "nodered.home.test", "/", &right).await, 401, "address locked");
    let bearer = format!("Bearer {pat}");
    let status = forward(&app, &client, "nodered.home.test", "/", &[("Authorization", &bearer), from[0]]).await;
    assert_eq!(status, 401, "address locked for Bearer too");
    // Elsewhere, Alice's PAT works.
    let status = forward(
        &app,
        &client,
        "nodered.home.test",
        "/",
        &[("Authorization", &bearer), ("X-Forwarded-For", "198.51.100.1")],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_lock_on_an_account_is_not_escaped_by_changing_the_names_case() {
    let app = app().await;
    app.add_user("alice", &["admins"]);
    let (pat, _) = app.create_pat("alice", "nodered", 3600);
    let client = proxy();
    let guess = "ferrid_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for _ in 0..3 {
        let status =
            forward(&app, &client, "nodered.home.test", "/", &[("Authorization", &basic_auth("alice", guess))]).await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        forward(&app, &client, "nodered.home.test", "/", &[("Authorization", &basic_auth("alice", &pat))]).await,
        401
    );
    for name in ["ALICE", "Alice", " alice"] {
        let status =
            forward(&app, &client, "nodered.home.test", "/", &[("Authorization", &basic_auth(name, &pat))]).await;
        assert_eq!(status, 401, "{name:?} is alice, and alice is locked from here");
    }
}

// ---------------------------------------------------------------------------
// What ferrid ships for Node-RED without a proxy
// ---------------------------------------------------------------------------

fn nodered_middleware(app: &TestApp) -> String {
    let shown = app.admin(AdminCommand::AppShow { slug: "nodered-http".into() }).unwrap();
    ferrid::nodered::http_middleware(&shown).unwrap()
}

/// The middleware sends the client's own `Host` as `X-Forwarded-Host`.
/// Node-RED answers any Host, so a client of Node-RED:1880 names another
/// proxy application's host (say `site.home.test`, open to anyone signed
/// in) and is judged by that application's rule instead of nodered-http's.
#[tokio::test]
async fn the_nodered_middleware_does_not_let_the_client_choose_the_host() {
    let app = app().await;
    let snippet = nodered_middleware(&app);
    // The effect at ferrid: bob (not an admin) is refused at Node-RED's
    // host and port, and passes once his Host header names site.home.test.
    let bob = app.add_user("bob", &["viewers"]);
    let b = signed_in(&app, &bob).await;
    assert_eq!(forward(&app, &b, "nodered.home.test:1880", "/flows", &[]).await, 403);
    assert_eq!(forward(&app, &b, "site.home.test", "/flows", &[]).await, 200);
    assert!(
        !snippet.contains("\"X-Forwarded-Host\": req.headers.host"),
        "the Host a Node-RED client sends must not choose the application:\n{snippet}"
    );
}

/// Without `X-Forwarded-For`, every client of Node-RED is Node-RED's own
/// address to ferrid: three wrong Bearer tokens from anyone lock every
/// Bearer user out (`pat:<address>`), fifty lock everyone.
#[tokio::test]
async fn the_nodered_middleware_tells_ferrid_the_clients_address() {
    let app = app().await;
    let snippet = nodered_middleware(&app);
    // The effect, as the middleware asks (no X-Forwarded-For):
    app.add_user("alice", &["admins"]);
    let (pat, _) = app.create_pat("alice", "nodered", 3600);
    let client = proxy();
    for _ in 0..3 {
        let wrong = ("Authorization", "Bearer ferrid_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(forward(&app, &client, "nodered.home.test", "/", &[wrong]).await, 401);
    }
    let alices = format!("Bearer {pat}");
    let locked_out = forward(&app, &client, "nodered.home.test", "/", &[("Authorization", &alices)]).await == 401;
    assert!(
        snippet.contains("X-Forwarded-For") || !locked_out,
        "mallory's wrong tokens locked alice out, and the middleware cannot tell them apart"
    );
}
