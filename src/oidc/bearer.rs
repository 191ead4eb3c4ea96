//! Verifying ferrid's own access tokens (RFC 6750 bearer, RFC 9068 JWT).

use crate::domain::ScopeSet;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::jose;
use crate::published::{Published, PublishedApp};
use actix_web::HttpRequest;
use actix_web::http::header;
use serde_json::{Map, Value};
use std::sync::Arc;

pub struct AccessToken {
    pub app: Arc<PublishedApp>,
    pub jti: uuid::Uuid,
    pub exp: i64,
    pub iat: Option<i64>,
    pub sub: String,
    pub scope: ScopeSet,
}

/// The token from `Authorization: Bearer`, or from a form body's
/// `access_token` (RFC 6750 §2.2); never both.
pub fn extract(req: &HttpRequest, form_token: Option<&str>) -> Result<String, OAuthError> {
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

/// Signature (by a published key, with that key's own `alg`), `typ`
/// at+jwt, then `iss`, `aud`, `exp` and `jti` checked here: josekit's
/// validator would accept a token without `aud` or `exp`.
pub fn verify(state: &AppState, published: &Published, token: &str) -> Result<AccessToken, OAuthError> {
    let invalid = || OAuthError::invalid_token("the access token is invalid or expired");
    let claims = jose::verify(token, &published.keys, jose::TokenType::AccessToken).map_err(|_| invalid())?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let app = text("client_id").and_then(|id| published.by_client_id(id)).ok_or_else(invalid)?;
    if text("iss") != Some(app.issuer.as_str()) || !audience_contains(&claims, app.app.client_id.as_str()) {
        return Err(invalid());
    }
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(invalid)?;
    if exp <= state.clock.now() {
        return Err(invalid());
    }
    let jti = text("jti").and_then(|j| uuid::Uuid::parse_str(j).ok()).ok_or_else(invalid)?;
    if state.store.is_access_token_revoked(&jti)? {
        return Err(invalid());
    }
    Ok(AccessToken {
        app: app.clone(),
        jti,
        exp,
        iat: claims.get("iat").and_then(Value::as_i64),
        sub: text("sub").ok_or_else(invalid)?.to_owned(),
        scope: ScopeSet::parse(text("scope").unwrap_or("")),
    })
}

fn audience_contains(claims: &Map<String, Value>, client_id: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    }
}
