//! Password guessing: 3 failures lock an account for 15 minutes (test
//! config), and a lock looks exactly like a wrong password.

use crate::helpers::*;
use ferrid::admin::AdminCommand;

/// One attempt through the real form; returns (status, page without the per-request tx).
async fn attempt(app: &TestApp, username: &str, password: &str) -> (u16, String) {
    let pkce = Pkce::new();
    let response = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    let login = location(&response);
    if !login.starts_with("/login") {
        return (303, String::new()); // already signed in (SSO)
    }
    let response = app.submit_sign_in(&login, username, password).await;
    let status = response.status().as_u16();
    let page = response.text().await.unwrap();
    let page =
        page.lines().filter(|l| !l.contains(r#"name="tx""#)).collect::<Vec<_>>().join("\n").replace(username, "USER");
    (status, page)
}

#[tokio::test]
async fn three_failures_lock_the_account_and_the_lock_reads_like_a_wrong_password() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let mut wrong_page = String::new();
    for _ in 0..3 {
        let (status, page) = attempt(&app, "alice", "not-her-password").await;
        assert_eq!(status, 401);
        wrong_page = page;
    }
    // The right password is now refused, with the very same page.
    let (status, page) = attempt(&app, "alice", &alice.password).await;
    assert_eq!(status, 401);
    assert_eq!(page, wrong_page);

    // An unknown name locks the same way and answers the same page.
    for _ in 0..4 {
        let (status, page) = attempt(&app, "nobody", "whatever-password").await;
        assert_eq!((status, page.as_str()), (401, wrong_page.as_str()));
    }

    let trail =
        app.admin(AdminCommand::AuditList { since: 0, user: Some("alice".into()), app: None, kind: None }).unwrap();
    let locks = trail.as_array().unwrap().iter().filter(|e| e["kind"] == "sign_in_locked").count();
    assert_eq!(locks, 1, "{trail}");

    app.clock.advance(15 * 60 + 1);
    let (status, _) = attempt(&app, "alice", &alice.password).await;
    assert_eq!(status, 303, "the lock expired");
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_accounts_count() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    for _ in 0..2 {
        assert_eq!(attempt(&app, "alice", "nope-nope-nope").await.0, 401);
    }
    // Succeed in a fresh browser (so the next attempts are not SSO).
    let fresh = TestApp { client: browser(), ..app };
    assert_eq!(attempt(&fresh, "alice", &alice.password).await.0, 303);
    let app = TestApp { client: browser(), ..fresh };
    for _ in 0..2 {
        assert_eq!(attempt(&app, "alice", "nope-nope-nope").await.0, 401);
    }
    assert_eq!(
        attempt(&app, "alice", &alice.password).await.0,
        303,
        "2 + 2 failures with a success between: not locked"
    );
}

/// Like `attempt`, but always through the form (prompt=login skips SSO),
/// from `forwarded_for` when given (127.0.0.1 is a trusted proxy).
async fn attempt_from(client: &reqwest::Client, app: &TestApp, who: (&str, &str), forwarded_for: Option<&str>) -> u16 {
    let pkce = Pkce::new();
    let mut params = web_params("openid", &pkce, "n", "s");
    params.push(("prompt", "login"));
    let with_address = |request: reqwest::RequestBuilder| match forwarded_for {
        Some(address) => request.header("x-forwarded-for", address),
        None => request,
    };
    let response = with_address(client.get(app.url("/application/o/authorize/")).query(&params)).send().await.unwrap();
    let page = with_address(client.get(app.url(&location(&response)))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&page, "tx").unwrap()),
        ("csrf_token", hidden_field(&page, "csrf_token").unwrap()),
        ("username", who.0.to_owned()),
        ("password", who.1.to_owned()),
    ];
    with_address(client.post(app.url("/login")).form(&form)).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn fifty_wrong_guesses_from_one_address_do_not_stop_the_owner_in_her_known_browser() {
    let app = spawn_app_edited(|yaml| {
        yaml.replace("rate_limits: { userinfo: 20 }", "rate_limits: { authorize: 1000, sign_in: 1000 }")
            .replace("delay_ms: 5", "delay_ms: 0")
    })
    .await;
    let alice = app.add_user("alice", &[]);
    let hers = browser();
    assert_eq!(attempt_from(&hers, &app, ("alice", &alice.password), None).await, 303, "signed in once before");

    // A stranger on the same address (no proxy header: the TCP peer counts).
    let stranger = browser();
    for _ in 0..50 {
        assert_eq!(attempt_from(&stranger, &app, ("alice", "a-wrong-guess"), None).await, 401);
    }
    // Strangers are locked out of her account now, from there and from elsewhere...
    assert_eq!(attempt_from(&browser(), &app, ("alice", &alice.password), None).await, 401);
    assert_eq!(attempt_from(&browser(), &app, ("alice", &alice.password), Some("198.51.100.20")).await, 401);
    // ...but her own browser, behind that very address, signs her in.
    assert_eq!(attempt_from(&hers, &app, ("alice", &alice.password), None).await, 303);

    let trail =
        app.admin(AdminCommand::AuditList { since: 0, user: Some("alice".into()), app: None, kind: None }).unwrap();
    let locks: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sign_in_locked")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(locks.contains(&"account locked for this client") && locks.contains(&"account locked for unknown clients"));
}

#[tokio::test]
async fn one_address_guessing_locks_that_address_only_not_the_owner_elsewhere() {
    let app = spawn_app_edited(|yaml| yaml.replace("delay_ms: 5", "delay_ms: 0")).await;
    let alice = app.add_user("alice", &[]);
    for _ in 0..3 {
        assert_eq!(attempt_from(&browser(), &app, ("alice", "wrong-guess-1"), Some("203.0.113.9")).await, 401);
    }
    assert_eq!(attempt_from(&browser(), &app, ("alice", &alice.password), Some("203.0.113.9")).await, 401);
    // Before: three failures locked alice from every address.
    assert_eq!(attempt_from(&browser(), &app, ("alice", &alice.password), Some("198.51.100.4")).await, 303);
}

#[tokio::test]
async fn a_sign_in_rehashes_a_password_of_another_cost_and_ends_nothing() {
    // Users are made at cost 4 (helpers); the server is configured for 5.
    let app = spawn_app_edited(|yaml| yaml.replace("password_hash_cost: 4", "password_hash_cost: 5")).await;
    let alice = app.add_user("alice", &[]);
    let stored = |app: &TestApp| {
        let name = ferrid::domain::Username::parse("alice").unwrap();
        app.state.store.user_by_name(&name).unwrap().unwrap().password_hash
    };
    assert!(stored(&app).starts_with("$2b$04$"));
    let pkce = Pkce::new();
    app.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;
    assert!(stored(&app).starts_with("$2b$05$"), "rehashed at the configured cost: {}", stored(&app));

    // Same password, so the session goes on (SSO) and the new hash signs in.
    let sso = app.get_authorize(&web_params("openid", &pkce, "n", "s")).await;
    assert!(location(&sso).starts_with(WEB_CB), "{}", location(&sso));
    let fresh = TestApp { client: browser(), ..app };
    fresh.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;
}
