#![allow(dead_code)] // Shared by the api and e2e test binaries; each uses part of it.
//! `spawn_app()` gives each test its own server, data dir and keys.

use ferrid::admin::AdminCommand;
use ferrid::clock::Clock;
use ferrid::config::{Config, Env};
use ferrid::http::AppState;
use ferrid::startup::Application;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;
use std::net::TcpListener;
use std::sync::Once;

#[path = "postgres_server.rs"]
pub mod postgres_server;
#[path = "smtp_server.rs"]
pub mod smtp_server;

pub const WEB_SECRET: &str = "web-secret-0123456789abcdef";
pub const OTHER_SECRET: &str = "other-secret-0123456789abcdef";
pub const EC_SECRET: &str = "ec-secret-0123456789abcdef";
pub const ED_SECRET: &str = "ed-secret-0123456789abcdef";
pub const WEB_CB: &str = "https://web.example/cb";
pub const SPA_CB: &str = "https://spa.example/cb";
pub const GUARDED_CB: &str = "https://guarded.example/cb";
pub const OTHER_CB: &str = "https://other.example/callback?tenant=1";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    pub clock: Clock,
    /// The config file this server was started from, for running the CLI against it.
    pub config_path: std::path::PathBuf,
    pub _dir: tempfile::TempDir,
}

#[derive(Clone)]
pub struct TestUser {
    pub username: String,
    pub password: String,
    pub sub: String,
}

pub struct NoEnv;
impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

pub fn sha256_hex(s: &str) -> String {
    ferrid::crypto::secrets::Digest::of(s).to_hex()
}

/// The test config; with `FERRID_TEST_STORE=postgres`, on a new
/// PostgreSQL database instead of sled.
pub fn test_config(public_url: &str, dir: &std::path::Path) -> String {
    let store = if postgres_server::wanted() {
        format!("store: {{ postgres: \"{}\" }}\n", postgres_server::new_database())
    } else {
        String::new()
    };
    format!(
        r#"
{store}listen: 127.0.0.1:0
public_url: {public_url}
data_dir: {data}
keys_dir: {keys}
password_hash_cost: 4
lifetimes: {{ access_token: 5m, id_token: 5m, refresh_token: 30d, code: 60s, session: 7d }}
limits: {{ request_timeout: 1s }}
rate_limits: {{ userinfo: 20 }}
trusted_proxies: ["127.0.0.1"]
sign_in: {{ max_failures: 3, ip_max_failures: 50, lock_for: 15m, delay_ms: 5 }}
groups:
  - name: admins
  - name: viewers
applications:
  - slug: web
    name: Web App
    client_secret_sha256: {web}
    redirect_uris: ["{WEB_CB}"]
  - slug: spa
    public: true
    redirect_uris: ["{SPA_CB}"]
  - slug: other
    client_id: other-client
    client_secret_sha256: {other}
    redirect_uris: ["{OTHER_CB}"]
  - slug: ec
    client_secret_sha256: {ec}
    redirect_uris: ["https://ec.example/cb"]
    signing_alg: ES256
  - slug: ed
    client_secret_sha256: {ed}
    redirect_uris: ["https://ed.example/cb"]
    signing_alg: EdDSA
  - slug: guarded
    client_secret_sha256: {web}
    redirect_uris: ["{GUARDED_CB}"]
    allowed_groups: [admins, viewers]
    claims:
      nodered_permissions: {{ from_groups: {{ admins: "*", viewers: read }} }}
"#,
        data = dir.join("data").display(),
        keys = dir.join("keys").display(),
        web = sha256_hex(WEB_SECRET),
        other = sha256_hex(OTHER_SECRET),
        ec = sha256_hex(EC_SECRET),
        ed = sha256_hex(ED_SECRET),
    )
}

static TRACING: Once = Once::new();

pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

/// Like `spawn_app`, with more applications (YAML list items) declared.
pub async fn spawn_app_with(extra_applications: &str) -> TestApp {
    spawn_app_edited(|yaml| format!("{yaml}{extra_applications}")).await
}

/// Like `spawn_app`, with the test config rewritten by `edit` first.
pub async fn spawn_app_edited(edit: impl FnOnce(String) -> String) -> TestApp {
    spawn_app_tuned(edit, |_| {}).await
}

/// Like `spawn_app_edited`, and the parsed config changed by `tune` (for
/// what config.yaml does not say: `catalog_poll`, or the seal keys the
/// environment gives).
pub async fn spawn_app_tuned(edit: impl FnOnce(String) -> String, tune: impl FnOnce(&mut Config)) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            tracing_subscriber::fmt().with_env_filter("debug").with_test_writer().init();
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let yaml = edit(test_config(&address, dir.path()));
    let mut config = Config::from_yaml(&yaml, &NoEnv).expect("test config is valid");
    tune(&mut config);
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, &yaml).unwrap();
    let clock = Clock::system();
    let app = Application::build_on(config, clock.clone(), listener).await.expect("server starts");
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp { address, client: browser(), state, clock, config_path, _dir: dir }
}

/// `n` servers on one PostgreSQL database with one `public_url` (the
/// first one's address): several instances of one issuer behind a load
/// balancer. Each has a keys folder of its own holding a copy of the first
/// one's seal key, as docs/scaling.md says to set them up; the signing
/// keys are in the database.
pub async fn spawn_instances(n: usize) -> Vec<TestApp> {
    spawn_instances_tuned(n, |_| {}).await.1
}

/// `spawn_instances`, each config changed by `tune`; with the database's URL.
pub async fn spawn_instances_tuned(n: usize, tune: impl Fn(&mut Config)) -> (String, Vec<TestApp>) {
    let url = postgres_server::new_database();
    let database = url.clone();
    let mut apps: Vec<TestApp> = Vec::with_capacity(n);
    for _ in 0..n {
        let shared = apps.first().map(|a| (a.address.clone(), a._dir.path().join("keys")));
        let url = url.clone();
        let app = spawn_app_tuned(
            move |yaml| {
                let kept = yaml.lines().filter(|l| !l.starts_with("store:"));
                let mut out = format!("store: {{ postgres: \"{url}\" }}\n");
                for line in kept {
                    match &shared {
                        Some((public, _)) if line.starts_with("public_url:") => out += &format!("public_url: {public}"),
                        Some((_, first_keys)) if line.starts_with("keys_dir:") => {
                            let keys = std::path::PathBuf::from(line.trim_start_matches("keys_dir:").trim());
                            std::fs::create_dir_all(&keys).unwrap();
                            std::fs::copy(first_keys.join("seal.key"), keys.join("seal.key")).unwrap();
                            out += line;
                        }
                        _ => out += line,
                    }
                    out.push('\n');
                }
                out
            },
            &tune,
        )
        .await;
        apps.push(app);
    }
    (database, apps)
}

/// What ferrid's introspection endpoint at `base` says of `token`, asked as the `web` client.
pub async fn introspect_as_web(base: &str, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/application/o/introspect/"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A client like a browser that we step through by hand: cookies kept,
/// redirects not followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get(LOCATION).expect("a Location header").to_str().unwrap().to_owned()
}

/// The query parameters of a URL, decoded.
pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url).expect("absolute URL").query_pairs().into_owned().collect()
}

/// The value of a hidden input in an HTML page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&").replace("&#x2F;", "/").replace("&#x27;", "'").replace("&quot;", "\""))
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let verifier = format!("{}{}", ferrid::crypto::secrets::random_token().unwrap(), "-extra.chars~");
        let challenge = ferrid::crypto::secrets::b64url(&ferrid::crypto::secrets::sha256(verifier.as_bytes()));
        Pkce { verifier, challenge }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/application/o/{slug}/", self.address)
    }

    /// Runs an administrative command as the server's admin API does
    /// (changes published at once).
    pub fn admin(&self, command: AdminCommand) -> Result<Value, String> {
        self.state.administer(command, "command line").map(|answer| answer.to_json()).map_err(|e| e.to_string())
    }

    /// The folder holding the signing keys as PEM files: `keys_dir`, after
    /// writing the database's keys there when the store is PostgreSQL.
    pub fn signing_key_files(&self) -> std::path::PathBuf {
        let keys = ferrid::keystore::KeyStore::of(&self.state.config, &self.state.store).unwrap();
        keys.export_to_files(&self.state.config.keys_dir).unwrap();
        self.state.config.keys_dir.clone()
    }

    /// Deletes the signing keys whose names start with `prefix` (`p256-`…),
    /// from `keys_dir` or from the database.
    pub fn delete_signing_keys(&self, prefix: &str) {
        let config = std::fs::read_to_string(&self.config_path).unwrap();
        let postgres = config.lines().find_map(|l| l.strip_prefix("store: { postgres: \"")?.strip_suffix("\" }"));
        match postgres {
            Some(url) => postgres_server::execute(
                url,
                // Keys are the only records named in text like `p256-…`.
                &format!("DELETE FROM ferrid_kv WHERE substring(key FROM 1 FOR {}) = '{prefix}'::bytea", prefix.len()),
            ),
            None => {
                for entry in std::fs::read_dir(&self.state.config.keys_dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.file_name().unwrap().to_str().unwrap().starts_with(prefix) {
                        std::fs::remove_file(path).unwrap();
                    }
                }
            }
        }
    }

    /// Registers a confidential application at run time; returns its secret.
    pub fn add_app(&self, slug: &str, redirect_uri: &str) -> String {
        let added = self
            .admin(AdminCommand::AppAdd {
                slug: slug.into(),
                name: None,
                client_id: None,
                public: false,
                redirect_uris: vec![redirect_uri.into()],
                signing_alg: None,
                machine: false,
                switches: Default::default(),
            })
            .unwrap();
        added["client_secret"].as_str().unwrap().to_owned()
    }

    pub fn add_user(&self, username: &str, groups: &[&str]) -> TestUser {
        let password = format!("{username}-password-1");
        let value = self
            .admin(AdminCommand::UserAdd {
                username: username.into(),
                email: Some(format!("{username}@example.org")),
                name: Some(format!("{username} Example")),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                password_hash: bcrypt::hash(&password, 4).unwrap(),
            })
            .expect("user added");
        TestUser { username: username.into(), password, sub: value["sub"].as_str().unwrap().to_owned() }
    }

    /// A personal access token for `user` at the `slug` app (scope
    /// "openid profile"): (the token, its id).
    pub fn create_pat(&self, user: &str, slug: &str, expires_in: i64) -> (String, String) {
        let created = self
            .admin(AdminCommand::PatCreate {
                username: user.into(),
                app: slug.into(),
                scope: Some("openid profile".into()),
                expires_in,
                description: "backup script".into(),
            })
            .unwrap();
        (created["token"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned())
    }

    /// What the introspection endpoint answers `client` (id, secret) about `token`.
    pub async fn introspect(&self, token: &str, client: (&str, &str)) -> Value {
        let response = reqwest::Client::new()
            .post(self.url("/application/o/introspect/"))
            .basic_auth(client.0, Some(client.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.json().await.unwrap()
    }

    pub fn set_disabled(&self, user: &TestUser, disabled: bool) {
        self.admin(AdminCommand::UserDisable { username: user.username.clone(), disabled }).unwrap();
    }

    pub async fn get_authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.client.get(self.url("/application/o/authorize/")).query(params).send().await.unwrap()
    }

    /// Follows the redirect to the sign-in form and submits it.
    pub async fn submit_sign_in(&self, login_location: &str, username: &str, password: &str) -> reqwest::Response {
        sign_in_with(&self.client, &self.address, login_location, username, password).await
    }

    /// The whole browser leg of the code flow; returns the callback's query.
    pub async fn authorize_and_sign_in(
        &self,
        params: &[(&str, &str)],
        user: &TestUser,
    ) -> std::collections::HashMap<String, String> {
        let response = self.get_authorize(params).await;
        assert_eq!(response.status(), 303, "authorize redirects to sign-in");
        let login = location(&response);
        assert!(login.starts_with("/login?tx="), "{login}");
        let response = self.submit_sign_in(&login, &user.username, &user.password).await;
        assert_eq!(response.status(), 303, "sign-in redirects back to the client");
        query_of(&location(&response))
    }

    pub async fn post_token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> reqwest::Response {
        let mut request = reqwest::Client::new().post(self.url("/application/o/token/")).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    /// Redeems a code at the token endpoint as the `web` client.
    pub async fn redeem_web_code(&self, code: &str, pkce: &Pkce) -> reqwest::Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WEB_CB),
            ("code_verifier", &pkce.verifier),
        ];
        self.post_token(&form, Some(("web", WEB_SECRET))).await
    }

    /// Code → tokens for `client` (secret WEB_SECRET), with PKCE; must succeed.
    pub async fn redeem_code(&self, client: &str, redirect_uri: &str, code: &str, pkce: &Pkce) -> Value {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &pkce.verifier),
        ];
        let response = self.post_token(&form, Some((client, WEB_SECRET))).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Code → tokens for the `web` client, with PKCE.
    pub async fn code_flow_tokens(&self, user: &TestUser, scope: &str) -> Value {
        let pkce = Pkce::new();
        let q = self.authorize_and_sign_in(&web_params(scope, &pkce, "n-0S6_WzA2Mj", "xyz"), user).await;
        let response = self.redeem_web_code(&q["code"], &pkce).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn jwks(&self, slug: &str) -> jsonwebtoken::jwk::JwkSet {
        self.client.get(self.url(&format!("/application/o/{slug}/jwks/"))).send().await.unwrap().json().await.unwrap()
    }

    /// Verifies a JWT against the issuer's published JWKS with an
    /// independent JOSE library, checking iss, aud and exp; returns claims.
    pub async fn verify_jwt(&self, token: &str, slug: &str, client_id: &str, alg: Algorithm, typ: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).expect("JWT header");
        assert_eq!(header.alg, alg);
        assert_eq!(header.typ.as_deref(), Some(typ));
        let jwks = self.jwks(slug).await;
        let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("kid is in the JWKS");
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[self.issuer(slug)]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let key = DecodingKey::from_jwk(jwk).expect("usable JWK");
        jsonwebtoken::decode::<Value>(token, &key, &validation).expect("signature and claims verify").claims
    }
}

/// In `browser`, opens the sign-in form at `login` (a path on `base`, as a
/// redirect gives it) and submits it.
pub async fn sign_in_with(
    browser: &reqwest::Client,
    base: &str,
    login: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser.get(format!("{base}{login}")).send().await.unwrap();
    assert_eq!(page.status(), 200, "sign-in page");
    let html = page.text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").expect("tx field")),
        ("csrf_token", hidden_field(&html, "csrf_token").expect("csrf field")),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ];
    browser.post(format!("{base}/login")).form(&form).send().await.unwrap()
}

/// An `Authorization: Basic` value for `user:secret` (a PAT as the password).
pub fn basic_auth(user: &str, secret: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
}

/// The TOTP code Debian's oathtool (an independent RFC 6238
/// implementation) gives for `secret` (base32) at unix time `at`.
pub fn oathtool(secret: &str, at: i64) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", &format!("--now=@{at}"), secret])
        .output()
        .expect("oathtool is installed (scripts/test.sh installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The base32 TOTP key an enrollment page shows.
pub fn secret_of(html: &str) -> String {
    let marker = r#"<code id="totp-secret">"#;
    let start = html.find(marker).expect("the key is shown") + marker.len();
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

pub fn web_params<'a>(scope: &'a str, pkce: &'a Pkce, nonce: &'a str, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", WEB_CB),
        ("scope", scope),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]
}

pub fn is_form(response: &reqwest::Response) -> bool {
    response.headers().get(CONTENT_TYPE).is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"))
}

/// A config file for running the real `ferrid` binary. It listens on port
/// 0 (the binary reports the port it bound: `binary::serve`), and its
/// issuers are under `public` whatever that port is, so tokens stay valid
/// across restarts on another port.
pub struct BinaryConfig {
    pub dir: tempfile::TempDir,
    /// `public_url`: the issuer base, not where to connect.
    pub public: String,
    pub path: std::path::PathBuf,
}

/// `public_url` for the real binary when a test names none: a name no one
/// resolves, since clients connect to the bound address instead.
pub const BINARY_PUBLIC_URL: &str = "http://ferrid.test";

/// The test config for the real binary, with `public_url` (default
/// `BINARY_PUBLIC_URL`), after `edit`.
pub fn binary_config(public_url: Option<&str>, edit: impl Fn(String) -> String) -> BinaryConfig {
    let dir = tempfile::tempdir().unwrap();
    let public = public_url.unwrap_or(BINARY_PUBLIC_URL).to_owned();
    let yaml = test_config(&public, dir.path());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, edit(yaml)).unwrap();
    BinaryConfig { dir, public, path }
}
