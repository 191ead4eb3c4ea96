//! `config.yaml` → `FERRID_*` environment → validated [`Config`].
//!
//! Parsing and validation happen before anything is opened or written; every
//! error names the key it is about.

use crate::crypto::secrets::Digest;
use crate::domain::{
    AccessPolicy, ClaimMapping, ClientId, GroupName, REGISTERED_CLAIMS, RedirectUri, SigningAlg, Slug, Username,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), message: message.into() }
}

/// The file as written; every field optional except where a default makes no sense.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    keys_dir: Option<PathBuf>,
    templates_dir: Option<PathBuf>,
    password_hash_cost: Option<u32>,
    tls: Option<RawTls>,
    #[serde(default)]
    lifetimes: RawLifetimes,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    sign_in: RawSignIn,
    #[serde(default)]
    rate_limits: RawRateLimits,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    metrics_allow: Option<Vec<String>>,
    #[serde(default)]
    groups: Vec<RawGroup>,
    #[serde(default)]
    applications: Vec<RawApplication>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    refresh_interval: Option<String>,
    redirect_http_from: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLifetimes {
    access_token: Option<String>,
    id_token: Option<String>,
    refresh_token: Option<String>,
    code: Option<String>,
    session: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRateLimits {
    authorize: Option<u32>,
    sign_in: Option<u32>,
    token: Option<u32>,
    introspect: Option<u32>,
    userinfo: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSignIn {
    max_failures: Option<u32>,
    ip_max_failures: Option<u32>,
    account_max_failures: Option<u32>,
    lock_for: Option<String>,
    delay_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    workers: Option<usize>,
    max_connections: Option<usize>,
    header_bytes: Option<usize>,
    request_timeout: Option<String>,
    body_bytes: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    max_age: Option<String>,
    max_events: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    slug: String,
    name: Option<String>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    client_secret_sha256: Option<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    redirect_uris: Vec<String>,
    signing_alg: Option<String>,
    #[serde(default)]
    allowed_groups: Vec<String>,
    #[serde(default)]
    allowed_users: Vec<String>,
    #[serde(default)]
    claims: BTreeMap<String, RawClaim>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaim {
    from_groups: BTreeMap<String, OneOrMany>,
}

/// `"*"` or `["flows.read", "nodes.read"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Password-guessing limits (`sign_in:`), read by `throttle`.
#[derive(Clone, Copy, Debug)]
pub struct SignInPolicy {
    /// Failures on one account from one unknown address (or from one known
    /// browser) before that pair is locked.
    pub max_failures: u32,
    /// Failures from one address (any accounts) before it is locked out.
    pub ip_max_failures: u32,
    /// Failures on one account from all unknown clients before unknown
    /// clients are locked out of it (known browsers still sign in).
    pub account_max_failures: u32,
    /// How long a lock lasts, and how long failures are remembered, in seconds.
    pub lock_for: i64,
    /// The first failure's delay; each further one doubles it (capped at 32×).
    pub delay_ms: u64,
}

/// Requests per minute per client address, for each protected endpoint group.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitsPerMinute {
    pub authorize: u32,
    pub sign_in: u32,
    pub token: u32,
    pub introspect: u32,
    pub userinfo: u32,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: PublicUrl,
    pub data_dir: PathBuf,
    pub keys_dir: PathBuf,
    pub templates_dir: Option<PathBuf>,
    pub password_hash_cost: u32,
    /// Serve HTTPS from these files; None: plain HTTP (behind a TLS proxy, or a test).
    pub tls: Option<TlsConfig>,
    pub lifetimes: Lifetimes,
    pub audit: AuditRetention,
    pub limits: Limits,
    pub sign_in: SignInPolicy,
    /// Requests per minute per client address.
    pub rate_limits: RateLimitsPerMinute,
    /// Reverse proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<crate::domain::IpNet>,
    /// Client addresses that may read `/metrics`.
    pub metrics_allow: Vec<crate::domain::IpNet>,
    pub groups: Vec<GroupDecl>,
    pub applications: Vec<AppDecl>,
}

#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Seconds between checks of the files for a renewed certificate.
    pub refresh_interval: i64,
    /// A plain-HTTP listener that only redirects to `public_url`.
    pub redirect_http_from: Option<SocketAddr>,
}

/// Protection against floods and slow clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Threads serving requests (default: one per CPU).
    pub workers: usize,
    /// Concurrent connections in all; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Seconds a client has to send a request's head (slowloris).
    pub request_timeout: i64,
    /// Largest request body accepted; forms here are small.
    pub body_bytes: usize,
    /// Largest total of header names and values (actix alone allows ~128 KiB).
    pub header_bytes: usize,
}

/// How much of the audit trail is kept: events older than `max_age`
/// seconds, and beyond the newest `max_events`, are dropped.
#[derive(Clone, Copy, Debug)]
pub struct AuditRetention {
    pub max_age: i64,
    pub max_events: usize,
}

/// Token and session lifetimes, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    pub access_token: i64,
    pub id_token: i64,
    pub refresh_token: i64,
    pub code: i64,
    pub session: i64,
}

impl Limits {
    /// actix counts connections per worker; the configured cap is for the
    /// whole server, so each worker gets its share (rounded down, at least 1).
    pub fn connections_per_worker(&self) -> usize {
        (self.max_connections / self.workers).max(1)
    }
}

impl Lifetimes {
    /// How long a signing key must stay in the JWKS after it stops signing.
    pub fn longest_jwt(&self) -> i64 {
        self.access_token.max(self.id_token)
    }
}

#[derive(Clone, Debug)]
pub struct GroupDecl {
    pub name: GroupName,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct AppDecl {
    pub slug: Slug,
    pub name: String,
    pub client_id: ClientId,
    pub secret: SecretSource,
    pub redirect_uris: Vec<RedirectUri>,
    pub signing_alg: SigningAlg,
    pub access: AccessPolicy,
    pub claims: Vec<ClaimMapping>,
}

/// Where a declared application's client secret comes from.
#[derive(Clone, Debug)]
pub enum SecretSource {
    /// A public client (`public: true`): no secret, PKCE required.
    Public,
    /// The SHA-256 of the secret, given in the file or read from the environment.
    Digest(Digest),
    /// Neither given: ferrid generates one on first start and prints it once.
    Generated,
}

/// `public_url` without a trailing slash; the only source of issuer URLs.
#[derive(Clone, Debug)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{raw:?} must be http or https"));
        }
        if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{raw:?} must be scheme://host[:port][/path] without query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{raw:?} must not carry credentials"));
        }
        Ok(PublicUrl(raw.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `{public_url}/application/o/{slug}/`, exactly the `iss` claim.
    pub fn issuer(&self, slug: &Slug) -> String {
        format!("{}{}", self.0, crate::paths::for_app(crate::paths::ISSUER, slug.as_str()))
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

/// Reads the environment; a seam so tests can supply their own.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Config {
    pub fn load(path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::from_yaml(&text, env).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { path: path.to_owned(), message },
            other => other,
        })
    }

    pub fn from_yaml(text: &str, env: &dyn Env) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| ConfigError::Syntax { path: PathBuf::new(), message: e.to_string() })?
        };
        validate(raw, env)
    }
}

fn validate(raw: RawConfig, env: &dyn Env) -> Result<Config, ConfigError> {
    let listen_raw = env.var("FERRID_LISTEN").or(raw.listen).unwrap_or_else(|| "127.0.0.1:9000".into());
    let listen = listen_raw
        .parse::<SocketAddr>()
        .map_err(|_| invalid("listen", format!("{listen_raw:?} is not an address like 127.0.0.1:9000")))?;

    let public_raw = env.var("FERRID_PUBLIC_URL").or(raw.public_url).unwrap_or_else(|| format!("http://{listen}"));
    let public_url = PublicUrl::parse(&public_raw).map_err(|m| invalid("public_url", m))?;

    let data_dir = env.var("FERRID_DATA_DIR").map(PathBuf::from).or(raw.data_dir).unwrap_or_else(|| "./data".into());
    let keys_dir = env.var("FERRID_KEYS_DIR").map(PathBuf::from).or(raw.keys_dir).unwrap_or_else(|| "./keys".into());

    let password_hash_cost = raw.password_hash_cost.unwrap_or(10);
    if !(4..=31).contains(&password_hash_cost) {
        return Err(invalid("password_hash_cost", "must be between 4 and 31 (10 or more in production)"));
    }

    let tls = validate_tls(raw.tls, env, &public_url, listen)?;
    let lifetimes = validate_lifetimes(&raw.lifetimes)?;
    let audit = AuditRetention {
        max_age: match &raw.audit.max_age {
            Some(text) => parse_duration(text).map_err(|m| invalid("audit.max_age", m))?,
            None => 90 * 86_400,
        },
        max_events: raw.audit.max_events.unwrap_or(100_000),
    };
    if audit.max_age <= 0 || audit.max_events == 0 {
        return Err(invalid("audit", "max_age and max_events must be positive"));
    }
    let limits = Limits {
        workers: raw.limits.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        max_connections: raw.limits.max_connections.unwrap_or(1024),
        request_timeout: match &raw.limits.request_timeout {
            Some(text) => parse_duration(text).map_err(|m| invalid("limits.request_timeout", m))?,
            None => 5,
        },
        body_bytes: raw.limits.body_bytes.unwrap_or(64 * 1024),
        header_bytes: raw.limits.header_bytes.unwrap_or(16 * 1024),
    };
    let sign_in = SignInPolicy {
        max_failures: raw.sign_in.max_failures.unwrap_or(5),
        ip_max_failures: raw.sign_in.ip_max_failures.unwrap_or(50),
        account_max_failures: raw.sign_in.account_max_failures.unwrap_or(50),
        lock_for: match &raw.sign_in.lock_for {
            Some(text) => parse_duration(text).map_err(|m| invalid("sign_in.lock_for", m))?,
            None => 15 * 60,
        },
        delay_ms: raw.sign_in.delay_ms.unwrap_or(250),
    };
    if [sign_in.max_failures, sign_in.ip_max_failures, sign_in.account_max_failures].contains(&0)
        || sign_in.lock_for <= 0
        || sign_in.delay_ms > 5_000
    {
        return Err(invalid(
            "sign_in",
            "max_failures, ip_max_failures and account_max_failures > 0, lock_for > 0, delay_ms <= 5000",
        ));
    }
    let r = &raw.rate_limits;
    let rate_limits = RateLimitsPerMinute {
        authorize: r.authorize.unwrap_or(120),
        sign_in: r.sign_in.unwrap_or(30),
        token: r.token.unwrap_or(600),
        introspect: r.introspect.unwrap_or(1200),
        userinfo: r.userinfo.unwrap_or(1200),
    };
    if [rate_limits.authorize, rate_limits.sign_in, rate_limits.token, rate_limits.introspect, rate_limits.userinfo]
        .contains(&0)
    {
        return Err(invalid("rate_limits", "every limit must be at least 1 request per minute"));
    }
    let trusted_proxies = parse_nets("trusted_proxies", &raw.trusted_proxies)?;
    let loopback = ["127.0.0.0/8".to_owned(), "::1".to_owned()];
    let metrics_allow = parse_nets("metrics_allow", raw.metrics_allow.as_deref().unwrap_or(&loopback))?;
    if !(1..=256).contains(&limits.workers) {
        return Err(invalid("limits.workers", "must be between 1 and 256"));
    }
    if limits.max_connections < limits.workers
        || !(1..=300).contains(&limits.request_timeout)
        || limits.body_bytes < 1024
        || limits.header_bytes < 1024
    {
        return Err(invalid("limits", "max_connections >= workers, request_timeout 1s..300s, body_bytes >= 1024"));
    }
    let groups = validate_groups(raw.groups)?;
    let declared: HashSet<GroupName> = groups.iter().map(|g| g.name.clone()).collect();
    let applications = validate_applications(raw.applications, &declared, env)?;

    Ok(Config {
        listen,
        public_url,
        data_dir,
        keys_dir,
        templates_dir: raw.templates_dir,
        password_hash_cost,
        tls,
        lifetimes,
        audit,
        limits,
        sign_in,
        rate_limits,
        trusted_proxies,
        metrics_allow,
        groups,
        applications,
    })
}

fn parse_nets(key: &str, raw: &[String]) -> Result<Vec<crate::domain::IpNet>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(i, p)| {
            crate::domain::IpNet::parse(p)
                .ok_or_else(|| invalid(format!("{key}[{i}]"), format!("{p:?} is not an address or CIDR block")))
        })
        .collect()
}

fn validate_tls(
    raw: Option<RawTls>,
    env: &dyn Env,
    public_url: &PublicUrl,
    listen: SocketAddr,
) -> Result<Option<TlsConfig>, ConfigError> {
    let cert = env.var("FERRID_TLS_CERT").map(PathBuf::from).or(raw.as_ref().map(|t| t.cert.clone()));
    let key = env.var("FERRID_TLS_KEY").map(PathBuf::from).or(raw.as_ref().map(|t| t.key.clone()));
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => return Err(invalid("tls", "needs both cert and key")),
    };
    // Plain-HTTP issuer URLs on an HTTPS listener would make every client
    // fail discovery's issuer check, or downgrade them.
    if !public_url.is_https() {
        return Err(invalid("public_url", "must be https:// when tls is set"));
    }
    let refresh_interval = match raw.as_ref().and_then(|t| t.refresh_interval.as_deref()) {
        Some(text) => parse_duration(text).map_err(|m| invalid("tls.refresh_interval", m))?,
        None => 60,
    };
    if !(1..=86_400).contains(&refresh_interval) {
        return Err(invalid("tls.refresh_interval", "must be between 1s and 24h"));
    }
    let redirect_http_from = match raw.and_then(|t| t.redirect_http_from) {
        Some(text) => {
            let addr = text.parse::<SocketAddr>().map_err(|_| {
                invalid("tls.redirect_http_from", format!("{text:?} is not an address like 0.0.0.0:80"))
            })?;
            if addr == listen && addr.port() != 0 {
                return Err(invalid("tls.redirect_http_from", "must differ from listen"));
            }
            Some(addr)
        }
        None => None,
    };
    Ok(Some(TlsConfig { cert, key, refresh_interval, redirect_http_from }))
}

fn validate_lifetimes(raw: &RawLifetimes) -> Result<Lifetimes, ConfigError> {
    let get = |name: &str, value: &Option<String>, default: i64, max: i64| -> Result<i64, ConfigError> {
        let key = format!("lifetimes.{name}");
        let seconds = match value {
            None => default,
            Some(text) => parse_duration(text).map_err(|m| invalid(&key, m))?,
        };
        if seconds <= 0 || seconds > max {
            return Err(invalid(&key, format!("must be between 1s and {}s", max)));
        }
        Ok(seconds)
    };
    const DAY: i64 = 86_400;
    Ok(Lifetimes {
        access_token: get("access_token", &raw.access_token, 300, DAY)?,
        id_token: get("id_token", &raw.id_token, 300, DAY)?,
        refresh_token: get("refresh_token", &raw.refresh_token, 30 * DAY, 400 * DAY)?,
        // RFC 6749 §4.1.2 recommends at most 10 minutes.
        code: get("code", &raw.code, 60, 600)?,
        session: get("session", &raw.session, 7 * DAY, 400 * DAY)?,
    })
}

fn validate_groups(raw: Vec<RawGroup>) -> Result<Vec<GroupDecl>, ConfigError> {
    let mut seen = HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, g)| {
            let key = format!("groups[{i}].name");
            let name = GroupName::parse(&g.name).map_err(|e| invalid(&key, e.0))?;
            if !seen.insert(name.clone()) {
                return Err(invalid(key, format!("group {name} is declared twice")));
            }
            Ok(GroupDecl { name, description: g.description })
        })
        .collect()
}

fn validate_applications(
    raw: Vec<RawApplication>,
    declared_groups: &HashSet<GroupName>,
    env: &dyn Env,
) -> Result<Vec<AppDecl>, ConfigError> {
    let mut slugs = HashSet::new();
    let mut client_ids = HashSet::new();
    let mut apps = Vec::with_capacity(raw.len());
    for (i, app) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("applications[{i}].{field}");
        let slug = Slug::parse(&app.slug).map_err(|e| invalid(key("slug"), e.0))?;
        if !slugs.insert(slug.clone()) {
            return Err(invalid(key("slug"), format!("slug {slug} is used by another application")));
        }
        let client_id = ClientId::parse(app.client_id.as_deref().unwrap_or(slug.as_str()))
            .map_err(|e| invalid(key("client_id"), e.0))?;
        if !client_ids.insert(client_id.clone()) {
            return Err(invalid(key("client_id"), format!("client_id {client_id} is used by another application")));
        }
        let secret = match (app.public, app.client_secret_env, app.client_secret_sha256) {
            (true, None, None) => SecretSource::Public,
            (true, _, _) => {
                return Err(invalid(key("public"), "a public client cannot have a client secret"));
            }
            (false, Some(_), Some(_)) => {
                return Err(invalid(
                    key("client_secret_env"),
                    "give client_secret_env or client_secret_sha256, not both",
                ));
            }
            (false, Some(var), None) => {
                let value = env.var(&var).ok_or_else(|| {
                    invalid(key("client_secret_env"), format!("environment variable {var} is not set"))
                })?;
                if value.len() < 16 {
                    return Err(invalid(
                        key("client_secret_env"),
                        format!("the secret in {var} must be at least 16 characters"),
                    ));
                }
                SecretSource::Digest(Digest::of(&value))
            }
            (false, None, Some(hex)) => SecretSource::Digest(
                Digest::from_hex(&hex).ok_or_else(|| invalid(key("client_secret_sha256"), "must be 64 hex digits"))?,
            ),
            (false, None, None) => SecretSource::Generated,
        };
        if app.redirect_uris.is_empty() {
            return Err(invalid(key("redirect_uris"), "at least one redirect URI is required"));
        }
        let redirect_uris = app
            .redirect_uris
            .iter()
            .enumerate()
            .map(|(j, uri)| RedirectUri::parse(uri).map_err(|e| invalid(key(&format!("redirect_uris[{j}]")), e.0)))
            .collect::<Result<Vec<_>, _>>()?;
        let signing_alg = match app.signing_alg.as_deref() {
            None => SigningAlg::default(),
            Some(raw) => SigningAlg::parse(raw)
                .ok_or_else(|| invalid(key("signing_alg"), format!("{raw:?} is not one of RS256, ES256, EdDSA")))?,
        };
        let group = |key: String, raw: &str| -> Result<GroupName, ConfigError> {
            let name = GroupName::parse(raw).map_err(|e| invalid(&key, e.0))?;
            if !declared_groups.contains(&name) {
                return Err(invalid(key, format!("group {name} is not declared under `groups`")));
            }
            Ok(name)
        };
        let access = AccessPolicy {
            allowed_groups: app
                .allowed_groups
                .iter()
                .enumerate()
                .map(|(j, g)| group(key(&format!("allowed_groups[{j}]")), g))
                .collect::<Result<_, _>>()?,
            allowed_users: app
                .allowed_users
                .iter()
                .enumerate()
                .map(|(j, u)| Username::parse(u).map_err(|e| invalid(key(&format!("allowed_users[{j}]")), e.0)))
                .collect::<Result<_, _>>()?,
        };
        let mut claims = Vec::new();
        for (name, claim) in app.claims {
            let claim_key = key(&format!("claims.{name}"));
            if REGISTERED_CLAIMS.contains(&name.as_str()) || name.is_empty() {
                return Err(invalid(claim_key, "this claim is set by ferrid and cannot be mapped"));
            }
            let from_groups = claim
                .from_groups
                .into_iter()
                .map(|(g, values)| {
                    let values = match values {
                        OneOrMany::One(v) => vec![v],
                        OneOrMany::Many(vs) => vs,
                    };
                    Ok((group(format!("{claim_key}.from_groups.{g}"), &g)?, values))
                })
                .collect::<Result<_, ConfigError>>()?;
            claims.push(ClaimMapping { name, from_groups });
        }
        apps.push(AppDecl {
            access,
            claims,
            name: app.name.unwrap_or_else(|| slug.to_string()),
            slug,
            client_id,
            secret,
            redirect_uris,
            signing_alg,
        });
    }
    Ok(apps)
}

/// `90s`, `5m`, `12h`, `30d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: i64 = digits.parse().map_err(|_| format!("{text:?} is not a duration like 90s, 5m, 12h or 30d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} has an unknown unit (use s, m, h or d)")),
    };
    value.checked_mul(scale).ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(yaml, &MapEnv(HashMap::new()))
    }

    fn error_of(yaml: &str) -> String {
        load(yaml).expect_err("config should be refused").to_string()
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("60s"), Ok(60));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("30d"), Ok(2_592_000));
        assert_eq!(parse_duration("42"), Ok(42));
        assert!(parse_duration("5w").is_err());
    }

    #[test]
    fn errors_name_the_key() {
        assert!(error_of("bogus: 1").contains("bogus"));
        assert!(error_of("public_url: ftp://x").contains("`public_url`"));
        let fragment = "applications:\n  - slug: a\n    redirect_uris: ['http://h/cb#frag']\n";
        assert!(error_of(fragment).contains("`applications[0].redirect_uris[0]`"));
        let dup = "applications:\n  - slug: a\n    redirect_uris: ['http://h/cb']\n  - slug: a\n    redirect_uris: ['http://h/cb']\n";
        assert!(error_of(dup).contains("`applications[1].slug`"));
        let env = "applications:\n  - slug: a\n    client_secret_env: NOPE\n    redirect_uris: ['http://h/cb']\n";
        assert!(error_of(env).contains("NOPE"));
        assert!(error_of("lifetimes: { code: 1h }").contains("`lifetimes.code`"));
    }

    #[test]
    fn access_policy_and_claim_mappings_must_name_declared_groups() {
        let base = "groups: [{ name: admins }, { name: viewers }]\napplications:\n  - slug: a\n    redirect_uris: ['http://h/cb']\n";
        let ok = format!(
            "{base}    allowed_groups: [admins]\n    claims:\n      perms: {{ from_groups: {{ admins: '*', viewers: [read, flows.read] }} }}\n"
        );
        let config = load(&ok).unwrap();
        let app = &config.applications[0];
        assert_eq!(app.access.allowed_groups.len(), 1);
        assert_eq!(app.claims[0].from_groups[1].1, ["read", "flows.read"]);
        assert!(
            error_of(&format!("{base}    allowed_groups: [nobody]\n")).contains("`applications[0].allowed_groups[0]`")
        );
        let unknown = format!("{base}    claims: {{ perms: {{ from_groups: {{ ghosts: '*' }} }} }}\n");
        assert!(error_of(&unknown).contains("`applications[0].claims.perms.from_groups.ghosts`"));
        assert!(
            error_of(&format!("{base}    claims: {{ sub: {{ from_groups: {{ admins: x }} }} }}\n"))
                .contains("claims.sub")
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = MapEnv(HashMap::from([("FERRID_PUBLIC_URL", "https://id.lan/"), ("SECRET", "0123456789abcdef0")]));
        let yaml = "public_url: http://x\napplications:\n  - slug: a\n    client_secret_env: SECRET\n    redirect_uris: ['http://h/cb']\n";
        let config = Config::from_yaml(yaml, &env).unwrap();
        assert_eq!(config.public_url.as_str(), "https://id.lan");
        assert_eq!(config.public_url.issuer(&config.applications[0].slug), "https://id.lan/application/o/a/");
        assert!(matches!(config.applications[0].secret, SecretSource::Digest(d) if d.matches("0123456789abcdef0")));
    }

    #[test]
    fn tls_needs_an_https_public_url_and_both_files() {
        let ok = load("public_url: https://id.lan\ntls: { cert: c.pem, key: k.pem, redirect_http_from: 0.0.0.0:80 }")
            .unwrap();
        let tls = ok.tls.unwrap();
        assert_eq!((tls.refresh_interval, tls.redirect_http_from.unwrap().port()), (60, 80));
        assert!(error_of("public_url: http://id.lan\ntls: { cert: c.pem, key: k.pem }").contains("`public_url`"));
        assert!(error_of("public_url: https://id.lan\ntls: { cert: c.pem }").contains("tls"));
        assert!(
            error_of("public_url: https://id.lan\ntls: { cert: c, key: k, refresh_interval: 0s }")
                .contains("`tls.refresh_interval`")
        );
        // Without tls, https public_url is a TLS-terminating proxy: allowed.
        assert!(load("public_url: https://id.lan").unwrap().tls.is_none());
    }

    #[test]
    fn max_connections_is_shared_between_workers() {
        let config = load("limits: { workers: 4, max_connections: 10 }").unwrap();
        assert_eq!(config.limits.connections_per_worker(), 2);
        assert!(error_of("limits: { workers: 4, max_connections: 3 }").contains("`limits`"));
        assert!(error_of("limits: { workers: 0 }").contains("`limits.workers`"));
    }
}
