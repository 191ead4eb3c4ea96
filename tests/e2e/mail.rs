//! Mail through a real SMTP server: Debian's aiosmtpd (`python3-aiosmtpd`),
//! started here on a free port, with STARTTLS and a certificate made by
//! `ferrid cert self-signed` that ferrid's `smtp.ca_file` trusts. It writes
//! what it receives to a Maildir, where these tests read the links that
//! ferrid mailed and use them, as a person reading the mail would.

use crate::binary::*;
use crate::helpers::smtp_server::{SmtpServer, free_port};
use crate::helpers::*;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The link to `path_prefix` in a mail (quoted-printable soft breaks undone).
fn link_in(mail: &str, path_prefix: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("=\n", "");
    let start = text.find(&format!("{BINARY_PUBLIC_URL}{path_prefix}")).unwrap_or_else(|| panic!("no link: {text}"));
    text[start..].split_whitespace().next().unwrap().to_owned()
}

/// A config whose `smtp:` points at `port` (STARTTLS, trusting `ca`).
fn config_with_smtp(port: u16, ca: Option<&Path>) -> BinaryConfig {
    binary_config(None, |yaml| {
        let security = match ca {
            Some(ca) => format!("starttls\n  ca_file: {}", ca.display()),
            None => "none".into(),
        };
        format!(
            "{yaml}\nsmtp:\n  host: 127.0.0.1\n  port: {port}\n  security: {security}\n  from: ferrid <ferrid@home.test>\n"
        )
    })
}

fn add_alice(config: &Path) {
    let out = run_with_stdin(
        ferrid().arg("--config").arg(config).args(["user", "add", "alice", "--email", "alice@home.test"]),
        "alice-password-1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The administrator knows the address is hers: only confirmed ones get links by mail.
    let out =
        ferrid().arg("--config").arg(config).args(["user", "update", "alice", "--email-verified"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Submits the form on the page at `path` (a link, or /forgot) with `fields`.
async fn submit(browser: &reqwest::Client, base: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let html = browser.get(format!("{base}{path}")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap_or_else(|| panic!("a form on {path}: {html}"));
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(format!("{base}{path}")).form(&form).send().await.unwrap()
}

#[test]
fn a_forgotten_password_comes_back_through_a_link_mailed_over_starttls_and_strangers_learn_nothing() {
    let certs = tempfile::tempdir().unwrap();
    let made = ferrid()
        .args(["cert", "self-signed", "--host", "localhost", "--ip", "127.0.0.1", "--out"])
        .arg(certs.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let smtp = SmtpServer::start(certs.path(), Some(certs.path()), false);
    let BinaryConfig { dir: _dir, path: config, .. } =
        config_with_smtp(smtp.port, Some(&certs.path().join("cert.pem")));
    let server = serve(&config);
    add_alice(&config);
    let base = server.base.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // The sign-in page offers it.
        let stranger = browser();
        let to_login = stranger.get(format!("{base}/account/")).send().await.unwrap();
        let login = stranger.get(format!("{base}{}", location(&to_login))).send().await.unwrap().text().await.unwrap();
        assert!(login.contains(r#"<a href="/forgot">Forgot your password?</a>"#), "{login}");

        // Someone asks for a name that does not exist, and an address nobody has: the same answer, no mail.
        let answer = |who: &'static str| {
            let base = base.clone();
            async move {
                let response = submit(&browser(), &base, "/forgot", &[("who", who)]).await;
                assert_eq!(response.status(), 200);
                response.text().await.unwrap()
            }
        };
        let nobody = answer("nobody").await;
        let no_address = answer("nobody@home.test").await;
        let alice = answer("ALICE@home.test").await;
        let strip = |html: &str| html.split("csrf_token").next().unwrap().to_owned();
        assert_eq!(strip(&nobody), strip(&alice), "the page says the same for a real account");
        assert_eq!(strip(&no_address), strip(&alice));
        assert!(alice.contains("a mail with a sign-in link is on its way"), "{alice}");

        // Alice's mail arrives (and only hers), through STARTTLS to the server the CA file vouches for.
        let mail = smtp.wait_for("/recover/");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(smtp.mails().len(), 1, "no mail for names and addresses that do not exist");
        assert!(mail.contains("To: alice@home.test"), "{mail}");
        let link = link_in(&mail, "/recover/");
        let path = link.trim_start_matches(BINARY_PUBLIC_URL).to_owned();
        let phone = browser();
        let response = submit(&phone, &base, &path, &[]).await;
        assert_eq!(location(&response), "/account/?done=recovered");
        let html = phone.get(format!("{base}/account/")).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_field(&html, "csrf_token").unwrap();
        let form = [
            ("csrf_token", csrf.as_str()),
            ("new_password", "alices-new-password"),
            ("repeat_password", "alices-new-password"),
        ];
        let response = phone.post(format!("{base}/account/password")).form(&form).send().await.unwrap();
        assert_eq!(location(&response), "/account/?done=password");
    });
}

#[test]
fn a_mail_server_that_refuses_or_is_down_shows_only_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, true);
    for (port, why) in [(smtp.port, "(550): 5.7.1 not accepted here"), (free_port(), "Connection refused")] {
        let BinaryConfig { dir: cfg_dir, path: config, .. } = config_with_smtp(port, None);
        let log = cfg_dir.path().join("ferrid.log");
        let server = serve_logging(&config, Some(&log), &[]);
        add_alice(&config);
        let base = server.base.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let page = rt
            .block_on(async { submit(&browser(), &base, "/forgot", &[("who", "alice")]).await.text().await.unwrap() });
        assert!(page.contains("a mail with a sign-in link is on its way"), "the page is the same: {page}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let line = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("mail not sent")) {
                break line.to_owned();
            }
            assert!(Instant::now() < deadline, "no log line about the mail: {text}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(line.contains("WARN") && line.contains("recovery link for alice") && line.contains(why), "{line}");
        assert!(!line.contains("/recover/"), "the log never holds the link: {line}");
    }
}

#[test]
fn an_invitation_by_mail_and_an_address_check_by_mail_work_from_the_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), None, false);
    let BinaryConfig { dir: _cfg, path: config, .. } = config_with_smtp(smtp.port, None);
    let server = serve(&config);
    let base = server.base.clone();
    let out = ferrid()
        .arg("--config")
        .arg(&config)
        .args(["user", "invite", "erin", "--email", "erin@home.test", "--mail"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mailed to erin@home.test"));
    let invitation = link_in(&smtp.wait_for("/setup/"), "/setup/");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let erin = browser();
        let path = invitation.trim_start_matches(BINARY_PUBLIC_URL);
        let fields = [("new_password", "erins-password-1"), ("repeat_password", "erins-password-1")];
        assert_eq!(location(&submit(&erin, &base, path, &fields).await), "/account/?done=setup-password");
        // Her address is not confirmed yet; she asks for a check from her account page.
        let home = erin.get(format!("{base}/account/")).send().await.unwrap().text().await.unwrap();
        assert!(home.contains("Confirm my address by mail"), "{home}");
        let csrf = hidden_field(&home, "csrf_token").unwrap();
        let response =
            erin.post(format!("{base}/account/verify-email")).form(&[("csrf_token", csrf)]).send().await.unwrap();
        assert_eq!(location(&response), "/account/?done=verify-sent");
    });
    let check = link_in(&smtp.wait_for("/verify-email/"), "/verify-email/");
    rt.block_on(async {
        let path = check.trim_start_matches(BINARY_PUBLIC_URL);
        let response = submit(&browser(), &base, path, &[]).await;
        assert_eq!(response.status(), 200);
        assert!(response.text().await.unwrap().contains("is confirmed as your address"));
    });
    let users = ferrid().arg("--config").arg(&config).args(["user", "list", "--json"]).output().unwrap();
    let users: Value = serde_json::from_slice(&users.stdout).unwrap();
    let erin = users.as_array().unwrap().iter().find(|u| u["username"] == "erin").unwrap();
    assert_eq!(erin["email_verified"], true, "{erin}");
}
