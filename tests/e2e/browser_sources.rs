//! A sign-in source in a real browser, to the real Node-RED: the editor's
//! "Sign in with ferrid", then ferrid's "Sign in with Corp" button to
//! another ferrid (the upstream provider, on another host name so that
//! each keeps its own cookies), the password typed there, and back through
//! ferrid, which makes the account, into the editor.

use crate::browser::{browser, look_at, sign_in, start_driver, wait_for_url_prefix};
use crate::helpers::*;
use crate::nodered::{free_port, node_red_app_yaml, start_node_red_with};
use crate::nodered_pat::ferrid_cli;
use fantoccini::Locator;
use ferrid::admin::AdminCommand;
use ferrid::config::{SourceDecl, SourceKind};
use ferrid::domain::{GroupName, Slug};
use ferrid::nodered::INSIDE_EXPORTS_MARKER;

#[tokio::test]
async fn a_person_signs_in_to_node_red_with_an_account_at_another_provider() {
    let upstream = spawn_app().await;
    let uma = upstream.add_user("uma", &[]);
    let (issuer, upstream_state) = (upstream.issuer("down"), upstream.state.clone());
    let port = free_port();
    let node_red_url = format!("http://127.0.0.1:{port}");
    let node_red_app = node_red_app_yaml(&node_red_url);
    let app = spawn_app_tuned(
        |yaml| {
            let yaml = yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost").replace(
                "rate_limits: { userinfo: 20 }",
                "rate_limits: { userinfo: 20, sign_in: 1000, pages: 1000, authorize: 1000 }",
            );
            format!("{yaml}{node_red_app}")
        },
        move |config| {
            // The upstream knows ferrid as its application `down`.
            let callback = format!("{}/source/oauth/callback/corp/", config.public_url.as_str());
            let add = AdminCommand::AppAdd {
                slug: "down".into(),
                name: Some("ferrid at home".into()),
                client_id: None,
                public: false,
                redirect_uris: vec![callback],
                signing_alg: None,
                machine: false,
                switches: Default::default(),
            };
            let added = upstream_state.administer(add, "command line").unwrap().to_json();
            config.sources = vec![SourceDecl {
                slug: Slug::parse("corp").unwrap(),
                name: "Corp".into(),
                kind: SourceKind::Oidc {
                    issuer,
                    scopes: vec!["openid".into(), "profile".into(), "email".into()],
                    username_claim: "preferred_username".into(),
                    groups_claim: None,
                },
                client_id: "down".into(),
                client_secret: added["client_secret"].as_str().unwrap().to_owned(),
                link_by_email: false,
                create_users: true,
                default_groups: vec![GroupName::parse("admins").unwrap()],
                group_map: vec![],
                trust_upstream_mfa: false,
            }];
        },
    )
    .await;
    let snippet = ferrid_cli(&app, &["nodered", "settings", "--app", "node-red"]).await;
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).expect("two parts");
    let node_red = start_node_red_with(port, prelude, entries, None, Some(crate::nodered::NODE_RED_SECRET)).await;

    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;
    client.goto(&format!("{node_red_url}/auth/strategy")).await.unwrap();
    let button = Locator::Css("form[action='/login/source'] button");
    client.wait().for_element(button).await.unwrap();
    look_at(&client, "sign-in-with-a-source").await;
    assert_eq!(client.find(button).await.unwrap().text().await.unwrap(), "Sign in with Corp");
    client.find(button).await.unwrap().click().await.unwrap();

    // At the other provider: its own sign-in page, on its own host.
    wait_for_url_prefix(&client, &upstream.url("/login?tx=")).await;
    sign_in(&client, &uma).await;

    // Back through ferrid (which makes uma's account) into the editor.
    let editor = wait_for_url_prefix(&client, &format!("{node_red_url}/?access_token=")).await;
    assert!(editor.contains("access_token="), "{editor}\n{}", node_red.log());
    let made = app.state.store.user_by_name(&ferrid::domain::Username::parse("uma").unwrap()).unwrap();
    let made = made.expect("ferrid made the account");
    assert_eq!(made.identities[0].source, "corp");
    assert!(!made.has_password());
    client.close().await.unwrap();
}
