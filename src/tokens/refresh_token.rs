//! `grant_type=refresh_token` (RFC 6749 §6). Rotated on every use; a
//! rotated token presented again revokes its whole family (RFC 9700 §4.14.2),
//! unless the application has a `refresh_reuse_interval` and this is its
//! client retrying within it after losing the answer: then the retry gets
//! the successor the first rotation handed out (the family does not fork),
//! with fresh access and id tokens. Once the successor is used, or the
//! interval is over, it is reuse as before.

use super::Issuer;
use super::TokenResponse;
use super::{UserTokens, new_refresh_token, refresh_token_names, user_tokens};
use crate::crypto::seal::SealKey;
use crate::crypto::secrets::{Digest, b64url, b64url_decode, key_from_secret};
use crate::domain::{Scope, ScopeSet};
use crate::error::OAuthError;
use crate::form::Params;
use crate::published::PublishedApp;
use crate::store::{
    AuditEvent, AuditKind, RefreshFamily, RefreshOutcome, RetryRule, RetryWindow, Rotation, Stored, User,
};

/// The successor sealed in a `RetryWindow` opens only with a key made
/// from the token it replaced.
const SUCCESSOR_KEY: &str = "ferrid refresh successor";

pub fn exchange(issuer: &Issuer<'_>, app: &PublishedApp, params: &Params) -> Result<TokenResponse, OAuthError> {
    let presented =
        params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let now = issuer.clock.now();
    let digest = Digest::of(presented);
    let rule = RetryRule { client: &app.app.client_id, interval: app.app.compat.refresh_reuse_interval };
    // The user as read with the token, when the token names them.
    let (outcome, read_user) = present(issuer, presented, &digest, now, rule)?;
    let family = match outcome {
        RefreshOutcome::Valid(family) => family,
        RefreshOutcome::Retry(family) => return retry(issuer, app, params, presented, &family, read_user),
        RefreshOutcome::Reused => return Err(reused(issuer, app, now)),
        RefreshOutcome::Unknown => {
            return Err(OAuthError::invalid_grant("the refresh token is invalid or expired"));
        }
    };
    let (user, scope) = check(issuer, app, params, &family, read_user)?;
    let mut tokens = tokens_for(issuer, app, &family, &user, scope)?;
    let (token, new_digest) = new_refresh_token(&family.id, &user.sub)?;
    let window = match rule.interval {
        0 => None,
        _ => {
            let sealed = SealKey::from_bytes(key_from_secret(SUCCESSOR_KEY, presented))
                .seal(token.as_bytes(), family.id.as_bytes())
                .map_err(OAuthError::server)?;
            Some(RetryWindow { previous: digest, rotated_at: now, successor: b64url(&sealed) })
        }
    };
    let rotation = Rotation { new_token: new_digest, access: tokens.access.clone(), retry: window };
    let issued = AuditEvent::new(AuditKind::TokenIssued, now)
        .user(&user.username)
        .app(&app.app.client_id)
        .detail("refresh_token");
    if !issuer.store.rotate_family(&family, &rotation, &issued)? {
        // Someone rotated this token between our read and our write: the
        // same client's retry racing its first try (forgiven within the
        // interval, as a later retry is), or a reuse.
        return match present(issuer, presented, &digest, now, rule)?.0 {
            RefreshOutcome::Retry(family) => retry(issuer, app, params, presented, &family, Some(user)),
            RefreshOutcome::Reused => Err(reused(issuer, app, now)),
            _ => {
                issuer.store.revoke_family(family.id, now)?;
                Err(OAuthError::invalid_grant("the refresh token was already used"))
            }
        };
    }
    tokens.response.refresh_token = Some(token);
    issuer.metrics.token_issued("refresh_token");
    Ok(tokens.response)
}

fn present(
    issuer: &Issuer<'_>,
    presented: &str,
    digest: &Digest,
    now: i64,
    rule: RetryRule<'_>,
) -> Result<(RefreshOutcome, Option<User>), OAuthError> {
    Ok(match refresh_token_names(presented) {
        Some((family, sub)) => issuer.store.present_refresh_token_of(digest, &family, &sub, now, Some(rule))?,
        None => (issuer.store.present_refresh_token_under(digest, now, Some(rule))?, None),
    })
}

/// A rotated token presented again, outside what the interval forgives:
/// the store has revoked the family.
fn reused(issuer: &Issuer<'_>, app: &PublishedApp, now: i64) -> OAuthError {
    tracing::warn!(client_id = %app.app.client_id, "rotated refresh token reused; family revoked");
    issuer.audit(AuditEvent::new(AuditKind::RefreshReused, now).app(&app.app.client_id).detail("family revoked"));
    OAuthError::invalid_grant("the refresh token was already used")
}

/// The family's client, scope (§6: a narrower one may be asked for, never
/// a wider one) and user (still enabled, same password).
fn check(
    issuer: &Issuer<'_>,
    app: &PublishedApp,
    params: &Params,
    family: &RefreshFamily,
    read_user: Option<User>,
) -> Result<(User, ScopeSet), OAuthError> {
    if family.client_id != app.app.client_id {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
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
    Ok((user, scope))
}

fn tokens_for(
    issuer: &Issuer<'_>,
    app: &PublishedApp,
    family: &RefreshFamily,
    user: &User,
    scope: ScopeSet,
) -> Result<UserTokens, OAuthError> {
    let session = super::SessionClaims { sid: family.sid.as_deref(), amr: &family.amr };
    user_tokens(issuer, app, user, scope, family.auth_time, None, session)
}

/// A forgiven retry: the successor the first rotation handed out, opened
/// with the presented token, and fresh access and id tokens. The family
/// is not written: it stays as the first rotation left it.
fn retry(
    issuer: &Issuer<'_>,
    app: &PublishedApp,
    params: &Params,
    presented: &str,
    family: &Stored<RefreshFamily>,
    read_user: Option<User>,
) -> Result<TokenResponse, OAuthError> {
    let now = issuer.clock.now();
    let (user, scope) = check(issuer, app, params, family, read_user)?;
    let window = family.retry.as_ref().ok_or_else(|| OAuthError::server("a retry without its window"))?;
    let sealed = b64url_decode(&window.successor).ok_or_else(|| OAuthError::server("an unreadable retry window"))?;
    let successor = SealKey::from_bytes(key_from_secret(SUCCESSOR_KEY, presented))
        .open(&sealed, family.id.as_bytes())
        .map_err(OAuthError::server)?;
    let successor = String::from_utf8(successor).map_err(OAuthError::server)?;
    let mut tokens = tokens_for(issuer, app, family, &user, scope)?;
    tracing::info!(client_id = %app.app.client_id, user = %user.username, "refresh retried within the reuse interval");
    issuer.audit(
        AuditEvent::new(AuditKind::TokenIssued, now)
            .user(&user.username)
            .app(&app.app.client_id)
            .detail("refresh_token retry forgiven (within refresh_reuse_interval)"),
    );
    tokens.response.refresh_token = Some(successor);
    issuer.metrics.token_issued("refresh_token");
    Ok(tokens.response)
}
