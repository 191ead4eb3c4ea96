//! The admin console over HTTP: who may use it, CSRF, the password asked
//! for destructive changes, and the audit trail naming the administrator.
//! (Its flows in a real browser are in the e2e browser tests.)

use crate::helpers::*;
use ferrid::admin::AdminCommand;

const PAGES: &[&str] = &[
    "/admin/",
    "/admin/users",
    "/admin/users/alice",
    "/admin/groups",
    "/admin/apps",
    "/admin/apps/web",
    "/admin/tokens",
    "/admin/keys",
    "/admin/audit?kind=sign_in&days=7",
];

/// Every action, with fields that would make it do something.
pub(crate) const ACTIONS: &[(&str, &[(&str, &str)])] = &[
    ("user-add", &[("username", "mallory"), ("groups", "ferrid-admins")]),
    ("user-invite", &[("username", "mallory"), ("groups", "ferrid-admins")]),
    ("user-link", &[("username", "alice")]),
    ("link-revoke", &[("username", "alice"), ("id", "link_x")]),
    ("user-update", &[("username", "alice"), ("name", "Owned")]),
    ("user-groups", &[("username", "bob"), ("groups", "ferrid-admins")]),
    ("user-logout", &[("username", "alice")]),
    ("user-enable", &[("username", "alice")]),
    ("user-disable", &[("username", "alice")]),
    ("user-password", &[("username", "alice")]),
    ("user-mfa-reset", &[("username", "alice")]),
    ("user-delete", &[("username", "alice")]),
    ("group-add", &[("name", "evil")]),
    ("group-rename", &[("name", "ops"), ("new_name", "evil")]),
    ("group-mfa", &[("name", "ops"), ("required", "on")]),
    ("group-remove", &[("name", "ops")]),
    ("app-add", &[("slug", "evil"), ("redirect_uris", "https://evil.example/cb")]),
    ("app-update", &[("slug", "grafana"), ("name", "Owned")]),
    ("app-secret", &[("slug", "grafana")]),
    ("app-remove", &[("slug", "grafana")]),
    ("token-revoke", &[("id", "x")]),
    ("keys-rotate", &[]),
];

/// Signs `user` in through the console's own redirect; returns their browser.
pub(crate) async fn signed_in_browser(app: &TestApp, user: &TestUser) -> reqwest::Client {
    let browser = browser();
    let response = browser.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(response.status(), 303, "a stranger is sent to sign in");
    let response = sign_in_with(&browser, &app.address, &location(&response), &user.username, &user.password).await;
    assert_eq!(location(&response), "/admin/", "and comes back to the console");
    browser
}

/// Everything an attack would change, to compare before and after.
pub(crate) fn state_of(app: &TestApp) -> String {
    let parts = [
        AdminCommand::UserList,
        AdminCommand::GroupList,
        AdminCommand::AppList,
        AdminCommand::PatList { username: None },
        AdminCommand::KeysList,
        AdminCommand::UserSessions { username: "alice".into() },
        AdminCommand::LinkList { username: "alice".into() },
    ];
    parts.into_iter().map(|c| app.admin(c).unwrap().to_string()).collect::<Vec<_>>().join("\n")
}

pub(crate) fn setup(app: &TestApp) -> (TestUser, TestUser, TestUser) {
    app.admin(AdminCommand::GroupAdd { name: "ops".into(), description: None }).unwrap();
    app.add_app("grafana", "https://grafana.example/login");
    let root = app.add_user("root", &["ferrid-admins"]);
    let alice = app.add_user("alice", &["ops"]);
    let bob = app.add_user("bob", &["viewers"]);
    // Something on every page: a token, a session is made by each test.
    app.create_pat("alice", "grafana", 3600);
    (root, alice, bob)
}

#[tokio::test]
async fn a_non_administrator_is_refused_every_page_and_action_with_or_without_csrf() {
    let app = spawn_app().await;
    let (_root, alice, bob) = setup(&app);
    let alice_browser = browser();
    let response = alice_browser.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&alice_browser, &app.address, &location(&response), &alice.username, &alice.password).await;
    let before = state_of(&app);

    let bob_browser = signed_in_browser(&app, &bob).await;
    for page in PAGES {
        let response = bob_browser.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 403, "{page}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Administrators only") && !html.contains("admin-nav"), "{page}: {html}");
    }
    // Bob's own CSRF token (from his account page) is a real one.
    let account = bob_browser.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&account, "csrf_token").unwrap();
    for (action, fields) in ACTIONS {
        for with_csrf in [true, false] {
            let mut form: Vec<(&str, &str)> = vec![("action", action), ("confirm_password", &bob.password)];
            if with_csrf {
                form.push(("csrf_token", &csrf));
            }
            form.extend_from_slice(fields);
            let response = bob_browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
            assert_eq!(response.status(), 403, "{action} (csrf: {with_csrf})");
        }
    }
    // A stranger is sent to sign in, for pages and actions alike.
    let stranger = browser();
    for page in PAGES {
        assert_eq!(stranger.get(app.url(page)).send().await.unwrap().status(), 303, "{page}");
    }
    let response = stranger.post(app.url("/admin/act")).form(&[("action", "group-add"), ("name", "x")]).send().await;
    assert_eq!(response.unwrap().status(), 303);
    assert_eq!(state_of(&app), before, "nothing changed");
}

#[tokio::test]
async fn an_administrator_needs_csrf_and_their_password_for_destructive_changes_and_is_named_in_the_audit() {
    let app = spawn_app().await;
    let (root, alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    for page in PAGES {
        let response = browser.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"aria-current="page""#), "{page}");
    }
    let html = browser.get(app.url("/admin/users/alice")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let post = |form: Vec<(&'static str, String)>| {
        let browser = browser.clone();
        let url = app.url("/admin/act");
        async move { browser.post(url).form(&form).send().await.unwrap() }
    };
    let disable = |csrf: &str, password: &str| {
        vec![
            ("action", "user-disable".to_owned()),
            ("username", "alice".to_owned()),
            ("csrf_token", csrf.to_owned()),
            ("confirm_password", password.to_owned()),
        ]
    };
    let is_disabled = || {
        let users = app.admin(AdminCommand::UserList).unwrap();
        users.as_array().unwrap().iter().find(|u| u["username"] == "alice").unwrap()["disabled"] == true
    };

    let response = post(disable("forged", &root.password)).await;
    assert_eq!(response.status(), 403, "a forged CSRF token");
    let response = post(disable(&csrf, "not-my-password")).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("That is not your password: nothing was changed."));
    // Signed in just now, the console does not ask again; five minutes
    // later, a change without the password sends the browser to confirm.
    app.clock.advance(301);
    let response = post(disable(&csrf, "")).await;
    assert_eq!(response.status(), 303, "no password, stale sign-in");
    assert!(location(&response).starts_with("/login?tx="), "{}", location(&response));
    assert!(!is_disabled());

    let response = post(disable(&csrf, &root.password)).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/users/alice?done=user-disable");
    assert!(is_disabled());
    let page = browser.get(app.url("/admin/users/alice?done=user-disable")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("User disabled: their sessions and tokens have stopped."));

    // An administrator cannot lock themselves out.
    let form = vec![
        ("action", "user-disable".to_owned()),
        ("username", "root".to_owned()),
        ("csrf_token", csrf.clone()),
        ("confirm_password", root.password.clone()),
    ];
    let response = post(form).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("your own account"));

    // Bad input: a clear message, status by kind, nothing changed.
    let bad_group = vec![("action", "group-add".into()), ("name", "no spaces".into()), ("csrf_token", csrf.clone())];
    let response = post(bad_group).await;
    assert_eq!(response.status(), 400);
    let taken = vec![("action", "group-add".into()), ("name", "ops".into()), ("csrf_token", csrf.clone())];
    let response = post(taken).await;
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains("group ops already exists"));

    let trail =
        app.admin(AdminCommand::AuditList { since: 0, user: Some("alice".into()), app: None, kind: None }).unwrap();
    let disabled = trail.as_array().unwrap().iter().find(|e| e["detail"] == "disabled").expect("audited");
    assert_eq!(disabled["by"], "root (console)");
    assert_eq!(alice.username, "alice");
}

#[tokio::test]
async fn an_administrator_cannot_take_their_own_rights_under_another_spelling_nor_rename_ferrid_admins() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    // `admin` (made at the first start) is a second administrator, so only
    // the console's own-account rule stands between root and the change.
    let browser = signed_in_browser(&app, &root).await;
    let html = browser.get(app.url("/admin/users/root")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let post = |fields: &[(&str, &str)]| {
        let mut form = vec![("csrf_token", csrf.as_str()), ("confirm_password", root.password.as_str())];
        form.extend_from_slice(fields);
        let request = browser.post(app.url("/admin/act")).form(&form);
        async move { request.send().await.unwrap() }
    };
    let root_groups = || {
        let users = app.admin(AdminCommand::UserList).unwrap();
        users.as_array().unwrap().iter().find(|u| u["username"] == "root").unwrap()["groups"].clone()
    };
    let before = state_of(&app);
    for fields in [
        &[("action", "user-groups"), ("username", "ROOT")][..],
        &[("action", "user-groups"), ("username", " Root "), ("groups", "viewers")],
        &[("action", "user-disable"), ("username", "ROOT")],
        &[("action", "user-delete"), ("username", "Root")],
    ] {
        let response = post(fields).await;
        assert_eq!(response.status(), 400, "{fields:?}");
        assert!(response.text().await.unwrap().contains("your own account"), "{fields:?}");
    }
    assert_eq!(root_groups(), serde_json::json!(["ferrid-admins"]));

    // ferrid-admins offers no rename or remove form, and refuses both if posted.
    let page = browser.get(app.url("/admin/groups")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("it cannot be renamed or removed"), "{page}");
    // ops is the only other group made at run time (admins and viewers are declared).
    assert_eq!(page.matches(r#"value="group-rename""#).count(), 1, "{page}");
    assert_eq!(page.matches(r#"value="group-remove""#).count(), 1, "{page}");
    assert!(page.contains("Remove ops") && !page.contains("Remove ferrid-admins"), "{page}");
    for fields in [
        &[("action", "group-rename"), ("name", "ferrid-admins"), ("new_name", "former-admins")][..],
        &[("action", "group-remove"), ("name", "ferrid-admins")],
    ] {
        let response = post(fields).await;
        assert_eq!(response.status(), 400, "{fields:?}");
        assert!(response.text().await.unwrap().contains("ferrid-admins cannot be renamed or removed"));
    }
    assert_eq!(state_of(&app), before, "nothing changed");

    // Another administrator's rights can go while root stays one.
    let response = post(&[("action", "user-groups"), ("username", "ADMIN"), ("groups", "viewers")]).await;
    assert_eq!(response.status(), 303);
    let users = app.admin(AdminCommand::UserList).unwrap();
    let admin = users.as_array().unwrap().iter().find(|u| u["username"] == "admin").unwrap().clone();
    assert_eq!(admin["groups"], serde_json::json!(["viewers"]));
}

#[tokio::test]
async fn every_time_on_a_page_reads_as_words_with_the_exact_time_in_its_title() {
    let app = spawn_app().await;
    let (root, alice, _bob) = setup(&app);
    let record =
        app.state.store.user_by_name(&ferrid::domain::Username::parse(&alice.username).unwrap()).unwrap().unwrap();
    app.state.mfa().new_recovery_codes(&record, app.clock.now()).unwrap();
    app.create_pat("root", "grafana", 30 * 86_400);
    let browser = signed_in_browser(&app, &root).await;
    let record = app.state.store.user_by_name(&ferrid::domain::Username::parse("root").unwrap()).unwrap().unwrap();
    app.state.mfa().new_recovery_codes(&record, app.clock.now()).unwrap();
    let html = browser.get(app.url("/admin/users/alice")).send().await.unwrap().text().await.unwrap();
    let added = html.split("added ").nth(1).expect("the factor's line").split("</time>").next().unwrap().to_owned();
    assert!(added.starts_with("<time datetime=\"20") && added.ends_with(">just now"), "{added}");
    for page in [
        "/admin/",
        "/admin/users/alice",
        "/admin/users/root",
        "/admin/tokens",
        "/admin/keys",
        "/admin/audit",
        "/account/",
        "/account/tokens",
        "/account/mfa",
    ] {
        let html = browser.get(app.url(page)).send().await.unwrap().text().await.unwrap();
        // What a person reads: the text between tags, outside `<time>`'s attributes.
        let text: String = html.split('<').map(|part| part.split_once('>').map(|(_, t)| t).unwrap_or(part)).collect();
        let raw = text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != ':').find(|word| {
            (word.len() == 10 && word.starts_with("17") && word.bytes().all(|b| b.is_ascii_digit()))
                // RFC 3339 starts with a year: a random key id such as
                // "Ql78-YZ…T…" is no time.
                || (word.len() > 16
                    && word.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                    && word.as_bytes()[4] == b'-'
                    && word.contains('T'))
        });
        assert_eq!(raw, None, "{page} shows a raw time");
        assert!(html.contains("<time datetime=\""), "{page} shows no time at all");
    }
}

#[tokio::test]
async fn an_app_node_red_can_use_shows_its_ferrid_auth_js_and_others_their_discovery_url() {
    let app = spawn_app_with(
        r#"
  - slug: node-red
    client_secret_sha256: 0000000000000000000000000000000000000000000000000000000000000000
    redirect_uris: ["https://nr.example/auth/strategy/callback"]
    claims:
      nodered_permissions: { from_groups: { admins: "*" } }
"#,
    )
    .await;
    let (root, _alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let page = |path: &'static str| {
        let request = browser.get(app.url(path));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/admin/apps/node-red").await;
    let module = html
        .split(r#"<pre class="settings" id="nodered-module">"#)
        .nth(1)
        .expect("ferrid-auth.js")
        .split("</pre>")
        .next()
        .unwrap();
    assert!(module.contains("passport-openidconnect") && module.contains("nodered_permissions"), "{module}");
    assert!(module.contains(&app.issuer("node-red")), "its issuer: {module}");
    assert!(html.contains("require(&quot;./ferrid-auth.js&quot;)(module.exports);"), "the line to add: {html}");
    assert!(html.contains(r#"data-copy="nodered-module""#) && html.contains("/static/copy.js"), "a copy button");
    // Grafana is no Node-RED: its discovery URL, with a copy button, and no module.
    let html = page("/admin/apps/grafana").await;
    assert!(!html.contains("nodered-module"), "{html}");
    let discovery =
        format!(r#"<code id="discovery-url">{}.well-known/openid-configuration</code>"#, app.issuer("grafana"));
    assert!(html.contains(&discovery) && html.contains(r#"data-copy="discovery-url""#), "{html}");
    let script = reqwest::get(app.url("/static/copy.js")).await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
}

/// The e-mail claims a client sees, in the id_token and at userinfo, after
/// a code flow (signing in the first time, then on the session).
pub(crate) async fn email_seen(
    app: &TestApp,
    alice: &TestUser,
    client: &str,
    redirect_uri: &str,
) -> (String, serde_json::Value) {
    let pkce = Pkce::new();
    let params = [
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let response = app.get_authorize(&params).await;
    let mut to = location(&response);
    if to.starts_with("/login") {
        to = location(&app.submit_sign_in(&to, &alice.username, &alice.password).await);
    }
    let tokens = app.redeem_code(client, redirect_uri, &query_of(&to)["code"], &pkce).await;
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    let id_token: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    let userinfo: serde_json::Value = reqwest::Client::new()
        .get(app.url("/application/o/userinfo/"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(id_token["email_verified"], userinfo["email_verified"], "the two agree");
    (userinfo["email"].as_str().unwrap_or_default().to_owned(), userinfo["email_verified"].clone())
}

#[tokio::test]
async fn email_verified_is_false_until_an_administrator_marks_the_address_and_a_new_address_is_unmarked() {
    let app = spawn_app_with(&format!(
        r#"
  - slug: outline
    client_secret_sha256: {}
    redirect_uris: ["https://outline.example/cb"]
    email_verified: always
"#,
        sha256_hex(WEB_SECRET)
    ))
    .await;
    let (root, alice, _bob) = setup(&app);
    assert_eq!(
        email_seen(&app, &alice, "web", WEB_CB).await,
        ("alice@example.org".into(), serde_json::json!(false)),
        "typed in by an administrator"
    );

    let browser = signed_in_browser(&app, &root).await;
    let html = browser.get(app.url("/admin/users/alice")).send().await.unwrap().text().await.unwrap();
    let unticked = r#"<input type="checkbox" name="email_verified" value="alice@example.org">"#;
    assert!(html.contains(unticked), "unticked, for the address shown: {html}");
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    // `ticked`: the box's value, the address the page showed.
    let save = |email: &'static str, ticked: Option<&'static str>| {
        let mut form = vec![("csrf_token", csrf.clone()), ("action", "user-update".into())];
        form.extend([("username", "alice".into()), ("name", "Alice".into()), ("email", email.to_owned())]);
        if let Some(shown) = ticked {
            form.push(("email_verified", shown.into()));
        }
        let request = browser.post(app.url("/admin/act")).form(&form);
        async move { assert_eq!(request.send().await.unwrap().status(), 303) }
    };
    save("alice@example.org", Some("alice@example.org")).await;
    let trail = app.state.store.audit_since(0).unwrap();
    assert!(
        trail.iter().any(|e| e.detail.as_deref() == Some("profile changed, email marked verified")),
        "the audit says who vouched for the address"
    );
    assert_eq!(
        email_seen(&app, &alice, "web", WEB_CB).await,
        ("alice@example.org".into(), serde_json::json!(true)),
        "marked"
    );
    // A new address is not verified, even though the box came ticked on the page.
    let html = browser.get(app.url("/admin/users/alice")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"<input type="checkbox" name="email_verified" value="alice@example.org" checked>"#));
    let record = || app.state.store.user_by_name(&ferrid::domain::Username::parse("alice").unwrap()).unwrap().unwrap();
    save("alice@home.example", Some("alice@example.org")).await;
    assert_eq!(
        email_seen(&app, &alice, "web", WEB_CB).await,
        ("alice@home.example".into(), serde_json::json!(false)),
        "changed"
    );
    assert!(!record().email_verified);

    // An app declared `email_verified: always` is told true regardless.
    let (_, verified) = email_seen(&app, &alice, "outline", "https://outline.example/cb").await;
    assert_eq!(verified, true);
}

#[tokio::test]
async fn the_console_counts_in_words_names_its_links_apart_and_its_sign_in_says_where_it_leads() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let stranger = browser();
    let response = stranger.get(app.url("/admin/")).send().await.unwrap();
    let login = stranger.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("the ferrid admin console"), "{login}");

    let browser = signed_in_browser(&app, &root).await;
    let html = browser.get(app.url("/admin/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<strong>1</strong> session<") && !html.contains("1</strong> sessions"), "{html}");
    assert!(html.contains("<strong>1</strong> active token<"), "{html}");
    assert!(html.contains(">My tokens<") && html.contains(">All tokens<") && html.contains(">Admin console<"));
}

#[tokio::test]
async fn a_declared_app_whose_secret_ferrid_made_gets_a_new_one_in_the_console_and_one_from_config_does_not() {
    let app = spawn_app_with("  - slug: made\n    redirect_uris: [\"https://made.example/cb\"]\n").await;
    let (root, _alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let made = browser.get(app.url("/admin/apps/made")).send().await.unwrap().text().await.unwrap();
    assert!(made.contains("Make a new client secret"), "ferrid made its secret: {made}");
    let web = browser.get(app.url("/admin/apps/web")).send().await.unwrap().text().await.unwrap();
    assert!(!web.contains("Make a new client secret"), "web's secret is config.yaml's");

    let csrf = hidden_field(&made, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("action", "app-secret"), ("slug", "made")];
    let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("New client secret made."));
    let refused = app.admin(AdminCommand::AppRotateSecret { slug: "web".into() }).unwrap_err();
    assert!(refused.contains("comes from config.yaml"), "{refused}");
}

#[tokio::test]
async fn the_console_invites_a_user_with_a_link_and_qr_code_and_lists_and_revokes_links() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let html = browser.get(app.url("/admin/users")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"<button type="submit" name="action" value="user-invite">Invite</button>"#), "{html}");
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("action", "user-invite"), ("username", "erin"), ("groups", "ops")];
    let page = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap().text().await.unwrap();
    let shown = page.split(r#"<input id="shown-once" readonly value=""#).nth(1).expect("the link, once").split('"');
    let link = shown.clone().next().unwrap().replace("&#x2F;", "/").replace("&#x3D;", "=");
    assert!(link.starts_with(&app.url("/setup/")), "{link}");
    assert!(page.contains(r#"<figure class="qr"><svg"#), "a QR code beside it");
    assert!(page.contains("Invitation link"), "{page}");
    // The administrator never sees a password: erin has none until she chooses one.
    let erin = app.state.store.user_by_name(&ferrid::domain::Username::parse("erin").unwrap()).unwrap().unwrap();
    assert!(!erin.has_password());
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);

    // Her page lists the link; revoking it kills it.
    let html = browser.get(app.url("/admin/users/erin")).send().await.unwrap().text().await.unwrap();
    let id = html.split("<code>link_").nth(1).expect("the link is listed").split('<').next().unwrap();
    let id = format!("link_{id}");
    let form = [("csrf_token", csrf.as_str()), ("action", "link-revoke"), ("username", "erin"), ("id", id.as_str())];
    let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/admin/users/erin?done=link-revoke");
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 410);
    // A recovery link for her, from her page (the session is fresh: no password to type).
    let form = [("csrf_token", csrf.as_str()), ("action", "user-link"), ("username", "erin")];
    let page = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Recovery link") && page.contains(&app.url("/recover/")), "{page}");
}

/// The page as text, entities read back.
fn unescaped(html: &str) -> String {
    html.replace("&#x2F;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn an_app_page_shows_the_values_to_paste_in_oidc_or_the_apps_own_names_and_never_the_secret() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let secret = app.add_app("jupyter", "https://jupyter.example/hub/oauth_callback");
    let browser = signed_in_browser(&app, &root).await;
    let page = |path: String| {
        let request = browser.get(app.url(&path));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            unescaped(&response.text().await.unwrap())
        }
    };
    let html = page("/admin/apps/jupyter".into()).await;
    assert!(html.contains("Values to paste"), "{html}");
    for (name, value) in [
        ("issuer", app.issuer("jupyter")),
        ("authorization_endpoint", app.url("/application/o/authorize/")),
        ("token_endpoint", app.url("/application/o/token/")),
        ("userinfo_endpoint", app.url("/application/o/userinfo/")),
        ("jwks_uri", app.url("/application/o/jupyter/jwks/")),
        ("end_session_endpoint", app.url("/application/o/jupyter/end-session/")),
        ("redirect_uri", "https://jupyter.example/hub/oauth_callback".into()),
        ("scopes", "openid profile email".into()),
    ] {
        assert!(html.contains(&format!("<dt>{name}</dt><dd><code>{value}</code></dd>")), "{name} {value}: {html}");
    }
    assert!(html.contains("Client secret: not shown: ferrid keeps only its hash."), "{html}");
    assert!(!html.contains(&secret), "never the secret");

    // Under JupyterHub's names, ready to paste, with a copy button.
    let html = page("/admin/apps/jupyter?for=jupyterhub".into()).await;
    let snippet = html.split(r#"<pre class="settings" id="values-snippet">"#).nth(1).expect("a snippet");
    let snippet = snippet.split("</pre>").next().unwrap();
    for line in [
        format!("c.GenericOAuthenticator.authorize_url = \"{}\"", app.url("/application/o/authorize/")),
        format!("c.GenericOAuthenticator.token_url = \"{}\"", app.url("/application/o/token/")),
        format!("c.GenericOAuthenticator.userdata_url = \"{}\"", app.url("/application/o/userinfo/")),
        "c.GenericOAuthenticator.oauth_callback_url = \"https://jupyter.example/hub/oauth_callback\"".to_owned(),
    ] {
        assert!(snippet.lines().any(|l| l == line), "{line} in {snippet}");
    }
    assert!(html.contains(r#"data-copy="values-snippet""#) && html.contains("<option selected>jupyterhub</option>"));
    assert!(html.contains("this application sends PKCE"), "its switches differ from the guide's: {html}");
    assert!(!html.contains(&secret));
    // An application it does not know, or something hostile: OIDC's names.
    for asked in ["gitlab", "%3Cscript%3E", "grafana%00"] {
        let html = page(format!("/admin/apps/jupyter?for={asked}")).await;
        assert!(html.contains("OpenID Connect values for jupyter") && !html.contains("<script>"), "{asked}");
    }
}

#[tokio::test]
async fn the_console_sets_an_apps_switches_with_csrf_and_the_password_and_shows_a_declared_apps_read_only() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let html = browser.get(app.url("/admin/apps/grafana")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"name="pkce""#) && html.contains(r#"value="client_secret_post""#), "{html}");
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let shown = || app.admin(AdminCommand::AppShow { slug: "grafana".into() }).unwrap();
    let before = shown();
    let form = |csrf: &str, methods: &[&str]| {
        let mut form = vec![
            ("action", "app-update".to_owned()),
            ("slug", "grafana".to_owned()),
            ("csrf_token", csrf.to_owned()),
            ("confirm_password", root.password.clone()),
            ("name", "Grafana".to_owned()),
            ("redirect_uris", "https://grafana.example/login".to_owned()),
            ("consent", "implicit".to_owned()),
            ("signing_alg", "RS256".to_owned()),
            ("client_auth", "shown".to_owned()),
            ("pkce", "required".to_owned()),
            ("id_token_claims", "minimal".to_owned()),
        ];
        form.extend(methods.iter().map(|m| ("token_endpoint_auth_methods", (*m).to_owned())));
        form
    };
    let post = |form: Vec<(&'static str, String)>| {
        let request = browser.post(app.url("/admin/act")).form(&form);
        async move { request.send().await.unwrap() }
    };

    assert_eq!(post(form("forged", &["client_secret_post"])).await.status(), 403, "a forged CSRF token");
    let response = post(form(&csrf, &[])).await;
    assert_eq!(response.status(), 400, "no method ticked");
    assert!(response.text().await.unwrap().contains("token_endpoint_auth_methods: name at least one"));
    assert_eq!(shown(), before, "nothing changed");

    let response = post(form(&csrf, &["client_secret_post"])).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/apps/grafana?done=app-update");
    let after = shown();
    assert_eq!(after["pkce"], "required");
    assert_eq!(after["token_endpoint_auth_methods"], serde_json::json!(["client_secret_post"]));
    assert_eq!(after["id_token_claims"], "minimal");
    assert_eq!(after["redirect_uris"], before["redirect_uris"]);
    let discovery: serde_json::Value = reqwest::get(app.url("/application/o/grafana/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["token_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_post"]));
    let html = browser.get(app.url("/admin/apps/grafana")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<option selected>required</option>") && html.contains("<option selected>minimal</option>"));
    let trail = app.admin(AdminCommand::AuditList { since: 0, user: None, app: Some("grafana".into()), kind: None });
    let changed = trail
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["detail"] == "settings changed" && e["by"] == "root (console)");
    assert!(changed, "audited under the administrator's name");

    // A declared application shows its switches and takes no form.
    let web = unescaped(&browser.get(app.url("/admin/apps/web")).send().await.unwrap().text().await.unwrap());
    assert!(web.contains("<dt>PKCE</dt><dd>optional</dd>") && web.contains("<dt>id_token claims</dt><dd>full</dd>"));
    assert!(
        web.contains("<code>client_secret_basic</code> <code>client_secret_post</code>")
            && !web.contains(r#"name="pkce""#)
    );
}
