//! Verifying ferrid's own access tokens (RFC 6750 bearer, RFC 9068 JWT).

use crate::crypto::jose;
use crate::domain::ScopeSet;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::http::RequestView;
use crate::published::{Published, PublishedApp};
use actix_web::http::header;
use serde::Deserialize;
use std::sync::Arc;

pub struct AccessToken {
    pub app: Arc<PublishedApp>,
    pub jti: uuid::Uuid,
    pub exp: i64,
    pub iat: Option<i64>,
    pub sub: String,
    pub scope: ScopeSet,
    /// How the user authenticated, where the token says (one exchanged for
    /// a PAT carries its session's); empty otherwise.
    pub amr: Vec<String>,
}

impl AccessToken {
    /// Issued to the client itself (client_credentials), not for a user.
    pub fn is_machine_token(&self) -> bool {
        self.sub == self.app.app.client_id.as_str()
    }

    /// The user this token acts for, if they may still use its application
    /// now (exist, enabled, allowed by the access policy); None for a
    /// machine token or a user who may not.
    pub fn current_user(&self, store: &crate::store::Store) -> Result<Option<crate::store::User>, OAuthError> {
        let Ok(sub) = uuid::Uuid::parse_str(&self.sub) else { return Ok(None) };
        Ok(self.app.app.admits(store.user_by_sub(&sub)?))
    }
}

/// The token from `Authorization: Bearer`, or from a form body's
/// `access_token` (RFC 6750 §2.2); never both.
pub fn extract(req: &RequestView, form_token: Option<&str>) -> Result<String, OAuthError> {
    let from_header = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
            match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                    Some(token.trim().to_owned())
                }
                _ => return Err(OAuthError::invalid_token("expected a Bearer token")),
            }
        }
        None => None,
    };
    match (from_header, form_token) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the token in one place only")),
        (Some(token), None) => Ok(token),
        (None, Some(token)) => Ok(token.to_owned()),
        (None, None) => Err(OAuthError::invalid_token("an access token is required")),
    }
}

/// The claims ferrid puts in every access token (`mint::access_token`);
/// others (mapped claims) are ignored here.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    client_id: String,
    exp: i64,
    iat: Option<i64>,
    jti: uuid::Uuid,
    #[serde(default)]
    scope: String,
    /// Exchanged for a personal access token (`mint::PAT_CLAIM`).
    ferrid_pat: Option<String>,
    #[serde(default)]
    amr: Vec<String>,
}

/// RFC 7519 §4.1.3: one audience, or several.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(super) fn contains(&self, client_id: &str) -> bool {
        self.iter().any(|a| a == client_id)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &str> {
        let all: &[String] = match self {
            Audience::One(aud) => std::slice::from_ref(aud),
            Audience::Many(auds) => auds,
        };
        all.iter().map(String::as_str)
    }
}

/// Signature (by a published key, with that key's own `alg`), `typ`
/// at+jwt, then `iss`, `aud`, `exp` and `jti` checked here: the claims a
/// token must carry are fields of `Claims`, so one without `aud` or `exp`
/// does not even parse.
pub fn verify(state: &AppState, published: &Published, token: &str) -> Result<AccessToken, OAuthError> {
    let invalid = || OAuthError::invalid_token("the access token is invalid or expired");
    let claims: Claims = jose::verify(token, &published.keys, jose::TokenType::AccessToken).map_err(|_| invalid())?;
    let app = published.by_client_id(&claims.client_id).ok_or_else(invalid)?;
    if claims.iss != app.issuer || !claims.aud.contains(app.app.client_id.as_str()) {
        return Err(invalid());
    }
    if claims.exp <= state.clock.now() {
        return Err(invalid());
    }
    if state.store.is_access_token_revoked(&claims.jti)? {
        return Err(invalid());
    }
    // Revoking (or the expiry of) the PAT it was exchanged for ends it too.
    if let Some(pat) = &claims.ferrid_pat
        && !crate::pat::is_active_id(&state.store, pat, state.clock.now())?
    {
        return Err(invalid());
    }
    Ok(AccessToken {
        app: app.clone(),
        jti: claims.jti,
        exp: claims.exp,
        iat: claims.iat,
        sub: claims.sub,
        scope: ScopeSet::parse(&claims.scope),
        amr: claims.amr,
    })
}
