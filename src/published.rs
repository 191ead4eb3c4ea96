//! What the hot endpoints read: applications, signing keys, and the
//! discovery and JWKS bodies, built once per change (an app or key added,
//! a key leaving the JWKS), never per request.

use crate::config::Config;
use crate::domain::{ProxyTarget, SigningAlg, Slug};
use crate::keys::KeyRing;
use crate::paths;
use crate::store::Application;
use bytes::Bytes;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How often an instance looks for catalog changes made elsewhere (see
/// `config::CATALOG_POLL`; tests may poll less often, never production).
pub const CATALOG_POLL: std::time::Duration = crate::config::CATALOG_POLL;

pub struct PublishedApp {
    pub app: Application,
    pub issuer: String,
    pub discovery: Bytes,
    /// The web origins of its redirect URIs: where its browser code runs (CORS).
    pub origins: Vec<String>,
}

pub struct Published {
    // Keyed by the plain strings, so a lookup from a request allocates nothing.
    by_slug: HashMap<String, Arc<PublishedApp>>,
    by_client_id: HashMap<String, Arc<PublishedApp>>,
    pub keys: KeyRing,
    pub jwks: Bytes,
    pems: HashMap<SigningAlg, Bytes>,
    registered_origins: HashSet<String>,
    /// Every proxy application's targets, the most specific first.
    proxies: Vec<(ProxyTarget, Arc<PublishedApp>)>,
}

impl Published {
    pub fn build(config: &Config, apps: Vec<Application>, keys: KeyRing, now_ms: i64) -> Published {
        let window = config.lifetimes.longest_jwt();
        let jwks = Bytes::from(keys.jwks_json(now_ms, window));
        let pems =
            SigningAlg::ALL.into_iter().map(|alg| (alg, Bytes::from(keys.pem_bundle(alg, now_ms, window)))).collect();
        let mut by_slug = HashMap::new();
        let mut by_client_id = HashMap::new();
        let mut registered_origins = HashSet::new();
        let mut proxies = Vec::new();
        // A client that registered itself is published under the issuer it
        // registered at (docs/registration.md): its tokens carry that `iss`,
        // its browser code may read that issuer's documents, and it has no
        // issuer, discovery or JWKS of its own.
        let mut child_origins: HashMap<String, Vec<String>> = HashMap::new();
        for app in &apps {
            if let Some(reg) = &app.registration {
                child_origins
                    .entry(reg.issuer.to_string())
                    .or_default()
                    .extend(app.redirect_uris.iter().filter_map(|uri| uri.web_origin()));
            }
        }
        for app in apps {
            let registered_under = app.registration.as_ref().map(|r| r.issuer.clone());
            let issuer = config.public_url.issuer(registered_under.as_ref().unwrap_or(&app.slug));
            let discovery = match registered_under {
                Some(_) => Bytes::new(),
                None => Bytes::from(discovery_document(config, &issuer, &app)),
            };
            let mut origins: Vec<String> = app.redirect_uris.iter().filter_map(|uri| uri.web_origin()).collect();
            registered_origins.extend(origins.iter().cloned());
            if registered_under.is_none() {
                origins.extend(child_origins.remove(app.slug.as_str()).unwrap_or_default());
            }
            origins.sort();
            origins.dedup();
            let entry = Arc::new(PublishedApp { app, issuer, discovery, origins });
            if let Some(rule) = &entry.app.proxy {
                proxies.extend(rule.targets.iter().map(|t| (t.clone(), entry.clone())));
            }
            by_client_id.insert(entry.app.client_id.to_string(), entry.clone());
            if registered_under.is_none() {
                by_slug.insert(entry.app.slug.to_string(), entry);
            }
        }
        proxies.sort_by_key(|(target, _)| std::cmp::Reverse(target.specificity()));
        Published { by_slug, by_client_id, keys, jwks, pems, registered_origins, proxies }
    }

    /// The proxy application that covers a request to `host` (lower case)
    /// for `path` (normalised): the most specific target wins.
    pub fn proxy_for(&self, host: &str, path: &str) -> Option<&Arc<PublishedApp>> {
        self.proxies.iter().find(|(target, _)| target.covers(host, path)).map(|(_, app)| app)
    }

    /// The application whose issuer is `/application/o/{slug}/` (never a
    /// client that registered itself: it has no issuer of its own).
    pub fn by_slug(&self, slug: &str) -> Option<&Arc<PublishedApp>> {
        self.by_slug.get(slug)
    }

    /// The PEM bundle an application's tokens verify against.
    pub fn pem(&self, alg: SigningAlg) -> Bytes {
        self.pems.get(&alg).cloned().unwrap_or_default()
    }

    /// Applications whose signing algorithm has no current key (none, normally).
    pub fn apps_without_key(&self) -> impl Iterator<Item = &Slug> {
        self.by_slug.values().filter(|p| self.keys.current(p.app.signing_alg).is_none()).map(|p| &p.app.slug)
    }

    pub fn by_client_id(&self, client_id: &str) -> Option<&Arc<PublishedApp>> {
        self.by_client_id.get(client_id)
    }

    /// Is `origin` (as a browser sends it) the origin of some application's redirect URI?
    pub fn is_registered_origin(&self, origin: &str) -> bool {
        self.registered_origins.contains(origin)
    }
}

/// OpenID Connect Discovery 1.0 §3 metadata for one application's issuer.
fn discovery_document(config: &Config, issuer: &str, app: &Application) -> Vec<u8> {
    let url = &config.public_url;
    let (slug, alg) = (&app.slug, app.signing_alg);
    // Only what this application can use: a confidential client authenticates
    // with its secret, a public one cannot (RFC 8414 §2). An issuer that
    // offers registration serves the clients registered there too, with
    // any of the three.
    let registration = config.registration.as_ref().is_some_and(|r| r.application == *slug);
    let auth_methods: Vec<&str> = if registration {
        vec!["client_secret_basic", "client_secret_post", "none"]
    } else if app.is_public() {
        vec!["none"]
    } else {
        app.compat.method_names()
    };
    let mut grant_types = vec!["authorization_code", "refresh_token", "client_credentials"];
    if app.compat.device_flow {
        grant_types.push(crate::domain::DEVICE_CODE);
    }
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": url.endpoint(paths::AUTHORIZE),
        "token_endpoint": url.endpoint(paths::TOKEN),
        "userinfo_endpoint": url.endpoint(paths::USERINFO),
        "introspection_endpoint": url.endpoint(paths::INTROSPECT),
        "revocation_endpoint": url.endpoint(paths::REVOKE),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "jwks_uri": url.endpoint(&paths::for_app(paths::JWKS, slug.as_str())),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": grant_types,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg.as_str()],
        "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "acr", "amr",
            "preferred_username", "name", "email", "email_verified", "groups"
        ],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "end_session_endpoint": url.endpoint(&paths::for_app(paths::END_SESSION, slug.as_str())),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "acr_values_supported": [crate::mfa::ACR_PASSWORD, crate::mfa::ACR_MFA],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    });
    // RFC 8628 §4: only where this application may use it.
    if app.compat.device_flow {
        doc["device_authorization_endpoint"] = url.endpoint(paths::DEVICE_AUTHORIZATION).into();
    }
    if registration {
        doc["registration_endpoint"] = json!(url.endpoint(&paths::for_app(paths::REGISTER, slug.as_str())));
    }
    serde_json::to_vec(&doc).unwrap_or_default()
}
