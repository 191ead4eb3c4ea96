//! ferrid behind the real reverse proxies, with the configurations
//! docs/proxies.md gives (Authelia's snippets with the host name changed):
//! Debian's nginx (`auth_request`) and Caddy (`forward_auth`), started on
//! free ports with their files in a temporary folder, in front of a small
//! upstream that echoes the `Remote-*` headers it receives. ferrid is
//! `id.home.test`, the protected app `nodered.home.test`, one cookie
//! domain (`home.test`); names resolve to loopback in the client.

use crate::helpers::*;
use ferrid::admin::AdminCommand;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The upstream: answers every request with the request's `remote-*`
/// headers as JSON, so a test sees exactly what the proxy passed on.
fn start_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut seen = serde_json::Map::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some((name, value)) = line.split_once(':') {
                        let name = name.trim().to_ascii_lowercase();
                        if name.starts_with("remote-") {
                            seen.insert(name, value.trim().into());
                        }
                    }
                    line.clear();
                }
                let body = serde_json::Value::Object(seen).to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx in front of `a.home.test` and `b.home.test` (the docs' snippet
/// once per host), both to the echo upstream.
fn start_nginx_two_sites(dir: &Path, ferrid_port: u16, upstream: u16) -> Proxy {
    let port = free_port();
    let site = |host: &str| {
        include_str!("../../docs/proxies/nginx-site.conf")
            .replace("nodered.home.lan", host)
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
            .replace("http://id.home.lan:9000", &format!("http://127.0.0.1:{ferrid_port}"))
            .replace("http://127.0.0.1:1880", &format!("http://127.0.0.1:{upstream}"))
    };
    write_nginx_conf(dir, &format!("{}\n{}", site("a.home.test"), site("b.home.test")));
    run_nginx(dir, port)
}

fn write_nginx_conf(dir: &Path, sites: &str) {
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{}}\nhttp {{\n  access_log off;\n  \
         client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{sites}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
}

fn run_nginx(dir: &Path, port: u16) -> Proxy {
    let d = dir.display();
    let log = dir.join("error.log");
    let child = Command::new("nginx")
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf"), "-e", &log.display().to_string()])
        // One process: killing it at the end of the test leaves no orphaned workers.
        .args(["-g", "daemon off; master_process off; user root;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (scripts/test.sh installs it)");
    wait_for_port(port, "nginx", &log);
    Proxy { child, port }
}

/// A proxy process, stopped with the test.
struct Proxy {
    child: Child,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// nginx with `auth_request`, as docs/proxies.md gives it.
fn start_nginx(dir: &Path, ferrid_port: u16, upstream: u16) -> Proxy {
    let port = free_port();
    let snippet = include_str!("../../docs/proxies/nginx-site.conf")
        .replace("nodered.home.lan", "nodered.home.test")
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace("http://id.home.lan:9000", &format!("http://127.0.0.1:{ferrid_port}"))
        .replace("http://127.0.0.1:1880", &format!("http://127.0.0.1:{upstream}"));
    write_nginx_conf(dir, &snippet);
    run_nginx(dir, port)
}

/// Caddy with `forward_auth`, as docs/proxies.md gives it.
fn start_caddy(dir: &Path, ferrid_port: u16, upstream: u16) -> Proxy {
    let port = free_port();
    let site = include_str!("../../docs/proxies/Caddyfile")
        .replace("nodered.home.lan", &format!("http://nodered.home.test:{port}"))
        .replace("id.home.lan:9000", &format!("127.0.0.1:{ferrid_port}"))
        .replace("127.0.0.1:1880", &format!("127.0.0.1:{upstream}"));
    let conf = format!("{{\n  admin off\n  auto_https off\n}}\n{site}");
    std::fs::write(dir.join("Caddyfile"), conf).unwrap();
    let log = dir.join("caddy.log");
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.join("Caddyfile"))
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("caddy is installed (scripts/test.sh installs it)");
    wait_for_port(port, "caddy", &log);
    Proxy { child, port }
}

/// ferrid as `id.home.test`, sharing its session with `*.home.test`.
async fn ferrid() -> TestApp {
    ferrid_with("").await
}

async fn ferrid_with(more_apps: &str) -> TestApp {
    spawn_app_edited(|yaml| {
        let port = yaml.split("public_url: http://127.0.0.1:").nth(1).unwrap().lines().next().unwrap().to_owned();
        let yaml = yaml.replace(
            &format!("public_url: http://127.0.0.1:{port}"),
            &format!("public_url: http://id.home.test:{port}\ncookie_domain: home.test"),
        );
        format!(
            "{yaml}  - slug: nodered\n    name: Node-RED\n    proxy: {{ hosts: [\"nodered.home.test\"], bypass: [\"/health\"] }}\n    \
             allowed_groups: [admins]\n{more_apps}"
        )
    })
    .await
}

/// A browser (cookies kept, redirects not followed) to which
/// `id.home.test` is ferrid and `nodered.home.test` the proxy.
fn browser_for(app: &TestApp, proxy_port: u16) -> reqwest::Client {
    let ferrid: SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve("id.home.test", ferrid)
        .resolve("nodered.home.test", SocketAddr::from(([127, 0, 0, 1], proxy_port)))
        .build()
        .unwrap()
}

/// Everything a user of either proxy sees, through `proxy_port`.
async fn walk_through(app: &TestApp, proxy_port: u16) {
    let alice = app.add_user("alice", &["admins"]);
    let bob = app.add_user("bob", &["viewers"]);
    let site = format!("http://nodered.home.test:{proxy_port}");
    let wanted = format!("{site}/flows?tab=1");

    // An anonymous browser is sent to ferrid's sign-in, and comes back to the very URL.
    let browser = browser_for(app, proxy_port);
    let response = browser.get(&wanted).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    let portal = location(&response);
    let rd: String = url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
    let id = app.address.replace("127.0.0.1", "id.home.test");
    assert_eq!(portal, format!("{id}/?rd={rd}"));
    let response = browser.get(&portal).send().await.unwrap();
    let response = sign_in_with(&browser, &id, &location(&response), &alice.username, &alice.password).await;
    assert_eq!(location(&response), wanted);

    // Signed in: the upstream sees who, and never what the client claimed.
    let seen: serde_json::Value = browser
        .get(&wanted)
        .header("Remote-User", "mallory")
        .header("Remote-Groups", "admins")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["remote-user"], "alice");
    assert_eq!(seen["remote-groups"], "admins");

    // A bypass path passes anonymously, and the client's Remote-User does not reach the upstream.
    let anonymous = browser_for(app, proxy_port);
    let seen: serde_json::Value = anonymous
        .get(format!("{site}/health"))
        .header("Remote-User", "alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // (nginx drops the empty header, Caddy passes it empty.)
    assert!(seen.get("remote-user").is_none_or(|u| u == ""), "{seen}");

    // Not in the allowed group: 403.
    let bobs = browser_for(app, proxy_port);
    let response = bobs.get(&portal).send().await.unwrap();
    sign_in_with(&bobs, &id, &location(&response), &bob.username, &bob.password).await;
    assert_eq!(bobs.get(&wanted).send().await.unwrap().status(), 403);

    // A script with Basic user:PAT passes until the PAT is revoked.
    let (pat, pat_id) = app.create_pat("alice", "nodered", 3600);
    let script = browser_for(app, proxy_port);
    let response =
        script.get(format!("{site}/api")).header("Authorization", basic_auth("alice", &pat)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["remote-user"], "alice");
    app.admin(AdminCommand::PatRevoke { id: pat_id }).unwrap();
    let response =
        script.get(format!("{site}/api")).header("Authorization", basic_auth("alice", &pat)).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // A forged X-Forwarded-Host does not change what is checked.
    let response = browser.get(&wanted).header("X-Forwarded-Host", "other.home.test").send().await.unwrap();
    assert_eq!(response.status(), 200, "checked as nodered.home.test");

    // Signing out ends it at once: the next request goes to sign in.
    let html = browser.get(format!("{id}/account/")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    browser.post(format!("{id}/account/sign-out")).form(&[("csrf_token", csrf)]).send().await.unwrap();
    let response = browser.get(&wanted).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 302);
}

#[tokio::test]
async fn behind_nginx_auth_request_a_user_signs_in_once_and_scripts_use_pats() {
    let app = ferrid().await;
    let dir = tempfile::tempdir().unwrap();
    let ferrid_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = start_nginx(dir.path(), ferrid_port, start_echo());
    walk_through(&app, nginx.port).await;
}

#[tokio::test]
async fn behind_caddy_forward_auth_a_user_signs_in_once_and_scripts_use_pats() {
    let app = ferrid().await;
    let dir = tempfile::tempdir().unwrap();
    let ferrid_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let caddy = start_caddy(dir.path(), ferrid_port, start_echo());
    walk_through(&app, caddy.port).await;
}

#[tokio::test]
async fn in_chromium_one_sign_in_opens_two_sites_behind_nginx() {
    use fantoccini::Locator;
    let app = ferrid_with(
        "  - slug: site-a\n    proxy: { hosts: [a.home.test] }\n  - slug: site-b\n    proxy: { hosts: [b.home.test] }\n",
    )
    .await;
    let alice = app.add_user("alice", &[]);
    let dir = tempfile::tempdir().unwrap();
    let ferrid_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = start_nginx_two_sites(dir.path(), ferrid_port, start_echo());
    let driver = tokio::task::spawn_blocking(crate::browser::start_driver).await.unwrap();
    // id.home.test, a.home.test and b.home.test are all this machine.
    let client = crate::browser::browser_with_args(&driver, &["--host-resolver-rules=MAP *.home.test 127.0.0.1"]).await;

    let a = format!("http://a.home.test:{}/", nginx.port);
    client.goto(&a).await.unwrap();
    crate::browser::sign_in(&client, &alice).await;
    crate::browser::wait_for_url_prefix(&client, &a).await;
    let body = client.find(Locator::Css("body")).await.unwrap().text().await.unwrap();
    assert!(body.contains("\"remote-user\":\"alice\""), "{body}");

    // The second site: no password asked, alice already.
    let b = format!("http://b.home.test:{}/", nginx.port);
    client.goto(&b).await.unwrap();
    assert!(client.current_url().await.unwrap().as_str().starts_with(&b), "no detour to sign in");
    let body = client.find(Locator::Css("body")).await.unwrap().text().await.unwrap();
    assert!(body.contains("\"remote-user\":\"alice\""), "{body}");
    client.close().await.unwrap();
}
