//! ferrid's own pages for a signed-in user: the account home (`home`) and
//! personal access tokens (`tokens`). Every state-changing form carries the
//! browser's CSRF token, which must equal its CSRF cookie.

pub(crate) mod factors;
pub(crate) mod home;
pub(crate) mod reauth;
pub(crate) mod sources;
pub(crate) mod tokens;

use super::interaction::park_account_sign_in;
use super::params::{Params, require_form};
use super::session::{self, ActiveSession, CookieName};
use crate::crypto::secrets::constant_time_eq;
use crate::http::AppState;
use crate::http::RequestView;
use crate::ui::PageError;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// The browser's session, or the response that sends it to sign in.
/// (Boxed: an HttpResponse is large, and this is the rare path.)
pub(crate) fn signed_in(req: &RequestView, state: &AppState) -> Result<ActiveSession, Box<HttpResponse>> {
    match session::current(req, state) {
        Ok(Some(active)) => Ok(active),
        Ok(None) => {
            // Back to this page afterwards (a POST's form is gone: its page).
            let path = req.path();
            let return_to = if path.starts_with(crate::paths::ACCOUNT_TOKENS) {
                crate::paths::ACCOUNT_TOKENS
            } else if path.starts_with(crate::paths::ACCOUNT_MFA) {
                crate::paths::ACCOUNT_MFA
            } else if path.starts_with(crate::paths::ADMIN) {
                crate::paths::ADMIN
            } else {
                crate::paths::ACCOUNT
            };
            let parked = park_account_sign_in(req, state, return_to);
            Err(Box::new(match parked {
                Ok(parked) => parked.redirect_to(crate::paths::LOGIN),
                Err(e) => PageError::server(e).render(&state.ui),
            }))
        }
        Err(e) => Err(Box::new(PageError::server(e).render(&state.ui))),
    }
}

/// A state-changing form: signed in, form-encoded, and carrying this browser's CSRF token.
fn checked_form(
    req: &RequestView,
    body: &[u8],
    state: &AppState,
) -> Result<(ActiveSession, Params), Box<HttpResponse>> {
    let active = signed_in(req, state)?;
    Ok((active, csrf_checked(req, body, state)?))
}

/// A form-encoded body carrying this browser's CSRF token, parsed.
pub(crate) fn csrf_checked(req: &RequestView, body: &[u8], state: &AppState) -> Result<Params, Box<HttpResponse>> {
    if require_form(req).is_err() {
        return Err(Box::new(
            PageError::bad_request("Bad request", "The form was not form-encoded.").render(&state.ui),
        ));
    }
    let Ok(params) = Params::parse(body) else {
        return Err(Box::new(PageError::bad_request("Bad request", "The form has too many fields.").render(&state.ui)));
    };
    let form_token = params.get("csrf_token").unwrap_or_default();
    let cookie_token = CookieName::Csrf.value(req, state).unwrap_or_default();
    if form_token.is_empty() || !constant_time_eq(form_token.as_bytes(), cookie_token.as_bytes()) {
        return Err(Box::new(
            PageError::new(
                StatusCode::FORBIDDEN,
                "Request refused",
                "This form did not come from this browser's account page. Reload the page and try again.",
            )
            .render(&state.ui),
        ));
    }
    Ok(params)
}

/// Renders a signed-in page: `context` plus the navigation's user name and
/// CSRF token (set as a cookie too if the browser had none).
pub(crate) fn render(
    req: &RequestView,
    state: &AppState,
    active: &ActiveSession,
    status: StatusCode,
    template: &str,
    mut context: serde_json::Value,
) -> HttpResponse {
    let (csrf, fresh) = match session::csrf_token(req, state) {
        Ok(pair) => pair,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    context["signed_in"] = serde_json::json!(active.user.username);
    // Which navigation link is the current page's.
    context["page"] = serde_json::json!(template);
    if context.get("section").is_none() {
        context["section"] = serde_json::json!("");
    }
    context["is_admin"] = serde_json::json!(crate::admin::is_admin(&active.user));
    // Privileged forms ask for a password only where typing it is what
    // `reauth::gate` needs: a stale session of a user without a second
    // factor. A fresh session needs nothing; one with a factor confirms on
    // the sign-in page (password and code) when it submits.
    let has_factor = state.mfa().has_second_factor(&active.user).unwrap_or(true);
    let recent = active.is_fresh(has_factor, state.clock.now(), state.config.lifetimes.reauthentication);
    context["fresh"] = serde_json::json!(recent);
    context["ask_password"] = serde_json::json!(!recent && !has_factor);
    context["csrf_token"] = serde_json::json!(csrf);
    // The account page's "Link" buttons are redirected to the sources.
    let targets = crate::oidc::login::form_targets(state, None);
    let mut response = state.ui.page(status, template, &context, targets.as_deref());
    if fresh {
        let _ = response.add_cookie(&session::cookie(state, CookieName::Csrf, csrf, 3600));
    }
    response
}

/// Is `password` the signed-in user's? Checked as at sign-in (throttle,
/// device cookie, audit of failures): the proof a change to how the
/// account signs in asks for, so a stolen session alone cannot make one.
pub(crate) fn password_confirms(
    req: &RequestView,
    state: &AppState,
    active: &ActiveSession,
    password: &str,
) -> Result<bool, crate::signin::SignInError> {
    let now = state.clock.now();
    let device = super::known_browser::known(req, state, Some(&active.user), now)?;
    let (ip, ua) = crate::http::client_of(req, state);
    let username = active.user.username.to_string();
    let attempt = crate::signin::Attempt {
        user: Some(active.user.clone()),
        username: &username,
        password: password.to_owned(),
        device: device.as_deref(),
        address: ip.as_deref().unwrap_or_default(),
        user_agent: ua.as_deref(),
        app: "ferrid",
        now,
    };
    let sign_in = state.sign_in();
    Ok(matches!(sign_in.check(attempt)?, crate::signin::Outcome::SignedIn(_)))
}
