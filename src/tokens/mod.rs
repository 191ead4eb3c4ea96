//! Issuing tokens, without HTTP: one file per grant type (as
//! node-oidc-provider's `lib/actions/grants/`), minting JWTs, and the
//! claims they carry. The token endpoint (`oidc::token`) parses the
//! request, authenticates the client and calls a grant with an `Issuer`.

pub mod authorization_code;
pub mod claims;
pub mod client_credentials;
pub mod mint;
pub mod refresh_token;

pub use mint::Issuer;

use crate::crypto::secrets::{Digest, random_token};
use crate::domain::{Scope, ScopeSet};
use crate::error::OAuthError;
use crate::published::PublishedApp;
use crate::store::{IssuedJwt, User};
use mint::IdTokenInput;
use serde::Serialize;

#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: ScopeSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl TokenResponse {
    /// An access token alone: no refresh token, no id_token.
    pub fn access_only(access_token: String, expires_in: i64, scope: ScopeSet) -> Self {
        TokenResponse { access_token, token_type: "Bearer", expires_in, scope, refresh_token: None, id_token: None }
    }
}

/// What a user grant produces, before a refresh token is attached.
pub struct UserTokens {
    pub response: TokenResponse,
    pub access: IssuedJwt,
}

/// What the id_token says of the session the tokens come from.
#[derive(Clone, Copy)]
pub struct SessionClaims<'a> {
    pub sid: Option<&'a str>,
    pub amr: &'a [String],
}

/// Access token (and id_token when `openid` was granted) for a user.
pub fn user_tokens(
    issuer: &Issuer<'_>,
    app: &PublishedApp,
    user: &User,
    scope: ScopeSet,
    auth_time: i64,
    nonce: Option<&str>,
    session: SessionClaims<'_>,
) -> Result<UserTokens, OAuthError> {
    // Checked at every issuance: a user removed from the application's groups
    // loses it at the next code exchange or refresh, not only at sign-in.
    if !app.app.allows(user) {
        return Err(OAuthError::invalid_grant("the user may no longer use this application"));
    }
    let subject = user.sub.to_string();
    let mapped = app.app.mapped_claims(user);
    let input =
        mint::AccessTokenInput { subject: &subject, scope, auth_time: Some(auth_time), mapped, pat: None, amr: None };
    let (access_token, access) = mint::access_token(issuer, app, input)?;
    let id_token = if scope.contains(Scope::OpenId) {
        let input = IdTokenInput {
            user,
            scope,
            nonce,
            auth_time,
            access_token: &access_token,
            sid: session.sid,
            amr: session.amr,
        };
        Some(mint::id_token(issuer, app, input)?)
    } else {
        None
    };
    let response = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: issuer.lifetimes.access_token,
        scope,
        refresh_token: None,
        id_token,
    };
    Ok(UserTokens { response, access })
}

/// A new refresh token and its digest (the only form that is stored).
pub fn new_refresh_token() -> Result<(String, Digest), OAuthError> {
    let token = random_token()?;
    let digest = Digest::of(&token);
    Ok((token, digest))
}
