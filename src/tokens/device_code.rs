//! The device authorization grant (RFC 8628): a device with no browser (a
//! CLI, a TV, a Raspberry Pi) asks for a pair of codes (`start`), shows
//! the user code, and polls the token endpoint with the device code
//! (`exchange`) while its user signs in on `/device` with a phone and
//! approves or denies it (`answer`).

use super::{Issuer, TokenResponse, new_refresh_token, user_tokens};
use crate::crypto::secrets::{Digest, random_token};
use crate::domain::{Scope, ScopeSet, UserCode};
use crate::error::OAuthError;
use crate::form::Params;
use crate::published::PublishedApp;
use crate::store::{AuditEvent, AuditKind, DeviceGrant, DeviceState, RefreshFamily, Store, Stored, User};
use serde::Serialize;
use uuid::Uuid;

/// RFC 8628 §3.2's answer to a device.
#[derive(Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A new request of `app` for `scope` (as the device asked it), stored
/// durably, and the codes to hand out. `verification_uri`: `/device` in
/// full.
pub fn start(
    issuer: &Issuer<'_>,
    app: &PublishedApp,
    scope: &str,
    verification_uri: &str,
) -> Result<DeviceAuthorization, OAuthError> {
    if !app.app.compat.device_flow {
        return Err(OAuthError::unauthorized_client("the device flow is not enabled for this client (device_flow)"));
    }
    // As at the authorization endpoint: no openid, no refresh token (OIDC Core §11).
    let scope = ScopeSet::parse(scope);
    let scope = if scope.contains(Scope::OpenId) { scope } else { scope.without(Scope::OfflineAccess) };
    let now = issuer.clock.now();
    let device_code = random_token().map_err(OAuthError::server)?;
    let device = Digest::of(&device_code);
    // A user code in use by another waiting request is drawn again (with
    // 20^8 codes, a rare event).
    for _ in 0..8 {
        let user_code = UserCode::generate().map_err(OAuthError::server)?;
        let grant = DeviceGrant {
            client_id: app.app.client_id.clone(),
            scope,
            user_code: Digest::of(user_code.as_str()),
            created_at: now,
            expires_at: now + issuer.lifetimes.device_code,
            interval: issuer.lifetimes.device_poll,
            last_poll: None,
            state: DeviceState::Pending,
        };
        if issuer.store.create_device_grant(&device, &grant)? {
            tracing::info!(client_id = %app.app.client_id, "device authorization started");
            let complete = format!("{verification_uri}?code={}", user_code.display());
            return Ok(DeviceAuthorization {
                device_code,
                user_code: user_code.display(),
                verification_uri: verification_uri.to_owned(),
                verification_uri_complete: complete,
                expires_in: issuer.lifetimes.device_code,
                interval: issuer.lifetimes.device_poll,
            });
        }
    }
    Err(OAuthError::server("no free user code after 8 draws"))
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628
/// §3.4, §3.5): pending, slow down, denied, expired, or the tokens, once.
pub fn exchange(issuer: &Issuer<'_>, app: &PublishedApp, params: &Params) -> Result<TokenResponse, OAuthError> {
    let code = params.get("device_code").ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
    let key = Digest::of(code);
    let now = issuer.clock.now();
    let seen =
        issuer.store.device_grant(&key)?.ok_or_else(|| OAuthError::invalid_grant("the device_code is invalid"))?;
    if seen.client_id != app.app.client_id {
        return Err(OAuthError::invalid_grant("the device_code was issued to another client"));
    }
    if !app.app.compat.device_flow {
        return Err(OAuthError::unauthorized_client("the device flow is not enabled for this client (device_flow)"));
    }
    if seen.expires_at <= now {
        return Err(OAuthError::expired_token("the device_code expired; start again"));
    }
    match &seen.state {
        DeviceState::Pending => Err(poll(issuer, &key, &seen, now)?),
        DeviceState::Denied => Err(OAuthError::access_denied("the user denied the request")),
        DeviceState::Redeemed => Err(OAuthError::invalid_grant("the device_code was already used")),
        DeviceState::Approved { sub, user_epoch, auth_time, amr, sid } => {
            let user = issuer
                .store
                .user_by_sub(sub)?
                .filter(|u| !u.disabled && u.epoch == *user_epoch)
                .ok_or_else(|| OAuthError::invalid_grant("the user is no longer allowed to sign in"))?;
            let approval = Approval { auth_time: *auth_time, amr, sid: sid.as_deref() };
            issue(issuer, app, &key, &seen, &user, approval)
        }
    }
}

/// A poll while the user has not answered: `slow_down` if it came sooner
/// than the interval after the last (which then grows by 5 s, §3.5), else
/// `authorization_pending`. The poll's time is kept without waiting for
/// the disk: after a crash, a device is at worst not told to slow down.
fn poll(issuer: &Issuer<'_>, key: &Digest, seen: &Stored<DeviceGrant>, now: i64) -> Result<OAuthError, OAuthError> {
    let too_soon = seen.last_poll.is_some_and(|last| now - last < seen.interval);
    let interval = if too_soon { seen.interval + 5 } else { seen.interval };
    let next = DeviceGrant { last_poll: Some(now), interval, ..seen.record.clone() };
    // Losing the race to another poll (or the answer) changes nothing here.
    issuer.store.update_device_grant(key, seen, &next, false)?;
    Ok(if too_soon {
        OAuthError::slow_down(format!("poll at most every {interval} seconds"))
    } else {
        OAuthError::authorization_pending("the user has not answered yet")
    })
}

/// What the approving session says of the sign-in.
struct Approval<'a> {
    auth_time: i64,
    amr: &'a [String],
    sid: Option<&'a str>,
}

fn issue(
    issuer: &Issuer<'_>,
    app: &PublishedApp,
    key: &Digest,
    seen: &Stored<DeviceGrant>,
    user: &User,
    approval: Approval<'_>,
) -> Result<TokenResponse, OAuthError> {
    let now = issuer.clock.now();
    let scope = seen.scope;
    let session = super::SessionClaims { sid: approval.sid, amr: approval.amr };
    let mut tokens = user_tokens(issuer, app, user, scope, approval.auth_time, None, session)?;
    let refresh = match scope.contains(Scope::OfflineAccess) {
        true => {
            let id = Uuid::new_v4();
            let (token, digest) = new_refresh_token(&id, &user.sub)?;
            let family = RefreshFamily {
                id,
                client_id: app.app.client_id.clone(),
                sub: user.sub,
                scope,
                auth_time: approval.auth_time,
                current: Some(digest),
                generation: 0,
                revoked: false,
                last_access: Some(tokens.access.clone()),
                created_at: now,
                expires_at: now + issuer.lifetimes.refresh_token,
                user_epoch: user.epoch,
                sid: approval.sid.map(str::to_owned),
                amr: approval.amr.to_vec(),
                retry: None,
            };
            Some((token, digest, family))
        }
        false => None,
    };
    let event =
        AuditEvent::new(AuditKind::TokenIssued, now).user(&user.username).app(&app.app.client_id).detail("device_code");
    let family = refresh.as_ref().map(|(_, digest, family)| (family, digest));
    // One poll gets the tokens; a racing one finds the code spent.
    if !issuer.store.redeem_device_grant(key, seen, family, &event)? {
        return Err(OAuthError::invalid_grant("the device_code was already used"));
    }
    tokens.response.refresh_token = refresh.map(|(token, ..)| token);
    tracing::info!(client_id = %app.app.client_id, user = %user.username, "tokens issued for a device");
    issuer.metrics.token_issued("device_code");
    Ok(tokens.response)
}

/// The user's answer to a device's request, from the session they are
/// signed in with. False: the request no longer waits (answered, expired,
/// or changed under us), and nothing was written.
pub struct Answer<'a> {
    pub approve: bool,
    pub user: &'a User,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub sid: Option<String>,
}

pub fn answer(store: &Store, now: i64, device: &Digest, answer: Answer<'_>) -> Result<bool, crate::store::StoreError> {
    let state = match answer.approve {
        true => DeviceState::Approved {
            sub: answer.user.sub,
            user_epoch: answer.user.epoch,
            auth_time: answer.auth_time,
            amr: answer.amr,
            sid: answer.sid,
        },
        false => DeviceState::Denied,
    };
    // A poll may have written the request's time between our read and our
    // write: read again and retry (a poll never changes the state).
    for _ in 0..4 {
        let Some(seen) = store.device_grant(device)? else { return Ok(false) };
        if seen.state != DeviceState::Pending || seen.expires_at <= now {
            return Ok(false);
        }
        let next = DeviceGrant { state: state.clone(), ..seen.record.clone() };
        if store.update_device_grant(device, &seen, &next, true)? {
            return Ok(true);
        }
    }
    Ok(false)
}
