//! Mail attacked from outside (`/forgot`, `/account/verify-email`, links
//! by mail), against a real SMTP server (aiosmtpd, `smtp_server`): what a
//! stranger learns from the forgot page, how many mails a stranger can
//! send one mailbox, what an address or a name can add to a mail's
//! header, what an address check proves after the address changed, and
//! what a ferrid without `smtp:` does with the routes.

use crate::helpers::smtp_server::{SmtpServer, envelope_to};
use crate::helpers::*;
use crate::links::use_link;
use ferrid::admin::AdminCommand;
use ferrid::store::LinkKind;
use std::time::{Duration, Instant};

/// A ferrid that mails through `port` (no TLS), with room for bursts.
async fn mail_app(port: u16) -> TestApp {
    spawn_app_edited(move |yaml| {
        let yaml = yaml.replace(
            "rate_limits: { userinfo: 20 }",
            "rate_limits: { userinfo: 20, sign_in: 100000, pages: 100000, authorize: 100000 }",
        );
        format!("{yaml}smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n  from: ferrid <ferrid@home.test>\n")
    })
    .await
}

/// `username` with the address `email` (None: no address) and a password.
fn user_with(app: &TestApp, username: &str, email: Option<&str>) -> TestUser {
    let password = format!("{username}-password-1");
    let made = app
        .admin(AdminCommand::UserAdd {
            username: username.into(),
            email: email.map(str::to_owned),
            name: None,
            groups: vec![],
            password_hash: bcrypt::hash(&password, 4).unwrap(),
        })
        .unwrap();
    TestUser { username: username.into(), password, sub: made["sub"].as_str().unwrap().to_owned() }
}

/// `user_with`, and the administrator confirms the address.
fn confirmed_user(app: &TestApp, username: &str, email: Option<&str>) -> TestUser {
    let user = user_with(app, username, email);
    confirm(app, username);
    user
}

/// The administrator marks the user's address confirmed: only such
/// addresses get recovery links by mail.
fn confirm(app: &TestApp, username: &str) {
    let update =
        AdminCommand::UserUpdate { username: username.into(), name: None, email: None, email_verified: Some(true) };
    app.admin(update).unwrap();
}

/// The forgot page's CSRF token in `browser` (which keeps the cookie).
async fn forgot_csrf(app: &TestApp, browser: &reqwest::Client) -> String {
    let html = browser.get(app.url("/forgot")).send().await.unwrap().text().await.unwrap();
    hidden_field(&html, "csrf_token").unwrap_or_else(|| panic!("the forgot form: {html}"))
}

async fn ask(app: &TestApp, browser: &reqwest::Client, csrf: &str, who: &str) -> reqwest::Response {
    browser.post(app.url("/forgot")).form(&[("csrf_token", csrf), ("who", who)]).send().await.unwrap()
}

/// Status, headers (but the date) and body: what a stranger sees.
async fn seen(response: reqwest::Response) -> String {
    let status = response.status();
    let mut headers: Vec<String> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date" && *name != "x-request-id")
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect();
    headers.sort();
    format!("{status}\n{}\n\n{}", headers.join("\n"), response.text().await.unwrap())
}

/// Links the forgot page made, for anyone.
fn forgot_links(app: &TestApp) -> Vec<ferrid::store::Link> {
    let users = app.state.store.users().unwrap();
    let mut links = Vec::new();
    for user in users {
        links.extend(app.state.store.links_of(&user.sub).unwrap().into_iter().filter(|l| l.kind == LinkKind::Recovery));
    }
    links
}

#[tokio::test]
async fn the_forgot_page_answers_every_name_and_address_alike_and_mails_only_an_enabled_account_with_an_address() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    confirmed_user(&app, "alice", Some("alice@example.org"));
    let disabled = confirmed_user(&app, "dis", Some("dis@example.org"));
    app.set_disabled(&disabled, true);
    user_with(&app, "noaddr", None);

    let stranger = browser();
    let csrf = forgot_csrf(&app, &stranger).await;
    let reference = seen(ask(&app, &stranger, &csrf, "nobody").await).await;
    assert!(reference.starts_with("200 OK"), "{reference}");
    assert!(!reference.contains("set-cookie"), "no cookie tells one answer from another: {reference}");
    let long = "a".repeat(300);
    let whos = [
        "alice",
        "ALICE",
        " alice ",
        "alice@example.org",
        "ALICE@Example.ORG",
        "dis",
        "dis@example.org",
        "noaddr",
        "nobody@example.org",
        "al\u{131}ce@example.org",
        "alice\u{200b}",
        "",
        "   ",
        long.as_str(),
        "alice\r\nBcc: eve@evil.test",
        "alice@example.org\r\nBcc: eve@evil.test",
    ];
    for who in whos {
        assert_eq!(seen(ask(&app, &stranger, &csrf, who).await).await, reference, "{who:?}");
    }

    // What came: mails for alice only (three at most, her hour's share), to her address alone.
    let mails = smtp.settled(Duration::from_millis(1500));
    assert!(!mails.is_empty() && mails.len() <= 3, "{} mails: {mails:?}", mails.len());
    for mail in &mails {
        assert_eq!(envelope_to(mail), ["alice@example.org"], "{mail}");
        assert!(!mail.to_ascii_lowercase().contains("bcc"), "{mail}");
    }
    let audit = app.state.store.audit_since(0).unwrap();
    assert!(audit.iter().all(|e| e.user.as_deref() != Some("dis") || !format!("{e:?}").contains("recovery")));
}

#[tokio::test]
async fn the_forgot_page_answers_at_once_for_a_real_account_even_when_the_mail_server_hangs() {
    // A "mail server" that takes the connection and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = mail_app(silent.local_addr().unwrap().port()).await;
    confirmed_user(&app, "alice", Some("alice@example.org"));
    let stranger = browser();
    let csrf = forgot_csrf(&app, &stranger).await;
    for who in ["nobody", "alice", "alice@example.org", "nobody@example.org"] {
        let started = Instant::now();
        let response = ask(&app, &stranger, &csrf, who).await;
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(1), "{who}: {:?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_requests_for_one_account_sends_it_three_mails_not_one_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    let mut sent = 0;
    for round in 0..4 {
        let name = format!("user{round}");
        confirmed_user(&app, &name, Some(&format!("{name}@example.org")));
        // Many browsers (many connections), each with its form, all sent at once.
        let mut forms = Vec::new();
        for _ in 0..30 {
            let stranger = browser();
            let csrf = forgot_csrf(&app, &stranger).await;
            forms.push((stranger, csrf));
        }
        let requests: Vec<_> = forms.iter().map(|(stranger, csrf)| ask(&app, stranger, csrf, &name)).collect();
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(response.status(), 200);
        }
        let mails = smtp.settled(Duration::from_millis(1500));
        let to_this = mails.iter().filter(|m| envelope_to(m) == [format!("{name}@example.org")]).count();
        assert!((1..=3).contains(&to_this), "round {round}: {to_this} mails in one burst");
        sent += to_this;
    }
    let live = forgot_links(&app).iter().filter(|l| l.is_open(app.clock.now())).count();
    assert_eq!(live, sent, "a link for each mail, none made and left unmailed");
}

#[tokio::test]
async fn accounts_that_share_an_address_do_not_multiply_the_mails_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    let kids = ["kid1", "kid2", "kid3", "kid4", "kid5"];
    for kid in kids {
        confirmed_user(&app, kid, Some("Parent@Example.org"));
    }
    let stranger = browser();
    let csrf = forgot_csrf(&app, &stranger).await;
    for _ in 0..2 {
        for kid in kids {
            assert_eq!(ask(&app, &stranger, &csrf, kid).await.status(), 200);
        }
    }
    let mails = smtp.settled(Duration::from_millis(1500));
    assert!(!mails.is_empty() && mails.len() <= 3, "{} mails to one mailbox in an hour", mails.len());
    // An hour on, the mailbox gets mail again.
    app.clock.advance(3601);
    assert_eq!(ask(&app, &stranger, &csrf, "kid5").await.status(), 200);
    let later = smtp.settled(Duration::from_millis(1500));
    assert_eq!(later.len(), mails.len() + 1);
}

#[tokio::test]
async fn an_address_with_a_second_recipient_or_a_header_in_it_is_refused_wherever_an_administrator_types_it() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    confirmed_user(&app, "alice", Some("alice@example.org"));
    let bad = [
        "alice@example.org, eve@evil.test",
        "alice@example.org,eve@evil.test",
        "alice@example.org;eve@evil.test",
        "Alice<eve@evil.test>",
        "alice@example.org\r\nBcc: eve@evil.test",
        "alice@example.org\nBcc:eve@evil.test",
        "alice@example.org\u{0}",
        "@example.org",
        "alice@",
    ];
    for (i, email) in bad.iter().enumerate() {
        let add = app.admin(AdminCommand::UserAdd {
            username: format!("new{i}"),
            email: Some(email.to_string()),
            name: None,
            groups: vec![],
            password_hash: bcrypt::hash("whatever-password", 4).unwrap(),
        });
        assert!(add.is_err(), "user add took {email:?}");
        let invite = app.admin(AdminCommand::UserInvite {
            username: format!("inv{i}"),
            email: Some(email.to_string()),
            name: None,
            groups: vec![],
        });
        assert!(invite.is_err(), "user invite took {email:?}");
        let update = app.admin(AdminCommand::UserUpdate {
            username: "alice".into(),
            name: None,
            email: Some(email.to_string()),
            email_verified: None,
        });
        assert!(update.is_err(), "user update took {email:?}");
    }
    // Ordinary addresses still do, trimmed.
    for (i, email) in ["bob@example.org", " bob.smith+ferrid@mail.example.org ", "b@localhost"].iter().enumerate() {
        let add = app.admin(AdminCommand::UserAdd {
            username: format!("ok{i}"),
            email: Some(email.to_string()),
            name: None,
            groups: vec![],
            password_hash: bcrypt::hash("whatever-password", 4).unwrap(),
        });
        assert_eq!(add.unwrap()["email"], email.trim(), "{email:?}");
    }

    // An address stored before these checks (or by an older ferrid) never
    // reaches a second recipient, and a name is never a header.
    let stranger = browser();
    let csrf = forgot_csrf(&app, &stranger).await;
    for (i, email) in bad.iter().enumerate() {
        let username = format!("old{i}");
        let made = user_with(&app, &username, Some("placeholder@example.org"));
        let mut user = app.state.store.user_by_sub(&made.sub.parse().unwrap()).unwrap().unwrap();
        user.email = Some(email.to_string());
        user.name = Some("Old\r\nBcc: eve@evil.test\r\nSubject: hi".into());
        app.state.store.update_user(&user).unwrap();
        assert_eq!(ask(&app, &stranger, &csrf, &username).await.status(), 200);
    }
    assert_eq!(ask(&app, &stranger, &csrf, "alice").await.status(), 200);
    smtp.wait_for("alice@example.org");
    for mail in smtp.settled(Duration::from_millis(1500)) {
        let to = envelope_to(&mail);
        assert!(to.len() == 1 && !to[0].contains("evil"), "{to:?}: {mail}");
        let head = mail.split("\n\n").next().unwrap().to_ascii_lowercase();
        assert!(!head.contains("bcc") && !head.contains("evil") && !head.contains("subject: hi"), "{mail}");
    }
}

#[tokio::test]
async fn a_sender_address_with_a_header_or_a_second_address_stops_ferrid_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for from in ["ferrid <ferrid@home.test>\\r\\nBcc: eve@evil.test", "ferrid@home.test, eve@evil.test"] {
        let yaml = format!(
            "{}smtp:\n  host: 127.0.0.1\n  port: 25\n  security: none\n  from: \"{from}\"\n",
            test_config("http://127.0.0.1:1", dir.path())
        );
        let checked = ferrid::config::Config::from_yaml(&yaml, &NoEnv)
            .map_err(|e| e.to_string())
            .and_then(|config| ferrid::mail::Mailer::new(config.smtp.as_ref().unwrap()).map_err(|e| e.to_string()));
        assert!(checked.is_err(), "from: {from:?} was taken");
    }
}

/// `user` signed in to their account page in a new browser; its CSRF token.
async fn signed_in(app: &TestApp, user: &TestUser) -> (reqwest::Client, String) {
    let browser = browser();
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), &user.username, &user.password).await;
    assert_eq!(location(&response), "/account/");
    let html = browser.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    (browser, hidden_field(&html, "csrf_token").unwrap())
}

/// The paths of the links to `prefix` in the mails to `to` (quoted-printable soft breaks undone).
fn links_to(smtp: &SmtpServer, to: &str, prefix: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for mail in smtp.mails().into_iter().filter(|m| envelope_to(m) == [to.to_owned()]) {
        let text = mail.replace("=\r\n", "").replace("=\n", "");
        paths.extend(text.split_whitespace().filter_map(|w| w.find(prefix).map(|at| w[at..].to_owned())));
    }
    paths
}

/// Waits for a `/verify-email/` link to `to` that is not in `known`.
fn new_check_link(smtp: &SmtpServer, to: &str, known: &[String]) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(link) = links_to(smtp, to, "/verify-email/").into_iter().find(|l| !known.contains(l)) {
            return link;
        }
        assert!(Instant::now() < deadline, "no address check came to {to}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn set_email(app: &TestApp, username: &str, email: &str) {
    app.admin(AdminCommand::UserUpdate {
        username: username.into(),
        name: None,
        email: Some(email.into()),
        email_verified: None,
    })
    .unwrap();
}

fn verified(app: &TestApp, username: &str) -> bool {
    let name = ferrid::domain::Username::parse(username).unwrap();
    app.state.store.user_by_name(&name).unwrap().unwrap().email_verified
}

#[tokio::test]
async fn an_address_check_ends_when_the_address_changes_even_if_it_changes_back() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    let alice = user_with(&app, "alice", Some("old@example.org"));
    let (browser_, csrf) = signed_in(&app, &alice).await;
    let response = browser_.post(app.url("/account/verify-email")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=verify-sent");
    let link = new_check_link(&smtp, "old@example.org", &[]);

    // A → B: the check for A is dead.
    set_email(&app, "alice", "new@example.org");
    assert_eq!(browser().get(app.url(&link)).send().await.unwrap().status(), 410);
    // B → A: still dead; whoever read A then is not vouched for now.
    set_email(&app, "alice", "old@example.org");
    assert_eq!(browser().get(app.url(&link)).send().await.unwrap().status(), 410);
    assert!(!verified(&app, "alice"));

    // A check for the address she has now works, once.
    let response = browser_.post(app.url("/account/verify-email")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=verify-sent");
    let fresh = new_check_link(&smtp, "old@example.org", std::slice::from_ref(&link));
    let done = use_link(&app, &browser(), &fresh, &[]).await;
    assert_eq!(done.status(), 200);
    assert!(verified(&app, "alice"));
}

#[tokio::test]
async fn two_accounts_at_one_address_are_each_their_own_for_checks_and_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    let bob = user_with(&app, "bob", Some("shared@example.org"));
    user_with(&app, "carol", Some("shared@example.org"));

    // Bob's check marks bob, not carol.
    let (browser_, csrf) = signed_in(&app, &bob).await;
    browser_.post(app.url("/account/verify-email")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    let link = new_check_link(&smtp, "shared@example.org", &[]);
    let page = browser().get(app.url(&link)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("bob") && !page.contains("carol"), "{page}");
    assert_eq!(use_link(&app, &browser(), &link, &[]).await.status(), 200);
    assert!(verified(&app, "bob") && !verified(&app, "carol"));
    confirm(&app, "carol");

    // Asked by the address, the mail names every account there: whoever
    // asked gets the one they meant, each its own link.
    let stranger = browser();
    let csrf = forgot_csrf(&app, &stranger).await;
    ask(&app, &stranger, &csrf, "SHARED@example.org").await;
    let mails = smtp.settled(Duration::from_millis(1500));
    let recoveries: Vec<&String> = mails.iter().filter(|m| m.contains("/recover/")).collect();
    let text: Vec<String> = recoveries.iter().map(|m| m.replace("=\r\n", "").replace("=\n", "")).collect();
    assert!(text.iter().any(|m| m.contains("the account bob")), "{text:?}");
    assert!(text.iter().any(|m| m.contains("the account carol")), "{text:?}");
    for mail in &recoveries {
        assert_eq!(envelope_to(mail), ["shared@example.org"]);
    }
    // By name: that account only.
    let named = |who: &str| {
        let mails = smtp.mails();
        mails
            .iter()
            .filter(|m| m.replace("=\r\n", "").replace("=\n", "").contains(&format!("the account {who}")))
            .count()
    };
    let (bobs, carols) = (named("bob"), named("carol"));
    ask(&app, &stranger, &csrf, "carol").await;
    smtp.settled(Duration::from_millis(1500));
    assert_eq!((named("bob"), named("carol")), (bobs, carols + 1));
}

#[tokio::test]
async fn a_burst_of_address_checks_sends_three() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    let alice = user_with(&app, "alice", Some("alice@example.org"));
    let (browser_, csrf) = signed_in(&app, &alice).await;
    let requests: Vec<_> = (0..16)
        .map(|_| browser_.post(app.url("/account/verify-email")).form(&[("csrf_token", &csrf)]).send())
        .collect();
    let mut sent = 0;
    for response in futures_util::future::join_all(requests).await {
        let response = response.unwrap();
        assert!(response.status() == 303 || response.status() == 400, "{}", response.status());
        sent += usize::from(response.status() == 303);
    }
    // Exactly the three places of the hour: never more, and not none (all
    // sixteen made a link, each counted all, and each took its own back).
    assert_eq!(sent, 3, "requests told their check went out");
    smtp.wait_for("alice@example.org");
    let mails = smtp.settled(Duration::from_millis(2000));
    assert_eq!(mails.len(), 3, "address checks in one burst");
    // A corrected address has places of its own (the cap is per account
    // and address), and the old one's are still taken.
    set_email(&app, "alice", "alice@example.net");
    let response = browser_.post(app.url("/account/verify-email")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    assert_eq!(location(&response), "/account/?done=verify-sent");
    smtp.wait_for("alice@example.net");
    set_email(&app, "alice", "alice@example.org");
    let response = browser_.post(app.url("/account/verify-email")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    assert_eq!(response.status(), 400, "the first address's hour is full");
}

fn is_sign_in_redirect(response: &reqwest::Response) -> bool {
    response.status() == 303 && location(response).starts_with("/login")
}

#[tokio::test]
async fn another_site_cannot_make_a_browser_ask_for_a_link_or_a_check() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    let alice = user_with(&app, "alice", Some("alice@example.org"));
    let (victim, _) = signed_in(&app, &alice).await;
    let attacker = browser();
    let attackers_token = forgot_csrf(&app, &attacker).await;
    for (path, form) in [
        ("/forgot", vec![("who", "alice")]),
        ("/forgot", vec![("who", "alice"), ("csrf_token", "")]),
        ("/forgot", vec![("who", "alice"), ("csrf_token", attackers_token.as_str())]),
        ("/account/verify-email", vec![]),
        ("/account/verify-email", vec![("csrf_token", attackers_token.as_str())]),
    ] {
        let response = victim.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path} {form:?}");
        // A cookieless post and a text/plain one (what a cross-site form can send).
        let response = reqwest::Client::new().post(app.url(path)).form(&form).send().await.unwrap();
        let status = response.status();
        let to = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        assert!(status == 400 || status == 403 || is_sign_in_redirect(&response), "{path} cookieless: {status} {to:?}");
        let response = victim
            .post(app.url(path))
            .header("content-type", "text/plain")
            .body("who=alice&csrf_token=x")
            .send()
            .await
            .unwrap();
        assert!(response.status() == 400 || response.status() == 403, "{path} text/plain");
    }
    assert!(smtp.settled(Duration::from_millis(1000)).is_empty(), "no mail went");
    assert!(forgot_links(&app).is_empty() && app.state.store.links_of(&alice.sub.parse().unwrap()).unwrap().is_empty());
}

#[tokio::test]
async fn without_smtp_there_is_no_forgot_link_and_the_routes_do_nothing() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let browser_ = browser();
    let response = browser_.get(app.url("/account/")).send().await.unwrap();
    let login = location(&response);
    let html = browser_.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("/forgot") && !html.contains("Forgot"), "{html}");
    let before = app.state.store.fingerprint().unwrap();
    let page = browser_.get(app.url("/forgot")).send().await.unwrap();
    assert_eq!(page.status(), 404);
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let response = browser_
        .post(app.url("/forgot"))
        .form(&[("csrf_token", csrf.as_str()), ("who", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "nothing looked up, nothing made");

    // The account page offers no check, and its route makes no link.
    let (signed, csrf) = signed_in(&app, &alice).await;
    let home = signed.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    assert!(!home.contains("Confirm my address by mail"), "{home}");
    let response = signed.post(app.url("/account/verify-email")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    assert_ne!(response.status(), 303);
    assert!(app.state.store.links_of(&alice.sub.parse().unwrap()).unwrap().is_empty());
}

/// `user` adds an authenticator app on their account page (signed in in
/// `browser` just now, so no password is asked).
async fn add_totp(app: &TestApp, browser: &reqwest::Client) {
    let html = browser.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let page = browser.post(app.url("/account/mfa/totp")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    let page = page.text().await.unwrap();
    let secret = secret_of(&page);
    let form = [
        ("csrf_token", csrf.clone()),
        ("id", hidden_field(&page, "id").unwrap()),
        ("code", oathtool(&secret, app.clock.now())),
    ];
    let response = browser.post(app.url("/account/mfa/totp/confirm")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/account/mfa?done=totp");
}

/// Waits for the first link to `prefix` mailed to `to`.
fn first_link(smtp: &SmtpServer, to: &str, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(link) = links_to(smtp, to, prefix).into_iter().next() {
            return link;
        }
        assert!(Instant::now() < deadline, "no link to {prefix} came to {to}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_mailbox_alone_never_stands_in_for_a_second_factor() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    let made = app
        .admin(AdminCommand::UserAdd {
            username: "root".into(),
            email: Some("root@example.org".into()),
            name: None,
            groups: vec!["ferrid-admins".into()],
            password_hash: bcrypt::hash("root-password-1", 4).unwrap(),
        })
        .unwrap();
    confirm(&app, "root");
    let root = TestUser {
        username: "root".into(),
        password: "root-password-1".into(),
        sub: made["sub"].as_str().unwrap().into(),
    };
    let alice = confirmed_user(&app, "alice", Some("alice@example.org"));

    // Alice asks while she has no second factor: her link comes...
    let stranger = browser();
    let csrf = forgot_csrf(&app, &stranger).await;
    ask(&app, &stranger, &csrf, "alice").await;
    let alices = first_link(&smtp, "alice@example.org", "/recover/");
    // ...and then she adds an authenticator app: the link no longer opens.
    let (owner, _) = signed_in(&app, &alice).await;
    add_totp(&app, &owner).await;
    assert_eq!(browser().get(app.url(&alices)).send().await.unwrap().status(), 410);

    // Root has an authenticator app. Whoever reads root's mail asks for a
    // link: the page says what it always says, and no mail goes. (Before,
    // the link's session opened the console, got codes from applications
    // without the code, removed the app and set a new password.)
    let (owner, _) = signed_in(&app, &root).await;
    add_totp(&app, &owner).await;
    let before = app.state.store.fingerprint().unwrap();
    let answer = seen(ask(&app, &stranger, &csrf, "root").await).await;
    assert_eq!(answer, seen(ask(&app, &stranger, &csrf, "nobody").await).await);
    let mails = smtp.settled(Duration::from_millis(1500));
    assert!(links_to(&smtp, "root@example.org", "/recover/").is_empty(), "{mails:?}");
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "no link made");
    // An administrator's recovery link still works: they know whom they hand it to.
    let made = app.admin(AdminCommand::UserLink { username: "root".into() }).unwrap();
    let path = crate::links::path_of(&made);
    assert_eq!(location(&use_link(&app, &browser(), &path, &[]).await), "/account/?done=recovered");
}

#[tokio::test]
async fn an_address_nobody_confirmed_gets_no_recovery_link() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let app = mail_app(smtp.port).await;
    // An address the administrator typed (perhaps mistyped), and one confirmed.
    app.admin(AdminCommand::UserAdd {
        username: "typo".into(),
        email: Some("typo@example.org".into()),
        name: None,
        groups: vec![],
        password_hash: bcrypt::hash("typo-password-1", 4).unwrap(),
    })
    .unwrap();
    confirmed_user(&app, "known", Some("known@example.org"));
    let stranger = browser();
    let csrf = forgot_csrf(&app, &stranger).await;
    let unconfirmed = seen(ask(&app, &stranger, &csrf, "typo@example.org").await).await;
    let confirmed = seen(ask(&app, &stranger, &csrf, "known@example.org").await).await;
    assert_eq!(unconfirmed, confirmed, "the page says the same");
    smtp.wait_for("known@example.org");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(links_to(&smtp, "typo@example.org", "/recover/").is_empty(), "no mail to an unconfirmed address");
    assert!(forgot_links(&app).iter().all(|l| l.sub.to_string() != app_user_sub(&app, "typo")));
}

fn app_user_sub(app: &TestApp, username: &str) -> String {
    let name = ferrid::domain::Username::parse(username).unwrap();
    app.state.store.user_by_name(&name).unwrap().unwrap().sub.to_string()
}

/// While the mail server hangs, the outbox fills; past that, `/forgot`
/// makes no link (one would be recorded as mailed, and use up its
/// mailbox's share, without ever arriving).
#[tokio::test]
async fn with_the_outbox_full_forgot_makes_no_link_that_would_never_be_sent() {
    const MAILBOXES: usize = 80;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = mail_app(silent.local_addr().unwrap().port()).await;
    for i in 0..MAILBOXES {
        confirmed_user(&app, &format!("user{i}"), Some(&format!("user{i}@example.org")));
    }
    let stranger = browser();
    let csrf = forgot_csrf(&app, &stranger).await;
    for i in 0..MAILBOXES {
        assert_eq!(ask(&app, &stranger, &csrf, &format!("user{i}")).await.status(), 200);
    }
    let mailed = || {
        let events = app.state.store.audit_since(0).unwrap();
        events.iter().filter(|e| format!("{e:?}").contains("recovery link mailed")).count()
    };
    // The links are made after the answer: wait until the count settles.
    let mut seen = usize::MAX;
    while seen != mailed() {
        seen = mailed();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // The outbox's 64 and the one the mail thread took to the silent
    // server; the check and the queueing are not one step, so requests
    // made at once (at most the pool's 8 threads) may pass it together.
    assert!((60..=64 + 1 + 8).contains(&seen), "{seen} links recorded as mailed for {MAILBOXES} mailboxes");
    drop(silent);
}
