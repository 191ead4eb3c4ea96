//! One-time links, attacked from outside: replays, races, a link outliving
//! what it was made for (a disable, a new password, a deleted account),
//! forged and cross-site forms, odd paths, what an answer or the store lets
//! slip, the throttle turned against everyone, and what a session a link
//! opened may do (it never passes for a second factor).

use crate::helpers::*;
use crate::links::{audit_details, invite, path_of, recovery_link, use_link};
use ferrid::admin::AdminCommand;
use serde_json::Value;

const NEW: &str = "a-new-password-1";

fn secret_of(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_owned()
}

/// A CSRF cookie in `browser` and its token, from the sign-in page (any
/// browser may open it): what a stranger has to post a link's form.
async fn csrf_of(app: &TestApp, browser: &reqwest::Client) -> String {
    let page = browser.get(app.url("/account/")).send().await.unwrap();
    let html = if page.status() == 303 {
        browser.get(app.url(&location(&page))).send().await.unwrap().text().await.unwrap()
    } else {
        page.text().await.unwrap()
    };
    hidden_field(&html, "csrf_token").unwrap()
}

/// The test config, with room for many requests to the link pages.
fn roomy(yaml: String) -> String {
    yaml.replace("max_failures: 3", "max_failures: 1000").replace("userinfo: 20", "userinfo: 20, sign_in: 10000")
}

/// Posts a link's form in `browser` with `csrf` (and a password to set).
async fn post_link(app: &TestApp, browser: &reqwest::Client, path: &str, csrf: &str) -> reqwest::Response {
    let form = [("csrf_token", csrf), ("choice", "password"), ("new_password", NEW), ("repeat_password", NEW)];
    browser.post(app.url(path)).form(&form).send().await.unwrap()
}

/// Whether `password` signs `username` in (a new browser, the account page).
async fn signs_in(app: &TestApp, username: &str, password: &str) -> bool {
    let browser = browser();
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), username, password).await;
    response.status() == 303
}

fn status_of_link(app: &TestApp, username: &str) -> Value {
    app.admin(AdminCommand::LinkList { username: username.into() }).unwrap()[0]["status"].clone()
}

/// A browser signed in by `path` (a recovery link), on its account page.
async fn recovered(app: &TestApp, path: &str) -> reqwest::Client {
    let browser = browser();
    let response = use_link(app, &browser, path, &[]).await;
    assert_eq!(location(&response), "/account/?done=recovered");
    browser
}

#[tokio::test]
async fn a_used_link_replayed_by_get_or_post_is_dead_and_changes_nothing() {
    let app = spawn_app().await;
    let path = invite(&app, "carol");
    let carol = browser();
    let fields =
        [("choice", "password"), ("new_password", "carols-password-1"), ("repeat_password", "carols-password-1")];
    assert_eq!(use_link(&app, &carol, &path, &fields).await.status(), 303);
    let sessions = app.state.store.session_count();

    // Carol's own browser (its CSRF cookie and token still good) and a stranger's.
    let replay = carol.get(app.url(&path)).send().await.unwrap();
    assert_eq!(replay.status(), 410);
    let csrf = csrf_of(&app, &carol).await;
    assert_eq!(post_link(&app, &carol, &path, &csrf).await.status(), 410);
    let stranger = browser();
    let csrf = csrf_of(&app, &stranger).await;
    assert_eq!(post_link(&app, &stranger, &path, &csrf).await.status(), 410);
    assert!(signs_in(&app, "carol", "carols-password-1").await, "her password stands");
    assert!(!signs_in(&app, "carol", NEW).await, "the replay set none");
    assert_eq!(app.state.store.session_count(), sessions + 1, "only the sign-in just made");

    // A used recovery link: no session for the replay, the owner's stays.
    app.add_user("dave", &[]);
    let path = recovery_link(&app, "dave");
    let phone = recovered(&app, &path).await;
    let stranger = browser();
    let csrf = csrf_of(&app, &stranger).await;
    assert_eq!(post_link(&app, &stranger, &path, &csrf).await.status(), 410);
    assert_eq!(stranger.get(app.url("/account/")).send().await.unwrap().status(), 303, "not signed in");
    assert_eq!(phone.get(app.url("/account/")).send().await.unwrap().status(), 200, "not signed out");
}

#[tokio::test]
async fn browsers_racing_one_invitation_set_one_password_the_winners() {
    let app = spawn_app().await;
    let path = invite(&app, "carol");
    let mut racers = Vec::new();
    for n in 0..6 {
        let browser = browser();
        let html = browser.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        racers.push((browser, hidden_field(&html, "csrf_token").unwrap(), format!("racer-password-{n}")));
    }
    let url = app.url(&path);
    let posts = racers.into_iter().map(|(browser, csrf, password)| {
        let url = url.clone();
        tokio::spawn(async move {
            let form = [("csrf_token", csrf.as_str()), ("new_password", &password), ("repeat_password", &password)];
            (browser.post(url).form(&form).send().await.unwrap().status().as_u16(), password)
        })
    });
    let mut results = Vec::new();
    for post in posts {
        results.push(post.await.unwrap());
    }
    let winners: Vec<&String> = results.iter().filter(|(s, _)| *s == 303).map(|(_, p)| p).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().all(|(s, _)| *s == 303 || *s == 410), "{results:?}");
    for (_, password) in &results {
        assert_eq!(signs_in(&app, "carol", password).await, password == winners[0], "{password}");
    }
}

#[tokio::test]
async fn a_link_for_a_deleted_user_does_not_open_the_new_account_of_the_same_name() {
    let app = spawn_app().await;
    app.add_user("dave", &[]);
    let recovery = recovery_link(&app, "dave");
    let invitation = invite(&app, "erin");
    for name in ["dave", "erin"] {
        app.admin(AdminCommand::UserDelete { username: name.into() }).unwrap();
        app.add_user(name, &["admins"]);
    }
    for path in [&recovery, &invitation] {
        assert_eq!(browser().get(app.url(path)).send().await.unwrap().status(), 410, "{path}");
        let stranger = browser();
        let csrf = csrf_of(&app, &stranger).await;
        assert_eq!(post_link(&app, &stranger, path, &csrf).await.status(), 410, "{path}");
    }
    assert_eq!(app.state.store.session_count(), 0);
    assert!(!signs_in(&app, "erin", NEW).await);
}

#[tokio::test]
async fn disabling_a_user_ends_their_links_for_good_and_enabling_them_again_does_not_revive_them() {
    let app = spawn_app().await;
    app.add_user("dave", &[]);
    let recovery = recovery_link(&app, "dave");
    let invitation = invite(&app, "erin");
    for name in ["dave", "erin"] {
        app.admin(AdminCommand::UserDisable { username: name.into(), disabled: true }).unwrap();
        app.admin(AdminCommand::UserDisable { username: name.into(), disabled: false }).unwrap();
    }
    for path in [&recovery, &invitation] {
        assert_eq!(browser().get(app.url(path)).send().await.unwrap().status(), 410, "{path}");
        let stranger = browser();
        let csrf = csrf_of(&app, &stranger).await;
        assert_eq!(post_link(&app, &stranger, path, &csrf).await.status(), 410, "{path}");
    }
    assert_eq!(app.state.store.session_count(), 0);
    // The console shows them as over, with no Revoke button to press.
    assert_eq!(status_of_link(&app, "dave"), "ended");
    assert_eq!(status_of_link(&app, "erin"), "ended");
}

#[tokio::test]
async fn a_new_password_ends_the_links_made_before_it() {
    let app = spawn_app().await;
    // Dave got back in by himself (he remembered it) and changed his password.
    let dave = app.add_user("dave", &[]);
    let recovery = recovery_link(&app, "dave");
    let laptop = browser();
    let response = laptop.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&laptop, &app.address, &location(&response), &dave.username, &dave.password).await;
    let html = laptop.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("current_password", dave.password.as_str()),
        ("new_password", "daves-new-password"),
        ("repeat_password", "daves-new-password"),
    ];
    let response = laptop.post(app.url("/account/password")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=password");
    // Erin's invitation was lost, and an administrator set her a password instead.
    let invitation = invite(&app, "erin");
    let hash = ferrid::crypto::password::hash("erins-password-1", 4).unwrap();
    app.admin(AdminCommand::UserPasswd { username: "erin".into(), password_hash: hash }).unwrap();

    for path in [&recovery, &invitation] {
        assert_eq!(browser().get(app.url(path)).send().await.unwrap().status(), 410, "{path}");
        let stranger = browser();
        let csrf = csrf_of(&app, &stranger).await;
        assert_eq!(post_link(&app, &stranger, path, &csrf).await.status(), 410, "{path}");
    }
    assert_eq!(laptop.get(app.url("/account/")).send().await.unwrap().status(), 200, "dave is still signed in");
    assert!(signs_in(&app, "dave", "daves-new-password").await && signs_in(&app, "erin", "erins-password-1").await);
    assert!(!signs_in(&app, "erin", NEW).await);

    // Two recovery links, the first thought lost: using the second ends the first.
    let first = recovery_link(&app, "dave");
    let second = recovery_link(&app, "dave");
    recovered(&app, &second).await;
    assert_eq!(browser().get(app.url(&first)).send().await.unwrap().status(), 410);
}

#[tokio::test]
async fn another_site_cannot_make_a_browser_use_a_link_nor_sign_it_in_as_someone_else() {
    let app = spawn_app().await;
    let victim = app.add_user("victim", &[]);
    app.add_user("mallory", &[]);
    // Mallory holds an open recovery link to her own account, and wants the
    // victim's browser signed in as her (login CSRF).
    let path = recovery_link(&app, "mallory");
    let victims = browser();
    let response = victims.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&victims, &app.address, &location(&response), &victim.username, &victim.password).await;
    let victim_csrf = csrf_of(&app, &victims).await;
    let mallorys = browser();
    let mallory_csrf = csrf_of(&app, &mallorys).await;

    // A cross-site form carries no token of the victim's: none, a made-up
    // one, Mallory's own (a real token, of another browser), or empty.
    for token in ["", "forged", mallory_csrf.as_str(), &"A".repeat(43)] {
        let response = victims.post(app.url(&path)).form(&[("csrf_token", token)]).send().await.unwrap();
        assert_eq!(response.status(), 403, "token {token:?}");
        assert!(response.headers().get("set-cookie").is_none(), "no cookie is set");
    }
    // Nor does a browser with no cookies at all (SameSite keeps them home).
    let cookieless = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for token in ["", victim_csrf.as_str()] {
        let response = cookieless.post(app.url(&path)).form(&[("csrf_token", token)]).send().await.unwrap();
        assert_eq!(response.status(), 403);
    }
    // A JSON or multipart body is not the form.
    let response = victims
        .post(app.url(&path))
        .header("content-type", "text/plain")
        .body(format!("csrf_token={victim_csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let home = victims.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Signed in as <strong>victim</strong>"), "{home}");
    assert_eq!(status_of_link(&app, "mallory"), "open", "nothing was used");
    // And opening the link (GET) in the victim's browser changes nothing either.
    assert_eq!(victims.get(app.url(&path)).send().await.unwrap().status(), 200);
    let home = victims.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Signed in as <strong>victim</strong>"));
}

#[tokio::test]
async fn odd_paths_open_nothing_redirect_nowhere_and_never_fail_the_server() {
    let app = spawn_app_edited(roomy).await;
    app.add_user("dave", &[]);
    let path = recovery_link(&app, "dave");
    let secret = secret_of(&path);
    let encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    let odd = [
        format!("/recover/{secret}/"),
        format!("/recover/{secret}%00"),
        format!("/recover/{secret}%2F"),
        format!("/recover/{secret}A"),
        format!("/recover/{}", &secret[..42]),
        format!("/recover/{secret}/..%2F..%2Fadmin%2Fact"),
        format!("/recover/%2F%2Fevil.example%2F{}", &secret[..30]),
        format!("/recover/{}", secret.to_uppercase()),
        format!("/recover/{}", secret.replace(['-', '_'], "+")),
        format!("/recover/{}%0D%0ALocation:%20https://evil.example/", &secret[..20]),
        format!("/recover/{}", "A".repeat(4000)),
        format!("/recover/{}", "é".repeat(22)),
        "/recover/..%2F..%2Fadmin%2Fusers".to_owned(),
        "/recover/".to_owned(),
        "/recover".to_owned(),
        format!("//recover/{secret}"),
    ];
    // (A secret with no '-', '_' or letter to change is left as it is.)
    for path in odd.iter().filter(|odd| **odd != path) {
        for post in [false, true] {
            let browser = browser();
            let response = if post {
                let csrf = csrf_of(&app, &browser).await;
                browser.post(app.url(path)).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap()
            } else {
                browser.get(app.url(path)).send().await.unwrap()
            };
            let status = response.status().as_u16();
            assert!((400..500).contains(&status) || status == 308, "{path} (post: {post}): {status}");
            if let Some(to) = response.headers().get("location") {
                let to = to.to_str().unwrap();
                assert!(to.starts_with('/') && !to.starts_with("//"), "{path}: {to}");
            }
            assert!(response.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("session")));
        }
    }
    // The same secret percent-encoded is the same link (the path is decoded
    // once): it opens, and its form posts back to a path on this server.
    let response = browser().get(app.url(&format!("/recover/{encoded}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!(r#"action="/recover/{encoded}""#)), "{html}");
    assert_eq!(status_of_link(&app, "dave"), "open");
    assert_eq!(app.state.store.session_count(), 0);
}

#[tokio::test]
async fn every_dead_link_answers_the_same_page_whatever_made_it_dead() {
    let app = spawn_app_edited(roomy).await;
    for name in ["dave", "erin", "frank", "gina"] {
        app.add_user(name, &[]);
    }
    let used = recovery_link(&app, "dave");
    recovered(&app, &used).await;
    let revoked = app.admin(AdminCommand::UserLink { username: "erin".into() }).unwrap();
    app.admin(AdminCommand::LinkRevoke { id: revoked["id"].as_str().unwrap().into() }).unwrap();
    let disabled = recovery_link(&app, "frank");
    app.admin(AdminCommand::UserDisable { username: "frank".into(), disabled: true }).unwrap();
    let other_kind = recovery_link(&app, "gina").replace("/recover/", "/setup/");
    let expired = recovery_link(&app, "gina");
    app.clock.advance(3601);
    let unknown = format!("/recover/{}", "Q".repeat(43));
    let malformed = "/recover/not-a-link".to_owned();
    let revoked = path_of(&revoked);
    let cases = [
        ("used", used),
        ("revoked", revoked),
        ("disabled", disabled),
        ("other kind", other_kind),
        ("expired", expired),
        ("unknown", unknown),
        ("malformed", malformed),
    ];
    let mut answers = Vec::new();
    for (what, path) in &cases {
        let browser = browser();
        let get = browser.get(app.url(path)).send().await.unwrap();
        let csrf = csrf_of(&app, &browser).await;
        let post = browser.post(app.url(path)).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
        let mut answer = Vec::new();
        for response in [get, post] {
            let mut headers: Vec<String> = response
                .headers()
                .iter()
                .filter(|(name, _)| !["date", "x-request-id", "content-length"].contains(&name.as_str()))
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
                .collect();
            headers.sort();
            answer.push(format!("{}\n{headers:?}\n{}", response.status(), response.text().await.unwrap()));
        }
        answers.push((what, answer));
    }
    for (what, answer) in &answers[1..] {
        assert_eq!(answer, &answers[0].1, "{what} answers unlike {}", answers[0].0);
    }
    assert!(answers[0].1[0].starts_with("410"));
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_does_not_reset_the_link_throttle() {
    let app = spawn_app_edited(|yaml| yaml.replace(r#"trusted_proxies: ["127.0.0.1"]"#, "trusted_proxies: []")).await;
    app.add_user("dave", &[]);
    let path = recovery_link(&app, "dave");
    let guesser = browser();
    let csrf = csrf_of(&app, &guesser).await;
    for n in 0..3 {
        let guess = format!("/recover/{}{n}", "B".repeat(42));
        let response = guesser
            .post(app.url(&guess))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 410);
    }
    // A new address claimed in the header is not believed: still locked.
    let response = guesser
        .post(app.url(&path))
        .header("x-forwarded-for", "198.51.100.99")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 410);
    assert_eq!(status_of_link(&app, "dave"), "open");
}

#[tokio::test]
async fn guessing_links_from_many_addresses_locks_those_addresses_not_everyones_links() {
    // 17 addresses × 3 dead links (max_failures) is more than the
    // account-wide cap (account_max_failures: 50) of ordinary sign-ins.
    let app = spawn_app().await;
    let dave = app.add_user("dave", &[]);
    let path = recovery_link(&app, "dave");
    let guesser = browser();
    let csrf = csrf_of(&app, &guesser).await;
    for address in 1..=17 {
        for n in 0..3 {
            let guess = format!("/recover/{}{n}", "C".repeat(42));
            let response = guesser
                .post(app.url(&guess))
                .header("x-forwarded-for", format!("198.51.100.{address}"))
                .form(&[("csrf_token", csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 410);
        }
    }
    // The guessers are locked out...
    let response = guesser.get(app.url(&path)).header("x-forwarded-for", "198.51.100.1").send().await.unwrap();
    assert_eq!(response.status(), 410, "a locked address");
    // ...and dave, elsewhere, uses his link.
    let phone = browser();
    let page = phone.get(app.url(&path)).header("x-forwarded-for", "192.0.2.10").send().await.unwrap();
    assert_eq!(page.status(), 200, "an address that guessed nothing is not locked");
    let csrf = hidden_field(&page.text().await.unwrap(), "csrf_token").unwrap();
    let response = phone
        .post(app.url(&path))
        .header("x-forwarded-for", "192.0.2.10")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/account/?done=recovered");
    // Nor is his password sign-in, from where the guessing came or elsewhere.
    assert!(signs_in(&app, &dave.username, &dave.password).await);
}

#[tokio::test]
async fn the_secret_is_shown_once_and_never_again_in_answers_the_audit_headers_or_the_store() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = crate::console::setup(&app);
    let console = crate::console::signed_in_browser(&app, &root).await;
    let html = console.get(app.url("/admin/users/alice")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("action", "user-link"), ("username", "alice")];
    let made = console.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(made.status(), 200);
    assert_eq!(made.headers()["cache-control"], "no-store");
    let html = made.text().await.unwrap();
    let url = hidden_value_of_shown_once(&html);
    let path = url::Url::parse(&url).unwrap().path().to_owned();
    let secret = secret_of(&path);
    assert_eq!(secret.len(), 43);

    // Never again: the user page, the lists, the audit, the store.
    let again = console.get(app.url("/admin/users/alice")).send().await.unwrap().text().await.unwrap();
    assert!(!again.contains(&secret));
    for command in [
        AdminCommand::LinkList { username: "alice".into() },
        AdminCommand::UserList,
        AdminCommand::AuditList { since: 0, user: None, app: None, kind: None },
    ] {
        let answer = app.admin(command).unwrap().to_string();
        assert!(!answer.contains(&secret), "{answer}");
    }
    let dump = format!("{:?}", app.state.store.dump().unwrap().0);
    assert!(!dump.contains(&secret));

    // Using it: no answer names it (Location, cookies), the pages ask the
    // browser to send it nowhere, and the audit says who, never what.
    let phone = browser();
    let page = phone.get(app.url(&path)).send().await.unwrap();
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let csrf = hidden_field(&page.text().await.unwrap(), "csrf_token").unwrap();
    let used = phone.post(app.url(&path)).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    for (name, value) in used.headers() {
        assert!(!value.to_str().unwrap().contains(&secret), "{name}");
    }
    let revoked = app.admin(AdminCommand::LinkList { username: "alice".into() }).unwrap();
    let id = revoked[0]["id"].as_str().unwrap().to_owned();
    let answer = app.admin(AdminCommand::LinkRevoke { id }).unwrap().to_string();
    assert!(!answer.contains(&secret));
    let trail = app.admin(AdminCommand::AuditList { since: 0, user: None, app: None, kind: None }).unwrap();
    assert!(!trail.to_string().contains(&secret));
    assert!(audit_details(&app).iter().any(|d| d == "recovery link used"));
    // An invitation's page that re-renders (a refused password) keeps the policy.
    let path = invite(&app, "carol");
    let carol = browser();
    let html = carol.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("new_password", "short"), ("repeat_password", "short")];
    let refused = carol.post(app.url(&path)).form(&form).send().await.unwrap();
    assert_eq!(refused.status(), 200);
    assert_eq!(refused.headers()["referrer-policy"], "no-referrer");
}

/// The value of the console's shown-once box.
fn hidden_value_of_shown_once(html: &str) -> String {
    let marker = r#"id="shown-once" readonly value=""#;
    let start = html.find(marker).expect("the link is shown once") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].replace("&#x2F;", "/").replace("&amp;", "&")
}

#[tokio::test]
async fn an_invited_user_without_a_password_is_let_in_by_no_password_not_even_an_empty_one() {
    // As `localhost`, so that passkeys are on (WebAuthn takes no IP address).
    let app =
        spawn_app_edited(|yaml| yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost")).await;
    let path = invite(&app, "carol");
    for password in ["", " ", "any-password", "$2b$04$"] {
        assert!(!signs_in(&app, "carol", password).await, "{password:?}");
    }
    // Nor at the token endpoint, where a username and "password" (a token) may come.
    let form = [("grant_type", "client_credentials"), ("username", "carol"), ("password", "x")];
    assert!(app.post_token(&form, Some(("web", WEB_SECRET))).await.status().is_client_error());

    // She chooses a passkey instead and never adds one: after the window her
    // session cannot set a password by typing no current one, nor any.
    let carol = browser();
    let html = carol.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let response = carol.post(app.url(&path)).form(&[("csrf_token", csrf.as_str()), ("choice", "passkey")]).send();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 303);
    app.clock.advance(301);
    for current in ["", "anything"] {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("current_password", current),
            ("new_password", NEW),
            ("repeat_password", NEW),
        ];
        let response = carol.post(app.url("/account/password")).form(&form).send().await.unwrap();
        let status = response.status().as_u16();
        let sent_to_confirm = status == 303 && location(&response).starts_with("/login?tx=");
        // Sent to confirm (a sign-in she cannot pass), or told it is wrong.
        assert!(sent_to_confirm || (current == "anything" && status == 400), "{current:?}: {status}");
    }
    assert!(!signs_in(&app, "carol", NEW).await, "no password was set");
}

#[tokio::test]
async fn a_link_session_never_passes_for_a_second_factor_and_its_window_closes() {
    let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
    let app = spawn_app_with(&format!(
        "  - slug: secure\n    client_secret_sha256: {digest}\n    redirect_uris: [\"https://secure.example/cb\"]\n    \
         require_mfa: true\n"
    ))
    .await;
    let alice = app.add_user("alice", &[]);
    let path = recovery_link(&app, "alice");
    let phone = recovered(&app, &path).await;

    // At an application that asks nothing more: signed in, and the token says how.
    let pkce = Pkce::new();
    let params = web_params("openid", &pkce, "n", "s");
    let response = phone.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let code = query_of(&location(&response))["code"].clone();
    let tokens: Value = app.redeem_web_code(&code, &pkce).await.json().await.unwrap();
    let id = app.verify_jwt(tokens["id_token"].as_str().unwrap(), "web", "web", jsonwebtoken::Algorithm::RS256, "JWT");
    let id = id.await;
    assert_eq!(id["amr"], serde_json::json!(["link"]));
    assert_ne!(id["acr"], "mfa");

    // At one that requires a second factor: sent to sign in, with one.
    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", "secure"),
        ("redirect_uri", "https://secure.example/cb"),
        ("scope", "openid"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    let response = phone.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "{}", location(&response));
    // Asked for acr mfa: the same.
    let params = [&params[..], &[("acr_values", "mfa")]].concat();
    let response = phone.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "{}", location(&response));
    // Nor may it make a personal access token for that application.
    let html = phone.get(app.url("/account/tokens")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("app", "secure"), ("description", "x"), ("expires_days", "30")];
    let made = phone.post(app.url("/account/tokens")).form(&form).send().await.unwrap();
    assert!(!made.text().await.unwrap().contains("ferrid_pat_"));

    // The window to set a password without the old one closes with
    // lifetimes.reauthentication: then it is the usual confirmation.
    app.clock.advance(301);
    let home = phone.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&home, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("new_password", NEW), ("repeat_password", NEW)];
    let response = phone.post(app.url("/account/password")).form(&form).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "sent to confirm: {}", location(&response));
    assert!(!signs_in(&app, "alice", NEW).await && signs_in(&app, "alice", &alice.password).await);
}

#[tokio::test]
async fn a_recovery_link_used_while_an_administrator_disables_the_account_never_enables_it_again() {
    // Race the recovery form against `user disable`: whichever lands first,
    // the account ends disabled with no live session.
    for round in 0..12 {
        let app = spawn_app().await;
        app.add_user("dave", &["admins"]);
        let path = recovery_link(&app, "dave");
        let phone = browser();
        let html = phone.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_field(&html, "csrf_token").unwrap();
        let url = app.url(&path);
        let post = tokio::spawn({
            let phone = phone.clone();
            async move { phone.post(url).form(&[("csrf_token", csrf)]).send().await.unwrap().status() }
        });
        // Land the disable somewhere inside the request.
        tokio::time::sleep(std::time::Duration::from_micros(200 * round)).await;
        app.admin(AdminCommand::UserDisable { username: "dave".into(), disabled: true }).unwrap();
        post.await.unwrap();
        let users = app.admin(AdminCommand::UserList).unwrap();
        let dave = users.as_array().unwrap().iter().find(|u| u["username"] == "dave").unwrap();
        assert_eq!(dave["disabled"], true, "round {round}: {dave}");
        assert_eq!(phone.get(app.url("/account/")).send().await.unwrap().status(), 303, "round {round}");
    }
}
