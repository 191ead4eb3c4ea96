//! From the raw file and the environment to a [`Config`]: every value
//! checked, every default filled in, every error naming its key. The
//! per-application rules are in `applications`.

use super::applications::validate_applications;
use super::raw::*;
use super::{
    AuditRetention, Config, ConfigError, Env, GroupDecl, Lifetimes, Limits, PublicUrl, RateLimitsPerMinute,
    SignInPolicy, TlsConfig, invalid, parse_duration,
};
use crate::domain::{GroupName, Slug};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

pub(super) fn validate(raw: RawConfig, env: &dyn Env) -> Result<Config, ConfigError> {
    let listen_raw = env.var("FERRID_LISTEN").or(raw.listen).unwrap_or_else(|| "127.0.0.1:9000".into());
    let listen = listen_raw
        .parse::<SocketAddr>()
        .map_err(|_| invalid("listen", format!("{listen_raw:?} is not an address like 127.0.0.1:9000")))?;

    let public_raw = env.var("FERRID_PUBLIC_URL").or(raw.public_url).unwrap_or_else(|| format!("http://{listen}"));
    let public_url = PublicUrl::parse(&public_raw).map_err(|m| invalid("public_url", m))?;

    let data_dir = env.var("FERRID_DATA_DIR").map(PathBuf::from).or(raw.data_dir).unwrap_or_else(|| "./data".into());
    let keys_dir = env.var("FERRID_KEYS_DIR").map(PathBuf::from).or(raw.keys_dir).unwrap_or_else(|| "./keys".into());

    let store = validate_store(raw.store, env)?;
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
        pages: r.pages.unwrap_or(300),
    };
    if [
        rate_limits.authorize,
        rate_limits.sign_in,
        rate_limits.token,
        rate_limits.introspect,
        rate_limits.userinfo,
        rate_limits.pages,
    ]
    .contains(&0)
    {
        return Err(invalid("rate_limits", "every limit must be at least 1 request per minute"));
    }
    let trusted_proxies = parse_nets("trusted_proxies", &raw.trusted_proxies)?;
    let cookie_domain = raw.cookie_domain.as_deref().map(|d| cookie_domain(d, &public_url)).transpose()?;
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
    let mfa = super::MfaPolicy {
        required: raw.mfa.required,
        without_factor: match raw.mfa.without_factor.as_deref() {
            None | Some("enroll") => super::WithoutFactor::Enroll,
            Some("refuse") => super::WithoutFactor::Refuse,
            Some(other) => {
                return Err(invalid("mfa.without_factor", format!("{other:?} is not enroll or refuse")));
            }
        },
    };
    let groups = validate_groups(raw.groups)?;
    let declared: HashSet<GroupName> = groups.iter().map(|g| g.name.clone()).collect();
    let sources = super::sources::validate_sources(raw.sources, &declared, env)?;
    let source_slugs: HashSet<Slug> = sources.iter().map(|s| s.slug.clone()).collect();
    let applications = validate_applications(raw.applications, &declared, &source_slugs, env)?;
    let registration = validate_registration(raw.registration, &applications)?;
    let smtp = raw.smtp.map(|raw| super::smtp::validate_smtp(raw, env)).transpose()?;
    let seal_key = seal_key_from(env, "FERRID_SEAL_KEY")?;
    let seal_key_previous = seal_key_from(env, "FERRID_SEAL_KEY_PREVIOUS")?;

    Ok(Config {
        listen,
        cookie_domain,
        public_url,
        data_dir,
        keys_dir,
        templates_dir: raw.templates_dir,
        store,
        password_hash_cost,
        tls,
        lifetimes,
        audit,
        limits,
        sign_in,
        rate_limits,
        trusted_proxies,
        metrics_allow,
        mfa,
        groups,
        applications,
        sources,
        smtp,
        seal_key,
        seal_key_previous,
        catalog_poll: super::CATALOG_POLL,
        registration,
    })
}

/// `registration:`: off unless `enabled`; then `application` names the
/// declared application whose issuer offers it (an OpenID client, not a
/// proxy): registered clients are published under that issuer.
fn validate_registration(
    raw: super::raw::RawRegistration,
    applications: &[super::AppDecl],
) -> Result<Option<super::RegistrationConfig>, ConfigError> {
    let Some(given) = raw.application else {
        if raw.enabled {
            return Err(invalid(
                "registration.application",
                "name the application (its slug, under `applications:`) whose issuer offers registration",
            ));
        }
        return Ok(None);
    };
    let slug = Slug::parse(&given).map_err(|e| invalid("registration.application", e.to_string()))?;
    match applications.iter().find(|a| a.slug == slug) {
        None => Err(invalid(
            "registration.application",
            format!("{slug} is not an application declared under `applications:` in this file"),
        )),
        Some(app) if app.proxy.is_some() => Err(invalid(
            "registration.application",
            format!("{slug} is a proxy application; registration needs an OpenID application's issuer"),
        )),
        Some(_) => Ok(raw.enabled.then_some(super::RegistrationConfig { application: slug })),
    }
}

/// `VAR` (`FERRID_SEAL_KEY`, or `FERRID_SEAL_KEY_PREVIOUS` during a
/// rotation: base64url, as `keys_dir/seal.key` holds it), or the file
/// `VAR_FILE` names; None if neither is set.
fn seal_key_from(env: &dyn Env, var: &str) -> Result<Option<super::SealSecret>, ConfigError> {
    if env.var(var).is_none() && env.var(&format!("{var}_FILE")).is_none() {
        return Ok(None);
    }
    let text = super::env_secret(env, var, var)?;
    let bytes = crate::crypto::secrets::b64url_decode(text.trim())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
        invalid(var, "not a 256-bit key in base64url (as keys_dir/seal.key holds it: 43 characters)")
    })?;
    Ok(Some(super::SealSecret(bytes)))
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
        reauthentication: get("reauthentication", &raw.reauthentication, 300, 3600)?,
        invitation: get("invitation", &raw.invitation, DAY, 30 * DAY)?,
        recovery_link: get("recovery_link", &raw.recovery_link, 3600, DAY)?,
        // 10 minutes to find a phone (RFC 8628 §3.2 leaves it open; its
        // example says 30), and its default of 5 s between polls.
        device_code: get("device_code", &raw.device_code, 600, 3600)?,
        device_poll: get("device_poll", &raw.device_poll, 5, 60)?,
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
            Ok(GroupDecl { name, description: g.description, require_mfa: g.require_mfa })
        })
        .collect()
}

/// The largest `store.sled_cache_mb`: sled's own default is 1 GiB; more
/// than a few GiB is a typo, not a homelab.
const SLED_CACHE_MAX_MB: u64 = 16 * 1024;

fn validate_store(raw: super::raw::RawStore, env: &dyn Env) -> Result<super::StoreChoice, ConfigError> {
    const CACHE_KEY: &str = "store.sled_cache_mb";
    let cache_mb = match env.var("FERRID_SLED_CACHE_MB") {
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
            invalid(CACHE_KEY, format!("FERRID_SLED_CACHE_MB={text:?} is not a whole number of MiB, such as 4"))
        })?),
        None => raw.sled_cache_mb,
    };
    if let Some(mb) = cache_mb
        && !(1..=SLED_CACHE_MAX_MB).contains(&mb)
    {
        return Err(invalid(CACHE_KEY, format!("{mb} MiB: must be between 1 and {SLED_CACHE_MAX_MB} MiB")));
    }
    let Some(url) = env.var("FERRID_POSTGRES_URL").or(raw.postgres) else {
        return Ok(super::StoreChoice::Sled { cache_bytes: cache_mb.map(|mb| mb << 20) });
    };
    if cache_mb.is_some() {
        return Err(invalid(
            CACHE_KEY,
            "sizes sled's page cache, and the store is PostgreSQL (store.postgres or FERRID_POSTGRES_URL): remove it",
        ));
    }
    let mut config = url.parse::<tokio_postgres::Config>().map_err(|e| {
        // The driver's message never repeats the URL (which may hold a password).
        invalid("store.postgres", format!("not a PostgreSQL URL (postgres://user@host:5432/db): {e}"))
    })?;
    let password = match (env.var("FERRID_POSTGRES_PASSWORD"), env.var("FERRID_POSTGRES_PASSWORD_FILE")) {
        (Some(password), _) => Some(password),
        (None, Some(path)) => {
            Some(std::fs::read_to_string(&path).map(|text| text.trim_end_matches(['\n', '\r']).to_owned()).map_err(
                |e| invalid("store.postgres", format!("FERRID_POSTGRES_PASSWORD_FILE: cannot read {path}: {e}")),
            )?)
        }
        (None, None) => None,
    };
    if let Some(password) = password {
        config.password(password);
    }
    if config.get_application_name().is_none() {
        config.application_name("ferrid");
    }
    config.connect_timeout(std::time::Duration::from_secs(5));
    Ok(super::StoreChoice::Postgres(Box::new(config)))
}

/// `cookie_domain`: a parent domain of public_url's host (or that host), a
/// name with a dot in it (never a public suffix alone such as `lan`).
fn cookie_domain(raw: &str, public_url: &PublicUrl) -> Result<String, ConfigError> {
    let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    let host = url::Url::parse(public_url.as_str()).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    let host = host.unwrap_or_default();
    let named = domain.contains('.')
        && domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let ip_host = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok();
    if ip_host {
        return Err(invalid(
            "cookie_domain",
            "public_url names an IP address: a cookie can only be shared by a domain name (give ferrid one)",
        ));
    }
    if !named {
        return Err(invalid("cookie_domain", format!("{raw:?} is not a domain name with a dot, such as home.lan")));
    }
    if host != domain && !host.ends_with(&format!(".{domain}")) {
        return Err(invalid(
            "cookie_domain",
            format!("{domain} is not public_url's host ({host}) nor a parent of it: browsers would refuse the cookie"),
        ));
    }
    Ok(domain)
}
