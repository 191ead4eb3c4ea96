//! Personal access tokens as a service: the format, and resolving a
//! presented token to an active token and its user. Shared by introspection,
//! the token exchange, revocation and the CLI; knows nothing of HTTP.

use crate::crypto::secrets::{Digest, random_bytes, random_token};
use crate::store::{Application, AuditEvent, AuditKind, Pat, Store, StoreError, User};

/// A fixed prefix so secret scanners can recognise a leaked token:
/// `ferrid_pat_` followed by 43 base64url characters (256 random bits).
pub const PREFIX: &str = "ferrid_pat_";

pub fn looks_like_pat(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|rest| rest.len() == 43)
}

/// A new token (shown once) and its digest (stored).
pub fn new_token() -> Result<(String, Digest), crate::crypto::secrets::RandomError> {
    let token = format!("{PREFIX}{}", random_token()?);
    let digest = Digest::of(&token);
    Ok((token, digest))
}

/// A short public id: what lists show and `ferrid token revoke` takes.
pub fn new_id() -> Result<String, crate::crypto::secrets::RandomError> {
    Ok(random_bytes::<8>()?.iter().map(|b| format!("{b:02x}")).collect())
}

pub struct ActivePat {
    pub pat: Pat,
    pub user: User,
}

/// The token, if it is a PAT that is unrevoked, unexpired, issued for
/// `app`, and whose user still exists, is enabled and may use `app` now,
/// with the second factor `app` needs of them now (`policy`) if a session
/// made it. Records the use.
pub fn resolve(
    store: &Store,
    policy: &crate::config::MfaPolicy,
    token: &str,
    app: &Application,
    now: i64,
) -> Result<Option<ActivePat>, StoreError> {
    if !looks_like_pat(token) {
        return Ok(None);
    }
    let digest = Digest::of(token);
    let Some(pat) = store.pat(&digest)? else { return Ok(None) };
    if !pat.is_active(now) || pat.client_id != app.client_id {
        return Ok(None);
    }
    let Some(user) = app.admits(store.user_by_sub(&pat.sub)?) else { return Ok(None) };
    if !made_with_enough(store, policy, &pat, app, &user)? {
        return Ok(None);
    }
    if store.touch_pat(&digest, &pat, now)? {
        let used = AuditEvent::new(AuditKind::PatUsed, now).user(&user.username).app(&app.client_id).detail(&pat.id);
        store.audit(&used)?;
    }
    Ok(Some(ActivePat { pat: pat.record, user }))
}

/// A token a session made is as strong as that session's sign-in: if
/// `app` needs a second factor of `user` (now), the session must have used one.
fn made_with_enough(
    store: &Store,
    policy: &crate::config::MfaPolicy,
    pat: &Pat,
    app: &Application,
    user: &User,
) -> Result<bool, StoreError> {
    let Some(amr) = &pat.amr else { return Ok(true) };
    Ok(amr.iter().any(|m| m == crate::mfa::AMR_MFA) || !crate::mfa::required(policy, store, Some(app), user, false)?)
}

/// Revokes every active token of `user`, each durably and audited.
/// Returns how many.
pub fn revoke_all_of(store: &Store, user: &User, now: i64) -> Result<usize, StoreError> {
    let mut revoked = 0;
    for pat in store.pats()?.iter().filter(|p| p.sub == user.sub && p.is_active(now)) {
        if revoke(store, &pat.id, now)?.is_some() {
            revoked += 1;
        }
    }
    Ok(revoked)
}

/// Is the PAT with this public id still good (a JWT exchanged for it lives
/// no longer than it at ferrid's own endpoints)?
pub fn is_active_id(store: &Store, id: &str, now: i64) -> Result<bool, StoreError> {
    Ok(store.pat_by_id(id)?.is_some_and(|pat| pat.is_active(now)))
}

/// What a new token is to be.
pub struct Asked<'a> {
    pub scope: crate::domain::ScopeSet,
    pub expires_in: i64,
    pub description: &'a str,
    /// The `amr` of the session that asks; None for an administrator.
    pub made_with: Option<Vec<String>>,
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PatError {
    #[error("a token must live between 1 minute and 400 days")]
    Lifetime,
    #[error("{user} may not use {app} (its access policy)")]
    NotAllowed { user: String, app: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] crate::crypto::secrets::RandomError),
}

/// What lists show of a token (never its secret). Field names are the
/// JSON that `ferrid token list --json` prints and the account page reads.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PatView {
    pub id: String,
    pub user: String,
    /// The application's client id.
    pub app: String,
    pub scope: crate::domain::ScopeSet,
    pub description: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

impl PatView {
    pub fn of(pat: &Pat, username: &str, now: i64) -> PatView {
        let status = if pat.revoked {
            "revoked"
        } else if pat.expires_at <= now {
            "expired"
        } else {
            "active"
        };
        PatView {
            id: pat.id.clone(),
            user: username.to_owned(),
            app: pat.client_id.to_string(),
            scope: pat.scope,
            description: pat.description.clone(),
            created_at: crate::clock::rfc3339(pat.created_at),
            expires_at: crate::clock::rfc3339(pat.expires_at),
            last_used: pat.last_used.map(crate::clock::rfc3339),
            status,
        }
    }
}

/// The scopes a token gets when none are asked for: enough for userinfo
/// and every claim, as the account page gives.
pub const DEFAULT_SCOPE: &str = "openid profile email groups";

/// The shortest and longest lifetimes a token may have, in seconds.
pub const LIFETIME_RANGE: std::ops::RangeInclusive<i64> = 60..=400 * 86_400;

/// Makes a token for `user` at `app`, durably, and audits it. Returns the
/// secret (shown once) and the token's view.
pub fn create(
    store: &Store,
    user: &User,
    app: &Application,
    asked: Asked<'_>,
    now: i64,
) -> Result<(String, PatView), PatError> {
    let Asked { scope, expires_in, description, made_with } = asked;
    if !LIFETIME_RANGE.contains(&expires_in) {
        return Err(PatError::Lifetime);
    }
    if !app.allows(user) {
        return Err(PatError::NotAllowed { user: user.username.to_string(), app: app.slug.to_string() });
    }
    let (token, digest) = new_token()?;
    let pat = Pat {
        id: new_id()?,
        sub: user.sub,
        client_id: app.client_id.clone(),
        scope,
        description: description.chars().take(200).collect(),
        created_at: now,
        expires_at: now + expires_in,
        last_used: None,
        revoked: false,
        amr: made_with,
    };
    store.create_pat(&digest, &pat)?;
    store.record(
        &AuditEvent::new(AuditKind::PatCreated, now).user(&user.username).app(&app.client_id).detail(&pat.description),
    );
    Ok((token, PatView::of(&pat, user.username.as_str(), now)))
}

/// Every token, or only `user`'s, oldest first.
pub fn list(store: &Store, user: Option<&User>, now: i64) -> Result<Vec<PatView>, StoreError> {
    let names: std::collections::HashMap<uuid::Uuid, String> =
        store.users()?.into_iter().map(|u| (u.sub, u.username.to_string())).collect();
    Ok(store
        .pats()?
        .iter()
        .filter(|p| user.is_none_or(|u| u.sub == p.sub))
        .map(|p| PatView::of(p, names.get(&p.sub).map(String::as_str).unwrap_or("?"), now))
        .collect())
}

/// Revokes the token with this id, durably, and audits it. None: no such token.
pub fn revoke(store: &Store, id: &str, now: i64) -> Result<Option<PatView>, StoreError> {
    let Some(pat) = store.revoke_pat(id)? else { return Ok(None) };
    let owner = store.user_by_sub(&pat.sub)?.map(|u| u.username.to_string()).unwrap_or_default();
    let mut event = AuditEvent::new(AuditKind::PatRevoked, now).app(&pat.client_id).detail(&pat.id);
    if !owner.is_empty() {
        event = event.user(&owner);
    }
    store.record(&event);
    Ok(Some(PatView::of(&pat, &owner, now)))
}
