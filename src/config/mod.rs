//! `config.yaml` → `FERRID_*` environment → validated [`Config`].
//!
//! Parsing and validation happen before anything is opened or written; every
//! error names the key it is about.

mod applications;
mod load;
mod raw;
mod smtp;
mod sources;
mod validate;

use crate::crypto::secrets::Digest;
use crate::domain::{AccessPolicy, ClaimMapping, ClientId, ConsentMode, GroupName, RedirectUri, SigningAlg, Slug};
use std::net::SocketAddr;
use std::path::PathBuf;

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

/// A secret named by `var` in config.yaml: the variable itself, or
/// `{var}_FILE` naming a file that holds it (Docker and systemd secrets),
/// as other services read theirs. `key` is where config.yaml names it.
fn env_secret(env: &dyn Env, var: &str, key: &str) -> Result<String, ConfigError> {
    let file_var = format!("{var}_FILE");
    match (env.var(var), env.var(&file_var)) {
        (Some(value), _) => Ok(value),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| invalid(key, format!("{file_var}: cannot read {path}: {e}"))),
        (None, None) => Err(invalid(key, format!("environment variable {var} (or {file_var}) is not set"))),
    }
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
    /// The account pages and the admin console (signed-in pages, not guesses).
    pub pages: u32,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: PublicUrl,
    /// The session cookie's `Domain` (a parent of public_url's host), so
    /// forward-auth on sibling hosts sees the session; None: host-only.
    pub cookie_domain: Option<String>,
    pub data_dir: PathBuf,
    pub keys_dir: PathBuf,
    pub templates_dir: Option<PathBuf>,
    /// Where the records live: sled in `data_dir` (the default), or PostgreSQL.
    pub store: StoreChoice,
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
    pub mfa: MfaPolicy,
    pub groups: Vec<GroupDecl>,
    pub applications: Vec<AppDecl>,
    /// Other identity providers people may sign in with (`sources:`).
    pub sources: Vec<SourceDecl>,
    /// Where ferrid sends mail (recovery links, address checks,
    /// invitations); None: no mail, links are handed over by people.
    pub smtp: Option<SmtpConfig>,
    /// The seal key from `FERRID_SEAL_KEY` (or the file `FERRID_SEAL_KEY_FILE`
    /// names): Docker and systemd secrets. None: `keys_dir/seal.key`.
    pub seal_key: Option<SealSecret>,
    /// During a seal-key rotation, the key before it
    /// (`FERRID_SEAL_KEY_PREVIOUS`, or the file `…_PREVIOUS_FILE` names):
    /// what it sealed still opens, and is sealed again with the current key
    /// at start (`keys::seal_key`, `startup`).
    pub seal_key_previous: Option<SealSecret>,
    /// How often an instance looks at the catalog stamp for changes made
    /// elsewhere: `CATALOG_POLL`. Not in config.yaml; tests lengthen it to
    /// show that PostgreSQL's notices alone carry a change.
    pub catalog_poll: std::time::Duration,
    /// Dynamic Client Registration (RFC 7591/7592, `registration:`); None: off.
    pub registration: Option<RegistrationConfig>,
}

/// `registration:` when enabled: clients register themselves, with an
/// initial access token, at the issuer of `application`, and are published
/// under that issuer (docs/registration.md).
#[derive(Clone, Debug)]
pub struct RegistrationConfig {
    /// The declared application whose issuer offers registration.
    pub application: Slug,
}

/// How often an instance looks for catalog changes made elsewhere (other
/// instances on the same database, the CLI), whether or not it is told of
/// them: the bound within which an application or key change made at one
/// instance is served by all.
pub const CATALOG_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// 256 bits that seal second-factor seeds and, on PostgreSQL, signing
/// keys. Never printed.
#[derive(Clone)]
pub struct SealSecret(pub [u8; 32]);

impl std::fmt::Debug for SealSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealSecret(…)")
    }
}

/// `smtp:` in config.yaml.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// User name and password, if the server wants them (the password from
    /// `password_env`: the variable, or the file its `_FILE` twin names).
    pub credentials: Option<(String, String)>,
    /// The sender, `ferrid <ferrid@home.lan>` or a bare address.
    pub from: String,
    /// A CA certificate (PEM) to trust besides the system's: a home mail
    /// server with a self-signed certificate.
    pub ca_file: Option<PathBuf>,
}

// Never prints the password.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// How the connection to the mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain, then STARTTLS, required (port 587 by default).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465 by default).
    Tls,
    /// No TLS (port 25 by default): only for a relay on the same host.
    None,
}

/// The database ferrid keeps its records in.
#[derive(Clone, Debug)]
pub enum StoreChoice {
    /// sled, embedded, in `data_dir`: one process on one machine. Its page
    /// cache holds up to `cache_bytes` (`store.sled_cache_mb`,
    /// `FERRID_SLED_CACHE_MB`); None: the store's default
    /// (`store::SLED_CACHE_BYTES`).
    Sled { cache_bytes: Option<u64> },
    /// A PostgreSQL database several instances can share (`store.postgres`,
    /// `FERRID_POSTGRES_URL`; the password may come apart, from
    /// `FERRID_POSTGRES_PASSWORD` or the file `FERRID_POSTGRES_PASSWORD_FILE`).
    Postgres(Box<tokio_postgres::Config>),
}

/// When a second factor is needed, beyond users who have one (who are
/// always asked for it).
#[derive(Clone, Copy, Debug, Default)]
pub struct MfaPolicy {
    /// Every sign-in needs one (`mfa.required`); applications and groups
    /// can require it too (`require_mfa`).
    pub required: bool,
    /// What happens to a user who needs one but has none.
    pub without_factor: WithoutFactor,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WithoutFactor {
    /// Set up an authenticator app right after the password.
    #[default]
    Enroll,
    /// A page that says so, and no sign-in.
    Refuse,
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
    /// How long a (re-)authentication unlocks privileged actions ("sudo
    /// mode": the console's changes, the account page's sensitive ones).
    pub reauthentication: i64,
    /// How long an invitation link (`ferrid user invite`) stays usable.
    pub invitation: i64,
    /// How long a recovery link (`ferrid user link`) stays usable.
    pub recovery_link: i64,
    /// How long a device's code waits to be approved (RFC 8628 `expires_in`).
    pub device_code: i64,
    /// How long a device waits between polls, at least (RFC 8628 `interval`).
    pub device_poll: i64,
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
    pub require_mfa: bool,
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
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub backchannel_logout_uri: Option<RedirectUri>,
    pub backchannel_logout_session_required: bool,
    pub consent: ConsentMode,
    pub require_mfa: bool,
    /// A `proxy` application (forward-auth), not an OIDC client.
    pub proxy: Option<crate::domain::ProxyRule>,
    pub email_verified: crate::domain::EmailVerified,
    pub compat: crate::domain::Compatibility,
}

/// One way in through another identity provider.
#[derive(Clone, Debug)]
pub struct SourceDecl {
    pub slug: Slug,
    /// What the button says after "Sign in with".
    pub name: String,
    pub kind: SourceKind,
    pub client_id: String,
    pub client_secret: String,
    /// A first sign-in may link to the ferrid account with the same
    /// address, if the provider says the address is verified.
    pub link_by_email: bool,
    /// A first sign-in that links to no account makes one.
    pub create_users: bool,
    /// The groups an account made by this source starts in.
    pub default_groups: Vec<GroupName>,
    /// Upstream group (GitHub: `org/team`) → ferrid group. The ferrid
    /// groups named here follow the upstream at every sign-in through
    /// this source; no other group is changed.
    pub group_map: Vec<(String, GroupName)>,
    /// Take the provider's word (its `amr` or `acr`) that it checked a
    /// second factor; otherwise ferrid asks for its own when one is due.
    pub trust_upstream_mfa: bool,
}

#[derive(Clone, Debug)]
pub enum SourceKind {
    Oidc {
        /// Exactly as the provider's `iss` (its discovery document is at
        /// `{issuer}/.well-known/openid-configuration`).
        issuer: String,
        scopes: Vec<String>,
        username_claim: String,
        groups_claim: Option<String>,
    },
    Github {
        /// `https://github.com` (where the browser signs in) and
        /// `https://api.github.com`; other values for GitHub Enterprise.
        web_url: String,
        api_url: String,
    },
}

impl SourceDecl {
    /// The ferrid groups this source decides (the mapping table's targets).
    pub fn mapped_groups(&self) -> impl Iterator<Item = &GroupName> {
        self.group_map.iter().map(|(_, group)| group)
    }
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
        // `127.0.0.1:9000` or `id.home.lan:9000`: a scheme is missing.
        let scheme_hint = || {
            if raw.contains("://") { String::new() } else { format!(": write it with its scheme, e.g. http://{raw}") }
        };
        let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e}){}", scheme_hint()))?;
        if !matches!(url.scheme(), "http" | "https") {
            if !raw.contains("://") {
                return Err(format!("{raw:?} is not a URL{}", scheme_hint()));
            }
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
    fn registration_is_off_unless_enabled_and_then_names_a_declared_oidc_application() {
        let apps = "applications:\n  - { slug: web, redirect_uris: [\"https://web.example/cb\"] }\n  \
                    - { slug: site, proxy: { hosts: [site.lan] } }\n";
        let with = |registration: &str| format!("{apps}registration: {registration}\n");
        assert!(load(apps).unwrap().registration.is_none(), "off by default");
        assert!(load(&with("{ enabled: false, application: web }")).unwrap().registration.is_none());
        let on = load(&with("{ enabled: true, application: web }")).unwrap().registration.unwrap();
        assert_eq!(on.application.as_str(), "web");
        assert!(error_of(&with("{ enabled: true }")).contains("registration.application"));
        assert!(error_of(&with("{ enabled: true, application: nope }")).contains("not an application declared"));
        assert!(error_of(&with("{ enabled: true, application: site }")).contains("proxy"));
        assert!(error_of(&with("{ enabled: false, application: nope }")).contains("not an application declared"));
        assert!(error_of(&with("{ enabled: true, application: web, open: true }")).contains("open"));
    }

    /// The shipped config.yaml's commented `sources:` example, uncommented,
    /// is valid; the mistakes an operator makes are named.
    #[test]
    fn sources_take_one_kind_a_secret_from_the_environment_and_declared_groups() {
        let shipped = include_str!("../../config.yaml");
        let example: String = shipped[shipped.find("\n# sources:").unwrap() + 1..]
            .lines()
            .map(|line| line.strip_prefix("# ").unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n");
        let groups = "groups: [{ name: nodered-admins }, { name: nodered-viewers }]\n";
        let env = |pairs: &[(&'static str, &'static str)]| MapEnv(pairs.iter().copied().collect());
        let secrets = env(&[("GITHUB_CLIENT_SECRET", "gh-secret"), ("CORP_CLIENT_SECRET", "corp-secret")]);
        let config = Config::from_yaml(&format!("{groups}{example}"), &secrets).unwrap();
        let [github, corp] = config.sources.as_slice() else { panic!("two sources") };
        assert_eq!((github.name.as_str(), github.client_secret.as_str()), ("GitHub", "gh-secret"));
        assert!(matches!(&github.kind, SourceKind::Github { api_url, .. } if api_url == "https://api.github.com"));
        assert_eq!(github.group_map[0].0, "my-home/admins");
        assert!(corp.link_by_email && !corp.create_users);
        assert!(matches!(&corp.kind, SourceKind::Oidc { scopes, username_claim, .. }
            if scopes.join(" ") == "openid profile email" && username_claim == "preferred_username"));

        let refused =
            |yaml: &str| Config::from_yaml(&format!("{groups}{yaml}"), &secrets).expect_err("refused").to_string();
        let github = "{ client_id: x, client_secret_env: GITHUB_CLIENT_SECRET }";
        assert!(refused("sources: [{ slug: gh }]").contains("exactly one of"));
        assert!(refused(&format!("sources: [{{ slug: gh, github: {github}, oidc: {{ issuer: \"https://a.example/\", client_id: x, client_secret_env: GITHUB_CLIENT_SECRET }} }}]")).contains("exactly one of"));
        assert!(refused("sources: [{ slug: gh, github: { client_id: x, client_secret_env: NOPE } }]").contains("NOPE"));
        assert!(
            refused(&format!("sources: [{{ slug: gh, github: {github}, default_groups: [nobody] }}]"))
                .contains("not declared")
        );
        assert!(
            refused(&format!("sources: [{{ slug: gh, github: {github}, groups: {{ a/b: nobody }} }}]"))
                .contains("sources[0].groups.a/b")
        );
        assert!(
            refused(&format!("sources: [{{ slug: gh, github: {github} }}, {{ slug: gh, github: {github} }}]"))
                .contains("used by another source")
        );
        assert!(refused("sources: [{ slug: c, oidc: { issuer: \"http://idp.example/\", client_id: x, client_secret_env: GITHUB_CLIENT_SECRET } }]").contains("https"));
        assert!(refused("sources: [{ slug: c, oidc: { issuer: \"https://idp.example/\", client_id: x, client_secret_env: GITHUB_CLIENT_SECRET, scopes: [email] } }]").contains("openid"));
        let app = "applications: [{ slug: web, redirect_uris: [\"https://web.example/cb\"], sources: [gitlab] }]";
        assert!(refused(app).contains("no source gitlab"));
    }

    #[test]
    fn client_switches_are_read_and_a_public_client_cannot_loosen_them() {
        let app =
            |extra: &str| format!("applications: [{{ slug: a, redirect_uris: [\"https://a.example/cb\"], {extra} }}]");
        let config = load(&app(
            "client_secret_sha256: 0000000000000000000000000000000000000000000000000000000000000000, pkce: required, \
             token_endpoint_auth_methods: [client_secret_post], id_token_claims: minimal",
        ))
        .unwrap();
        let compat = &config.applications[0].compat;
        assert!(compat.pkce_required && compat.minimal_id_token);
        assert_eq!(compat.method_names(), ["client_secret_post"]);
        assert_eq!(load(&app("")).unwrap().applications[0].compat, crate::domain::Compatibility::default());
        for (extra, says) in [
            ("public: true, pkce: optional", "always sends PKCE"),
            ("public: true, token_endpoint_auth_methods: [client_secret_basic]", "no secret"),
            ("token_endpoint_auth_methods: [private_key_jwt]", "not client_secret_basic"),
            ("token_endpoint_auth_methods: []", "at least one"),
            ("pkce: sometimes", "not required or optional"),
            ("id_token_claims: tiny", "not full or minimal"),
        ] {
            let error = error_of(&app(extra));
            assert!(error.contains(says) && error.contains("applications[0]"), "{extra}: {error}");
        }
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
    fn the_seal_key_comes_from_the_environment_or_a_file_it_names_and_is_checked() {
        let key = "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg";
        let with =
            |pairs: &[(&'static str, &'static str)]| Config::from_yaml("", &MapEnv(pairs.iter().copied().collect()));
        assert!(with(&[]).unwrap().seal_key.is_none(), "keys_dir/seal.key, as before");
        let given = with(&[("FERRID_SEAL_KEY", key)]).unwrap().seal_key.expect("from the variable");
        assert_eq!(crate::crypto::secrets::b64url(&given.0), key);
        assert_eq!(format!("{given:?}"), "SealSecret(…)", "never printed");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seal");
        std::fs::write(&file, format!("{key}\n")).unwrap();
        let path: &'static str = Box::leak(file.display().to_string().into_boxed_str());
        let from_file = with(&[("FERRID_SEAL_KEY_FILE", path)]).unwrap().seal_key.expect("from the file");
        assert_eq!(from_file.0, given.0);
        for bad in ["short", "Zm9v", "not base64url!!"] {
            let error = with(&[("FERRID_SEAL_KEY", bad)]).expect_err("refused").to_string();
            assert!(error.contains("FERRID_SEAL_KEY") && error.contains("256-bit"), "{error}");
            let error = with(&[("FERRID_SEAL_KEY_PREVIOUS", bad)]).expect_err("refused").to_string();
            assert!(error.contains("FERRID_SEAL_KEY_PREVIOUS") && error.contains("256-bit"), "{error}");
        }
        // During a rotation: the key before, from its variable or its file.
        assert!(with(&[("FERRID_SEAL_KEY", key)]).unwrap().seal_key_previous.is_none());
        let previous = with(&[("FERRID_SEAL_KEY_PREVIOUS_FILE", path)]).unwrap().seal_key_previous.expect("previous");
        assert_eq!(previous.0, given.0);
    }

    #[test]
    fn cookie_domain_must_be_a_parent_of_the_public_host() {
        let at = |url: &str, domain: &str| format!("public_url: {url}\ncookie_domain: {domain}\n");
        assert_eq!(load(&at("https://id.home.lan", ".Home.lan")).unwrap().cookie_domain.as_deref(), Some("home.lan"));
        assert!(load(&at("https://home.lan", "home.lan")).is_ok());
        for (url, domain) in [
            ("https://id.home.lan", "lan"),
            ("https://id.home.lan", "other.lan"),
            ("https://xhome.lan", "home.lan"),
            ("http://127.0.0.1", "0.0.1"),
        ] {
            assert!(error_of(&at(url, domain)).contains("`cookie_domain`"), "{url} {domain}");
        }
    }

    #[test]
    fn a_proxy_application_takes_hosts_and_no_oauth_settings() {
        let ok = "applications:\n  - slug: nr\n    proxy: { hosts: [nodered.home.lan, 'nodered.home.lan/ui'], bypass: [/health] }\n";
        let app = &load(ok).unwrap().applications[0];
        assert_eq!(app.proxy.as_ref().unwrap().targets.len(), 2);
        assert!(matches!(app.secret, SecretSource::Public));
        let with_uri = format!("{ok}    redirect_uris: ['http://h/cb']\n");
        assert!(error_of(&with_uri).contains("`applications[0].proxy`"));
        let bad_host = "applications:\n  - slug: nr\n    proxy: { hosts: ['https://nodered.home.lan'] }\n";
        assert!(error_of(bad_host).contains("`applications[0].proxy.hosts[0]`"));
        let no_host = "applications:\n  - slug: nr\n    proxy: { hosts: [] }\n";
        assert!(error_of(no_host).contains("`applications[0].proxy.hosts`"));
    }

    #[test]
    fn a_public_url_without_a_scheme_says_which_to_add() {
        for raw in ["127.0.0.1:9000", "id.home.lan:9000"] {
            let error = error_of(&format!("public_url: {raw}"));
            assert!(error.contains(&format!("e.g. http://{raw}")), "{error}");
        }
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
    fn logout_and_consent_keys_are_checked_and_named() {
        let base = "applications:\n  - slug: a\n    redirect_uris: ['http://h/cb']\n";
        let ok = format!(
            "{base}    post_logout_redirect_uris: ['http://h/bye']\n    backchannel_logout_uri: https://h/bcl\n    \
             backchannel_logout_session_required: true\n    consent: once\n"
        );
        let app = &load(&ok).unwrap().applications[0];
        assert_eq!(app.post_logout_redirect_uris[0].as_str(), "http://h/bye");
        assert_eq!(app.backchannel_logout_uri.as_ref().unwrap().as_str(), "https://h/bcl");
        assert!(app.backchannel_logout_session_required);
        assert_eq!(app.consent, ConsentMode::Once);
        assert_eq!(load(base).unwrap().applications[0].consent, ConsentMode::Implicit, "the default");
        let cases = [
            ("    consent: sometimes\n", "`applications[0].consent`"),
            ("    post_logout_redirect_uris: ['http://h/bye#x']\n", "`applications[0].post_logout_redirect_uris[0]`"),
            ("    backchannel_logout_uri: myapp://logout\n", "`applications[0].backchannel_logout_uri`"),
        ];
        for (line, key) in cases {
            assert!(error_of(&format!("{base}{line}")).contains(key), "{line}");
        }
    }

    #[test]
    fn a_machine_client_has_a_secret_and_no_redirect_uri() {
        let app = &load("applications:\n  - slug: cron\n    machine: true\n").unwrap().applications[0];
        assert!(app.redirect_uris.is_empty());
        assert!(matches!(app.secret, SecretSource::Generated));
        assert!(error_of("applications:\n  - slug: a\n").contains("machine: true"), "the hint names the key");
        let with_uri = "applications:\n  - slug: a\n    machine: true\n    redirect_uris: ['http://h/cb']\n";
        assert!(error_of(with_uri).contains("`applications[0].redirect_uris`"));
        let public = "applications:\n  - slug: a\n    machine: true\n    public: true\n";
        assert!(error_of(public).contains("`applications[0].machine`"));
    }

    #[test]
    fn a_client_secret_can_come_from_a_file_named_by_var_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0\n").unwrap();
        // MapEnv holds 'static strings: a test may leak one.
        let path: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        let yaml = "applications:\n  - slug: a\n    client_secret_env: SECRET\n    redirect_uris: ['http://h/cb']\n";
        let env = MapEnv(HashMap::from([("SECRET_FILE", path)]));
        let config = Config::from_yaml(yaml, &env).unwrap();
        assert!(matches!(config.applications[0].secret, SecretSource::Digest(d) if d.matches("0123456789abcdef0")));
        let missing = MapEnv(HashMap::from([("SECRET_FILE", "/nonexistent/secret")]));
        let error = Config::from_yaml(yaml, &missing).unwrap_err().to_string();
        assert!(error.contains("SECRET_FILE") && error.contains("/nonexistent/secret"), "{error}");
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
    fn the_sled_cache_is_sized_in_mib_from_the_file_or_the_environment() {
        let sled_cache = |config: Config| match config.store {
            StoreChoice::Sled { cache_bytes } => cache_bytes,
            StoreChoice::Postgres(_) => panic!("sled expected"),
        };
        assert_eq!(sled_cache(load("").unwrap()), None, "absent: the store's default");
        assert_eq!(sled_cache(load("store: { sled_cache_mb: 16 }").unwrap()), Some(16 << 20));
        let env = MapEnv(HashMap::from([("FERRID_SLED_CACHE_MB", " 2 ")]));
        assert_eq!(sled_cache(Config::from_yaml("store: { sled_cache_mb: 16 }", &env).unwrap()), Some(2 << 20));

        for (yaml, says) in [
            ("store: { sled_cache_mb: 0 }", "0 MiB: must be between 1 and 16384 MiB"),
            ("store: { sled_cache_mb: 100000 }", "100000 MiB: must be between 1 and 16384 MiB"),
            ("store: { sled_cache_mb: 8MiB }", "sled_cache_mb"),
            ("store: { sled_cache_mb: -1 }", "sled_cache_mb"),
        ] {
            let error = error_of(yaml);
            assert!(error.contains(says), "{yaml}: {error}");
        }
        let env = MapEnv(HashMap::from([("FERRID_SLED_CACHE_MB", "8MiB")]));
        let error = Config::from_yaml("", &env).unwrap_err().to_string();
        assert!(
            error.contains("`store.sled_cache_mb`")
                && error.contains(r#"FERRID_SLED_CACHE_MB="8MiB" is not a whole number of MiB"#),
            "{error}"
        );
        // It sizes sled's cache: with PostgreSQL it would silently do nothing.
        let error = error_of("store: { postgres: 'postgres://f@db/f', sled_cache_mb: 4 }");
        assert!(error.contains("`store.sled_cache_mb`") && error.contains("the store is PostgreSQL"), "{error}");
        let env = MapEnv(HashMap::from([("FERRID_POSTGRES_URL", "postgres://f@db/f"), ("FERRID_SLED_CACHE_MB", "4")]));
        assert!(Config::from_yaml("", &env).unwrap_err().to_string().contains("the store is PostgreSQL"));
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
