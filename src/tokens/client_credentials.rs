//! `grant_type=client_credentials` (RFC 6749 §4.4): an access token whose
//! subject is the client itself (confidential clients only) or, as authentik
//! does, `username` + `password` = a personal access token: a short-lived
//! JWT for that user, so resource servers keep verifying offline.

use super::Issuer;
use super::TokenResponse;
use super::mint;
use crate::domain::{Scope, ScopeSet};
use crate::error::OAuthError;
use crate::form::Params;
use crate::published::PublishedApp;

pub fn exchange(issuer: &Issuer<'_>, app: &PublishedApp, params: &Params) -> Result<TokenResponse, OAuthError> {
    // A client that registered itself acts for users who signed in to it,
    // never as itself (it registered for authorization_code alone).
    if app.app.registration.is_some() {
        return Err(OAuthError::unauthorized_client("a registered client cannot use client_credentials"));
    }
    if let (Some(username), Some(password)) = (params.get("username"), params.get("password")) {
        return exchange_pat(issuer, app, params, username, password);
    }
    if app.app.is_public() {
        return Err(OAuthError::unauthorized_client("public clients cannot use client_credentials"));
    }
    // No user is involved: identity scopes and refresh make no sense here.
    let scope = ScopeSet::parse(params.get("scope").unwrap_or("")).without(Scope::OpenId).without(Scope::OfflineAccess);
    let input = mint::AccessTokenInput {
        subject: app.app.client_id.as_str(),
        scope,
        auth_time: None,
        mapped: Default::default(),
        pat: None,
        amr: None,
    };
    let (access_token, _) = mint::access_token(issuer, app, input)?;
    // Machine clients can ask thousands of times a second: debug, not info
    // (the audit trail and the metrics have it).
    tracing::debug!(client_id = %app.app.client_id, "client_credentials token issued");
    issuer.metrics.token_issued("client_credentials");
    // One event per client per minute with a count (see machine_tokens).
    for event in issuer.machine_tokens.issued(app.app.client_id.as_str(), issuer.clock.now()) {
        issuer.audit(event);
    }
    Ok(TokenResponse::access_only(access_token, issuer.lifetimes.access_token, scope))
}

/// authentik's form: `client_credentials` with `username` and an app
/// password (here, a personal access token issued for this application).
fn exchange_pat(
    issuer: &Issuer<'_>,
    app: &PublishedApp,
    params: &Params,
    username: &str,
    password: &str,
) -> Result<TokenResponse, OAuthError> {
    let now = issuer.clock.now();
    let refused = || OAuthError::invalid_grant("invalid username or personal access token");
    let active = crate::pat::resolve(issuer.store, issuer.mfa, password, &app.app, now)?.ok_or_else(refused)?;
    if crate::domain::Username::parse(username).ok().as_ref() != Some(&active.user.username) {
        return Err(refused());
    }
    // A narrower scope may be asked for, never a wider one.
    let scope = match params.get("scope") {
        Some(raw) => {
            let asked = ScopeSet::parse(raw);
            if !asked.is_subset_of(active.pat.scope) {
                return Err(OAuthError::invalid_scope("the requested scope exceeds the token's"));
            }
            asked
        }
        None => active.pat.scope,
    }
    .without(Scope::OfflineAccess);
    let subject = active.user.sub.to_string();
    let mapped = app.app.mapped_claims(&active.user);
    let input = mint::AccessTokenInput {
        subject: &subject,
        scope,
        auth_time: None,
        mapped,
        pat: Some(&active.pat.id),
        amr: active.pat.amr.as_deref(),
    };
    let (access_token, _) = mint::access_token(issuer, app, input)?;
    issuer.metrics.token_issued("personal_access_token");
    issuer.audit(
        crate::store::AuditEvent::new(crate::store::AuditKind::TokenIssued, now)
            .user(&active.user.username)
            .app(&app.app.client_id)
            .detail(format!("client_credentials with personal access token {}", active.pat.id)),
    );
    Ok(TokenResponse::access_only(access_token, issuer.lifetimes.access_token, scope))
}
