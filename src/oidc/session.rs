//! The SSO session cookie and the CSRF cookie of the sign-in form.

use crate::http::AppState;
use crate::secrets::{Digest, random_token};
use crate::store::{Session, StoreError, User};
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

pub const SESSION_COOKIE: &str = "ferrid_session";
pub const CSRF_COOKIE: &str = "ferrid_csrf";

pub struct ActiveSession {
    pub session: Session,
    pub user: User,
}

/// The browser's session, if it has one that is unexpired and whose user
/// still exists, is enabled, and has not changed password or been disabled
/// since it began.
pub fn current(req: &HttpRequest, state: &AppState) -> Result<Option<ActiveSession>, StoreError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let id = Digest::of(cookie.value());
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
    if let Some(old) = previous.and_then(|req| req.cookie(SESSION_COOKIE)) {
        state.store.delete_session(&Digest::of(old.value()))?;
    }
    let now = state.clock.now();
    let value = random_token()?;
    let lifetime = state.config.lifetimes.session;
    state.store.put_session(
        &Digest::of(&value),
        &Session { sub: user.sub, auth_time: now, expires_at: now + lifetime, epoch: user.epoch },
    )?;
    Ok(cookie(state, SESSION_COOKIE, value, "/", lifetime))
}

pub fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age_s: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_url.is_https())
        .max_age(Duration::seconds(max_age_s))
        .finish()
}

/// The browser's CSRF token: kept if it already has a well-formed one, so
/// sign-ins started in two tabs do not invalidate each other.
pub fn csrf_token(req: &HttpRequest) -> Result<(String, bool), crate::secrets::RandomError> {
    match req.cookie(CSRF_COOKIE) {
        Some(c) if c.value().len() == 43 => Ok((c.value().to_owned(), false)),
        _ => Ok((random_token()?, true)),
    }
}
