//! HTTPS from PEM files: a certificate made by `ferrid cert self-signed`,
//! trusted by a client that trusts nothing else; reload under a running
//! server; the plain-HTTP redirect listener.

use crate::binary::ferrid;
use crate::helpers::*;
use ferrid::clock::Clock;
use ferrid::config::Config;
use ferrid::startup::Application;
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs the real binary's `cert self-signed` into `out`.
fn self_signed(out: &Path) {
    let status = ferrid()
        .args(["cert", "self-signed", "--host", "localhost", "--ip", "127.0.0.1", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

struct TlsApp {
    https: String,
    port: u16,
    redirect_port: Option<u16>,
    certs: PathBuf,
    state: actix_web::web::Data<ferrid::http::AppState>,
    _dir: tempfile::TempDir,
}

impl TlsApp {
    /// How many certificate changes the reloader has taken up or refused.
    fn reloads(&self, outcome: &str) -> u64 {
        let text = self.state.metrics.render(0).unwrap();
        let series = format!(r#"ferrid_tls_reloads_total{{outcome="{outcome}"}} "#);
        text.lines().find_map(|l| l.strip_prefix(&series)?.parse().ok()).unwrap_or(0)
    }
}

/// Polls `condition` every 50 ms for up to 10 s.
fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server on HTTPS with the certificate in `{dir}/tls`, files re-read every second.
async fn spawn_tls_app(redirect: bool) -> TlsApp {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("tls");
    self_signed(&certs);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let https = format!("https://127.0.0.1:{port}");
    let redirect_line = if redirect { ", redirect_http_from: 127.0.0.1:0" } else { "" };
    let yaml = format!(
        "{}tls: {{ cert: {}, key: {}, refresh_interval: 1s{redirect_line} }}\n",
        test_config(&https, dir.path()),
        certs.join("cert.pem").display(),
        certs.join("key.pem").display()
    );
    let config = Config::from_yaml(&yaml, &NoEnv).expect("valid config");
    let app = Application::build_on(config, Clock::system(), listener).await.expect("server starts");
    let redirect_port = app.redirect_port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TlsApp { https, port, redirect_port, certs, state, _dir: dir }
}

fn trusting(cert_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_pem(cert_pem).unwrap()]).build().unwrap()
}

#[tokio::test]
async fn a_client_trusting_only_the_generated_certificate_completes_discovery_and_a_token_grant() {
    let app = spawn_tls_app(false).await;
    let key_mode = std::fs::metadata(app.certs.join("key.pem")).unwrap().permissions().mode();
    assert_eq!(key_mode & 0o777, 0o600, "the private key is written 0600");

    let client = trusting(&std::fs::read(app.certs.join("cert.pem")).unwrap());
    let discovery = client
        .get(format!("{}/application/o/web/.well-known/openid-configuration", app.https))
        .send()
        .await
        .expect("the TLS handshake verifies against the generated certificate");
    assert_eq!(discovery.status(), 200);
    assert!(discovery.headers().contains_key("strict-transport-security"), "HSTS over https");
    let doc: serde_json::Value = discovery.json().await.unwrap();
    assert_eq!(doc["issuer"], format!("{}/application/o/web/", app.https));
    let token_endpoint = doc["token_endpoint"].as_str().unwrap().to_owned();

    let token = client
        .post(&token_endpoint)
        .basic_auth("web", Some(WEB_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let body: serde_json::Value = token.json().await.unwrap();
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);

    // A client with only the public roots refuses the self-signed certificate.
    let stranger = reqwest::Client::new().get(format!("{}/healthz", app.https)).send().await;
    assert!(stranger.is_err(), "an untrusted certificate must fail the handshake");
    // And plain HTTP on the TLS port gets no answer.
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", app.port)).await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
}

/// A TLS connection that does not verify (we only read which certificate is served).
fn connect(port: u16) -> SslStream<TcpStream> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder.set_verify(SslVerifyMode::NONE);
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    builder.build().configure().unwrap().use_server_name_indication(false).connect("127.0.0.1", tcp).unwrap()
}

fn serial_of(stream: &SslStream<TcpStream>) -> String {
    let cert = stream.ssl().peer_certificate().unwrap();
    cert.serial_number().to_bn().unwrap().to_hex_str().unwrap().to_string()
}

fn serial_in(cert_path: &Path) -> String {
    let cert = openssl::x509::X509::from_pem(&std::fs::read(cert_path).unwrap()).unwrap();
    cert.serial_number().to_bn().unwrap().to_hex_str().unwrap().to_string()
}

/// One keep-alive request on an open connection; the status line.
fn get_healthz(stream: &mut SslStream<TcpStream>) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
}

/// Moves a new certificate and key into place the way a renewal tool would:
/// written beside, then renamed over the old files.
fn install(from: &Path, to: &Path) {
    for name in ["key.pem", "cert.pem"] {
        let staged = to.join(format!(".{name}.new"));
        std::fs::copy(from.join(name), &staged).unwrap();
        std::fs::rename(&staged, to.join(name)).unwrap();
    }
}

#[tokio::test]
async fn a_renewed_certificate_is_served_on_the_next_connection_and_open_ones_stay_up() {
    let app = spawn_tls_app(false).await;
    let (port, certs) = (app.port, app.certs.clone());
    tokio::task::spawn_blocking(move || {
        let app = app;
        let old_serial = serial_in(&certs.join("cert.pem"));
        let mut open = connect(port);
        assert_eq!(serial_of(&open), old_serial);
        assert_eq!(get_healthz(&mut open), "HTTP/1.1 200 OK");

        let renewed = certs.parent().unwrap().join("renewed");
        self_signed(&renewed);
        let new_serial = serial_in(&renewed.join("cert.pem"));
        assert_ne!(new_serial, old_serial);
        install(&renewed, &certs);

        wait_for("the renewed certificate", || serial_of(&connect(port)) == new_serial);
        assert_eq!(get_healthz(&mut open), "HTTP/1.1 200 OK", "a connection opened before the reload still works");

        // A broken renewal is refused (the reloader says so); the good certificate stays.
        // (Counts are compared with what they were: a reload that caught the
        // key renamed before the certificate was refused as a mismatch.)
        let refused = app.reloads("refused");
        std::fs::write(certs.join("cert.pem"), b"-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
        wait_for("the broken certificate to be refused", || app.reloads("refused") > refused);
        let mut after = connect(port);
        assert_eq!(serial_of(&after), new_serial, "a bad certificate must not replace a good one");
        assert_eq!(get_healthz(&mut after), "HTTP/1.1 200 OK");

        // And the reloader lives on: the next good renewal is served.
        let third = certs.parent().unwrap().join("third");
        self_signed(&third);
        let third_serial = serial_in(&third.join("cert.pem"));
        let reloaded = app.reloads("reloaded");
        install(&third, &certs);
        wait_for("the third certificate", || serial_of(&connect(port)) == third_serial);
        assert!(app.reloads("reloaded") > reloaded);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_plain_http_listener_only_redirects_to_public_url() {
    let app = spawn_tls_app(true).await;
    let port = app.redirect_port.expect("redirect listener bound");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client
        .get(format!("http://127.0.0.1:{port}/application/o/authorize/?client_id=web&state=a%20b"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(location(&response), format!("{}/application/o/authorize/?client_id=web&state=a%20b", app.https));
    let post = client.post(format!("http://127.0.0.1:{port}//evil.example/x")).send().await.unwrap();
    assert_eq!(post.status(), 308);
    assert_eq!(location(&post), format!("{}//evil.example/x", app.https), "a path, still on public_url's host");
}

#[test]
fn start_up_refuses_a_key_that_does_not_match_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    self_signed(&a);
    self_signed(&b);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let https = format!("https://127.0.0.1:{port}");
    let yaml = format!(
        "{}tls: {{ cert: {}, key: {} }}\n",
        test_config(&https, dir.path()),
        a.join("cert.pem").display(),
        b.join("key.pem").display()
    );
    let config = Config::from_yaml(&yaml, &NoEnv).unwrap();
    // `check-config` finds it too, before anyone tries to start.
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let check = ferrid().arg("--config").arg(&path).arg("check-config").output().unwrap();
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("does not belong to the certificate"));
    std::fs::write(
        &path,
        yaml.replace(&b.join("key.pem").display().to_string(), &a.join("key.pem").display().to_string()),
    )
    .unwrap();
    let good = ferrid().arg("--config").arg(&path).arg("check-config").output().unwrap();
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("valid until"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error = runtime.block_on(Application::build_on(config, Clock::system(), listener)).err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("does not belong to the certificate") && message.contains("key.pem"), "{message}");
}

/// What Node-RED's passport-openidconnect does first, with the certificate
/// trusted the way docs/nodered.md says (NODE_EXTRA_CA_CERTS).
#[tokio::test]
async fn node_trusts_the_generated_certificate_through_node_extra_ca_certs() {
    let app = spawn_tls_app(false).await;
    let script = r#"
        const https = require('https');
        https.get(process.argv[1], (res) => {
            let body = '';
            res.on('data', (c) => body += c);
            res.on('end', () => { console.log(res.statusCode, JSON.parse(body).issuer); });
        }).on('error', (e) => { console.log('ERROR', e.code); process.exitCode = 1; });
    "#;
    let url = format!("{}/application/o/web/.well-known/openid-configuration", app.https);
    let run = move |extra_ca: Option<PathBuf>| {
        let mut node = std::process::Command::new("node");
        node.arg("-e").arg(script).arg(&url).env_remove("NODE_EXTRA_CA_CERTS");
        if let Some(path) = extra_ca {
            node.env("NODE_EXTRA_CA_CERTS", path);
        }
        node.output().expect("node is installed (scripts/test.sh installs it)")
    };
    let (trusting, stranger) = tokio::task::spawn_blocking({
        let cert = app.certs.join("cert.pem");
        move || (run(Some(cert)), run(None))
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&trusting.stdout);
    assert_eq!(
        out.trim(),
        format!("200 {}/application/o/web/", app.https),
        "{}",
        String::from_utf8_lossy(&trusting.stderr)
    );
    let refused = String::from_utf8_lossy(&stranger.stdout);
    assert!(refused.starts_with("ERROR"), "without the CA, Node refuses: {refused}");
}
