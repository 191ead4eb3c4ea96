//! Signing in through a source: another ferrid as a generic OpenID
//! provider (its own server, in this process), and GitHub as a local
//! server that answers GitHub's documented endpoints (`fake_github`:
//! GitHub cannot be reached from here). The browser talks to the ferrid
//! under test as `localhost` and to the upstream ferrid as `127.0.0.1`,
//! so their cookies stay apart as two sites' do.

use crate::fake_github::{self, FakeGithub, GithubUser};
use crate::helpers::*;
use ferrid::admin::AdminCommand;
use ferrid::config::{SourceDecl, SourceKind};
use ferrid::domain::Slug;

/// The ferrid under test, as the browser reaches it.
fn local(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.address.replace("127.0.0.1", "localhost"))
}

pub fn github_decl(fake: &FakeGithub, slug: &str) -> SourceDecl {
    SourceDecl {
        slug: Slug::parse(slug).unwrap(),
        name: "GitHub".into(),
        kind: SourceKind::Github { web_url: fake.url.clone(), api_url: fake.url.clone() },
        client_id: fake_github::CLIENT_ID.into(),
        client_secret: fake_github::CLIENT_SECRET.into(),
        link_by_email: false,
        create_users: false,
        default_groups: vec![],
        group_map: vec![],
        trust_upstream_mfa: false,
    }
}

pub fn octocat() -> GithubUser {
    GithubUser {
        id: 583231,
        login: "octocat".into(),
        name: "The Octocat".into(),
        email: "octocat@example.org".into(),
        verified: true,
        orgs: vec!["acme".into()],
        teams: vec![("acme".into(), "admins".into())],
    }
}

/// The ferrid under test, at `localhost`, with `sources` (given their
/// slugs: the test's extra applications may name them) and extra YAML.
async fn local_app(sources: Vec<SourceDecl>, extra_apps: &str) -> TestApp {
    spawn_app_tuned(
        |yaml| {
            format!("{yaml}{extra_apps}")
                .replace("public_url: http://127.0.0.1", "public_url: http://localhost")
                .replace(
                    "rate_limits: { userinfo: 20 }",
                    "rate_limits: { userinfo: 20, sign_in: 100000, authorize: 100000, pages: 100000 }",
                )
        },
        move |config| config.sources = sources,
    )
    .await
}

/// Another ferrid as the upstream provider, with an application `down`
/// for the ferrid under test (its redirect URI is `callback`) and a user
/// `uma`; returns it, uma, and the source for it.
async fn upstream_ferrid(slug: &str) -> (TestApp, TestUser, impl FnOnce(&str) -> SourceDecl) {
    let upstream = spawn_app().await;
    let uma = upstream.add_user("uma", &[]);
    let issuer = upstream.issuer("down");
    let admin_app = upstream.state.clone();
    let slug = slug.to_owned();
    let make = move |local_address: &str| {
        let callback = format!("{}/source/oauth/callback/{slug}/", local_address.replace("127.0.0.1", "localhost"));
        let added = admin_app
            .administer(
                AdminCommand::AppAdd {
                    slug: "down".into(),
                    name: None,
                    client_id: None,
                    public: false,
                    redirect_uris: vec![callback],
                    signing_alg: None,
                    machine: false,
                },
                "command line",
            )
            .unwrap()
            .to_json();
        SourceDecl {
            slug: Slug::parse(&slug).unwrap(),
            name: "Corp".into(),
            kind: SourceKind::Oidc {
                issuer,
                scopes: vec!["openid".into(), "profile".into(), "email".into()],
                username_claim: "preferred_username".into(),
                groups_claim: None,
            },
            client_id: "down".into(),
            client_secret: added["client_secret"].as_str().unwrap().to_owned(),
            link_by_email: true,
            create_users: false,
            default_groups: vec![],
            group_map: vec![],
            trust_upstream_mfa: false,
        }
    };
    (upstream, uma, make)
}

fn set_email(app: &TestApp, username: &str, email: &str, verified: bool) {
    app.admin(AdminCommand::UserUpdate {
        username: username.into(),
        name: None,
        email: Some(email.into()),
        email_verified: Some(verified),
    })
    .unwrap();
}

/// The sign-in page of a new authorization request to `web`, in `browser`.
async fn sign_in_page(app: &TestApp, browser: &reqwest::Client, client: (&str, &str), pkce: &Pkce) -> String {
    let params = [
        ("response_type", "code"),
        ("client_id", client.0),
        ("redirect_uri", client.1),
        ("scope", "openid email"),
        ("state", "st"),
        ("nonce", "n"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let response = browser.get(local(app, "/application/o/authorize/")).query(&params).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let page = browser.get(local(app, &location(&response))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

/// Presses the page's button for `source`: where the browser is sent.
async fn press(app: &TestApp, browser: &reqwest::Client, html: &str, source: &str) -> reqwest::Response {
    let form = [
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        ("source", source.to_owned()),
    ];
    browser.post(local(app, "/login/source")).form(&form).send().await.unwrap()
}

/// At the fake GitHub: its answer (a redirect to the callback).
async fn at_github(browser: &reqwest::Client, authorize: &str) -> String {
    let response = browser.get(authorize).send().await.unwrap();
    assert_eq!(response.status(), 302, "GitHub approves");
    location(&response)
}

/// At the upstream ferrid: signs in as `user`; its answer to the callback.
async fn at_upstream(upstream: &TestApp, browser: &reqwest::Client, authorize: &str, user: &TestUser) -> String {
    let response = browser.get(authorize).send().await.unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let response = sign_in_with(browser, &upstream.address, &location(&response), &user.username, &user.password).await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    location(&response)
}

/// A whole sign-in to `web` through GitHub: the callback's response.
async fn through_github(app: &TestApp, browser: &reqwest::Client, pkce: &Pkce) -> reqwest::Response {
    let html = sign_in_page(app, browser, ("web", WEB_CB), pkce).await;
    assert!(html.contains("Sign in with GitHub"), "the page offers GitHub");
    let response = press(app, browser, &html, "github").await;
    assert_eq!(response.status(), 303);
    let back = at_github(browser, &location(&response)).await;
    browser.get(back).send().await.unwrap()
}

/// The id_token's claims for the code in `response`'s redirect to WEB_CB.
async fn id_token_claims(app: &TestApp, response: &reqwest::Response, pkce: &Pkce) -> serde_json::Value {
    let next = location(response);
    assert!(next.starts_with(WEB_CB), "back at the application: {next}");
    let code = query_of(&next)["code"].clone();
    let tokens: serde_json::Value = app.redeem_web_code(&code, pkce).await.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().expect("an id_token");
    // Its signature is other tests' business; the claims are this one's.
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&ferrid::crypto::secrets::b64url_decode(payload).unwrap()).unwrap();
    assert_eq!(claims["iss"], local(app, "/application/o/web/"));
    claims
}

async fn body(response: reqwest::Response) -> (u16, String) {
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_verified_address_links_an_account_at_another_ferrid_once_and_for_all() {
    let (upstream, uma, source) = upstream_ferrid("corp").await;
    set_email(&upstream, "uma", "alice@example.org", true);
    let local_app = {
        // The source needs the local address for its redirect URI.
        let mut make = Some(source);
        spawn_app_tuned(
            |yaml| yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost"),
            move |config| {
                let decl = (make.take().unwrap())(config.public_url.as_str());
                config.sources = vec![decl];
            },
        )
        .await
    };
    let alice = local_app.add_user("alice", &[]);
    set_email(&local_app, "alice", "alice@example.org", true);

    let browser = browser();
    let pkce = Pkce::new();
    let html = sign_in_page(&local_app, &browser, ("web", WEB_CB), &pkce).await;
    assert!(html.contains("Sign in with Corp"));
    let response = press(&local_app, &browser, &html, "corp").await;
    let authorize = location(&response);
    assert!(authorize.starts_with(&upstream.url("/application/o/authorize/")), "{authorize}");
    let sent = query_of(&authorize);
    assert_eq!(sent["code_challenge_method"], "S256");
    assert!(!sent["nonce"].is_empty() && !sent["state"].is_empty());
    let back = at_upstream(&upstream, &browser, &authorize, &uma).await;
    assert_eq!(query_of(&back)["iss"], upstream.issuer("down"), "RFC 9207: the upstream names itself");
    let response = browser.get(&back).send().await.unwrap();
    let claims = id_token_claims(&local_app, &response, &pkce).await;
    assert_eq!(claims["sub"], alice.sub, "uma's upstream account signs in as alice");
    assert_eq!(claims["amr"], serde_json::json!(["fed"]));

    let events =
        local_app.admin(AdminCommand::AuditList { since: 0, user: None, app: None, kind: None }).unwrap().to_string();
    assert!(events.contains("linked by verified address"), "{events}");
    assert!(events.contains("fed via corp"), "the sign-in names the source: {events}");

    // Linked now: the address no longer matters.
    set_email(&upstream, "uma", "uma@elsewhere.example", false);
    let again = crate::helpers::browser();
    let pkce = Pkce::new();
    let html = sign_in_page(&local_app, &again, ("web", WEB_CB), &pkce).await;
    let authorize = location(&press(&local_app, &again, &html, "corp").await);
    let back = at_upstream(&upstream, &again, &authorize, &uma).await;
    let response = again.get(&back).send().await.unwrap();
    assert_eq!(id_token_claims(&local_app, &response, &pkce).await["sub"], alice.sub);
}
