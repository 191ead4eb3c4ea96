//! The SSO session cookie and the CSRF cookie of the sign-in form.

use crate::crypto::secrets::{Digest, random_token};
use crate::http::AppState;
use crate::store::{Session, StoreError, User};
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

/// ferrid's cookies. Over https their names carry the `__Host-` prefix:
/// a browser then takes them only with `Secure`, `Path=/` and no `Domain`,
/// so a sibling host (another app under the same parent domain) cannot
/// plant one for ferrid (session fixation, sign-in CSRF).
#[derive(Clone, Copy, Debug)]
pub enum CookieName {
    Session,
    Csrf,
    /// A browser that signed in before (see `device`).
    Device,
}

impl CookieName {
    pub fn name(self, state: &AppState) -> &'static str {
        match (self, state.config.public_url.is_https()) {
            (CookieName::Session, true) => "__Host-ferrid_session",
            (CookieName::Session, false) => "ferrid_session",
            (CookieName::Csrf, true) => "__Host-ferrid_csrf",
            (CookieName::Csrf, false) => "ferrid_csrf",
            (CookieName::Device, true) => "__Host-ferrid_device",
            (CookieName::Device, false) => "ferrid_device",
        }
    }

    /// This browser's value of the cookie, if it sent one.
    pub fn value(self, req: &HttpRequest, state: &AppState) -> Option<String> {
        req.cookie(self.name(state)).map(|c| c.value().to_owned())
    }
}

pub struct ActiveSession {
    pub session: Session,
    pub user: User,
}

/// The browser's session, if it has one that is unexpired and whose user
/// still exists, is enabled, and has not changed password or been disabled
/// since it began.
pub fn current(req: &HttpRequest, state: &AppState) -> Result<Option<ActiveSession>, StoreError> {
    let Some(cookie) = CookieName::Session.value(req, state) else {
        return Ok(None);
    };
    let id = Digest::of(&cookie);
    let Some(session) = state.store.session(&id)? else {
        return Ok(None);
    };
    if session.expires_at <= state.clock.now() {
        return Ok(None);
    }
    match state.store.user_by_sub(&session.sub)? {
        Some(user) if !user.disabled && user.epoch == session.epoch => Ok(Some(ActiveSession { session, user })),
        _ => Ok(None),
    }
}

/// Starts a session with a fresh id (never one the browser brought along,
/// which would allow session fixation) and returns its cookie.
pub fn start(
    state: &AppState,
    user: &User,
    previous: Option<&HttpRequest>,
) -> Result<Cookie<'static>, crate::error::OAuthError> {
    if let Some(old) = previous.and_then(|req| CookieName::Session.value(req, state)) {
        state.store.delete_session(&Digest::of(&old))?;
    }
    let now = state.clock.now();
    let value = random_token()?;
    let lifetime = state.config.lifetimes.session;
    state.store.put_session(
        &Digest::of(&value),
        &Session { sub: user.sub, auth_time: now, expires_at: now + lifetime, epoch: user.epoch },
    )?;
    Ok(cookie(state, CookieName::Session, value, lifetime))
}

/// Always `Path=/` and no `Domain` (what `__Host-` requires).
pub fn cookie(state: &AppState, name: CookieName, value: String, max_age_s: i64) -> Cookie<'static> {
    Cookie::build(name.name(state), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_url.is_https())
        .max_age(Duration::seconds(max_age_s))
        .finish()
}

/// The browser's CSRF token: kept if it already has a well-formed one, so
/// sign-ins started in two tabs do not invalidate each other.
pub fn csrf_token(req: &HttpRequest, state: &AppState) -> Result<(String, bool), crate::crypto::secrets::RandomError> {
    match CookieName::Csrf.value(req, state) {
        Some(value) if value.len() == 43 => Ok((value, false)),
        _ => Ok((random_token()?, true)),
    }
}
