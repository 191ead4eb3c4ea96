//! `config.yaml` as written: serde structs, every field optional, unknown
//! keys refused. Nothing here checks a value; `validate` does.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The file as written; every field optional except where a default makes no sense.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) listen: Option<String>,
    pub(super) public_url: Option<String>,
    /// A parent domain of public_url's host that the session cookie is
    /// sent to (forward-auth on sibling hosts).
    pub(super) cookie_domain: Option<String>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) keys_dir: Option<PathBuf>,
    pub(super) templates_dir: Option<PathBuf>,
    #[serde(default)]
    pub(super) store: RawStore,
    pub(super) password_hash_cost: Option<u32>,
    pub(super) tls: Option<RawTls>,
    #[serde(default)]
    pub(super) lifetimes: RawLifetimes,
    #[serde(default)]
    pub(super) audit: RawAudit,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) sign_in: RawSignIn,
    #[serde(default)]
    pub(super) rate_limits: RawRateLimits,
    #[serde(default)]
    pub(super) trusted_proxies: Vec<String>,
    pub(super) metrics_allow: Option<Vec<String>>,
    #[serde(default)]
    pub(super) mfa: RawMfa,
    #[serde(default)]
    pub(super) groups: Vec<RawGroup>,
    #[serde(default)]
    pub(super) applications: Vec<RawApplication>,
    pub(super) smtp: Option<RawSmtp>,
    #[serde(default)]
    pub(super) sources: Vec<RawSource>,
    #[serde(default)]
    pub(super) registration: RawRegistration,
}

/// `registration:`, Dynamic Client Registration (RFC 7591/7592).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistration {
    #[serde(default)]
    pub(super) enabled: bool,
    /// The slug of the declared application whose issuer offers it.
    pub(super) application: Option<String>,
}

/// `sources:`, one entry per identity provider people may sign in with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) slug: String,
    pub(super) name: Option<String>,
    pub(super) oidc: Option<RawOidcSource>,
    pub(super) github: Option<RawGithubSource>,
    #[serde(default)]
    pub(super) link_by_email: bool,
    #[serde(default)]
    pub(super) create_users: bool,
    #[serde(default)]
    pub(super) default_groups: Vec<String>,
    /// Upstream group → ferrid group.
    #[serde(default)]
    pub(super) groups: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) trust_upstream_mfa: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOidcSource {
    pub(super) issuer: String,
    pub(super) client_id: String,
    /// The variable holding the secret (or `VAR_FILE`, a file that does).
    pub(super) client_secret_env: String,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) username_claim: Option<String>,
    pub(super) groups_claim: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGithubSource {
    pub(super) client_id: String,
    pub(super) client_secret_env: String,
    pub(super) web_url: Option<String>,
    pub(super) api_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    pub(super) security: Option<String>,
    pub(super) user: Option<String>,
    /// The variable holding the password (or `VAR_FILE`, a file that does).
    pub(super) password_env: Option<String>,
    pub(super) from: String,
    pub(super) ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMfa {
    #[serde(default)]
    pub(super) required: bool,
    pub(super) without_factor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
    pub(super) refresh_interval: Option<String>,
    pub(super) redirect_http_from: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLifetimes {
    pub(super) access_token: Option<String>,
    pub(super) id_token: Option<String>,
    pub(super) refresh_token: Option<String>,
    pub(super) code: Option<String>,
    pub(super) session: Option<String>,
    pub(super) reauthentication: Option<String>,
    pub(super) invitation: Option<String>,
    pub(super) recovery_link: Option<String>,
    pub(super) device_code: Option<String>,
    pub(super) device_poll: Option<String>,
}

/// `store: { postgres: "postgres://…" }`; absent: sled in `data_dir`,
/// whose page cache `sled_cache_mb` sizes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) postgres: Option<String>,
    pub(super) sled_cache_mb: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimits {
    pub(super) authorize: Option<u32>,
    pub(super) sign_in: Option<u32>,
    pub(super) token: Option<u32>,
    pub(super) introspect: Option<u32>,
    pub(super) userinfo: Option<u32>,
    pub(super) pages: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSignIn {
    pub(super) max_failures: Option<u32>,
    pub(super) ip_max_failures: Option<u32>,
    pub(super) account_max_failures: Option<u32>,
    pub(super) lock_for: Option<String>,
    pub(super) delay_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) workers: Option<usize>,
    pub(super) max_connections: Option<usize>,
    pub(super) header_bytes: Option<usize>,
    pub(super) request_timeout: Option<String>,
    pub(super) body_bytes: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    pub(super) max_age: Option<String>,
    pub(super) max_events: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) require_mfa: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApplication {
    pub(super) slug: String,
    pub(super) name: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret_env: Option<String>,
    pub(super) client_secret_sha256: Option<String>,
    #[serde(default)]
    pub(super) public: bool,
    #[serde(default)]
    pub(super) redirect_uris: Vec<String>,
    /// client_credentials only: a secret and no redirect URI.
    #[serde(default)]
    pub(super) machine: bool,
    pub(super) signing_alg: Option<String>,
    #[serde(default)]
    pub(super) allowed_groups: Vec<String>,
    #[serde(default)]
    pub(super) allowed_users: Vec<String>,
    #[serde(default)]
    pub(super) claims: BTreeMap<String, RawClaim>,
    #[serde(default)]
    pub(super) post_logout_redirect_uris: Vec<String>,
    pub(super) backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub(super) backchannel_logout_session_required: bool,
    pub(super) consent: Option<String>,
    #[serde(default)]
    pub(super) require_mfa: bool,
    /// A `proxy` application: what it protects behind forward-auth.
    pub(super) proxy: Option<RawProxy>,
    /// `marked` (default) or `always`: see `domain::EmailVerified`.
    pub(super) email_verified: Option<String>,
    /// The sign-in sources it takes (by slug); absent: all.
    pub(super) sources: Option<Vec<String>>,
    /// `required` or `optional` (the default for a confidential client).
    pub(super) pkce: Option<String>,
    pub(super) token_endpoint_auth_methods: Option<Vec<String>>,
    /// `full` (the default) or `minimal`.
    pub(super) id_token_claims: Option<String>,
    /// The device authorization grant (RFC 8628) is allowed.
    #[serde(default)]
    pub(super) device_flow: bool,
    /// `0s` (the default) to `60s`: a retry of a refresh within it is forgiven.
    pub(super) refresh_reuse_interval: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProxy {
    /// `host[:port][/path]`, one or more.
    pub(super) hosts: Vec<String>,
    #[serde(default)]
    pub(super) bypass: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClaim {
    pub(super) from_groups: BTreeMap<String, OneOrMany>,
}

/// `"*"` or `["flows.read", "nodes.read"]`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}
