//! Personal access tokens as a service: the format, and resolving a
//! presented token to an active token and its user. Shared by introspection,
//! the token exchange, revocation and the CLI; knows nothing of HTTP.

use crate::secrets::{Digest, random_bytes, random_token};
use crate::store::{Application, AuditEvent, AuditKind, Pat, Store, StoreError, User};

/// A fixed prefix so secret scanners can recognise a leaked token:
/// `ferrid_pat_` followed by 43 base64url characters (256 random bits).
pub const PREFIX: &str = "ferrid_pat_";

pub fn looks_like_pat(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|rest| rest.len() == 43)
}

/// A new token (shown once) and its digest (stored).
pub fn new_token() -> Result<(String, Digest), crate::secrets::RandomError> {
    let token = format!("{PREFIX}{}", random_token()?);
    let digest = Digest::of(&token);
    Ok((token, digest))
}

/// A short public id: what lists show and `ferrid token revoke` takes.
pub fn new_id() -> Result<String, crate::secrets::RandomError> {
    Ok(random_bytes::<8>()?.iter().map(|b| format!("{b:02x}")).collect())
}

pub struct ActivePat {
    pub pat: Pat,
    pub user: User,
}

/// The token, if it is a PAT that is unrevoked, unexpired, issued for
/// `app`, and whose user still exists, is enabled and may use `app` now.
/// Records the use.
pub fn resolve(store: &Store, token: &str, app: &Application, now: i64) -> Result<Option<ActivePat>, StoreError> {
    if !looks_like_pat(token) {
        return Ok(None);
    }
    let digest = Digest::of(token);
    let Some(pat) = store.pat(&digest)? else { return Ok(None) };
    if !pat.is_active(now) || pat.client_id != app.client_id {
        return Ok(None);
    }
    let Some(user) = app.admits(store.user_by_sub(&pat.sub)?) else { return Ok(None) };
    if store.touch_pat(&digest, &pat, now)? {
        let used = AuditEvent::new(AuditKind::PatUsed, now).user(&user.username).app(&app.client_id).detail(&pat.id);
        store.audit(&used)?;
    }
    Ok(Some(ActivePat { pat: pat.record, user }))
}

/// Is the PAT with this public id still good (a JWT exchanged for it lives
/// no longer than it at ferrid's own endpoints)?
pub fn is_active_id(store: &Store, id: &str, now: i64) -> Result<bool, StoreError> {
    Ok(store.pat_by_id(id)?.is_some_and(|pat| pat.is_active(now)))
}
