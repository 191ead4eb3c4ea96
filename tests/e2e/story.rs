//! Issue 26's whole story in one browser, against the real Node-RED: a
//! person is invited, sets up a passkey, signs in to the Node-RED editor
//! with one touch, loses the passkey, and gets back in with a recovery
//! link. Nobody ever reads a password out, or types one.

use crate::browser::{Authenticators, browser, heading, start_driver, wait_for_url_prefix};
use crate::browser_passkeys::{add_passkey, at, sign_out};
use crate::helpers::*;
use crate::nodered::{NODE_RED_SECRET, free_port, node_red_app_yaml, start_node_red_with};
use crate::nodered_pat::ferrid_cli;
use fantoccini::{Client, Locator};
use ferrid::admin::AdminCommand;
use ferrid::nodered::INSIDE_EXPORTS_MARKER;

/// The editor's "Sign in with ferrid" (its strategy's start), then the
/// passkey button on ferrid's sign-in page: one touch. Returns the editor
/// URL Node-RED lands on.
async fn into_the_editor_with_one_touch(client: &Client, node_red: &str) -> String {
    client.goto(&format!("{node_red}/auth/strategy")).await.unwrap();
    client.wait().for_element(Locator::Id("webauthn-start")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(client, &format!("{node_red}/?access_token=")).await
}

#[tokio::test]
async fn invited_she_adds_a_passkey_signs_in_to_node_red_with_one_touch_loses_it_and_gets_back_in_by_link() {
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_edited(|yaml| {
        let yaml = yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost").replace(
            "rate_limits: { userinfo: 20 }",
            "rate_limits: { userinfo: 20, sign_in: 1000, pages: 1000, authorize: 1000 }",
        );
        format!("{yaml}{}", node_red_app_yaml(&node_red_url))
    })
    .await;
    let snippet = ferrid_cli(&app, &["nodered", "settings", "--app", "node-red"]).await;
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).expect("two parts");
    let node_red = start_node_red_with(port, prelude, entries, None, Some(NODE_RED_SECRET)).await;

    // The administrator invites Erin; the link is all she gets.
    let invitation = AdminCommand::UserInvite {
        username: "erin".into(),
        email: None,
        name: Some("Erin Example".into()),
        groups: vec!["admins".into()],
    };
    let made = app.admin(invitation).unwrap();
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    let authenticators = Authenticators::of(&driver, &client).await;
    let laptop = authenticators.add().await;

    client.goto(made["url"].as_str().unwrap()).await.unwrap();
    client.find(Locator::Css("form:has(input[value=passkey]) button")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&client, &at(&app, "/account/mfa?done=setup-passkey")).await;
    add_passkey(&client, &app, "Laptop").await;
    sign_out(&client, &app).await;

    // Node-RED: one touch, and the editor is hers.
    let editor = into_the_editor_with_one_touch(&client, &node_red_url).await;
    assert!(editor.contains("access_token="), "{editor}\n{}", node_red.log());

    // The laptop is gone. Signed out, her key lost, the sign-in page cannot help her.
    authenticators.remove(&laptop).await;
    sign_out(&client, &app).await;
    let link = app.admin(AdminCommand::UserLink { username: "erin".into() }).unwrap();
    client.goto(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(heading(&client).await, "Get back in, Erin Example");
    client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_url_prefix(&client, &at(&app, "/account/?done=recovered")).await;
    // A new key, in the window the link opened, then Node-RED again with it.
    authenticators.add().await;
    add_passkey(&client, &app, "New laptop").await;
    sign_out(&client, &app).await;
    let editor = into_the_editor_with_one_touch(&client, &node_red_url).await;
    assert!(editor.contains("access_token="), "{editor}");

    // No password was ever set or typed: the account has none.
    let erin = app.state.store.user_by_name(&ferrid::domain::Username::parse("erin").unwrap()).unwrap().unwrap();
    assert!(!erin.has_password());
    client.close().await.unwrap();
}
