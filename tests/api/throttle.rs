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

    let trail = app.admin(AdminCommand::AuditList { since: 0, user: Some("alice".into()), app: None }).unwrap();
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
