//! What an outsider can put in ferrid's text log and in the CLI's tables:
//! never a forged line, never a terminal escape sequence. And a reverse
//! proxy missing from `trusted_proxies` is reported, once.

use crate::binary::{ferrid, serve_logging};
use crate::helpers::*;

/// Short enough to survive the 64 characters of an attempted name that ferrid keeps.
const FORGED: &str = "2026-12-02T00:00:00Z  INFO ferrid: signed in";

/// A sign-in attempt whose username carries a forged log line and terminal
/// escape sequences. (Header values cannot carry control bytes: the HTTP
/// parser refuses them, and ferrid reads only visible-ASCII headers.)
async fn hostile_sign_in(public: &str, forwarded_for: &str) {
    let browser = browser();
    let params = [("response_type", "code"), ("client_id", "web"), ("redirect_uri", WEB_CB), ("scope", "openid")];
    let response = browser
        .get(format!("{public}/application/o/authorize/"))
        .query(&params)
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap();
    let html = browser.get(format!("{public}{}", location(&response))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", format!("mallory\n{FORGED}\u{1b}]0;x\u{7}")),
        ("password", "whatever-password".to_owned()),
    ];
    let response = browser
        .post(format!("{public}/login"))
        .header("x-forwarded-for", forwarded_for)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

fn no_forged_line_or_escape(text: &str, what: &str) {
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{what} carries a control byte:\n{text}");
    // ferrid lower-cases the attempted name, so the forgery arrives lower-cased.
    for line in text.lines() {
        assert!(!line.to_lowercase().starts_with(&FORGED.to_lowercase()), "{what} has a forged line:\n{text}");
    }
}

#[test]
fn a_hostile_username_forges_no_log_line_nor_audit_row_and_an_untrusted_proxy_is_reported_once() {
    // No trusted proxy: X-Forwarded-For from 127.0.0.1 is not believed.
    let BinaryConfig { dir, path: config, .. } =
        binary_config(None, |yaml| yaml.replace(r#"trusted_proxies: ["127.0.0.1"]"#, "trusted_proxies: []"));
    let log = dir.path().join("ferrid.log");
    let server = serve_logging(&config, Some(&log), &[]);
    let public = server.base.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        hostile_sign_in(&public, "203.0.113.7").await;
        hostile_sign_in(&public, "203.0.113.8").await;
    });

    let text = std::fs::read_to_string(&log).unwrap();
    no_forged_line_or_escape(&text, "the log");
    assert!(text.contains(r"mallory\n2026-12-02"), "the username is logged, escaped:\n{text}");
    let warnings = text.lines().filter(|l| l.contains("X-Forwarded-For") && l.contains("trusted_proxies")).count();
    assert_eq!(warnings, 1, "{text}");

    let audit = ferrid().arg("--config").arg(&config).arg("audit").output().unwrap();
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stderr));
    let table = String::from_utf8(audit.stdout).unwrap();
    no_forged_line_or_escape(&table, "ferrid audit");
    assert!(table.contains(r"mallory\n2026"), "{table}");
    // One header and the rows: a hostile cell never adds a line or a column.
    for row in table.lines() {
        assert_eq!(row.split('\t').count(), table.lines().next().unwrap().split('\t').count(), "{row}");
    }
    drop(server);
}

/// The line of `text` that carries `marker`, which must be a WARN line of a
/// request (its id in the span).
fn warn_line<'a>(text: &'a str, marker: &str) -> &'a str {
    let line = text.lines().find(|l| l.contains(marker)).unwrap_or_else(|| panic!("no line with {marker:?}:\n{text}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("request{id="), "the request id is on the line: {line}");
    line
}

#[test]
fn each_misconfiguration_leaves_one_warn_line_naming_what_was_sent() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml.replace("code: 60s", "code: 3s"));
    let log = dir.path().join("ferrid.log");
    let server = serve_logging(&config, Some(&log), &[]);
    let public = server.base.clone();
    let out = crate::binary::run_with_stdin(
        ferrid().arg("--config").arg(&config).args(["user", "add", "alice"]),
        "alice-password-1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let browser = browser();
        let authorize = |client_id: &str, redirect_uri: &str| {
            let params = [
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("scope", "openid"),
            ];
            browser.get(format!("{public}/application/o/authorize/")).query(&params).send()
        };
        let page = authorize("grafana", WEB_CB).await.unwrap().text().await.unwrap();
        assert!(page.contains("(client_id grafana)"), "the page names what was sent: {page}");
        let page = authorize("web", "https://web.example/cb/").await.unwrap().text().await.unwrap();
        assert!(
            page.contains("https:&#x2F;&#x2F;web.example&#x2F;cb&#x2F;") || page.contains("https://web.example/cb/"),
            "{page}"
        );
        let token = |form: Vec<(&'static str, String)>, secret: &'static str| {
            reqwest::Client::new()
                .post(format!("{public}/application/o/token/"))
                .basic_auth("web", Some(secret))
                .form(&form)
                .send()
        };
        let wrong = token(vec![("grant_type", "client_credentials".into())], "not-the-secret").await.unwrap();
        assert_eq!(wrong.status(), 401);
        // A code redeemed too late, and one redeemed twice.
        for late in [true, false] {
            let response = authorize("web", WEB_CB).await.unwrap();
            let login = location(&response);
            let response = if login.starts_with("/login") {
                sign_in_with(&browser, &public, &login, "alice", "alice-password-1").await
            } else {
                response
            };
            let code = query_of(&location(&response))["code"].clone();
            if late {
                tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
            }
            let form: Vec<(&'static str, String)> = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", WEB_CB.to_owned()),
            ];
            let first = token(form.clone(), WEB_SECRET).await.unwrap();
            if !late {
                assert_eq!(first.status(), 200);
                assert_eq!(token(form, WEB_SECRET).await.unwrap().status(), 400);
            }
        }
    });
    let admin = std::process::Command::new(env!("CARGO_BIN_EXE_ferrid"))
        .arg("--config")
        .arg(&config)
        .args(["user", "list"])
        .output()
        .unwrap();
    assert!(admin.status.success());
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    let unknown = warn_line(&text, "authorize: no application has this client_id");
    assert!(unknown.contains("client_id=grafana"), "{unknown}");
    let redirect = warn_line(&text, "authorize: the redirect_uri is not registered");
    assert!(
        redirect.contains("sent=https://web.example/cb/") && redirect.contains("registered=https://web.example/cb"),
        "{redirect}"
    );
    let secret = warn_line(&text, "client authentication: wrong client secret");
    assert!(secret.contains("client_id=web"), "{secret}");
    assert!(
        secret.contains("FERRID_CLIENT_SECRET") && secret.contains("ferrid app rotate-secret web"),
        "the fix: {secret}"
    );
    assert!(warn_line(&text, "token: an expired authorization code").contains("client_id=web"));
    warn_line(&text, "authorization code replayed");
    assert!(text.lines().any(|l| l.contains("admin command") && l.contains("command=user-list")), "{text}");
}

#[test]
fn a_one_time_links_secret_is_never_written_to_the_log_even_at_debug() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let log = dir.path().join("ferrid.log");
    let server = serve_logging(&config, Some(&log), &[]);
    let public = server.base.clone();
    let out = ferrid().arg("--config").arg(&config).args(["user", "invite", "carol"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned();
    let path = url::Url::parse(&url).unwrap().path().to_owned();
    let secret = path.rsplit('/').next().unwrap().to_owned();
    assert_eq!(secret.len(), 43, "{url}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let browser = browser();
        // Opened (a live link), a forged form, a refused password, then used.
        let page = browser.get(format!("{public}{path}")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let csrf = hidden_field(&page.text().await.unwrap(), "csrf_token").unwrap();
        let forged = browser.post(format!("{public}{path}")).form(&[("csrf_token", "forged")]).send().await.unwrap();
        assert_eq!(forged.status(), 403);
        let short = [("csrf_token", csrf.as_str()), ("new_password", "short"), ("repeat_password", "short")];
        assert_eq!(browser.post(format!("{public}{path}")).form(&short).send().await.unwrap().status(), 200);
        let good = [
            ("csrf_token", csrf.as_str()),
            ("new_password", "carols-password-1"),
            ("repeat_password", "carols-password-1"),
        ];
        assert_eq!(browser.post(format!("{public}{path}")).form(&good).send().await.unwrap().status(), 303);
        // And dead: opened and submitted again.
        assert_eq!(browser.get(format!("{public}{path}")).send().await.unwrap().status(), 410);
        let again = browser.post(format!("{public}{path}")).form(&good).send().await.unwrap();
        assert_eq!(again.status(), 410);
    });
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/setup/…"), "the requests are logged, without the secret:\n{text}");
    assert!(!text.contains(&secret), "the secret is in the log:\n{text}");
}
