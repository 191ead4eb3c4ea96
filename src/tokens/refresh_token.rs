//! `grant_type=refresh_token` (RFC 6749 §6). Rotated on every use; a
//! rotated token presented again revokes its whole family (RFC 9700 §4.14.2).

use super::Issuer;
use super::TokenResponse;
use super::{new_refresh_token, refresh_token_names, user_tokens};
use crate::crypto::secrets::Digest;
use crate::domain::{Scope, ScopeSet};
use crate::error::OAuthError;
use crate::form::Params;
use crate::published::PublishedApp;
use crate::store::{AuditEvent, AuditKind, RefreshOutcome, Rotation, User};

pub fn exchange(issuer: &Issuer<'_>, app: &PublishedApp, params: &Params) -> Result<TokenResponse, OAuthError> {
    let presented =
        params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let now = issuer.clock.now();
    let digest = Digest::of(presented);
    // The user as read with the token, when the token names them.
    let (outcome, read_user) = match refresh_token_names(presented) {
        Some((family, sub)) => issuer.store.present_refresh_token_of(&digest, &family, &sub, now)?,
        None => (issuer.store.present_refresh_token(&digest, now)?, None),
    };
    let family = match outcome {
        RefreshOutcome::Valid(family) => family,
        RefreshOutcome::Reused => {
            tracing::warn!(client_id = %app.app.client_id, "rotated refresh token reused; family revoked");
            issuer
                .audit(AuditEvent::new(AuditKind::RefreshReused, now).app(&app.app.client_id).detail("family revoked"));
            return Err(OAuthError::invalid_grant("the refresh token was already used"));
        }
        RefreshOutcome::Unknown => {
            return Err(OAuthError::invalid_grant("the refresh token is invalid or expired"));
        }
    };
    if family.client_id != app.app.client_id {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
    // §6: a narrower scope may be asked for, never a wider one.
    let scope = match params.get("scope") {
        Some(raw) => {
            let asked = ScopeSet::parse(raw);
            if !asked.is_subset_of(family.scope) {
                return Err(OAuthError::invalid_scope("the requested scope exceeds the original grant"));
            }
            asked.with(Scope::OfflineAccess)
        }
        None => family.scope,
    };
    let user: Option<User> = match read_user.filter(|u| u.sub == family.sub) {
        Some(user) => Some(user),
        None => issuer.store.user_by_sub(&family.sub)?,
    };
    let user = user
        .filter(|u| !u.disabled && u.epoch == family.user_epoch)
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer allowed to sign in"))?;

    let mut tokens = user_tokens(
        issuer,
        app,
        &user,
        scope,
        family.auth_time,
        None,
        super::SessionClaims { sid: family.sid.as_deref(), amr: &family.amr },
    )?;
    let (token, digest) = new_refresh_token(&family.id, &user.sub)?;
    let rotation = Rotation { new_token: digest, access: tokens.access.clone() };
    let issued = AuditEvent::new(AuditKind::TokenIssued, now)
        .user(&user.username)
        .app(&app.app.client_id)
        .detail("refresh_token");
    if !issuer.store.rotate_family(&family, &rotation, &issued)? {
        // Someone rotated this token between our read and our write: a reuse.
        issuer.store.revoke_family(family.id, now)?;
        return Err(OAuthError::invalid_grant("the refresh token was already used"));
    }
    tokens.response.refresh_token = Some(token);
    issuer.metrics.token_issued("refresh_token");
    Ok(tokens.response)
}
