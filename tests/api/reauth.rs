//! Re-authentication ("sudo mode") for privileged actions: every console
//! action (from `ferrid::console::action_names`) × (signed in just now,
//! five minutes ago, not at all) × (administrator, not one); the confirm
//! step itself (only the signed-in user, their second factor if they have
//! one, the same session refreshed); and the account page's tokens.

use crate::console::{ACTIONS, setup, signed_in_browser, state_of};
use crate::helpers::*;
use ferrid::admin::AdminCommand;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Freshness {
    /// Signed in just now.
    Fresh,
    /// Signed in more than `lifetimes.reauthentication` (5 minutes) ago.
    Stale,
    /// No session at all.
    None,
}

/// The test fields for `action`: every action the console has must be here.
fn fields_of(action: &str) -> &'static [(&'static str, &'static str)] {
    ACTIONS
        .iter()
        .find(|(name, _)| *name == action)
        .map(|(_, fields)| *fields)
        .unwrap_or_else(|| panic!("console action {action} has no row in tests/api/console.rs ACTIONS"))
}

/// A browser in the given state for `user`, and a CSRF token for its forms.
async fn browser_for(app: &TestApp, user: &TestUser, freshness: Freshness) -> (reqwest::Client, String) {
    let browser = match freshness {
        Freshness::None => browser(),
        _ => {
            let browser = browser();
            let response = browser.get(app.url("/account/")).send().await.unwrap();
            sign_in_with(&browser, &app.address, &location(&response), &user.username, &user.password).await;
            browser
        }
    };
    // A real CSRF token: the account page's (or, without a session, the sign-in form's).
    let response = browser.get(app.url("/account/")).send().await.unwrap();
    let html = if response.status() == 303 {
        browser.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap()
    } else {
        response.text().await.unwrap()
    };
    if freshness == Freshness::Stale {
        app.clock.advance(301);
    }
    (browser, hidden_field(&html, "csrf_token").unwrap())
}

#[tokio::test]
async fn every_console_action_needs_an_administrator_and_the_privileged_ones_a_recent_sign_in() {
    let actions: Vec<(&str, bool)> = ferrid::console::action_names().collect();
    assert_eq!(actions.len(), ACTIONS.len(), "the test's rows are the console's actions");
    for (action, privileged) in actions {
        for admin in [true, false] {
            for freshness in [Freshness::Fresh, Freshness::Stale, Freshness::None] {
                let app = spawn_app().await;
                let (root, _alice, bob) = setup(&app);
                let user = if admin { &root } else { &bob };
                let (browser, csrf) = browser_for(&app, user, freshness).await;
                // An open recovery link of alice's, for `link-revoke` to name.
                let link = app.admin(AdminCommand::UserLink { username: "alice".into() }).unwrap();
                let link_id = link["id"].as_str().unwrap().to_owned();
                let before = state_of(&app);
                let mut form = vec![("action", action), ("csrf_token", csrf.as_str())];
                form.extend_from_slice(fields_of(action));
                // The one action whose field must name something made at run time.
                let pat_id = app.admin(AdminCommand::PatList { username: None }).unwrap()[0]["id"].clone();
                let pat_id = pat_id.as_str().unwrap().to_owned();
                if action == "token-revoke" {
                    form.retain(|(name, _)| *name != "id");
                    form.push(("id", &pat_id));
                }
                if action == "link-revoke" {
                    form.retain(|(name, _)| *name != "id");
                    form.push(("id", &link_id));
                }
                let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
                let status = response.status().as_u16();
                let next = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
                let cell = format!("{action} as {} ({freshness:?})", if admin { "admin" } else { "non-admin" });
                let goes_on =
                    admin && (freshness == Freshness::Fresh || (freshness == Freshness::Stale && !privileged));
                if goes_on {
                    let done = status == 200 || next.as_deref().is_some_and(|n| n.contains("?done="));
                    assert!(done, "{cell}: done, got {status} {next:?}");
                    continue;
                }
                match (admin, freshness) {
                    (_, Freshness::None) => {
                        assert!(next.unwrap_or_default().starts_with("/login?tx="), "{cell}: sent to sign in")
                    }
                    (false, _) => assert_eq!(status, 403, "{cell}"),
                    (true, _) => {
                        assert_eq!(status, 303, "{cell}");
                        assert!(next.unwrap_or_default().starts_with("/login?tx="), "{cell}: sent to confirm");
                    }
                }
                assert_eq!(state_of(&app), before, "{cell}: nothing changed");
            }
        }
    }
}

/// Posts the confirm form at `login` (the re-authentication's sign-in page).
async fn confirm(
    app: &TestApp,
    browser: &reqwest::Client,
    login: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let html = browser.get(app.url(login)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Confirm it"), "{html}");
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ];
    browser.post(app.url("/login")).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn confirming_takes_only_the_signed_in_users_proof_and_refreshes_the_same_session() {
    let app = spawn_app().await;
    let (root, _alice, bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let html = browser.get(app.url("/admin/users/alice")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    app.clock.advance(301);
    let form = [("action", "user-groups"), ("csrf_token", &csrf), ("username", "bob"), ("groups", "ferrid-admins")];
    let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "{login}");

    // Another user's name and password do not confirm root's session.
    let before = state_of(&app);
    let response = confirm(&app, &browser, &login, &bob.username, &bob.password).await;
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("Wrong username or password"));
    assert_eq!(state_of(&app), before);

    let response = confirm(&app, &browser, &login, &root.username, &root.password).await;
    assert_eq!(location(&response), "/admin/users/bob", "back to the page of the change");
    let sessions = app.admin(AdminCommand::UserSessions { username: "root".into() }).unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1, "the same session, refreshed: {sessions}");
    let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/admin/users/bob?done=user-groups");
}

#[tokio::test]
async fn an_administrator_with_a_second_factor_confirms_with_it_not_with_the_password_alone() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    // root sets up an authenticator app (fresh: no password asked).
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
    // A first app and no recovery codes: they are offered at once.
    let page = browser.get(app.url("/account/mfa?done=totp")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Now make <a href=\"#recovery\">recovery codes</a>"), "{page}");

    // The password typed into the form is right, but root now has a factor
    // and this session never proved it: confirm with the code.
    let form = [("action", "keys-rotate"), ("csrf_token", &csrf), ("confirm_password", &root.password)];
    let before = state_of(&app);
    let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "{login}");
    assert_eq!(state_of(&app), before);
    let response = confirm(&app, &browser, &login, &root.username, &root.password).await;
    let code_page = location(&response);
    assert!(code_page.starts_with("/login/code?tx="), "{code_page}");
    let html = browser.get(app.url(&code_page)).send().await.unwrap().text().await.unwrap();
    app.clock.advance(30);
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("code", oathtool(&secret, app.clock.now())),
    ];
    let response = browser.post(app.url("/login/code")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/admin/keys");
    let form = [("action", "keys-rotate"), ("csrf_token", &csrf)];
    let response = browser.post(app.url("/admin/act")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/admin/keys?done=keys-rotate");
}

#[tokio::test]
async fn a_personal_access_token_is_made_only_by_a_session_that_signed_in_or_confirmed_recently() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let (browser, csrf) = browser_for(&app, &alice, Freshness::Stale).await;
    let form = [("csrf_token", csrf.as_str()), ("app", "web"), ("expires_days", "30"), ("description", "ci")];
    let before = app.state.store.fingerprint().unwrap();
    let response = browser.post(app.url("/account/tokens")).form(&form).send().await.unwrap();
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "a stolen session alone makes no token: {login}");
    assert_eq!(app.state.store.fingerprint().unwrap(), before);

    let response = confirm(&app, &browser, &login, &alice.username, &alice.password).await;
    assert_eq!(location(&response), "/account/tokens");
    let response = browser.post(app.url("/account/tokens")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let pats = app.admin(AdminCommand::PatList { username: Some("alice".into()) }).unwrap();
    assert_eq!(pats.as_array().unwrap().len(), 1, "{pats}");
}

#[tokio::test]
async fn privileged_forms_ask_for_a_password_only_where_typing_it_would_confirm() {
    let app = spawn_app().await;
    let (root, _alice, _bob) = setup(&app);
    let browser = signed_in_browser(&app, &root).await;
    let page = |path: &'static str| {
        let request = browser.get(app.url(path));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let password_fields = |html: &str| html.matches(r#"type="password""#).count();
    // Signed in just now: nothing to type.
    assert_eq!(password_fields(&page("/account/mfa").await), 0);
    assert_eq!(password_fields(&page("/admin/users/alice").await), 0);
    // Five minutes on, without a second factor: the password confirms in the form.
    app.clock.advance(301);
    assert_eq!(password_fields(&page("/account/mfa").await), 2, "an app, recovery codes (no passkeys on 127.0.0.1)");
    assert_eq!(password_fields(&page("/admin/users/alice").await), 4, "recovery link, disable, new password, delete");
    // With a second factor, a password alone would not do: the form says the
    // change will ask who it is, and asks for nothing itself.
    let record = app.state.store.user_by_name(&ferrid::domain::Username::parse("root").unwrap()).unwrap().unwrap();
    let enrollment = app.state.mfa().start_totp(&record, "phone", app.clock.now()).unwrap();
    let code = oathtool(&ferrid::crypto::totp::base32(&enrollment.seed), app.clock.now());
    assert!(app.state.mfa().confirm_totp(&record, &enrollment.id, &code, app.clock.now()).unwrap());
    let html = page("/admin/users/alice").await;
    assert_eq!(password_fields(&html), 0);
    assert!(
        html.contains("Each change here first asks you to confirm it&#x27;s you.")
            || html.contains("Each change here first asks you to confirm it's you."),
        "{html}"
    );
}
