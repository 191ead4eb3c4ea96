//! What the response says exists is on disk before the response leaves:
//! the real server under strace, and for each write that must survive a
//! power cut, an fdatasync between reading the request and sending the
//! reply. (sled's own flush is sync_file_range, which is not enough.)

use crate::helpers::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Traced {
    strace: Child,
    log: std::path::PathBuf,
}

impl Traced {
    fn ferrid_pid(&self) -> Option<String> {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.strace.id())).ok()?;
        children.split_whitespace().next().map(str::to_owned)
    }

    /// Stops ferrid gracefully (strace then exits) and returns the trace.
    fn finish(mut self) -> Vec<String> {
        if let Some(pid) = self.ferrid_pid() {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
        }
        let _ = self.strace.wait();
        std::fs::read_to_string(&self.log).unwrap().lines().map(str::to_owned).collect()
    }
}

/// Starts ferrid under strace; returns it and where it listens (ferrid
/// binds port 0 and says which port on stdout, which strace passes on).
fn start_traced(config: &std::path::Path, log: &std::path::Path) -> (Traced, String) {
    let mut strace = Command::new("strace")
        .args(["-f", "-e", "trace=fdatasync,fsync,recvfrom,read,sendto,write,writev", "-s", "4096", "-o"])
        .arg(log)
        .arg(env!("CARGO_BIN_EXE_ferrid"))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("FERRID_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace is installed (scripts/test.sh installs it)");
    let lines = crate::binary::stdout_lines(strace.stdout.take().unwrap());
    let traced = Traced { strace, log: log.to_owned() };
    let listening = loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("ferrid under strace says where it listens");
        if line.starts_with("Listening on ") {
            break line;
        }
    };
    let base = crate::binary::listening_base(&listening);
    crate::binary::wait_until_answering(&base);
    (traced, base)
}

/// An fdatasync that succeeded after the request was read and before a reply
/// containing `reply` was sent.
fn durable_before_reply(trace: &[String], request: &str, reply: &str) -> bool {
    // A read's data is printed when it returns, so a split read has it on
    // its `<... recvfrom resumed>` line.
    let is_read = |l: &str| {
        ["recvfrom(", " read(", "<... recvfrom resumed>", "<... read resumed>"].iter().any(|call| l.contains(call))
    };
    let is_send = |l: &str| l.contains("sendto(") || l.contains(" write(") || l.contains("writev(");
    let Some(asked) = trace.iter().position(|l| is_read(l) && l.contains(request)) else {
        panic!("no request containing {request:?} in the trace");
    };
    let Some(answered) = trace.iter().skip(asked).position(|l| is_send(l) && l.contains(reply)).map(|i| i + asked)
    else {
        panic!("no reply containing {reply:?} after the request");
    };
    // When another thread makes a syscall meanwhile, strace splits the call:
    // `fdatasync(7 <unfinished ...>` … `<... fdatasync resumed>) = 0`.
    trace[asked..answered]
        .iter()
        .any(|l| (l.contains("fdatasync(") || l.contains("<... fdatasync resumed>")) && l.trim_end().ends_with("= 0"))
}

#[test]
fn users_apps_codes_refresh_families_revocations_pats_and_sign_outs_are_fsynced_before_the_reply() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let (traced, public) = start_traced(&config, &dir.path().join("trace.log"));

    let cli = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrid"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("FERRID_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // Through the running server's admin API.
    cli(&["user", "add", "dave", "--json"], "dave-password-1\n");
    cli(&["app", "add", "grafana", "--redirect-uri", "https://grafana.example/login"], "");
    cli(&["token", "create", "--user", "dave", "--app", "web", "--json"], "");

    // A code exchange that creates a refresh family, then a rotation.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let browser = browser();
        let params = [
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", WEB_CB),
            ("scope", "openid offline_access"),
        ];
        let r = browser.get(format!("{public}/application/o/authorize/")).query(&params).send().await.unwrap();
        let html = browser.get(format!("{public}{}", location(&r))).send().await.unwrap().text().await.unwrap();
        let form = [
            ("tx", hidden_field(&html, "tx").unwrap()),
            ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
            ("username", "dave".to_owned()),
            ("password", "dave-password-1".to_owned()),
        ];
        let r = browser.post(format!("{public}/login")).form(&form).send().await.unwrap();
        let code = query_of(&location(&r))["code"].clone();
        let token = |form: Vec<(&'static str, String)>| {
            reqwest::Client::new()
                .post(format!("{public}/application/o/token/"))
                .basic_auth("web", Some(WEB_SECRET))
                .form(&form)
                .send()
        };
        let tokens: serde_json::Value = token(vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", WEB_CB.to_owned()),
        ])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let rotated =
            token(vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", refresh)]).await.unwrap();
        assert_eq!(rotated.status(), 200);

        // A code without offline_access: its redemption alone must be durable,
        // or the code could be used again after a crash. (The session signs
        // in at once; `marker` is an unknown parameter, ignored by §3.2.)
        let params = [("response_type", "code"), ("client_id", "web"), ("redirect_uri", WEB_CB), ("scope", "openid")];
        let r = browser.get(format!("{public}/application/o/authorize/")).query(&params).send().await.unwrap();
        let code = query_of(&location(&r))["code"].clone();
        let plain: serde_json::Value = token(vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", WEB_CB.to_owned()),
            ("marker", "plain-code".to_owned()),
        ])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let access = plain["access_token"].as_str().unwrap();
        assert!(plain.get("refresh_token").is_none());
        let revoked = reqwest::Client::new()
            .post(format!("{public}/application/o/revoke/"))
            .basic_auth("web", Some(WEB_SECRET))
            .form(&[("token", access)])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);

        // A sign-out: it must not come back after a crash.
        let hint = [("id_token_hint", plain["id_token"].as_str().unwrap())];
        let r = browser.get(format!("{public}/application/o/web/end-session/")).query(&hint).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("You are signed out"));
    });
    let trace = traced.finish();

    for (what, request, reply) in [
        // (strace escapes quotes, so the markers carry none)
        ("user created", "user-add", "dave"),
        ("application created", "app-add", "grafana"),
        ("personal access token created", "pat-create", "ferrid_pat_"),
        ("refresh family created", "grant_type=authorization_code", "refresh_token"),
        ("refresh token rotated", "grant_type=refresh_token", "refresh_token"),
        ("code redeemed", "marker=plain-code", "id_token"),
        ("access token revoked", "POST /application/o/revoke/", "200 OK"),
        ("session ended", "GET /application/o/web/end-session/", "You are signed out"),
    ] {
        assert!(durable_before_reply(&trace, request, reply), "{what}: no fdatasync between the request and the reply");
    }
}
