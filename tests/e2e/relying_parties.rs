//! Two independent relying parties complete sign-in and RP-Initiated
//! Logout against ferrid: openid-client (Node, from npm) with its own
//! end-session URL, and a Python one on Authlib (Debian's packages). Each
//! verifies the id_token (and its `sid`) with its own JOSE code; afterwards
//! the session is gone and the next authorization asks for the password.

use crate::helpers::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

const POST_LOGOUT: &str = "https://rp.example/signed-out";

/// A relying party process speaking the line protocol of tests/e2e/rp/.
pub(crate) struct RelyingParty {
    pub(crate) child: Child,
    stdin: ChildStdin,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl RelyingParty {
    pub(crate) fn start(mut command: Command) -> RelyingParty {
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("the RP starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read on a thread of its own: the server under test shares this runtime.
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        RelyingParty { child, stdin, lines }
    }

    /// The rest of the line that starts with `word`.
    pub(crate) async fn expect(&mut self, word: &str) -> String {
        let next = tokio::time::timeout(std::time::Duration::from_secs(30), self.lines.recv()).await;
        let Ok(Some(line)) = next else {
            let status = self.child.try_wait();
            panic!("the RP said no {word} (exit: {status:?}); its stderr is above")
        };
        line.strip_prefix(&format!("{word} ")).unwrap_or_else(|| panic!("expected {word}, got {line}")).to_owned()
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
    }
}

async fn sign_in_and_out(app: &TestApp, slug: &str, rp: Command) {
    let user = app.add_user(&format!("{slug}-user"), &[]);
    let mut rp = RelyingParty::start(rp);
    let authorize = rp.expect("AUTHORIZE").await;
    let browser = browser();

    // The browser leg: authorize, sign in, back to the RP's callback.
    let response = browser.get(&authorize).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), &user.username, &user.password).await;
    rp.send(&location(&response));
    let signed_in = rp.expect("SIGNED_IN").await;
    let (sub, sid) = signed_in.split_once(' ').unwrap();
    assert_eq!(sub, user.sub);
    assert!(sid.len() >= 16, "{sid}");

    // RP-Initiated Logout with the RP's own end-session URL.
    let end_session = rp.expect("END_SESSION").await;
    assert!(end_session.starts_with(&app.url(&format!("/application/o/{slug}/end-session/"))), "{end_session}");
    let response = browser.get(&end_session).send().await.unwrap();
    assert_eq!(response.status(), 303, "the hint proves the session: no question asked");
    let back = location(&response);
    assert!(back.starts_with(&format!("{POST_LOGOUT}?state=")), "{back}");
    let status = tokio::task::spawn_blocking(move || rp.child.wait().unwrap()).await.unwrap();
    assert!(status.success());

    // The session is gone: the next authorization asks for the password.
    let response = browser.get(&authorize).send().await.unwrap();
    assert!(location(&response).starts_with("/login?tx="), "{}", location(&response));
}

fn app_yaml(slug: &str) -> String {
    format!(
        r#"  - slug: {slug}
    client_secret_sha256: {digest}
    redirect_uris: ["http://127.0.0.1:9/{slug}/callback"]
    post_logout_redirect_uris: ["{POST_LOGOUT}"]
"#,
        digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex()
    )
}

fn rp_args(app: &TestApp, slug: &str) -> [String; 5] {
    [
        app.issuer(slug),
        slug.to_owned(),
        WEB_SECRET.to_owned(),
        format!("http://127.0.0.1:9/{slug}/callback"),
        POST_LOGOUT.to_owned(),
    ]
}

pub(crate) fn rp_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/rp").join(name)
}

#[tokio::test]
async fn openid_client_signs_in_and_out_with_its_own_end_session_url() {
    let app = spawn_app_with(&app_yaml("js-rp")).await;
    let mut node = Command::new("node");
    node.arg(rp_script("openid_client_rp.js"))
        .args(rp_args(&app, "js-rp"))
        .env("NODE_PATH", crate::nodered::node_modules());
    sign_in_and_out(&app, "js-rp", node).await;
}

#[tokio::test]
async fn a_python_authlib_relying_party_signs_in_and_out() {
    let app = spawn_app_with(&app_yaml("py-rp")).await;
    // Debian's Python, where scripts/test.sh installs python3-authlib.
    let mut python = Command::new("/usr/bin/python3");
    python.arg(rp_script("authlib_rp.py")).args(rp_args(&app, "py-rp"));
    sign_in_and_out(&app, "py-rp", python).await;
}

/// openid-client discovers the `web` issuer, registers itself there with
/// an initial access token (RFC 7591), signs in (checking that issuer in
/// the id_token and in the RFC 9207 `iss` parameter), reads its
/// registration back and deletes it (RFC 7592).
#[tokio::test]
async fn openid_client_registers_itself_signs_in_under_that_issuer_and_deletes_itself() {
    let app = spawn_app_edited(|yaml| format!("{yaml}registration: {{ enabled: true, application: web }}\n")).await;
    let user = app.add_user("dcr-user", &[]);
    let made = app
        .admin(ferrid::admin::AdminCommand::RegistrationTokenCreate {
            expires_in: None,
            uses: None,
            description: Some("openid-client".into()),
        })
        .unwrap();
    let callback = "http://127.0.0.1:9/dcr/callback";
    let mut node = Command::new("node");
    node.arg(rp_script("openid_client_register.js"))
        .args([app.issuer("web").as_str(), made["token"].as_str().unwrap(), callback, POST_LOGOUT])
        .env("NODE_PATH", crate::nodered::node_modules());
    let mut rp = RelyingParty::start(node);
    let client_id = rp.expect("REGISTERED").await;
    assert!(client_id.starts_with("reg-"), "{client_id}");
    let authorize = rp.expect("AUTHORIZE").await;

    // The browser leg: sign in, consent (a registered client asks), back to the RP.
    let browser = browser();
    let response = browser.get(&authorize).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), &user.username, &user.password).await;
    let consent = location(&response);
    assert!(consent.starts_with("/consent?tx="), "{consent}");
    let html = browser.get(app.url(&consent)).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "allow".to_owned()),
    ];
    let response = browser.post(app.url("/consent")).form(&form).send().await.unwrap();
    rp.send(&location(&response));

    assert_eq!(rp.expect("SIGNED_IN").await, format!("{} {}", user.sub, app.issuer("web")));
    assert_eq!(rp.expect("READ").await, client_id);
    assert_eq!(rp.expect("DELETED").await, "204");
    let status = tokio::task::spawn_blocking(move || rp.child.wait().unwrap()).await.unwrap();
    assert!(status.success());
    let apps = app.admin(ferrid::admin::AdminCommand::AppList).unwrap();
    assert!(!apps.to_string().contains(&client_id), "it deleted itself");
}
