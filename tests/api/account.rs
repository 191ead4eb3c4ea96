//! The self-service token page: sign in, create (shown once), list, revoke.

use crate::helpers::*;
use ferrid::admin::AdminCommand;

fn new_token(html: &str) -> Option<String> {
    let marker = r#"id="new-token" readonly value=""#;
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

async fn introspect_active(app: &TestApp, token: &str) -> bool {
    introspect_as_web(&app.address, token).await["active"] == true
}

/// Signs in through the account page's own sign-in; returns the page's HTML.
async fn open_account_page(app: &TestApp, user: &TestUser) -> String {
    let response = app.client.get(app.url("/account/tokens")).send().await.unwrap();
    assert_eq!(response.status(), 303, "not signed in: off to the sign-in form");
    let response = app.submit_sign_in(&location(&response), &user.username, &user.password).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account/tokens");
    let page = app.client.get(app.url("/account/tokens")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

#[tokio::test]
async fn a_user_creates_sees_once_and_revokes_their_own_token() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let html = open_account_page(&app, &alice).await;
    assert!(html.contains("Signed in as <strong>alice</strong>"));
    let csrf = hidden_field(&html, "csrf_token").unwrap();

    let form =
        [("csrf_token", csrf.as_str()), ("app", "web"), ("description", "nightly backup"), ("expires_days", "30")];
    let response = app.client.post(app.url("/account/tokens")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let token = new_token(&html).expect("the new token is shown");
    assert!(token.starts_with("ferrid_pat_"));
    assert!(introspect_active(&app, &token).await);

    // Shown once: the list has the token's id and description, never the secret.
    let html = app.client.get(app.url("/account/tokens")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains(&token) && html.contains("nightly backup"));
    let id = hidden_field(&html, "id").expect("a revoke button");

    let form = [("csrf_token", csrf.as_str()), ("id", id.as_str())];
    let response = app.client.post(app.url("/account/tokens/revoke")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(!introspect_active(&app, &token).await);
    let trail =
        app.admin(AdminCommand::AuditList { since: 0, user: Some("alice".into()), app: None, kind: None }).unwrap();
    let kinds: Vec<&str> = trail.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"pat_created") && kinds.contains(&"pat_revoked"), "{kinds:?}");
}

#[tokio::test]
async fn forged_forms_and_other_users_tokens_change_nothing() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    app.add_user("bob", &[]);
    let bobs = app
        .admin(AdminCommand::PatCreate {
            username: "bob".into(),
            app: "web".into(),
            scope: None,
            expires_in: 3600,
            description: String::new(),
        })
        .unwrap();
    let html = open_account_page(&app, &alice).await;
    let csrf = hidden_field(&html, "csrf_token").unwrap();

    // No CSRF token: refused, nothing created.
    let form = [("app", "web"), ("expires_days", "30")];
    let response = app.client.post(app.url("/account/tokens")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let listed = app.admin(AdminCommand::PatList { username: Some("alice".into()) }).unwrap();
    assert!(listed.as_array().unwrap().is_empty());

    // Bob's token id from alice's session: refused, still active.
    let form = [("csrf_token", csrf.as_str()), ("id", bobs["id"].as_str().unwrap())];
    let response = app.client.post(app.url("/account/tokens/revoke")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(introspect_active(&app, bobs["token"].as_str().unwrap()).await);

    // Without a session, the forms lead to the sign-in, not to a change.
    let response =
        browser().post(app.url("/account/tokens")).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login?tx="));
}

/// Signs `user` in to ferrid's account page in `browser`; returns the page.
async fn account_home(app: &TestApp, browser: &reqwest::Client, user: &TestUser) -> String {
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    if response.status() == 303 {
        let response = sign_in_with(browser, &app.address, &location(&response), &user.username, &user.password).await;
        assert_eq!(location(&response), "/account/", "back to the account page");
    }
    let page = browser.get(app.url("/account/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

async fn still_signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    browser.get(app.url("/account/")).send().await.unwrap().status() == 200
}

#[tokio::test]
async fn the_account_home_shows_who_you_are_and_signs_out_one_session_or_all() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &["admins"]);
    let (laptop, phone, tablet) = (browser(), browser(), browser());
    account_home(&app, &phone, &alice).await;
    account_home(&app, &tablet, &alice).await;
    let html = account_home(&app, &laptop, &alice).await;
    assert!(html.contains("<h1>alice Example</h1>"), "{html}");
    assert!(html.contains("alice@example.org"));
    assert!(html.contains(r#"<span class="tag">admins</span>"#));
    assert!(html.contains("<strong>guarded</strong>"), "her groups admit her to guarded");
    assert_eq!(html.matches(r#"name="sid""#).count(), 4, "three sessions, and 'everywhere'");
    assert_eq!(html.matches("this browser").count(), 2, "one tag, one label");

    // Sign out the phone from the laptop: the phone must sign in again.
    let phone_sid = {
        let session = app.admin(AdminCommand::UserSessions { username: "alice".into() }).unwrap();
        let phone_page = phone.get(app.url("/account/")).send().await.unwrap().text().await.unwrap();
        // Its own row is the one tagged "this browser".
        let before_tag = phone_page.split("this browser").next().unwrap();
        let sid = hidden_field(&phone_page[before_tag.rfind("<li>").unwrap()..], "sid").unwrap();
        assert!(session.as_array().unwrap().iter().any(|s| s["sid"] == sid.as_str()));
        sid
    };
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let end = |sid: &str| {
        let form = [("csrf_token", csrf.clone()), ("sid", sid.to_owned())];
        laptop.post(app.url("/account/sessions/end")).form(&form).send()
    };
    let response = end(&phone_sid).await.unwrap();
    assert_eq!(location(&response), "/account/?done=session");
    assert!(!still_signed_in(&app, &phone).await);
    assert!(still_signed_in(&app, &laptop).await);

    // A sid that is not hers (or gone) ends nothing.
    let response = end(&phone_sid).await.unwrap();
    assert!(response.text().await.unwrap().contains("That session had already ended."));

    // Without the CSRF token, nothing happens.
    let forged = laptop.post(app.url("/account/sessions/end")).form(&[("sid", "all")]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert!(still_signed_in(&app, &tablet).await);

    // Everywhere: the laptop too.
    let response = end("all").await.unwrap();
    assert!(response.text().await.unwrap().contains("You are signed out"));
    assert!(!still_signed_in(&app, &tablet).await);
    assert!(!still_signed_in(&app, &laptop).await);
}

#[tokio::test]
async fn every_signed_in_page_has_a_sign_out_button_that_works() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let html = open_account_page(&app, &alice).await;
    assert!(html.contains(r#"action="/account/sign-out""#), "{html}");
    assert!(html.contains(r#"href="/account/""#));
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let response = app.client.post(app.url("/account/sign-out")).form(&[("csrf_token", csrf)]).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("You are signed out"));
    assert_eq!(app.client.get(app.url("/account/tokens")).send().await.unwrap().status(), 303, "sign in again");
}

#[tokio::test]
async fn changing_your_password_signs_out_your_other_sessions_but_not_this_one() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (laptop, phone) = (browser(), browser());
    account_home(&app, &phone, &alice).await;
    let html = account_home(&app, &laptop, &alice).await;
    assert!(html.contains(r#"<label for="new_password">"#));
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let change = |current: &str, new: &str, again: &str| {
        let form = [
            ("csrf_token", csrf.clone()),
            ("current_password", current.to_owned()),
            ("new_password", new.to_owned()),
            ("repeat_password", again.to_owned()),
        ];
        laptop.post(app.url("/account/password")).form(&form).send()
    };

    let before = app.state.store.fingerprint().unwrap();
    for (current, new, again, says) in [
        ("not-her-password", "a-new-password-1", "a-new-password-1", "The current password is wrong."),
        (alice.password.as_str(), "a-new-password-1", "a-new-password-2", "The two new passwords differ."),
        (alice.password.as_str(), "short", "short", "8 to 72 bytes"),
    ] {
        let response = change(current, new, again).await.unwrap();
        assert_eq!(response.status(), 400, "{says}");
        assert!(response.text().await.unwrap().contains(says), "{says}");
    }
    assert_eq!(app.state.store.fingerprint().unwrap(), before, "refused: nothing changed");

    let response = change(&alice.password, "a-new-password-1", "a-new-password-1").await.unwrap();
    assert_eq!(location(&response), "/account/?done=password");
    let page = laptop.get(app.url("/account/?done=password")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Password changed. Your other sessions are signed out."), "this browser stays in");
    assert!(!still_signed_in(&app, &phone).await, "the other one is out");

    let stranger = browser();
    let login = location(&stranger.get(app.url("/account/")).send().await.unwrap());
    let old = sign_in_with(&stranger, &app.address, &login, "alice", &alice.password).await;
    assert_eq!(old.status(), 401, "the old password no longer works");
    let new = TestUser { password: "a-new-password-1".into(), ..alice };
    account_home(&app, &browser(), &new).await;
}
