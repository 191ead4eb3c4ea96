//! Issuing tokens, without HTTP: one file per grant type (as
//! node-oidc-provider's `lib/actions/grants/`), minting JWTs, and the
//! claims they carry. The token endpoint (`oidc::token`) parses the
//! request, authenticates the client and calls a grant with an `Issuer`.

pub mod authorization_code;
pub mod claims;
pub mod client_credentials;
pub mod device_code;
pub mod mint;
pub mod refresh_token;

pub use mint::Issuer;

use crate::crypto::secrets::{Digest, RandomError, b64url, b64url_decode, random_bytes};
use crate::domain::{Scope, ScopeSet};
use crate::error::OAuthError;
use crate::published::PublishedApp;
use crate::store::{IssuedJwt, User};
use mint::IdTokenInput;
use serde::Serialize;
use uuid::Uuid;

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

/// A new refresh token of `family`, whose user is `sub`, and its digest
/// (the only form that is stored).
pub fn new_refresh_token(family: &Uuid, sub: &Uuid) -> Result<(String, Digest), OAuthError> {
    let token = naming_token([family, sub])?;
    let digest = Digest::of(&token);
    Ok((token, digest))
}

/// The family and the user a refresh token names (None: one from before
/// tokens named them, or no token of ours).
pub fn refresh_token_names(token: &str) -> Option<(Uuid, Uuid)> {
    named_ids(token).map(|[family, sub]| (family, sub))
}

/// A secret that also names the records it opens: 32 random bytes, then
/// the ids (16 bytes each), in base64url. The ids are no secret (a sub is
/// in every id_token) and open nothing: the store finds a token by the
/// digest of all of it, so a token with its ids changed is no token. They
/// let the store read the token's record and the records it leads to (its
/// user) at once, in one round trip, rather than one after the other.
pub fn naming_token<const N: usize>(ids: [&Uuid; N]) -> Result<String, RandomError> {
    let mut bytes = random_bytes::<32>()?.to_vec();
    for id in ids {
        bytes.extend_from_slice(id.as_bytes());
    }
    Ok(b64url(&bytes))
}

/// The ids a `naming_token` of `N` ids names; None for anything else
/// (a plain 32-byte token made before tokens named their records).
pub fn named_ids<const N: usize>(token: &str) -> Option<[Uuid; N]> {
    // Decoding a token of the wrong length is wasted work: check first.
    if token.len() != (4 * (32 + 16 * N)).div_ceil(3) {
        return None;
    }
    let bytes = b64url_decode(token)?;
    let ids = bytes.get(32..)?;
    let mut out = [Uuid::nil(); N];
    for (slot, chunk) in out.iter_mut().zip(ids.chunks_exact(16)) {
        *slot = Uuid::from_slice(chunk).ok()?;
    }
    (ids.len() == 16 * N).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_naming_token_gives_back_its_ids_and_nothing_else_names_any() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let two = naming_token([&a, &b]).unwrap();
        assert_eq!(named_ids::<2>(&two), Some([a, b]));
        assert_eq!(refresh_token_names(&two), Some((a, b)));
        assert_eq!(named_ids::<1>(&two), None, "another count of ids");
        let one = naming_token([&a]).unwrap();
        assert_eq!(named_ids::<1>(&one), Some([a]));
        assert_ne!(naming_token([&a]).unwrap(), one, "random");
        assert_eq!(named_ids::<1>(&crate::crypto::secrets::random_token().unwrap()), None, "a plain token");
        assert_eq!(named_ids::<1>(&"!".repeat(one.len())), None, "not base64url");
        assert_eq!(named_ids::<1>(""), None);
    }
}
