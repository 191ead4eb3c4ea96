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
                    switches: Default::default(),
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

/// The ferrid under test with GitHub as its source, changed by `edit`.
async fn with_github(edit: impl FnOnce(&mut SourceDecl), extra_apps: &str) -> (TestApp, FakeGithub) {
    let github = FakeGithub::start(octocat()).await;
    let mut decl = github_decl(&github, "github");
    edit(&mut decl);
    (local_app(vec![decl], extra_apps).await, github)
}

fn user(app: &TestApp, name: &str) -> Option<ferrid::store::User> {
    app.state.store.user_by_name(&ferrid::domain::Username::parse(name).unwrap()).unwrap()
}

fn group_names(user: &ferrid::store::User) -> Vec<&str> {
    user.groups.iter().map(|g| g.as_str()).collect()
}

#[tokio::test]
async fn github_makes_an_account_in_the_mapped_groups_and_later_sign_ins_follow_the_teams() {
    let (app, github) = with_github(
        |source| {
            source.create_users = true;
            source.default_groups = vec![ferrid::domain::GroupName::parse("viewers").unwrap()];
            source.group_map = vec![("acme/admins".into(), ferrid::domain::GroupName::parse("admins").unwrap())];
        },
        "",
    )
    .await;
    let users_before = app.state.store.users().unwrap().len();
    let browser = browser();
    let pkce = Pkce::new();
    let response = through_github(&app, &browser, &pkce).await;
    let claims = id_token_claims(&app, &response, &pkce).await;
    let octocat = user(&app, "octocat").expect("an account was made");
    assert_eq!(claims["sub"], octocat.sub.to_string());
    assert_eq!(group_names(&octocat), ["viewers", "admins"]);
    assert_eq!(octocat.email.as_deref(), Some("octocat@example.org"), "the primary address, verified at GitHub");
    assert!(octocat.email_verified);
    assert!(!octocat.has_password(), "no password: GitHub is the way in");
    assert_eq!(github.scopes(), ["read:user user:email read:org"], "memberships asked for: groups are mapped");

    // Out of the team: the mapped group goes, the default one stays.
    github.sign_in_as(GithubUser { teams: vec![], ..crate::sources::octocat() });
    let browser = crate::helpers::browser();
    let pkce = Pkce::new();
    let response = through_github(&app, &browser, &pkce).await;
    id_token_claims(&app, &response, &pkce).await;
    assert_eq!(group_names(&user(&app, "octocat").unwrap()), ["viewers"]);
    assert_eq!(app.state.store.users().unwrap().len(), users_before + 1, "the same account, not a second");

    // A name taken by someone else: the new account is named after the source too.
    github.sign_in_as(GithubUser { id: 9, login: "octocat".into(), ..crate::sources::octocat() });
    let browser = crate::helpers::browser();
    let pkce = Pkce::new();
    let response = through_github(&app, &browser, &pkce).await;
    id_token_claims(&app, &response, &pkce).await;
    assert!(user(&app, "octocat-github").is_some());
    assert_eq!(user(&app, "octocat-github").unwrap().email, None, "the address is the first account's");
}

#[tokio::test]
async fn without_linking_or_making_accounts_a_stranger_is_refused_and_nothing_is_made() {
    let (app, _github) = with_github(|_| {}, "").await;
    let before = app.state.store.fingerprint().unwrap();
    let browser = browser();
    let (status, page) = body(through_github(&app, &browser, &Pkce::new()).await).await;
    assert_eq!(status, 403);
    assert!(page.contains("No ferrid account is linked to this GitHub account"), "{page}");
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "no user, no link");
}

#[tokio::test]
async fn an_address_github_has_not_verified_links_nothing() {
    let (app, github) = with_github(|source| source.link_by_email = true, "").await;
    let alice = app.add_user("alice", &[]);
    set_email(&app, "alice", "octocat@example.org", true);
    github.sign_in_as(GithubUser { verified: false, ..octocat() });
    let (status, page) = body(through_github(&app, &browser(), &Pkce::new()).await).await;
    assert_eq!(status, 403);
    assert!(page.contains("does not say its e-mail address is verified"), "{page}");
    assert!(user(&app, "alice").unwrap().identities.is_empty());

    // Verified at GitHub, but not on ferrid's side: not matched either.
    github.sign_in_as(octocat());
    set_email(&app, "alice", "octocat@example.org", false);
    let (status, _) = body(through_github(&app, &browser(), &Pkce::new()).await).await;
    assert_eq!(status, 403);
    // Both verified: linked.
    set_email(&app, "alice", "octocat@example.org", true);
    let pkce = Pkce::new();
    let response = through_github(&app, &browser(), &pkce).await;
    assert_eq!(id_token_claims(&app, &response, &pkce).await["sub"], alice.sub);
}

#[tokio::test]
async fn a_forged_state_a_replayed_answer_and_an_answer_at_another_sources_address_are_refused() {
    let github = FakeGithub::start(octocat()).await;
    let (mut first, mut second) = (github_decl(&github, "github"), github_decl(&github, "gh2"));
    first.create_users = true;
    second.create_users = true;
    let app = local_app(vec![first, second], "").await;

    // A state nobody parked.
    let users_before = app.state.store.users().unwrap().len();
    let browser = browser();
    let before = app.state.store.fingerprint_with_parked().unwrap();
    let forged =
        browser.get(local(&app, "/source/oauth/callback/github/?state=forged&code=code1")).send().await.unwrap();
    let (status, page) = body(forged).await;
    assert_eq!(status, 400);
    assert!(page.contains("Nothing was changed"), "{page}");
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before);

    // GitHub's answer for the `github` source, delivered to `gh2`'s address (a mix-up).
    let pkce = Pkce::new();
    let html = sign_in_page(&app, &browser, ("web", WEB_CB), &pkce).await;
    let back = at_github(&browser, &location(&press(&app, &browser, &html, "github").await)).await;
    assert!(back.contains("/source/oauth/callback/github/"), "{back}");
    let before = app.state.store.fingerprint_with_parked().unwrap();
    let mixed = browser.get(back.replace("/callback/github/", "/callback/gh2/")).send().await.unwrap();
    assert_eq!(mixed.status(), 400);
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before, "the sign-in waits as it was");
    assert!(!github.calls().contains(&"access_token".to_owned()), "no code was redeemed");

    // In another browser (a stolen answer): refused, as every step is.
    let stolen = crate::helpers::browser().get(&back).send().await.unwrap();
    assert_eq!(stolen.status(), 403);

    // The answer at its own address goes on, once.
    let response = browser.get(&back).send().await.unwrap();
    id_token_claims(&app, &response, &pkce).await;
    let replayed = browser.get(&back).send().await.unwrap();
    let (status, page) = body(replayed).await;
    assert_eq!(status, 400, "{page}");
    assert_eq!(app.state.store.users().unwrap().len(), users_before + 1);
}

#[tokio::test]
async fn a_provider_that_is_down_gets_a_page_that_says_so_and_changes_nothing() {
    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = SourceDecl {
        slug: Slug::parse("corp").unwrap(),
        name: "Corp".into(),
        kind: SourceKind::Oidc {
            issuer: format!("http://127.0.0.1:{closed}/"),
            scopes: vec!["openid".into()],
            username_claim: "preferred_username".into(),
            groups_claim: None,
        },
        client_id: "ferrid".into(),
        client_secret: "secret".into(),
        link_by_email: false,
        create_users: false,
        default_groups: vec![],
        group_map: vec![],
        trust_upstream_mfa: false,
    };
    let app = local_app(vec![down], "").await;
    let browser = browser();
    let html = sign_in_page(&app, &browser, ("web", WEB_CB), &Pkce::new()).await;
    let before = app.state.store.fingerprint_with_parked().unwrap();
    let (status, page) = body(press(&app, &browser, &html, "corp").await).await;
    assert_eq!(status, 502);
    assert!(page.contains("Corp cannot be reached just now"), "{page}");
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before);
    // The sign-in page still works: the password is another way in.
    let alice = app.add_user("alice", &[]);
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", alice.username.clone()),
        ("password", alice.password.clone()),
    ];
    let response = browser.post(local(&app, "/login")).form(&form).send().await.unwrap();
    assert!(location(&response).starts_with(WEB_CB));
}

#[tokio::test]
async fn an_application_that_takes_no_source_neither_offers_nor_accepts_one() {
    let closed_cb = "https://closed.example/cb";
    let extra = format!(
        "  - slug: closed\n    client_secret_sha256: {}\n    redirect_uris: [\"{closed_cb}\"]\n    sources: []\n",
        sha256_hex(WEB_SECRET)
    );
    let (app, github) = with_github(|source| source.create_users = true, &extra).await;
    let browser = browser();
    let html = sign_in_page(&app, &browser, ("closed", closed_cb), &Pkce::new()).await;
    assert!(!html.contains("Sign in with GitHub"), "no button");
    let before = app.state.store.fingerprint_with_parked().unwrap();
    let (status, page) = body(press(&app, &browser, &html, "github").await).await;
    assert_eq!(status, 403, "{page}");
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before);
    assert!(github.calls().is_empty());

    // A session begun through GitHub (at `web`) does not carry over to it.
    let pkce = Pkce::new();
    let response = through_github(&app, &browser, &pkce).await;
    id_token_claims(&app, &response, &pkce).await;
    let html = sign_in_page(&app, &browser, ("closed", closed_cb), &Pkce::new()).await;
    assert!(html.contains("name=\"password\""), "signs in anew, with ferrid's own factors");
}

#[tokio::test]
async fn a_source_sign_in_still_asks_for_the_second_factor_a_password_would_need() {
    let secure_cb = "https://secure.example/cb";
    let extra = format!(
        "  - slug: secure\n    client_secret_sha256: {}\n    redirect_uris: [\"{secure_cb}\"]\n    require_mfa: true\n",
        sha256_hex(WEB_SECRET)
    );
    let (upstream, uma, source) = upstream_ferrid("corp").await;
    set_email(&upstream, "uma", "alice@example.org", true);
    let mut make = Some(source);
    let app = spawn_app_tuned(
        |yaml| format!("{yaml}{extra}").replace("public_url: http://127.0.0.1", "public_url: http://localhost"),
        move |config| config.sources = vec![(make.take().unwrap())(config.public_url.as_str())],
    )
    .await;
    app.add_user("alice", &[]);
    set_email(&app, "alice", "alice@example.org", true);
    let browser = browser();
    let html = sign_in_page(&app, &browser, ("secure", secure_cb), &Pkce::new()).await;
    let authorize = location(&press(&app, &browser, &html, "corp").await);
    let back = at_upstream(&upstream, &browser, &authorize, &uma).await;
    let response = browser.get(&back).send().await.unwrap();
    assert!(location(&response).starts_with("/login/enroll?tx="), "{}", location(&response));
}

#[tokio::test]
async fn a_disabled_account_is_refused_through_a_source_as_with_its_password() {
    let (app, _github) = with_github(|source| source.create_users = true, "").await;
    let pkce = Pkce::new();
    let response = through_github(&app, &browser(), &pkce).await;
    id_token_claims(&app, &response, &pkce).await;
    app.admin(AdminCommand::UserDisable { username: "octocat".into(), disabled: true }).unwrap();
    let (status, page) = body(through_github(&app, &browser(), &Pkce::new()).await).await;
    assert_eq!(status, 403);
    assert!(page.contains("disabled"), "{page}");
}

/// `user` signed in to their account page at `app`, in a browser of its
/// own; returns it and the page's CSRF token.
async fn on_account_page(app: &TestApp, user: &TestUser) -> (reqwest::Client, String) {
    let browser = crate::helpers::browser();
    let response = browser.get(local(app, "/account/")).send().await.unwrap();
    let base = local(app, "");
    let response = sign_in_with(&browser, &base, &location(&response), &user.username, &user.password).await;
    assert_eq!(location(&response), "/account/");
    let html = browser.get(local(app, "/account/")).send().await.unwrap().text().await.unwrap();
    (browser, hidden_field(&html, "csrf_token").unwrap())
}

/// Presses "Link" for `source` on the account page: where the browser goes.
async fn link(app: &TestApp, browser: &reqwest::Client, csrf: &str, source: &str) -> reqwest::Response {
    let form = [("csrf_token", csrf), ("source", source)];
    browser.post(local(app, "/account/sources/link")).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn a_user_links_github_on_the_account_page_and_then_signs_in_with_it() {
    let (app, github) = with_github(|_| {}, "").await;
    let alice = app.add_user("alice", &[]);
    let (browser, csrf) = on_account_page(&app, &alice).await;
    let html = browser.get(local(&app, "/account/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Link GitHub"), "the account page offers it");
    let response = link(&app, &browser, &csrf, "github").await;
    assert_eq!(response.status(), 303);
    let back = at_github(&browser, &location(&response)).await;

    // The answer in another browser links nothing.
    let before = app.state.store.fingerprint_with_parked().unwrap();
    assert_eq!(crate::helpers::browser().get(&back).send().await.unwrap().status(), 403);
    assert_eq!(app.state.store.fingerprint_with_parked().unwrap(), before);

    let response = browser.get(&back).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=source-linked");
    let linked = user(&app, "alice").unwrap().identities;
    assert_eq!((linked[0].source.as_str(), linked[0].login.as_str()), ("github", "octocat"));
    let html = browser.get(local(&app, "/account/?done=source-linked")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Linked as octocat") && html.contains("Unlink"), "the page shows it");
    let events =
        app.admin(AdminCommand::AuditList { since: 0, user: None, app: None, kind: None }).unwrap().to_string();
    assert!(events.contains("github account octocat linked"), "{events}");

    // From now on GitHub signs in as alice.
    let pkce = Pkce::new();
    let response = through_github(&app, &crate::helpers::browser(), &pkce).await;
    assert_eq!(id_token_claims(&app, &response, &pkce).await["sub"], alice.sub);

    // The same GitHub account cannot be linked to bob too.
    let bob = app.add_user("bob", &[]);
    let (browser, csrf) = on_account_page(&app, &bob).await;
    let back = at_github(&browser, &location(&link(&app, &browser, &csrf, "github").await)).await;
    let (status, page) = body(browser.get(&back).send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(page.contains("linked to another ferrid account"), "{page}");
    assert!(user(&app, "bob").unwrap().identities.is_empty());
    drop(github);
}

#[tokio::test]
async fn linking_and_unlinking_ask_for_a_fresh_proof_and_the_last_way_in_stays() {
    let (app, _github) = with_github(|source| source.create_users = true, "").await;
    let alice = app.add_user("alice", &[]);
    let (browser, csrf) = on_account_page(&app, &alice).await;
    // A session older than the re-authentication window (a stolen one).
    app.clock.advance(301);
    let before = app.state.store.fingerprint_with_parked().unwrap();
    let response = link(&app, &browser, &csrf, "github").await;
    assert!(location(&response).starts_with("/login?tx="), "confirm it is you first: {}", location(&response));
    let response = browser
        .post(local(&app, "/account/sources/link"))
        .form(&[("csrf_token", csrf.as_str()), ("source", "github"), ("current_password", "wrong-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "a wrong password links nothing");
    // With her password typed in (she has no second factor), it goes.
    let form = [("csrf_token", csrf.as_str()), ("source", "github"), ("current_password", alice.password.as_str())];
    let response = browser.post(local(&app, "/account/sources/link")).form(&form).send().await.unwrap();
    let back = at_github(&browser, &location(&response)).await;
    assert_eq!(location(&browser.get(&back).send().await.unwrap()), "/account/?done=source-linked");
    assert_ne!(app.state.store.fingerprint_with_parked().unwrap(), before);

    // Unlinking: she has a password, so it may go.
    let form = [("csrf_token", csrf.as_str()), ("source", "github")];
    let response = browser.post(local(&app, "/account/sources/unlink")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=source-unlinked");
    assert!(user(&app, "alice").unwrap().identities.is_empty());

    // An account made by GitHub has no other way in: GitHub stays.
    let pkce = Pkce::new();
    let browser = crate::helpers::browser();
    let response = through_github(&app, &browser, &pkce).await;
    id_token_claims(&app, &response, &pkce).await;
    let html = browser.get(local(&app, "/account/")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("source", "github")];
    let (status, page) =
        body(browser.post(local(&app, "/account/sources/unlink")).form(&form).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(page.contains("last way to sign in"), "{page}");
    assert_eq!(user(&app, "octocat").unwrap().identities.len(), 1);
}

#[tokio::test]
async fn a_disabled_account_is_not_linked_by_its_address() {
    let (app, _github) = with_github(|source| source.link_by_email = true, "").await;
    app.add_user("alice", &[]);
    set_email(&app, "alice", "octocat@example.org", true);
    app.admin(AdminCommand::UserDisable { username: "alice".into(), disabled: true }).unwrap();
    let (status, page) = body(through_github(&app, &browser(), &Pkce::new()).await).await;
    assert_eq!(status, 403);
    assert!(page.contains("disabled"), "{page}");
    assert!(user(&app, "alice").unwrap().identities.is_empty(), "refused, and not linked for later either");
}

#[tokio::test]
async fn pages_with_a_source_button_let_their_forms_go_on_to_the_source() {
    // Chromium checks `form-action` against where a form's answer redirects.
    let (app, github) = with_github(|_| {}, "").await;
    let browser = browser();
    let response = browser
        .get(local(&app, "/application/o/authorize/"))
        .query(&web_params("openid", &Pkce::new(), "n", "s"))
        .send()
        .await
        .unwrap();
    let page = browser.get(local(&app, &location(&response))).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let form_action = csp.split(';').find(|d| d.trim().starts_with("form-action")).unwrap().to_owned();
    assert!(form_action.contains(&github.url) && form_action.contains("https://web.example"), "{form_action}");
    let alice = app.add_user("alice", &[]);
    let (browser, _) = on_account_page(&app, &alice).await;
    let page = browser.get(local(&app, "/account/")).send().await.unwrap();
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains(&github.url));
}

#[tokio::test]
async fn a_navigating_browser_leaves_for_the_application_by_a_page_not_a_redirect() {
    // A redirect off this site would be checked against the provider's
    // form-action (Chromium); a page that moves on by itself is not.
    let (app, _github) = with_github(|source| source.create_users = true, "").await;
    let browser = browser();
    let pkce = Pkce::new();
    let html = sign_in_page(&app, &browser, ("web", WEB_CB), &pkce).await;
    let back = at_github(&browser, &location(&press(&app, &browser, &html, "github").await)).await;
    let response = browser.get(&back).header("sec-fetch-mode", "navigate").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("ferrid_session="))
    );
    let page = response.text().await.unwrap();
    let start = page.find("url=").expect("a meta refresh") + 4;
    let url = page[start..start + page[start..].find('"').unwrap()].replace("&amp;", "&").replace("&#x2F;", "/");
    assert!(url.starts_with(WEB_CB) && url.contains("code="), "{url}");
    // The session it set is the browser's: the next authorization needs no sign-in.
    let again = browser
        .get(local(&app, "/application/o/authorize/"))
        .query(&web_params("openid", &Pkce::new(), "n", "s"))
        .send()
        .await
        .unwrap();
    assert!(location(&again).starts_with(WEB_CB), "{}", location(&again));
}

#[tokio::test]
async fn the_console_shows_each_declared_source_its_redirect_uri_and_linked_accounts() {
    let (app, _github) = with_github(
        |source| {
            source.create_users = true;
            source.default_groups = vec![ferrid::domain::GroupName::parse("viewers").unwrap()];
        },
        "",
    )
    .await;
    let pkce = Pkce::new();
    let response = through_github(&app, &browser(), &pkce).await;
    id_token_claims(&app, &response, &pkce).await;
    let root = app.add_user("root", &["ferrid-admins"]);
    let admin = crate::console::signed_in_browser(&app, &root).await;
    let page = admin.get(app.url("/admin/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign-in sources"), "{page}");
    assert!(page.contains(&local(&app, "/source/oauth/callback/github/")), "the redirect URI to register");
    assert!(page.contains("makes accounts in viewers"));
    assert!(page.contains(r#"<td data-label="Linked">1</td>"#), "octocat");
}
