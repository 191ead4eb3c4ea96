//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).
//! A code is redeemed once; a second use revokes what the first one issued.

use super::Issuer;
use super::TokenResponse;
use super::{named_ids, naming_token, new_refresh_token, user_tokens};
use crate::crypto::secrets::{Digest, RandomError};
use crate::domain::{CodeVerifier, Scope};
use crate::error::OAuthError;
use crate::form::Params;
use crate::published::PublishedApp;
use crate::store::{AuditEvent, AuditKind, AuthCode, CodeState, Redemption, RefreshFamily, User};
use uuid::Uuid;

/// A new authorization code for the user `sub`. It names the user (see
/// `naming_token`), so that the exchange reads the code and the user at once.
pub fn new_code(sub: &Uuid) -> Result<String, RandomError> {
    naming_token([sub])
}

pub fn exchange(issuer: &Issuer<'_>, app: &PublishedApp, params: &Params) -> Result<TokenResponse, OAuthError> {
    let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let code_key = Digest::of(code);
    let now = issuer.clock.now();
    // The user as read with the code, when the code names them.
    let (record, read_user) = match named_ids::<1>(code) {
        Some([sub]) => issuer.store.code_with_user(&code_key, &sub)?,
        None => (issuer.store.code(&code_key)?, None),
    };
    let record = match record.ok_or_else(|| OAuthError::invalid_grant("the code is invalid"))? {
        CodeState::Issued(record) => record,
        CodeState::Redeemed(first) => {
            revoke_first_redemption(issuer, &first.redeemed, now)?;
            tracing::warn!(client_id = %first.client_id, "authorization code replayed; its tokens were revoked");
            issuer.audit(
                AuditEvent::new(AuditKind::CodeReused, now)
                    .app(&first.client_id)
                    .detail("tokens of the first use revoked"),
            );
            return Err(OAuthError::invalid_grant("the code was already used"));
        }
    };
    check_binding(&record, app, params, now)?;

    let user: Option<User> = match read_user.filter(|u| u.sub == record.sub) {
        Some(user) => Some(user),
        None => issuer.store.user_by_sub(&record.sub)?,
    };
    let user = user
        .filter(|u| !u.disabled && u.epoch == record.user_epoch)
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer allowed to sign in"))?;

    let scope = record.request.scope;
    let wants_refresh = scope.contains(Scope::OfflineAccess);
    let family_id = wants_refresh.then(Uuid::new_v4);
    let mut tokens = user_tokens(
        issuer,
        app,
        &user,
        scope,
        record.auth_time,
        record.request.nonce.as_deref(),
        super::SessionClaims { sid: record.sid.as_deref(), amr: &record.amr },
    )?;

    let refresh = match family_id {
        Some(id) => {
            let (token, digest) = new_refresh_token(&id, &user.sub)?;
            let family = RefreshFamily {
                id,
                client_id: app.app.client_id.clone(),
                sub: user.sub,
                scope,
                auth_time: record.auth_time,
                current: Some(digest),
                generation: 0,
                revoked: false,
                last_access: Some(tokens.access.clone()),
                created_at: now,
                expires_at: now + issuer.lifetimes.refresh_token,
                user_epoch: user.epoch,
                sid: record.sid.clone(),
                amr: record.amr.clone(),
                retry: None,
            };
            Some((token, digest, family))
        }
        None => None,
    };
    // Claim the code before anything is handed out; a racing replay loses here.
    let redemption = Redemption { family: family_id, access: tokens.access.clone() };
    let new_family = refresh.as_ref().map(|(_, digest, family)| (family, digest));
    let issued = AuditEvent::new(AuditKind::TokenIssued, now)
        .user(&user.username)
        .app(&app.app.client_id)
        .detail("authorization_code");
    if !issuer.store.redeem_code(&code_key, &record, redemption, new_family, &issued)? {
        // A concurrent use of the same code won: a replay all the same, so
        // what it issued is revoked, as for a replay that comes later.
        if let Some(CodeState::Redeemed(first)) = issuer.store.code(&code_key)? {
            revoke_first_redemption(issuer, &first.redeemed, now)?;
        }
        return Err(OAuthError::invalid_grant("the code was already used"));
    }
    tokens.response.refresh_token = refresh.map(|(token, ..)| token);
    tracing::info!(client_id = %app.app.client_id, user = %user.username, "tokens issued for a code");
    issuer.metrics.token_issued("authorization_code");
    Ok(tokens.response)
}

/// Client, redirect URI, expiry and PKCE must all match what the code was issued for.
fn check_binding(record: &AuthCode, app: &PublishedApp, params: &Params, now: i64) -> Result<(), OAuthError> {
    if record.request.client_id != app.app.client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if record.valid_until <= now {
        tracing::warn!(
            client_id = %app.app.client_id,
            late_by_s = now - record.valid_until,
            "token: an expired authorization code (is the client slow to redeem it, or the clocks apart?)"
        );
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if params.get("redirect_uri") != Some(record.request.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    match (&record.request.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let verifier = CodeVerifier::parse(verifier).map_err(|e| OAuthError::invalid_grant(e.0))?;
            if !challenge.is_satisfied_by(&verifier) {
                return Err(OAuthError::invalid_grant("code_verifier does not match code_challenge"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant("no code_challenge was sent for this code"));
        }
        (None, None) => {}
    }
    Ok(())
}

fn revoke_first_redemption(issuer: &Issuer<'_>, first: &Redemption, now: i64) -> Result<(), OAuthError> {
    issuer.store.revoke_access_token(&first.access)?;
    if let Some(family) = first.family {
        issuer.store.revoke_family(family, now)?;
    }
    Ok(())
}
