//! `grant_type=client_credentials` (RFC 6749 §4.4): an access token whose
//! subject is the client itself. Confidential clients only.

use crate::domain::{Scope, ScopeSet};
use crate::error::OAuthError;
use crate::http::AppState;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::mint;
use crate::oidc::params::Params;
use crate::oidc::token::TokenResponse;
use crate::published::Published;

pub fn exchange(
    state: &AppState,
    published: &Published,
    client: &AuthenticatedClient,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let app = &client.app;
    if app.app.is_public() {
        return Err(OAuthError::unauthorized_client("public clients cannot use client_credentials"));
    }
    // No user is involved: identity scopes and refresh make no sense here.
    let scope = ScopeSet::parse(params.get("scope").unwrap_or("")).without(Scope::OpenId).without(Scope::OfflineAccess);
    let (access_token, _) =
        mint::access_token(state, published, app, app.app.client_id.as_str(), scope, None, Default::default())?;
    tracing::info!(client_id = %app.app.client_id, "client_credentials token issued");
    state.audit(
        crate::store::AuditEvent::new(crate::store::AuditKind::TokenIssued, state.clock.now())
            .app(&app.app.client_id)
            .detail("client_credentials"),
    );
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.config.lifetimes.access_token,
        scope,
        refresh_token: None,
        id_token: None,
    })
}
