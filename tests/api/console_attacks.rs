//! Attacks on the redesigned signed-in pages (issue 25): the `email_verified`
//! mark, the `when` filter's unescaped `<time>`, the Node-RED module on the
//! app page, the password field shown only where it would confirm, and the
//! strict CSP on every page of the new shell.

use crate::console::{email_seen, setup, signed_in_browser, state_of};
use crate::helpers::*;
use ferrid::admin::AdminCommand;
use ferrid::domain::Username;

fn record(app: &TestApp, username: &str) -> ferrid::store::User {
    app.state.store.user_by_name(&Username::parse(username).unwrap()).unwrap().unwrap()
}

async fn text(browser: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let response = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The checkbox `name` on a page, as a browser submits it: its value
/// (`on` without one) if the page shows it ticked, else nothing.
fn ticked(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!(r#"<input type="checkbox" name="{name}""#))?;
    let tag = &html[start..start + html[start..].find('>')?];
    if !tag.contains(" checked") {
        return None;
    }
    Some(match tag.find(r#"value=""#) {
        Some(at) => {
            let value = &tag[at + 7..];
            value[..value.find('"').unwrap()].replace("&amp;", "&").replace("&#x2F;", "/").replace("&quot;", "\"")
        }
        None => "on".to_owned(),
    })
}

/// The profile form of `/admin/users/alice` as a browser submits it, with
/// the e-mail field changed to `email`, the box left as the page showed it.
async fn save_profile_as_shown(app: &TestApp, browser: &reqwest::Client, email: &str) -> reqwest::Response {
    let html = text(browser, app, "/admin/users/alice").await;
    let mut form = vec![
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("action", "user-update".to_owned()),
        ("username", "alice".to_owned()),
        ("name", "Alice".to_owned()),
        ("email", email.to_owned()),
    ];
    if let Some(value) = ticked(&html, "email_verified") {
        form.push(("email_verified", value));
    }
    browser.post(app.url("/admin/act")).form(&form).send().await.unwrap()
}

/// An administrator ticks alice's address; later someone edits the address
/// on the same form and saves, the box still ticked as the page showed it.
/// The new address was never marked: every token must say so.
#[tokio::test]
async fn a_box_ticked_for_one_address_does_not_vouch_for_the_one_typed_over_it() {
    let app = spawn_app().await;
    let (root, alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    // Mark alice@example.org: the page's box, ticked by hand.
    let html = text(&browser, &app, "/admin/users/alice").await;
    assert_eq!(ticked(&html, "email_verified"), None, "unticked at first");
    let start = html.find(r#"<input type="checkbox" name="email_verified""#).unwrap();
    let tag = &html[start..start + html[start..].find('>').unwrap()];
    let value = tag.find(r#"value=""#).map(|at| tag[at + 7..].split('"').next().unwrap().to_owned());
    let form = [
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("action", "user-update".to_owned()),
        ("username", "alice".to_owned()),
        ("name", "Alice".to_owned()),
        ("email", "alice@example.org".to_owned()),
        ("email_verified", value.unwrap_or_else(|| "on".to_owned())),
    ];
    let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/admin/users/alice?done=user-update");
    assert!(record(&app, "alice").email_verified);
    assert_eq!(email_seen(&app, &alice, "web", WEB_CB).await, ("alice@example.org".into(), serde_json::json!(true)));

    // Saved again unchanged, with the box as shown: still marked.
    let response = save_profile_as_shown(&app, &browser, "alice@example.org").await;
    assert_eq!(response.status(), 303);
    assert!(record(&app, "alice").email_verified, "an unchanged address keeps its mark");

    // The address typed over, the box left ticked: not marked.
    let response = save_profile_as_shown(&app, &browser, "mallory@evil.example").await;
    assert_eq!(response.status(), 303);
    let user = record(&app, "alice");
    assert_eq!(user.email.as_deref(), Some("mallory@evil.example"));
    assert!(!user.email_verified, "a box ticked for alice@example.org vouched for mallory@evil.example");
    assert_eq!(
        email_seen(&app, &alice, "web", WEB_CB).await,
        ("mallory@evil.example".into(), serde_json::json!(false)),
        "the id_token and userinfo both say unverified"
    );
    // A form that claims the box for an address the page never showed
    // (a hand-made post) marks nothing either.
    let html = text(&browser, &app, "/admin/users/alice").await;
    let form = [
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("action", "user-update".to_owned()),
        ("username", "alice".to_owned()),
        ("email", "other@evil.example".to_owned()),
        ("email_verified", "mallory@evil.example".to_owned()),
    ];
    let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(!record(&app, "alice").email_verified);
}

/// The mark is an administrator's privileged change: not a non-admin's,
/// not without the form's CSRF token, not from a stale session (with no
/// password, an empty one or a wrong one).
#[tokio::test]
async fn only_a_recently_signed_in_administrator_with_the_forms_token_marks_an_address() {
    let app = spawn_app().await;
    let (root, _alice, bob) = setup(&app);
    let mark = |csrf: Option<&str>, password: Option<&str>| {
        let mut form = vec![
            ("action", "user-update".to_owned()),
            ("username", "alice".to_owned()),
            ("email", "alice@example.org".to_owned()),
            ("email_verified", "alice@example.org".to_owned()),
            ("email_verified", "on".to_owned()),
        ];
        form.extend(csrf.map(|c| ("csrf_token", c.to_owned())));
        form.extend(password.map(|p| ("confirm_password", p.to_owned())));
        form
    };
    let before = state_of(&app);

    // bob is no administrator, with his own real CSRF token or without one.
    let bob_browser = browser();
    let response = bob_browser.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&bob_browser, &app.address, &location(&response), &bob.username, &bob.password).await;
    let csrf = hidden_field(&text(&bob_browser, &app, "/account/").await, "csrf_token").unwrap();
    for form in [mark(Some(&csrf), Some(&bob.password)), mark(None, None)] {
        let response = bob_browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 403);
    }

    // root, without the token, or with another browser's.
    let browser = signed_in_browser(&app, &root).await;
    let csrf = hidden_field(&text(&browser, &app, "/admin/users/alice").await, "csrf_token").unwrap();
    for form in [mark(None, None), mark(Some("forged"), None), mark(Some(""), None)] {
        let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 403);
    }
    let other = signed_in_browser(&app, &root).await;
    let other_csrf = hidden_field(&text(&other, &app, "/admin/users/alice").await, "csrf_token").unwrap();
    assert_ne!(other_csrf, csrf);
    let response = browser.post(app.url("/admin/act")).form(&mark(Some(&other_csrf), None)).send().await.unwrap();
    assert_eq!(response.status(), 403);

    // root's session five minutes on: the form shows the password field;
    // posting without it, with it empty, or wrong, changes nothing.
    app.clock.advance(301);
    assert!(text(&browser, &app, "/admin/users/alice").await.contains(r#"type="password""#));
    for password in [None, Some(""), Some("wrong-password")] {
        let response = browser.post(app.url("/admin/act")).form(&mark(Some(&csrf), password)).send().await.unwrap();
        match password {
            Some("wrong-password") => assert_eq!(response.status(), 403, "refused"),
            _ => assert!(location(&response).starts_with("/login?tx="), "sent to confirm"),
        }
    }
    assert_eq!(state_of(&app), before, "nothing changed");
    assert!(!record(&app, "alice").email_verified);
}

/// A user with a second factor: a stale session posting the right password
/// (in a field the page no longer shows) is sent to confirm with the factor,
/// in the console and on the account page alike.
#[tokio::test]
async fn a_hidden_password_field_posted_anyway_does_not_stand_in_for_a_second_factor() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let user = record(&app, "root");
    let enrollment = app.state.mfa().start_totp(&user, "phone", app.clock.now()).unwrap();
    let code = oathtool(&ferrid::crypto::totp::base32(&enrollment.seed), app.clock.now());
    assert!(app.state.mfa().confirm_totp(&user, &enrollment.id, &code, app.clock.now()).unwrap());
    app.clock.advance(301);

    let html = text(&browser, &app, "/admin/users/alice").await;
    assert!(!html.contains(r#"type="password""#), "no field: a password alone would not do");
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let before = state_of(&app);
    for (action, extra) in [
        ("user-update", vec![("username", "alice"), ("email", "alice@example.org"), ("email_verified", "on")]),
        ("user-groups", vec![("username", "bob"), ("groups", "ferrid-admins")]),
        ("keys-rotate", vec![]),
    ] {
        for password in [root.password.as_str(), ""] {
            let mut form = vec![("action", action), ("csrf_token", &csrf), ("confirm_password", password)];
            form.extend(extra.iter().copied());
            let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
            assert!(location(&response).starts_with("/login?tx="), "{action}: sent to confirm");
        }
    }
    assert_eq!(state_of(&app), before);

    // The account page: removing the factor, with the right password.
    let html = text(&browser, &app, "/account/mfa").await;
    assert!(!html.contains(r#"type="password""#));
    let id = hidden_field(&html, "id").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("id", &id), ("current_password", &root.password)];
    let response = browser.post(app.url("/account/mfa/remove")).form(&form).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "sent to confirm");
    assert!(app.state.mfa().has_second_factor(&record(&app, "root")).unwrap(), "the factor stays");
}

/// `when` returns its `<time>` unescaped: only for a number or an RFC 3339
/// string, which it rebuilds itself. Anything else is shown escaped.
#[test]
fn the_when_filter_passes_anything_but_a_time_through_escaped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("error.html"), "[{{ message | when }}]").unwrap();
    let ui = ferrid::ui::Ui::load(Some(dir.path())).unwrap();
    let render = |value: serde_json::Value| {
        ui.render("error.html", &serde_json::json!({ "title": "t", "message": value })).unwrap()
    };
    for hostile in [
        r#"<script>alert(1)</script>"#,
        r#"2026-12-05T03:36:14Z"><script>alert(1)</script>"#,
        r#"2026-12-05T03:36:14Z<img src=x onerror=alert(1)>"#,
        r#"" onmouseover="alert(1)"#,
    ] {
        let html = render(serde_json::json!(hostile));
        assert!(!html.contains(['<', '>', '"']), "{hostile}: {html}");
    }
    let html = render(serde_json::json!("2026-12-05T03:36:14+01:00"));
    assert!(html.starts_with(r#"[<time datetime="2026-12-05T02:36:14Z""#), "{html}");
    // Odd numbers and strings: text, never a panic.
    for odd in [
        serde_json::json!(i64::MIN),
        serde_json::json!(i64::MAX),
        serde_json::json!(u64::MAX),
        serde_json::json!(-1),
        serde_json::json!(1.5e300),
        serde_json::json!("9999-12-31T23:59:59-23:59"),
        serde_json::json!("0000-01-01T00:00:00+23:59"),
        serde_json::json!("2026-02-30T00:00:00Z"),
        serde_json::json!(""),
        serde_json::json!(null),
    ] {
        let html = render(odd.clone());
        assert!(html.starts_with('['), "{odd}: {html}");
    }
}

/// Times a page shows come from the store; one far outside what a date can
/// be (a restored backup, a hand-edited record) is shown as text, and the
/// page still renders: the admin pages (RFC 3339 strings) and the account
/// pages (unix times) alike.
#[tokio::test]
async fn a_time_far_out_of_range_in_the_store_is_shown_not_a_failed_page() {
    let app = spawn_app().await;
    let (root, alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let alice_browser = crate::helpers::browser();
    let response = alice_browser.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&alice_browser, &app.address, &location(&response), &alice.username, &alice.password).await;
    let user = record(&app, "alice");
    let enrollment = app.state.mfa().start_totp(&user, "phone", app.clock.now()).unwrap();
    let code = oathtool(&ferrid::crypto::totp::base32(&enrollment.seed), app.clock.now());
    assert!(app.state.mfa().confirm_totp(&user, &enrollment.id, &code, app.clock.now()).unwrap());
    for at in [i64::MIN, i64::MIN + 1, -377_705_116_800, i64::MAX, 253_402_300_799, -1] {
        let mut user = record(&app, "alice");
        user.created_at = at;
        app.state.store.update_user(&user).unwrap();
        let mut factor = app.state.store.factors_of(&user.sub).unwrap().remove(0).record;
        factor.created_at = at;
        factor.last_used_at = Some(at);
        app.state.store.put_factor(&factor).unwrap();
        for (browser, page) in [(&browser, "/admin/users/alice"), (&alice_browser, "/account/mfa")] {
            let response = browser.get(app.url(page)).send().await;
            let response = response.unwrap_or_else(|e| panic!("{page} with time {at}: the page failed: {e}"));
            assert_eq!(response.status(), 200, "{page} with time {at}");
            assert!(response.text().await.unwrap().contains("added "), "{page} with time {at}");
        }
    }
}

/// The app page shows the Node-RED module and the discovery URL: the app's
/// name (any text an administrator typed) and its URIs are escaped in
/// the page, only `//` comments hold the name in the module, and no secret
/// is on the page once the one-time notice is gone.
#[tokio::test]
async fn the_app_page_escapes_the_node_red_module_and_shows_no_secret() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let evil = "</pre><script>alert(1)</script>\n}; require('child_process').exec('x'); //\u{2028}";
    let added = app.admin(AdminCommand::AppAdd {
        slug: "nodered".into(),
        name: Some(evil.into()),
        client_id: None,
        public: false,
        redirect_uris: vec!["http://127.0.0.1:1880/auth/strategy/callback".into()],
        signing_alg: None,
        machine: false,
        switches: Default::default(),
    });
    let secret = added.unwrap()["client_secret"].as_str().unwrap().to_owned();
    let update = ferrid::admin::AppUpdate {
        slug: "nodered".into(),
        claims: Some(vec!["nodered_permissions: ops=*".into()]),
        ..Default::default()
    };
    app.admin(AdminCommand::AppUpdate(Box::new(update))).unwrap();

    let browser = signed_in_browser(&app, &root).await;
    let html = text(&browser, &app, "/admin/apps/nodered").await;
    assert!(html.contains(r#"<pre class="settings" id="nodered-module">"#), "the module is shown: {html}");
    assert!(!html.contains("<script>alert") && !html.contains("</pre><script"), "{html}");
    assert!(html.contains("&lt;&#x2F;pre&gt;&lt;script&gt;") || html.contains("&lt;/pre&gt;&lt;script&gt;"), "{html}");
    assert!(!html.contains(&secret), "no client secret on the page");
    assert!(html.contains("process.env.FERRID_CLIENT_SECRET"));
    for (at, _) in html.match_indices("<script") {
        assert!(html[at..].starts_with(r#"<script src="/static/copy.js"></script>"#), "{html}");
    }

    // The module as a script: the name stays inside its `//` comments.
    let shown = app.admin(AdminCommand::AppShow { slug: "nodered".into() }).unwrap();
    let options = ferrid::nodered::Options { claim: None, tokens: false, introspect: false };
    let module = ferrid::nodered::setup_module(&shown, &options).unwrap();
    for line in module.lines() {
        if line.contains("child_process") {
            assert!(line.trim_start().starts_with("//"), "outside a comment: {line}");
        }
    }
    assert!(!module.contains(['\u{2028}', '\u{2029}', '\r']), "{module}");
}

/// Every signed-in page of the new shell: the one strict CSP, no inline
/// script but JSON data blocks, no inline style; the copy script is the
/// site's own and plain JavaScript.
#[tokio::test]
async fn every_signed_in_page_keeps_the_strict_csp_and_no_inline_script_or_style() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let csp = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
               form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    let check = |what: &str, html: &str| {
        assert!(!html.contains(" style="), "{what}: inline style");
        assert!(!html.contains("<style"), "{what}: style element");
        assert!(!html.contains("javascript:"), "{what}");
        for (at, _) in html.match_indices("<script") {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            let ok = tag.starts_with(r#"<script src="/static/"#) || tag.contains(r#"type="application/json""#);
            assert!(ok, "{what}: inline script {tag}");
        }
        for (at, _) in html.match_indices('<') {
            let tag = &html[at..at + html[at..].find('>').unwrap_or(html.len() - at)];
            let attributes = tag.split_whitespace().skip(1);
            for attribute in attributes {
                assert!(!attribute.starts_with("on"), "{what}: event handler in {tag}");
            }
        }
    };
    let html = text(&browser, &app, "/admin/users").await;
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let pages = [
        "/account/",
        "/account/mfa",
        "/account/tokens",
        "/admin/",
        "/admin/users",
        "/admin/users/alice",
        "/admin/groups",
        "/admin/apps",
        "/admin/apps/grafana",
        "/admin/apps/web",
        "/admin/tokens",
        "/admin/keys",
        "/admin/audit",
        "/admin/audit?kind=sign_in&days=90",
        "/admin/users/nobody",
    ];
    for page in pages {
        let response = browser.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.headers()["content-security-policy"], csp, "{page}");
        let html = response.text().await.unwrap();
        check(page, &html);
    }
    // Pages answered to a post: a one-time secret, an enrollment with its QR code.
    let posts: [(&str, Vec<(&str, &str)>); 3] = [
        ("/admin/act", vec![("action", "user-add"), ("username", "carol")]),
        ("/admin/act", vec![("action", "app-secret"), ("slug", "grafana")]),
        ("/account/mfa/totp", vec![("name", "phone")]),
    ];
    for (path, fields) in posts {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend(fields);
        let response = browser.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-security-policy"], csp, "{path}");
        check(path, &response.text().await.unwrap());
    }
    let response = browser.get(app.url("/static/copy.js")).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(response.text().await.unwrap().contains("data-copy"));
}
