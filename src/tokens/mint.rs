//! Minting JWTs: RFC 9068 access tokens and OIDC id_tokens.

use crate::crypto::jose;
use crate::domain::{ScopeSet, SigningAlg};
use crate::error::OAuthError;
use crate::published::{Published, PublishedApp};
use crate::store::{IssuedJwt, User};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// What issuing tokens needs, borrowed from the application's state by the
/// handler: the grants and minting take this, never the whole `AppState`.
pub struct Issuer<'a> {
    pub store: &'a crate::store::Store,
    pub clock: &'a crate::clock::Clock,
    pub lifetimes: &'a crate::config::Lifetimes,
    /// The second-factor policy, as a PAT exchange checks it now.
    pub mfa: &'a crate::config::MfaPolicy,
    pub published: &'a Published,
    pub metrics: &'a crate::metrics::Metrics,
    pub machine_tokens: &'a crate::machine_tokens::MachineTokenTally,
}

impl Issuer<'_> {
    /// Records an audit event (see `Store::record`).
    pub fn audit(&self, event: crate::store::AuditEvent) {
        self.store.record(&event);
    }
}

/// The key that signs for `alg` at `now` (seconds).
fn key(published: &Published, alg: SigningAlg, now: i64) -> Result<&crate::keys::SigningKey, OAuthError> {
    published
        .keys
        .current_at(alg, now * 1000)
        .ok_or_else(|| OAuthError::server(format!("no {alg} signing key is loaded")))
}

/// The private claim naming the personal access token an access token was
/// exchanged for, so that revoking the PAT also ends it at ferrid's own
/// endpoints (userinfo, introspection).
pub const PAT_CLAIM: &str = "ferrid_pat";

/// What an access token says beyond what every one carries.
pub struct AccessTokenInput<'a> {
    pub subject: &'a str,
    pub scope: ScopeSet,
    pub auth_time: Option<i64>,
    /// The application's group-mapped claims for the user.
    pub mapped: Map<String, Value>,
    /// The id of the personal access token this one was exchanged for.
    pub pat: Option<&'a str>,
    /// How the user authenticated, where the token should say so (RFC
    /// 9068 §2.2.1): a PAT's comes from the session that made it.
    pub amr: Option<&'a [String]>,
}

/// An RFC 9068 access token (`typ: at+jwt`), `aud` = the client id, so a
/// resource server verifies it offline against the issuer's JWKS.
pub fn access_token(
    issuer: &Issuer<'_>,
    app: &PublishedApp,
    input: AccessTokenInput<'_>,
) -> Result<(String, IssuedJwt), OAuthError> {
    let AccessTokenInput { subject, scope, auth_time, mapped, pat, amr } = input;
    let now = issuer.clock.now();
    let issued = IssuedJwt { jti: Uuid::new_v4(), expires_at: now + issuer.lifetimes.access_token };
    // Registered claims are inserted after, so a mapping can never shadow
    // one; nor ferrid's own PAT claim, which a mapping of that name loses.
    let mut claims = mapped;
    claims.remove(PAT_CLAIM);
    if let Some(id) = pat {
        claims.insert(PAT_CLAIM.into(), json!(id));
    }
    claims.insert("iss".into(), json!(app.issuer));
    claims.insert("sub".into(), json!(subject));
    claims.insert("aud".into(), json!(app.app.client_id.as_str()));
    claims.insert("client_id".into(), json!(app.app.client_id.as_str()));
    claims.insert("scope".into(), json!(scope.to_string()));
    claims.insert("jti".into(), json!(issued.jti.to_string()));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(issued.expires_at));
    if let Some(auth_time) = auth_time {
        claims.insert("auth_time".into(), json!(auth_time));
    }
    if let Some(amr) = amr {
        claims.insert("acr".into(), json!(crate::mfa::acr_of(amr)));
        claims.insert("amr".into(), json!(amr));
    }
    let token = jose::sign(&claims, jose::TokenType::AccessToken, key(issuer.published, app.app.signing_alg, now)?)
        .map_err(OAuthError::server)?;
    Ok((token, issued))
}

pub struct IdTokenInput<'a> {
    pub user: &'a User,
    pub scope: ScopeSet,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub access_token: &'a str,
    /// The session it was issued in (Back-Channel Logout 1.0 §2.1).
    pub sid: Option<&'a str>,
    /// How the user authenticated (RFC 8176); empty for sessions older than
    /// ferrid's second factors, which were a password.
    pub amr: &'a [String],
}

/// The id_token carries the profile claims itself: passport-openidconnect
/// 0.1.x builds its profile from the id_token, not from userinfo.
pub fn id_token(issuer: &Issuer<'_>, app: &PublishedApp, input: IdTokenInput<'_>) -> Result<String, OAuthError> {
    let now = issuer.clock.now();
    let alg = app.app.signing_alg;
    // Minimal (`id_token_claims: minimal`): `sub` and the protocol's
    // claims only; the user's are at userinfo.
    let mut claims = if app.app.compat.minimal_id_token {
        let mut sub = serde_json::Map::new();
        sub.insert("sub".into(), json!(input.user.sub.to_string()));
        sub
    } else {
        let mut claims = app.app.mapped_claims(input.user);
        claims.extend(super::claims::user_claims(input.user, input.scope, &app.app));
        claims
    };
    claims.insert("iss".into(), json!(app.issuer));
    claims.insert("aud".into(), json!(app.app.client_id.as_str()));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + issuer.lifetimes.id_token));
    claims.insert("auth_time".into(), json!(input.auth_time));
    claims.insert("at_hash".into(), json!(jose::at_hash(input.access_token, alg)));
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), Value::String(nonce.to_owned()));
    }
    if let Some(sid) = input.sid {
        claims.insert("sid".into(), json!(sid));
    }
    let amr: Vec<&str> = if input.amr.is_empty() {
        vec![crate::mfa::AMR_PASSWORD]
    } else {
        input.amr.iter().map(String::as_str).collect()
    };
    claims.insert("acr".into(), json!(crate::mfa::acr_of(input.amr)));
    claims.insert("amr".into(), json!(amr));
    jose::sign(&claims, jose::TokenType::IdToken, key(issuer.published, alg, now)?).map_err(OAuthError::server)
}

/// How long a logout token may be accepted (Back-Channel Logout 1.0 §2.4
/// suggests two minutes at most).
pub const LOGOUT_TOKEN_LIFETIME: i64 = 120;

/// Back-Channel Logout 1.0 §2.4: `typ: logout+jwt`, the event, `sub` and
/// `sid`, a fresh `jti`, and never a `nonce`.
pub fn logout_token(
    published: &Published,
    app: &PublishedApp,
    sub: &str,
    sid: &str,
    now: i64,
) -> Result<String, OAuthError> {
    let claims = json!({
        "iss": app.issuer,
        "aud": app.app.client_id.as_str(),
        "iat": now,
        "exp": now + LOGOUT_TOKEN_LIFETIME,
        "jti": Uuid::new_v4().to_string(),
        "sub": sub,
        "sid": sid,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    jose::sign(&claims, jose::TokenType::LogoutToken, key(published, app.app.signing_alg, now)?)
        .map_err(OAuthError::server)
}
