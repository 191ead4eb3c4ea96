//! The admin console in a real browser (Chromium through chromedriver, as
//! in `browser`): an administrator creates a group, a user in it and an
//! application; the user signs in to it; the administrator disables the
//! user, and the user's session and tokens stop. Every console page is
//! screenshotted at 1280 and 375 px, and none scrolls sideways at 360 px.

use crate::browser::{Driver, browser, heading, look_at, sign_in, start_driver, tokens_for, wait_for_url_prefix};
use crate::helpers::*;
use fantoccini::{Client, Locator};

async fn fill(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// The status line a change leaves at the top of the page it returns to
/// (retried while the browser is still between the two pages).
async fn notice(client: &Client) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(element) = client.find(Locator::Css("p[role=status]")).await
            && let Ok(text) = element.text().await
        {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "no notice on {}", client.current_url().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn shown_once(client: &Client) -> String {
    let field = client.wait().for_element(Locator::Id("shown-once")).await.unwrap();
    field.prop("value").await.unwrap().unwrap_or_default()
}

fn authorize_url(app: &TestApp, client_id: &str, pkce: &Pkce) -> String {
    let mut url = url::Url::parse(&app.url("/application/o/authorize/")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &app.url("/healthz"))
        .append_pair("scope", "openid profile")
        .append_pair("state", "console-state")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    let response = reqwest::Client::new().get(app.url("/application/o/userinfo/")).bearer_auth(token).send().await;
    response.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_administrator_sets_up_a_user_and_an_application_then_disabling_the_user_stops_everything() {
    let app = spawn_app().await;
    let root = app.add_user("root", &["ferrid-admins"]);
    let driver: Driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let admin = browser(&driver).await;

    admin.goto(&app.url("/admin/")).await.unwrap();
    sign_in(&admin, &root).await;
    wait_for_url_prefix(&admin, &app.url("/admin/")).await;
    assert_eq!(heading(&admin).await, "Overview");
    look_at(&admin, "admin-overview").await;

    // Keyboard focus shows: the first Tab lands on a link with an outline.
    admin.active_element().await.unwrap().send_keys("\u{E004}").await.unwrap();
    let outline = admin
        .execute("const s = getComputedStyle(document.activeElement); return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]", vec![])
        .await
        .unwrap();
    assert_eq!(outline[1], "solid", "the focused element shows it: {outline}");
    // On a phone the navigation folds into a menu, which opens without script.
    admin.set_window_size(375, 900).await.unwrap();
    let users_link = admin.find(Locator::Css(".admin-nav a[href='/admin/users']")).await.unwrap();
    assert!(!users_link.is_displayed().await.unwrap(), "folded away on a phone");
    click(&admin, "label.menu-button").await;
    assert!(users_link.is_displayed().await.unwrap(), "the menu opened");
    admin.set_window_size(1280, 900).await.unwrap();

    // A group.
    click(&admin, ".admin-nav a[href='/admin/groups']").await;
    fill(&admin, "group-name", "family").await;
    // From the keyboard alone: Enter in the last field submits the form.
    fill(&admin, "group-description", "People at home\u{E007}").await;
    assert_eq!(notice(&admin).await, "Group added.");
    look_at(&admin, "admin-groups").await;

    // A user in it: the generated password is shown once.
    click(&admin, ".admin-nav a[href='/admin/users']").await;
    fill(&admin, "new-username", "carol").await;
    fill(&admin, "new-name", "Carol Example").await;
    click(&admin, "input[name=groups][value=family]").await;
    look_at(&admin, "admin-users").await;
    click(&admin, "form:has(#new-username) button[value=user-add]").await;
    let password = shown_once(&admin).await;
    assert!(password.len() >= 16 && !password.contains('/'), "a password, not a link: {password}");
    assert_eq!(heading(&admin).await, "carol");
    look_at(&admin, "admin-user").await;
    let carol = TestUser { username: "carol".into(), password, sub: String::new() };

    // An application only the group may use: its secret is shown once.
    click(&admin, ".admin-nav a[href='/admin/apps']").await;
    fill(&admin, "app-slug", "album").await;
    fill(&admin, "app-name", "Photo Album").await;
    fill(&admin, "app-redirects", &app.url("/healthz")).await;
    look_at(&admin, "admin-apps").await;
    click(&admin, "form:has(#app-slug) button").await;
    let secret = shown_once(&admin).await;
    assert_eq!(heading(&admin).await, "Photo Album");
    click(&admin, "input[name=allowed_groups][value=family]").await;
    click(&admin, "form:has(#app-claims) button[type=submit]").await;
    // This page showed "Application added." already: wait for the next one.
    wait_for_url_prefix(&admin, &app.url("/admin/apps/album?done=app-update")).await;
    assert_eq!(notice(&admin).await, "Application saved.");
    look_at(&admin, "admin-app").await;
    // The discovery URL's copy button: shown by its script, and it answers.
    let copy = admin.find(Locator::Css("button[data-copy=discovery-url]")).await.unwrap();
    assert!(copy.is_displayed().await.unwrap(), "the script shows the button");
    copy.click().await.unwrap();
    // The handler awaits the clipboard before it says so: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while copy.text().await.unwrap() != "Copied" {
        assert!(std::time::Instant::now() < deadline, "the copy button never said Copied");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Carol signs in to the album in her own browser.
    let phone = browser(&driver).await;
    let pkce = Pkce::new();
    phone.goto(&authorize_url(&app, "album", &pkce)).await.unwrap();
    sign_in(&phone, &carol).await;
    let callback = wait_for_url_prefix(&phone, &app.url("/healthz?")).await;
    let tokens = tokens_for(&app, ("album", &secret), &callback, &pkce).await;
    let access = tokens["access_token"].as_str().expect("an access token").to_owned();
    assert_eq!(userinfo_status(&app, &access).await, 200);
    let (pat, _) = app.create_pat("carol", "album", 3600);
    assert_eq!(app.introspect(&pat, ("album", &secret)).await["active"], true);
    phone.goto(&app.url("/account/")).await.unwrap();
    assert_eq!(heading(&phone).await, "Carol Example");

    // The administrator disables her: signed in minutes ago, so no password is asked.
    admin.goto(&app.url("/admin/users/carol")).await.unwrap();
    assert!(admin.find(Locator::Id("confirm-disable")).await.is_err(), "a fresh session types no password");
    click(&admin, "form:has(input[value=user-disable]) button").await;
    assert_eq!(notice(&admin).await, "User disabled: their sessions and tokens have stopped.");
    look_at(&admin, "admin-user-disabled").await;
    // On the list, her status is there at a phone's width (look_at checks every cell is on screen).
    click(&admin, ".admin-nav a[href='/admin/users']").await;
    let status = admin.find(Locator::Css("tr:has(a[href='/admin/users/carol']) .badge")).await.unwrap();
    assert_eq!(status.text().await.unwrap(), "disabled");
    look_at(&admin, "admin-users-one-disabled").await;

    // Her session, her access token and her personal access token stop.
    phone.refresh().await.unwrap();
    wait_for_url_prefix(&phone, &app.url("/login?tx=")).await;
    assert_eq!(userinfo_status(&app, &access).await, 401);
    assert_eq!(app.introspect(&pat, ("album", &secret)).await["active"], false);

    // The remaining pages, as the administrator sees them now.
    for (path, title) in
        [("/admin/tokens", "Personal access tokens"), ("/admin/keys", "Signing keys"), ("/admin/audit", "Audit")]
    {
        admin.goto(&app.url(path)).await.unwrap();
        assert_eq!(heading(&admin).await, title);
        look_at(&admin, &format!("admin-{}", path.trim_start_matches("/admin/"))).await;
    }
    let bars = admin.find_all(Locator::Css("figure.chart rect.ok")).await.unwrap();
    assert_eq!(bars.len(), 14, "one bar per day");
    let caption = admin.find(Locator::Css("figure.chart figcaption")).await.unwrap().text().await.unwrap();
    assert!(caption.contains("2 sign-ins"), "root and carol: {caption}");
    let table = admin.find(Locator::Css("main table")).await.unwrap().text().await.unwrap();
    assert!(table.contains("root (console)"), "the audit names the administrator: {table}");

    // Five minutes on, a privileged change asks once who it is, then goes on.
    app.clock.advance(301);
    admin.goto(&app.url("/admin/keys")).await.unwrap();
    click(&admin, "form:has(#rotate-alg) button").await;
    wait_for_url_prefix(&admin, &app.url("/login?tx=")).await;
    assert_eq!(heading(&admin).await, "Confirm it's you");
    look_at(&admin, "reauthenticate").await;
    fill(&admin, "password", &root.password).await;
    click(&admin, "form button[type=submit]").await;
    wait_for_url_prefix(&admin, &app.url("/admin/keys")).await;
    click(&admin, "form:has(#rotate-alg) button").await;
    assert!(notice(&admin).await.starts_with("New signing key in use"));

    phone.close().await.unwrap();
    admin.close().await.unwrap();
}
