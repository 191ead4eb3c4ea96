//! Parking an authorization request server-side while the browser shows one
//! of ferrid's pages (sign-in, consent). The page's form carries the
//! parking id (`tx`) and a CSRF token that must equal the browser's CSRF
//! cookie and hash to the digest parked with the request.

use super::session;
use crate::crypto::secrets::{Digest, random_token};
use crate::domain::AuthorizationRequest;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::store::{Interaction, StoreError};
use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use uuid::Uuid;

/// How long a user has to fill in the page.
pub const LIFETIME: i64 = 600;

pub struct Parked {
    pub tx: String,
    /// The browser's CSRF token, for the page's forms.
    pub csrf: String,
    /// Set when the browser had no CSRF token yet.
    pub csrf_cookie: Option<Cookie<'static>>,
}

impl Parked {
    /// 303 to `path?tx=…`.
    pub fn redirect_to(self, path: &str) -> HttpResponse {
        let mut response = HttpResponse::SeeOther();
        response
            .insert_header((header::LOCATION, format!("{path}?tx={}", self.tx)))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(cookie) = self.csrf_cookie {
            response.cookie(cookie);
        }
        response.finish()
    }
}

/// Parks `request` (None: a sign-in to ferrid's own pages). `consent_for`:
/// the user is signed in and only their consent is awaited.
pub fn park(
    req: &HttpRequest,
    state: &AppState,
    request: Option<AuthorizationRequest>,
    consent_for: Option<Uuid>,
) -> Result<Parked, OAuthError> {
    park_interaction(req, state, |csrf| Interaction {
        request,
        consent_for,
        password_ok: None,
        enrolling: None,
        webauthn: None,
        return_to: None,
        csrf,
        expires_at: state.clock.now() + LIFETIME,
    })
}

/// Parks a sign-in to ferrid's own pages, which returns to `return_to`.
pub fn park_account_sign_in(
    req: &HttpRequest,
    state: &AppState,
    return_to: &'static str,
) -> Result<Parked, OAuthError> {
    park_interaction(req, state, |csrf| Interaction {
        request: None,
        consent_for: None,
        password_ok: None,
        enrolling: None,
        webauthn: None,
        return_to: Some(return_to.to_owned()),
        csrf,
        expires_at: state.clock.now() + LIFETIME,
    })
}

pub(super) fn park_interaction(
    req: &HttpRequest,
    state: &AppState,
    interaction: impl FnOnce(Digest) -> Interaction,
) -> Result<Parked, OAuthError> {
    let tx = random_token()?;
    let (csrf, fresh) = session::csrf_token(req, state)?;
    let interaction = interaction(Digest::of(&csrf));
    state.store.put_interaction(&tx, &interaction)?;
    let csrf_cookie = fresh.then(|| session::cookie(state, session::CookieName::Csrf, csrf.clone(), LIFETIME));
    Ok(Parked { tx, csrf, csrf_cookie })
}

/// The parked interaction `tx` names, if it has not expired.
pub fn pending(state: &AppState, tx: Option<&str>) -> Result<Option<Interaction>, StoreError> {
    let Some(tx) = tx else { return Ok(None) };
    Ok(state.store.interaction(tx)?.filter(|i| i.expires_at > state.clock.now()))
}

/// Does the form's CSRF token equal the browser's cookie and the one the
/// interaction was parked with?
pub fn csrf_matches(req: &HttpRequest, state: &AppState, form_token: &str, expected: &Digest) -> bool {
    let cookie_token = session::CookieName::Csrf.value(req, state).unwrap_or_default();
    !form_token.is_empty()
        && crate::crypto::secrets::constant_time_eq(form_token.as_bytes(), cookie_token.as_bytes())
        && expected.matches(form_token)
}
