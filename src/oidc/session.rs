//! ferrid's cookies: the SSO session (its meaning is `crate::sessions`),
//! the sign-in form's CSRF token and the device cookie (`known_browser`).

use crate::crypto::secrets::{Digest, random_token};
use crate::domain::ClientId;
use crate::http::AppState;
use crate::http::RequestView;
use crate::sessions::{EndReason, Origin};
use crate::store::{StoreError, User};
use actix_web::cookie::{Cookie, SameSite, time::Duration};

/// ferrid's cookies. Over https their names carry the `__Host-` prefix:
/// a browser then takes them only with `Secure`, `Path=/` and no `Domain`,
/// so a sibling host (another app under the same parent domain) cannot
/// plant one for ferrid (session fixation, sign-in CSRF).
///
/// With `cookie_domain` (forward-auth on sibling hosts) the session cookie
/// must carry `Domain`, which `__Host-` forbids: it is then
/// `__Secure-ferrid_session` (still https-only). The CSRF and device
/// cookies stay `__Host-`. docs/security.md says what that trades.
#[derive(Clone, Copy, Debug)]
pub enum CookieName {
    Session,
    Csrf,
    /// A browser that signed in before (see `known_browser`).
    Device,
}

impl CookieName {
    pub fn name(self, state: &AppState) -> &'static str {
        match (self, state.config.public_url.is_https()) {
            (CookieName::Session, true) if state.config.cookie_domain.is_some() => "__Secure-ferrid_session",
            (CookieName::Session, true) => "__Host-ferrid_session",
            (CookieName::Session, false) => "ferrid_session",
            (CookieName::Csrf, true) => "__Host-ferrid_csrf",
            (CookieName::Csrf, false) => "ferrid_csrf",
            (CookieName::Device, true) => "__Host-ferrid_device",
            (CookieName::Device, false) => "ferrid_device",
        }
    }

    /// This browser's value of the cookie, if it sent one.
    pub fn value(self, req: &RequestView, state: &AppState) -> Option<String> {
        req.cookie(self.name(state))
    }
}

pub use crate::sessions::ActiveSession;

/// The browser's session, if its cookie names one that is still good (see
/// `sessions`).
pub fn current(req: &RequestView, state: &AppState) -> Result<Option<ActiveSession>, StoreError> {
    match CookieName::Session.value(req, state) {
        Some(token) => state.sessions().find(&token),
        None => Ok(None),
    }
}

/// A new session for `user` in the browser that sent `req` (ending the
/// one it brought, if any), signed in to `client` if the sign-in is for an
/// application, by the methods `amr`: its key, its record and its cookie.
pub fn start(
    state: &AppState,
    user: &User,
    req: &RequestView,
    client: Option<&ClientId>,
    amr: Vec<String>,
    source: Option<&str>,
) -> Result<Started, crate::error::OAuthError> {
    let old = CookieName::Session.value(req, state);
    let (address, user_agent) = crate::http::client_of(req, state);
    let origin = Origin { address, user_agent, source: source.map(str::to_owned) };
    let sessions = state.sessions();
    let (token, record) =
        sessions.start(user, old.as_deref(), origin, client, amr).map_err(crate::error::OAuthError::server)?;
    if old.is_some() {
        // The replaced session may owe logout tokens.
        state.logout_outbox.notify_one();
    }
    let key = Digest::of(&token);
    Ok(Started { key, record, cookie: cookie(state, CookieName::Session, token, state.config.lifetimes.session) })
}

/// A session just started.
pub struct Started {
    pub key: Digest,
    pub record: crate::store::Session,
    pub cookie: Cookie<'static>,
}

/// Ends a session (see `sessions` for the rule) and wakes the back-channel
/// logout worker for what it owes.
pub fn end(state: &AppState, key: &Digest, reason: EndReason) -> Result<bool, StoreError> {
    let ended = state.sessions().end(key, reason)?.is_some();
    state.logout_outbox.notify_one();
    Ok(ended)
}

/// A cookie that makes the browser forget ferrid's session.
pub fn removal(state: &AppState) -> Cookie<'static> {
    let mut gone = cookie(state, CookieName::Session, String::new(), 0);
    gone.make_removal();
    gone
}

pub fn cookie(state: &AppState, name: CookieName, value: String, max_age_s: i64) -> Cookie<'static> {
    let mut cookie = Cookie::build(name.name(state), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.public_url.is_https())
        .max_age(Duration::seconds(max_age_s))
        .finish();
    if let (CookieName::Session, Some(domain)) = (name, &state.config.cookie_domain) {
        cookie.set_domain(domain.clone());
    }
    cookie
}

/// The browser's CSRF token: kept if it already has a well-formed one, so
/// sign-ins started in two tabs do not invalidate each other.
pub fn csrf_token(req: &RequestView, state: &AppState) -> Result<(String, bool), crate::crypto::secrets::RandomError> {
    match CookieName::Csrf.value(req, state) {
        Some(value) if value.len() == 43 => Ok((value, false)),
        _ => Ok((random_token()?, true)),
    }
}

/// May this session answer for `app` as a fresh sign-in could: a source
/// the application takes, and the second factor its rules want. Asked
/// on `/device` and again when the answer is sent (`device_approval`): the browser
/// may have signed in anew in between.
pub fn serves(
    state: &AppState,
    app: &crate::published::PublishedApp,
    active: &ActiveSession,
) -> Result<bool, crate::store::StoreError> {
    if !app.app.access.takes_source(active.session.source.as_deref()) {
        return Ok(false);
    }
    let has_mfa = active.session.amr.iter().any(|m| m == crate::mfa::AMR_MFA);
    Ok(has_mfa || !crate::mfa::required(&state.config.mfa, &state.store, Some(&app.app), &active.user, false)?)
}
