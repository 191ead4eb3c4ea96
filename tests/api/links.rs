//! One-time links over HTTP: an invitation sets up an account without an
//! administrator knowing its password; a recovery link gets a user back in;
//! an address check (mailed) marks an address verified.
//! Each works once, for its own kind, for an enabled user, before it
//! expires; the table test tries every route from every state of a link.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use serde_json::Value;

/// `ferrid user invite NAME --groups admins`, as the CLI sends it; returns the link's path.
pub(crate) fn invite(app: &TestApp, username: &str) -> String {
    let made = app
        .admin(AdminCommand::UserInvite {
            username: username.into(),
            email: Some(format!("{username}@example.org")),
            name: None,
            groups: vec!["admins".into()],
        })
        .unwrap();
    path_of(&made)
}

/// `ferrid user link NAME`; returns the link's path.
pub(crate) fn recovery_link(app: &TestApp, username: &str) -> String {
    path_of(&app.admin(AdminCommand::UserLink { username: username.into() }).unwrap())
}

pub(crate) fn path_of(made: &Value) -> String {
    let url = made["url"].as_str().expect("a link just made has its URL");
    url::Url::parse(url).unwrap().path().to_owned()
}

/// Opens the link's page in `browser` and submits its form (with `fields`).
pub(crate) async fn use_link(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "{path} opens");
    let csrf = hidden_field(&page.text().await.unwrap(), "csrf_token").unwrap();
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(app.url(path)).form(&form).send().await.unwrap()
}

pub(crate) fn audit_details(app: &TestApp) -> Vec<String> {
    app.state.store.audit_since(0).unwrap().into_iter().filter_map(|e| e.detail).collect()
}

#[tokio::test]
async fn an_invitation_sets_a_password_once_and_the_administrator_never_knows_it() {
    let app = spawn_app().await;
    let path = invite(&app, "carol");
    assert!(path.starts_with("/setup/") && path.len() == "/setup/".len() + 43, "{path}");
    // Carol has no password yet: none signs her in, and the answer is a wrong password's.
    app.add_user("dave", &[]);
    let server = &app;
    let attempt = |username: &'static str| async move {
        let stranger = browser();
        let response = stranger.get(server.url("/account/")).send().await.unwrap();
        let response = sign_in_with(&stranger, &server.address, &location(&response), username, "any-password").await;
        let status = response.status();
        let html = response.text().await.unwrap();
        (
            status,
            html.split(r#"<p class="error" role="alert">"#).nth(1).map(|e| e.split('<').next().unwrap().to_owned()),
        )
    };
    let (no_password, wrong_password) = (attempt("carol").await, attempt("dave").await);
    assert_eq!(no_password, wrong_password, "a wrong password's answer");
    assert_eq!(no_password.0, 401);

    let carol = browser();
    let page = carol.get(app.url(&path)).send().await.unwrap();
    assert_eq!(page.headers()["referrer-policy"], "no-referrer", "the secret is in this page's URL");
    let html = page.text().await.unwrap();
    assert!(html.contains("<strong>carol</strong>"), "{html}");
    // A short or mismatched password is refused on the page, and the link still works.
    let fields = [("choice", "password"), ("new_password", "short"), ("repeat_password", "short")];
    let response = use_link(&app, &carol, &path, &fields).await;
    assert_eq!(response.status(), 200);
    let fields =
        [("choice", "password"), ("new_password", "carols-password-1"), ("repeat_password", "carols-password-1")];
    let response = use_link(&app, &carol, &path, &fields).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account/?done=setup-password");
    let home = carol.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Welcome: your password is set."), "{home}");
    assert!(audit_details(&app).iter().any(|d| d == "invitation used"));

    // Used: the page and the form are dead, for anyone.
    assert_eq!(browser().get(app.url(&path)).send().await.unwrap().status(), 410);
    // And carol signs in with the password she chose.
    let user = TestUser { username: "carol".into(), password: "carols-password-1".into(), sub: String::new() };
    let tokens = app.code_flow_tokens(&user, "openid").await;
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn a_recovery_link_signs_in_once_ends_every_other_session_and_token_and_sets_a_new_password() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins"]);
    let (pat, _) = app.create_pat("alice", "web", 3600);
    let laptop = browser();
    let response = laptop.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&laptop, &app.address, &location(&response), &alice.username, &alice.password).await;
    assert_eq!(laptop.get(app.url("/account/")).send().await.unwrap().status(), 200);

    let path = recovery_link(&app, "alice");
    assert!(path.starts_with("/recover/"), "{path}");
    let phone = browser();
    // Opening the page (a chat preview would) uses nothing.
    assert_eq!(phone.get(app.url(&path)).send().await.unwrap().status(), 200);
    assert_eq!(laptop.get(app.url("/account/")).send().await.unwrap().status(), 200, "still signed in");
    let response = use_link(&app, &phone, &path, &[]).await;
    assert_eq!(location(&response), "/account/?done=recovered");
    assert_eq!(laptop.get(app.url("/account/")).send().await.unwrap().status(), 303, "signed out");
    assert_eq!(app.introspect(&pat, ("web", WEB_SECRET)).await["active"], false, "the token stopped");

    // She forgot her password: the form does not ask for it.
    let home = phone.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    assert!(!home.contains(r#"name="current_password""#), "{home}");
    let csrf = hidden_field(&home, "csrf_token").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("new_password", "alices-new-password"),
        ("repeat_password", "alices-new-password"),
    ];
    let response = phone.post(app.url("/account/password")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=password");
    let renewed = TestUser { password: "alices-new-password".into(), ..alice };
    assert!(app.code_flow_tokens(&renewed, "openid").await["id_token"].is_string());
    let details = audit_details(&app);
    assert!(details.iter().any(|d| d == "recovery link made") && details.iter().any(|d| d == "recovery link used"));
    assert_eq!(phone.get(app.url(&path)).send().await.unwrap().status(), 410, "used");
}

/// What a cell may change: links, users and sessions.
fn snapshot(app: &TestApp) -> String {
    let users = app.admin(AdminCommand::UserList).unwrap();
    let links: Vec<Value> = ["carol", "dave"]
        .iter()
        .filter_map(|u| app.admin(AdminCommand::LinkList { username: (*u).into() }).ok())
        .collect();
    let sessions = app.state.store.session_count();
    format!("{users}\n{links:?}\n{sessions}")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    OpenInvitation,
    OpenRecovery,
    OpenEmailCheck,
    /// An address check for an address the user has since changed.
    StaleEmailCheck,
    UsedInvitation,
    ExpiredRecovery,
    Revoked,
    DisabledUser,
    Unknown,
    Malformed,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Route {
    ShowSetup,
    SubmitSetup,
    ShowRecover,
    SubmitRecover,
    ShowVerify,
    SubmitVerify,
}

/// An address check for dave's address (as his account page would mail it).
fn email_check(app: &TestApp) -> String {
    let dave = app.state.store.user_by_name(&ferrid::domain::Username::parse("dave").unwrap()).unwrap().unwrap();
    let kind = ferrid::store::LinkKind::EmailCheck;
    ferrid::links::make(&app.state.store, &dave, kind, app.clock.now(), 3600, "test").unwrap().secret
}

/// A link in `state`, at `route`'s path ("/setup/…", "/recover/…" or "/verify-email/…").
async fn link_in(app: &TestApp, state: State, route: Route) -> String {
    let secret_of = |path: String| path.rsplit('/').next().unwrap().to_owned();
    let secret = match state {
        State::OpenInvitation => {
            app.admin(AdminCommand::UserDelete { username: "carol".into() }).ok();
            secret_of(invite(app, "carol"))
        }
        State::OpenRecovery => secret_of(recovery_link(app, "dave")),
        State::OpenEmailCheck => email_check(app),
        State::StaleEmailCheck => {
            let secret = email_check(app);
            let update = AdminCommand::UserUpdate {
                username: "dave".into(),
                name: None,
                email: Some("dave@elsewhere.example".into()),
                email_verified: None,
            };
            app.admin(update).unwrap();
            secret
        }
        State::UsedInvitation => {
            app.admin(AdminCommand::UserDelete { username: "carol".into() }).ok();
            let path = invite(app, "carol");
            let fields = [("new_password", "carols-password-1"), ("repeat_password", "carols-password-1")];
            assert_eq!(use_link(app, &browser(), &path, &fields).await.status(), 303);
            secret_of(path)
        }
        State::ExpiredRecovery => {
            let secret = secret_of(recovery_link(app, "dave"));
            app.clock.advance(3601);
            secret
        }
        State::Revoked => {
            let made = app.admin(AdminCommand::UserLink { username: "dave".into() }).unwrap();
            app.admin(AdminCommand::LinkRevoke { id: made["id"].as_str().unwrap().into() }).unwrap();
            secret_of(path_of(&made))
        }
        State::DisabledUser => {
            let secret = secret_of(recovery_link(app, "dave"));
            app.admin(AdminCommand::UserDisable { username: "dave".into(), disabled: true }).unwrap();
            secret
        }
        State::Unknown => "A".repeat(43),
        State::Malformed => "..%2F..%2Fadmin".into(),
    };
    let prefix = match route {
        Route::ShowSetup | Route::SubmitSetup => "setup",
        Route::ShowRecover | Route::SubmitRecover => "recover",
        Route::ShowVerify | Route::SubmitVerify => "verify-email",
    };
    format!("/{prefix}/{secret}")
}

#[tokio::test]
async fn every_link_route_accepts_only_an_open_link_of_its_kind_and_changes_nothing_otherwise() {
    let states = [
        State::OpenInvitation,
        State::OpenRecovery,
        State::OpenEmailCheck,
        State::StaleEmailCheck,
        State::UsedInvitation,
        State::ExpiredRecovery,
        State::Revoked,
        State::DisabledUser,
        State::Unknown,
        State::Malformed,
    ];
    let routes = [
        Route::ShowSetup,
        Route::SubmitSetup,
        Route::ShowRecover,
        Route::SubmitRecover,
        Route::ShowVerify,
        Route::SubmitVerify,
    ];
    let mut cells = 0;
    for state in states {
        for route in routes {
            // A fresh server per cell: links, the clock and the throttle start clean.
            let app = spawn_app_edited(|yaml| yaml.replace("max_failures: 3", "max_failures: 1000")).await;
            app.add_user("dave", &["viewers"]);
            let path = link_in(&app, state, route).await;
            let before = snapshot(&app);
            let browser = browser();
            // A CSRF cookie and token, from a page any browser may open.
            let login = browser.get(app.url("/account/")).send().await.unwrap();
            let html = browser.get(app.url(&location(&login))).send().await.unwrap().text().await.unwrap();
            let csrf = hidden_field(&html, "csrf_token").unwrap();
            let fields = [
                ("csrf_token", csrf.as_str()),
                ("choice", "password"),
                ("new_password", "a-new-password-1"),
                ("repeat_password", "a-new-password-1"),
            ];
            let response = match route {
                Route::ShowSetup | Route::ShowRecover | Route::ShowVerify => {
                    browser.get(app.url(&path)).send().await.unwrap()
                }
                Route::SubmitSetup | Route::SubmitRecover | Route::SubmitVerify => {
                    browser.post(app.url(&path)).form(&fields).send().await.unwrap()
                }
            };
            let status = response.status().as_u16();
            let legal = matches!(
                (state, route),
                (State::OpenInvitation, Route::ShowSetup | Route::SubmitSetup)
                    | (State::OpenRecovery, Route::ShowRecover | Route::SubmitRecover)
                    | (State::OpenEmailCheck, Route::ShowVerify | Route::SubmitVerify)
            );
            match (legal, route) {
                (true, Route::ShowSetup | Route::ShowRecover | Route::ShowVerify) => {
                    assert_eq!(status, 200, "{state:?} × {route:?}");
                    assert_eq!(snapshot(&app), before, "{state:?} × {route:?}: opening changes nothing");
                }
                // Confirming an address answers with a page; the others sign in and redirect.
                (true, Route::SubmitVerify) => assert_eq!(status, 200, "{state:?} × {route:?}"),
                (true, _) => assert_eq!(status, 303, "{state:?} × {route:?}"),
                (false, _) => {
                    assert!(status == 410 || status == 404, "{state:?} × {route:?}: {status}");
                    assert_eq!(snapshot(&app), before, "{state:?} × {route:?} changed the store");
                }
            }
            cells += 1;
        }
    }
    assert_eq!(cells, 60);
}

#[tokio::test]
async fn eight_browsers_racing_one_link_get_in_once() {
    let app = spawn_app().await;
    app.add_user("alice", &[]);
    let path = recovery_link(&app, "alice");
    let mut racers = Vec::new();
    for _ in 0..8 {
        let browser = browser();
        let html = browser.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        racers.push((browser, hidden_field(&html, "csrf_token").unwrap()));
    }
    let url = app.url(&path);
    let posts = racers.into_iter().map(|(browser, csrf)| {
        let url = url.clone();
        tokio::spawn(async move { browser.post(url).form(&[("csrf_token", csrf)]).send().await.unwrap().status() })
    });
    let mut statuses = Vec::new();
    for post in posts {
        statuses.push(post.await.unwrap().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 410).count(), 7, "{statuses:?}");
    assert_eq!(app.state.store.session_count(), 1);
}

#[tokio::test]
async fn guessing_links_is_throttled_like_guessing_passwords_and_a_forged_form_uses_nothing() {
    let app = spawn_app().await;
    app.add_user("alice", &[]);
    let path = recovery_link(&app, "alice");
    let guesser = browser();
    let html = guesser.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    // Without this browser's CSRF token: refused, and the link is unused.
    let forged = browser().post(app.url(&path)).form(&[("csrf_token", "forged")]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    // Three wrong guesses (the test config's max_failures) lock this address out of links.
    for n in 0..3 {
        let guess = format!("/recover/{}{n}", "B".repeat(42));
        let response = guesser.post(app.url(&guess)).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
        assert_eq!(response.status(), 410);
    }
    let response = guesser.post(app.url(&path)).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 410, "locked: even the real link answers as dead");
    let links = app.admin(AdminCommand::LinkList { username: "alice".into() }).unwrap();
    assert_eq!(links[0]["status"], "open", "and it was not used");
}

#[tokio::test]
async fn the_store_keeps_only_a_digest_of_a_link_and_deleting_the_user_removes_it() {
    let app = spawn_app().await;
    let path = invite(&app, "carol");
    let secret = path.rsplit('/').next().unwrap().to_owned();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw_secret = b64.decode(&secret).unwrap();
    for (tree, entries) in app.state.store.dump().unwrap().0 {
        for [key, value] in entries {
            for stored in [b64.decode(&key).unwrap(), b64.decode(&value).unwrap()] {
                let found = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
                assert!(!found(secret.as_bytes()) && !found(&raw_secret), "the secret is in {tree}");
            }
        }
    }
    let listed = app.admin(AdminCommand::LinkList { username: "carol".into() }).unwrap();
    assert!(listed[0].get("url").is_none() && !listed.to_string().contains(&secret));
    app.admin(AdminCommand::UserDelete { username: "carol".into() }).unwrap();
    assert_eq!(browser().get(app.url(&path)).send().await.unwrap().status(), 410);
}
