//! The log of a ferrid that mails links, at debug level: every link that
//! went out by mail (a recovery link from the forgot page, an address
//! check, an invitation from the console) and every page that opened or
//! used one leave no secret in it, while it still says what was sent to
//! whom.

use crate::binary::{ferrid, run_with_stdin, serve_logging};
use crate::helpers::smtp_server::SmtpServer;
use crate::helpers::*;
use std::time::{Duration, Instant};

/// Every link secret (the 43 characters after the path) in `mails`.
fn secrets_in(mails: &[String]) -> Vec<String> {
    let mut secrets = Vec::new();
    for mail in mails {
        let text = mail.replace("=\r\n", "").replace("=\n", "");
        for prefix in ["/recover/", "/verify-email/", "/setup/"] {
            for (at, _) in text.match_indices(prefix) {
                let secret: String = text[at + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                assert_eq!(secret.len(), 43, "{text}");
                secrets.push(secret);
            }
        }
    }
    secrets
}

/// The path of the first link to `prefix` in the mails that hold it.
fn path_in(smtp: &SmtpServer, prefix: &str) -> String {
    let text = smtp.wait_for(prefix).replace("=\r\n", "").replace("=\n", "");
    let at = text.find(prefix).unwrap();
    text[at..].split_whitespace().next().unwrap().to_owned()
}

/// Opens the page at `path` in `browser` and submits its form.
async fn submit(browser: &reqwest::Client, base: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let html = browser.get(format!("{base}{path}")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap_or_else(|| panic!("a form on {path}: {html}"));
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(format!("{base}{path}")).form(&form).send().await.unwrap()
}

#[test]
fn no_link_that_went_out_by_mail_is_ever_in_the_debug_log() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let BinaryConfig { dir: cfg, path: config, .. } = binary_config(None, |yaml| {
        format!(
            "{yaml}\nsmtp:\n  host: 127.0.0.1\n  port: {}\n  security: none\n  from: ferrid <ferrid@home.test>\n",
            smtp.port
        )
    });
    let log = cfg.path().join("ferrid.log");
    let server = serve_logging(&config, Some(&log), &[]);
    let base = server.base.clone();
    for (name, password) in [("alice", "alice-password-1"), ("root", "root-password-1")] {
        let mut command = ferrid();
        command.arg("--config").arg(&config).args(["user", "add", name, "--email", &format!("{name}@home.test")]);
        if name == "root" {
            command.args(["--groups", "ferrid-admins"]);
        }
        let out = run_with_stdin(&mut command, &format!("{password}\n"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let confirmed =
            ferrid().arg("--config").arg(&config).args(["user", "update", name, "--email-verified"]).output();
        assert!(confirmed.unwrap().status.success());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // A recovery link from the forgot page, opened and used.
        let stranger = browser();
        assert_eq!(submit(&stranger, &base, "/forgot", &[("who", "alice@home.test")]).await.status(), 200);
        let recover = path_in(&smtp, "/recover/");
        let recover = recover.trim_start_matches(BINARY_PUBLIC_URL);
        let alice = browser();
        assert_eq!(location(&submit(&alice, &base, recover, &[]).await), "/account/?done=recovered");
        // The used link, opened again (a dead link's page is logged too).
        assert_eq!(browser().get(format!("{base}{recover}")).send().await.unwrap().status(), 410);

        // An address check from the account page, for a new (unconfirmed) address, opened and used.
        let out =
            ferrid().arg("--config").arg(&config).args(["user", "update", "alice", "--email", "a2@home.test"]).output();
        assert!(out.unwrap().status.success());
        let home = alice.get(format!("{base}/account/")).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_field(&home, "csrf_token").unwrap();
        let response =
            alice.post(format!("{base}/account/verify-email")).form(&[("csrf_token", csrf)]).send().await.unwrap();
        assert_eq!(location(&response), "/account/?done=verify-sent");
        let check = path_in(&smtp, "/verify-email/");
        let check = check.trim_start_matches(BINARY_PUBLIC_URL);
        assert_eq!(submit(&browser(), &base, check, &[]).await.status(), 200);

        // An invitation the console mails.
        let admin = browser();
        let response = admin.get(format!("{base}/admin/users")).send().await.unwrap();
        let response = sign_in_with(&admin, &base, &location(&response), "root", "root-password-1").await;
        assert_eq!(response.status(), 303);
        let page = admin.get(format!("{base}/admin/users")).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_field(&page, "csrf_token").unwrap();
        let form = [
            ("csrf_token", csrf.as_str()),
            ("action", "user-invite"),
            ("username", "erin"),
            ("email", "erin@home.test"),
            ("mail", "on"),
        ];
        let response = admin.post(format!("{base}/admin/act")).form(&form).send().await.unwrap();
        assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
        let setup = path_in(&smtp, "/setup/");
        let setup = setup.trim_start_matches(BINARY_PUBLIC_URL);
        assert_eq!(browser().get(format!("{base}{setup}")).send().await.unwrap().status(), 200);
    });

    let mails = smtp.mails();
    let secrets = secrets_in(&mails);
    assert!(secrets.len() >= 3, "{mails:?}");
    // The log says what went out, to whom...
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.matches("mail sent").count() >= 3 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for what in ["recovery link for alice", "address check for alice", "Invitation link for erin"] {
        assert!(text.lines().any(|l| l.contains("mail sent") && l.contains(what)), "{what}:\n{text}");
    }
    // ...and never the link.
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a mailed link's secret is in the log:\n{text}");
        assert!(!text.contains(&secret[..20]), "part of a mailed link's secret is in the log:\n{text}");
    }
}
