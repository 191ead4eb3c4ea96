//! Dynamic Client Registration (RFC 7591) and its management protocol
//! (RFC 7592), without HTTP: the initial access tokens an administrator
//! makes (`ferrid app registration-token`), a client registering itself
//! with one, and a registered client reading or deleting its registration
//! with the registration access token it was given.
//!
//! Registration is offered at one issuer (`registration.application` in
//! config.yaml), and a client registered there is published under that
//! issuer: its tokens carry the issuer's `iss`, which is where the client
//! discovered ferrid (docs/registration.md). It takes the issuer's
//! application's policy (who may sign in, claims, signing algorithm,
//! second factor), and asks users for consent at least once.

pub mod metadata;

use crate::config::Config;
use crate::crypto::secrets::{Digest, RandomError, random_bytes, random_token};
use crate::domain::{AuthMethod, ClientId, ConsentMode, Scope, ScopeSet, Slug};
use crate::error::OAuthError;
use crate::store::{
    AppRemoval, Application, AuditEvent, AuditKind, ClientKind, InitialToken, Registration, Store, StoreError, Stored,
};
use metadata::{ClientMetadata, Method};
use serde_json::{Value, json};

/// Initial access tokens: `ferrid_iat_` and 43 base64url characters (256
/// random bits); the prefix lets secret scanners know one.
pub const INITIAL_PREFIX: &str = "ferrid_iat_";
/// Registration access tokens (RFC 7592), likewise.
pub const ACCESS_PREFIX: &str = "ferrid_rat_";
/// How long an initial access token lasts unless told otherwise.
pub const DEFAULT_LIFETIME: i64 = 24 * 3600;
/// The longest an initial access token may last, and the most
/// registrations one may allow.
pub const MAX_LIFETIME: i64 = 30 * 24 * 3600;
pub const MAX_USES: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a registration token must last between 1 minute and 30 days")]
    Lifetime,
    #[error("a registration token allows 1 to {MAX_USES} registrations")]
    Uses,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

fn looks_like(token: &str, prefix: &str) -> bool {
    token.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// An initial access token just made: the secret (shown once) and its record.
pub struct MadeToken {
    pub secret: String,
    pub token: InitialToken,
}

/// Makes an initial access token that allows `uses` registrations within
/// `lifetime` seconds; durable before it returns. The caller audits it.
pub fn make_token(
    store: &Store,
    now: i64,
    lifetime: i64,
    uses: u32,
    created_by: &str,
    description: &str,
) -> Result<MadeToken, TokenError> {
    if !(60..=MAX_LIFETIME).contains(&lifetime) {
        return Err(TokenError::Lifetime);
    }
    if !(1..=MAX_USES).contains(&uses) {
        return Err(TokenError::Uses);
    }
    let secret = format!("{INITIAL_PREFIX}{}", random_token()?);
    let token = InitialToken {
        id: format!("iat_{}", hex(&random_bytes::<6>()?)),
        created_at: now,
        expires_at: now + lifetime,
        allowed: uses,
        used: 0,
        created_by: created_by.to_owned(),
        description: description.chars().filter(|c| !c.is_control()).take(200).collect(),
    };
    store.create_initial_token(&Digest::of(&secret), &token)?;
    Ok(MadeToken { secret, token })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Is registration offered at `slug`'s issuer?
pub fn offered_at(config: &Config, slug: &str) -> bool {
    config.registration.as_ref().is_some_and(|r| r.application.as_str() == slug)
}

/// Where the request came from, for the audit trail.
pub struct Caller {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The initial access token `presented`, if it is one of ours and still
/// usable; else `invalid_token` (RFC 6750 §3.1), whatever the request's body.
pub fn check_initial_token(store: &Store, presented: &str, now: i64) -> Result<Stored<InitialToken>, OAuthError> {
    let refused = || OAuthError::invalid_token("the initial access token is unknown, expired or used up");
    if !looks_like(presented, INITIAL_PREFIX) {
        return Err(refused());
    }
    store.initial_token(&Digest::of(presented))?.filter(|t| t.is_usable(now)).ok_or_else(refused)
}

/// RFC 7591 §3: registers a client at `issuer`'s issuer for the holder of
/// the initial access token `presented`, with the metadata in `body`.
/// Returns the client information response (§3.2.1), which alone carries
/// the client secret and the registration access token. A token that is
/// unknown, expired or used up is `invalid_token` (checked before the
/// metadata, so a stranger learns nothing of what would be accepted), bad
/// metadata `invalid_client_metadata` or `invalid_redirect_uri`; either
/// way nothing is written.
pub fn register(
    store: &Store,
    config: &Config,
    issuer: &Slug,
    presented: &str,
    body: &[u8],
    now: i64,
    from: Caller,
) -> Result<Value, OAuthError> {
    let token = check_initial_token(store, presented, now)?;
    let parent = store
        .app(issuer)?
        .filter(|p| p.registration.is_none())
        .ok_or_else(|| OAuthError::server(format!("the registration issuer {issuer} has no application")))?;
    let asked = metadata::parse(body, parent.signing_alg)?;
    let secret = match asked.method {
        Method::None => None,
        Method::Secret(_) => Some(random_token()?),
    };
    let access_token = format!("{ACCESS_PREFIX}{}", random_token()?);
    let app = registered_app(&parent, &asked, secret.as_deref(), &access_token, &token.id, now)?;
    let event = AuditEvent::new(AuditKind::AppRegistered, now)
        .app(&app.client_id)
        .detail(format!("registered at {issuer}'s issuer with initial token {} ({})", token.id, asked.method.as_str()))
        .from_client(from.ip, from.user_agent);
    if !store.register_app(&Digest::of(presented), &app, &event, now)? {
        // Its last use went to another request meanwhile, or it was revoked.
        return Err(OAuthError::invalid_token("the initial access token is unknown, expired or used up"));
    }
    tracing::info!(client_id = %app.client_id, issuer = %issuer, initial_token = %token.id, "a client registered itself");
    Ok(client_information(&app, config, &access_token, secret.as_deref()))
}

/// The record of a client registering under `parent`'s issuer: a new
/// client id (also its slug), the parent's policy, consent at least once.
fn registered_app(
    parent: &Application,
    asked: &ClientMetadata,
    secret: Option<&str>,
    access_token: &str,
    initial_token: &str,
    now: i64,
) -> Result<Application, OAuthError> {
    let id = format!("reg-{}", hex(&random_bytes::<12>()?));
    let (slug, client_id) = match (Slug::parse(&id), ClientId::parse(&id)) {
        (Ok(slug), Ok(client_id)) => (slug, client_id),
        _ => return Err(OAuthError::server("a generated client id did not parse")),
    };
    let client = match secret {
        Some(secret) => ClientKind::Confidential { secret_sha256: Digest::of(secret) },
        None => ClientKind::Public,
    };
    let mut compat = parent.compat.clone();
    compat.auth_methods = match asked.method {
        Method::Secret(method) => vec![method],
        Method::None => Vec::new(),
    };
    // Only the grants it registered (RFC 7591 §2): never the device flow,
    // whose approval page shows the name the client chose itself, and
    // no refresh retry window for a refresh grant it did not ask for.
    compat.device_flow = false;
    if !asked.grant_types.iter().any(|g| g == "refresh_token") {
        compat.refresh_reuse_interval = 0;
    }
    Ok(Application {
        name: asked.client_name.clone().unwrap_or_else(|| id.clone()),
        slug,
        client_id,
        client,
        redirect_uris: asked.redirect_uris.clone(),
        signing_alg: parent.signing_alg,
        access: parent.access.clone(),
        claims: parent.claims.clone(),
        declared: false,
        created_at: now,
        post_logout_redirect_uris: asked.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        // A stranger's client asks the user before it gets their data.
        consent: match parent.consent {
            ConsentMode::Always => ConsentMode::Always,
            _ => ConsentMode::Once,
        },
        require_mfa: parent.require_mfa,
        proxy: None,
        email_verified: parent.email_verified,
        compat,
        registration: Some(Registration {
            issuer: parent.slug.clone(),
            access_token: Digest::of(access_token),
            initial_token: initial_token.to_owned(),
            auth_method: asked.method.as_str().to_owned(),
            grant_types: asked.grant_types.clone(),
            scope: asked.scope,
        }),
    })
}

/// RFC 7592 §2: the registered client `client_id` under `issuer`'s issuer,
/// if `presented` is its registration access token; `invalid_token`
/// otherwise, the same whether the client is unknown, registered
/// elsewhere, made by an administrator, or the token is another's.
pub fn authenticate(store: &Store, issuer: &str, client_id: &str, presented: &str) -> Result<Application, OAuthError> {
    let refused = || OAuthError::invalid_token("the registration access token is not this client's");
    if !looks_like(presented, ACCESS_PREFIX) {
        return Err(refused());
    }
    let Ok(client_id) = ClientId::parse(client_id) else { return Err(refused()) };
    let app = store.registered_app(&client_id)?.ok_or_else(refused)?;
    match &app.registration {
        Some(reg) if reg.issuer.as_str() == issuer && reg.access_token.matches(presented) => Ok(app),
        _ => Err(refused()),
    }
}

/// RFC 7592 §2.3: removes the registered client as `ferrid app remove`
/// does (its consents go, its refresh and personal access tokens are
/// revoked; its access tokens stop working at ferrid's endpoints with it),
/// audited. The caller republishes.
pub fn delete(store: &Store, app: &Application, now: i64, from: Caller) -> Result<AppRemoval, OAuthError> {
    let removal = store.delete_app(app)?;
    let initial = app.registration.as_ref().map_or("?", |r| r.initial_token.as_str());
    let event = AuditEvent::new(AuditKind::AppDeregistered, now)
        .app(&app.client_id)
        .detail(format!("deleted itself (registered with initial token {initial})"))
        .from_client(from.ip, from.user_agent);
    store.record(&event);
    store.touch_catalog()?;
    tracing::info!(client_id = %app.client_id, "a registered client deleted itself");
    Ok(removal)
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the
/// client's metadata as registered (or as an administrator changed it
/// since), its client id and when it was issued, the registration access
/// token and where to use it, and the client secret when one was just made
/// (only then: ferrid keeps its digest alone).
pub fn client_information(app: &Application, config: &Config, access_token: &str, secret: Option<&str>) -> Value {
    let Some(reg) = &app.registration else { return json!({}) };
    let mut info = json!({
        "client_id": app.client_id,
        "client_id_issued_at": app.created_at,
        "registration_access_token": access_token,
        "registration_client_uri":
            config.public_url.endpoint(&crate::paths::registration(reg.issuer.as_str(), app.client_id.as_str())),
        "client_name": app.name,
        "redirect_uris": app.redirect_uris,
        "token_endpoint_auth_method": auth_method(app, reg),
        "grant_types": reg.grant_types,
        "response_types": ["code"],
        "scope": reg.scope.unwrap_or_else(|| Scope::ALL.into_iter().fold(ScopeSet::default(), ScopeSet::with)).to_string(),
        "id_token_signed_response_alg": app.signing_alg.as_str(),
    });
    if !app.post_logout_redirect_uris.is_empty() {
        info["post_logout_redirect_uris"] = json!(app.post_logout_redirect_uris);
    }
    if let Some(secret) = secret {
        info["client_secret"] = json!(secret);
    }
    if !app.is_public() {
        // The secret does not expire (RFC 7591 §3.2.1: 0).
        info["client_secret_expires_at"] = json!(0);
    }
    info
}

/// The method the client authenticates with now: as registered, unless an
/// administrator changed what it is since.
fn auth_method(app: &Application, reg: &Registration) -> &'static str {
    match &app.client {
        ClientKind::Public => "none",
        ClientKind::Confidential { .. } => {
            let registered = AuthMethod::parse(&reg.auth_method).filter(|m| app.compat.allows_method(*m));
            registered
                .or_else(|| app.compat.auth_methods.first().copied())
                .unwrap_or(AuthMethod::ClientSecretBasic)
                .as_str()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_either_kind_are_recognised_by_prefix_and_shape_only() {
        let token = format!("{INITIAL_PREFIX}{}", random_token().unwrap());
        assert!(looks_like(&token, INITIAL_PREFIX));
        assert!(!looks_like(&token, ACCESS_PREFIX));
        assert!(!looks_like(&format!("{token}x"), INITIAL_PREFIX));
        assert!(!looks_like(&format!("{INITIAL_PREFIX}{}", "é".repeat(22)), INITIAL_PREFIX));
    }

    #[test]
    fn a_token_lasts_a_minute_to_thirty_days_and_allows_one_to_a_thousand() {
        let (_dir, store) = crate::store::testing::temp_store();
        assert!(matches!(make_token(&store, 0, 59, 1, "t", ""), Err(TokenError::Lifetime)));
        assert!(matches!(make_token(&store, 0, MAX_LIFETIME + 1, 1, "t", ""), Err(TokenError::Lifetime)));
        assert!(matches!(make_token(&store, 0, 60, 0, "t", ""), Err(TokenError::Uses)));
        let made = make_token(&store, 0, DEFAULT_LIFETIME, 2, "t", "ci\u{7}").unwrap();
        assert!(looks_like(&made.secret, INITIAL_PREFIX));
        assert_eq!(made.token.description, "ci", "control characters dropped");
        let stored = store.initial_token(&Digest::of(&made.secret)).unwrap().unwrap();
        assert_eq!((stored.allowed, stored.used, stored.expires_at), (2, 0, DEFAULT_LIFETIME));
    }
}
