//! `/application/o/{slug}/end-session/`: RP-Initiated Logout 1.0, and
//! `/logout/confirm`, where a sign-out the browser did not prove it wanted
//! is confirmed.
//!
//! The session ends at once only when `id_token_hint` is an id_token ferrid
//! issued to this application for the browser's current session (same
//! `sub` and `sid`; it may have expired, §2). Anything else gets a
//! confirmation page, so a link or image on another site cannot sign
//! anyone out (logout CSRF, §6). A `post_logout_redirect_uri` must equal
//! one the application registered; otherwise an error page, never a redirect.

use super::bearer::Audience;
use super::params::{Params, require_form};
use super::session;
use crate::crypto::jose;
use crate::crypto::secrets::{Digest, random_token};
use crate::domain::RedirectUri;
use crate::http::RequestView;
use crate::http::{AppState, on_pool};
use crate::published::PublishedApp;
use crate::sessions::EndReason;
use crate::store::PendingLogout;
use crate::ui::PageError;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

/// How long the confirmation page stays valid.
const CONFIRM_LIFETIME: i64 = 600;

/// What ferrid reads from an `id_token_hint`.
#[derive(Deserialize)]
struct Hint {
    iss: String,
    aud: Audience,
    sub: String,
    sid: Option<String>,
}

/// Where the browser goes once the sign-out is done (or declined).
pub(super) struct AfterSignOut {
    redirect: Option<RedirectUri>,
    state: Option<String>,
}

fn refused(message: &'static str) -> PageError {
    PageError::bad_request("Sign-out request refused", message)
}

pub async fn end_session(
    req: HttpRequest,
    slug: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    on_pool(&req, move |req| end_session_now(req, slug, body, state)).await
}

fn end_session_now(
    req: &RequestView,
    slug: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let parsed = if req.method() == Method::POST {
        if require_form(req).is_err() {
            return refused("The sign-out request was not form-encoded.").render(&state.ui);
        }
        Params::parse(&body)
    } else {
        Params::parse(req.query_string().as_bytes())
    };
    let Ok(params) = parsed else {
        return refused("The sign-out request has too many parameters.").render(&state.ui);
    };
    let published = state.published();
    let Some(app) = published.by_slug(&slug) else {
        return PageError::new(StatusCode::NOT_FOUND, "Unknown application", "No application has this address.")
            .render(&state.ui);
    };
    let checked = check(&params, app, &published);
    let (app, hint, after) = match checked {
        Ok(checked) => checked,
        Err(page) => return page.render(&state.ui),
    };
    let active = match session::current(req, &state) {
        Ok(active) => active,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let Some(active) = active else {
        // Nobody is signed in here: nothing to end, nothing to confirm.
        return finish(&state, after);
    };
    let proven = hint.is_some_and(|h| h.sub == active.user.sub.to_string() && h.sid.as_deref() == Some(&active.sid()));
    if proven {
        if let Err(e) = session::end(&state, &active.key, EndReason::SignedOut) {
            return PageError::server(e).render(&state.ui);
        }
        tracing::info!(user = %active.user.username, client_id = %app.app.client_id, "signed out by the application");
        return finish(&state, after);
    }
    confirm_page(req, &state, &app, &active.user.username.to_string(), after)
}

/// The request's parameters, each checked: an error page for any that is
/// wrong. With the application the sign-out is for: the one whose issuer
/// this is, or a client registered under that issuer (docs/registration.md),
/// named by `client_id` or by the hint's audience.
fn check(
    params: &Params,
    issuer: &std::sync::Arc<PublishedApp>,
    published: &crate::published::Published,
) -> Result<(std::sync::Arc<PublishedApp>, Option<Hint>, AfterSignOut), PageError> {
    if let Some(name) = params.repeated() {
        return Err(PageError::bad_request("Bad request", format!("The parameter {name} was sent more than once.")));
    }
    let under_this_issuer =
        |client_id: &str| published.by_client_id(client_id).filter(|c| c.issuer == issuer.issuer).cloned();
    let named = match params.get("client_id") {
        Some(id) => Some(
            under_this_issuer(id)
                .ok_or_else(|| refused("client_id names another application than this sign-out address."))?,
        ),
        None => None,
    };
    let hint = match params.get("id_token_hint") {
        Some(token) => {
            // Expired hints are fine (§2): only who issued it, to whom, matters.
            let hint: Hint = jose::verify(token, &published.keys, jose::TokenType::IdToken)
                .map_err(|_| refused("The id_token_hint is not an ID token ferrid issued."))?;
            if hint.iss != issuer.issuer {
                return Err(refused("The id_token_hint was issued for another application."));
            }
            Some(hint)
        }
        None => None,
    };
    let app = match (named, &hint) {
        (Some(app), _) => app,
        (None, Some(hint)) => hint
            .aud
            .iter()
            .find_map(under_this_issuer)
            .ok_or_else(|| refused("The id_token_hint was issued for another application."))?,
        (None, None) => issuer.clone(),
    };
    if hint.as_ref().is_some_and(|h| !h.aud.contains(app.app.client_id.as_str())) {
        return Err(refused("The id_token_hint was issued for another application."));
    }
    let redirect = match params.get("post_logout_redirect_uri") {
        Some(uri) => Some(app.app.registered_post_logout_redirect(uri).cloned().ok_or_else(|| {
            PageError::bad_request(
                "Unregistered address",
                "The application asked to return to an address it has not registered for after sign-out. Nothing was sent there.",
            )
        })?),
        None => None,
    };
    let state = params.get("state").map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > 2048) {
        return Err(refused("state is too long."));
    }
    Ok((app, hint, AfterSignOut { redirect, state }))
}

fn confirm_page(
    req: &RequestView,
    state: &AppState,
    app: &PublishedApp,
    username: &str,
    after: AfterSignOut,
) -> HttpResponse {
    let result = (|| {
        let tx = random_token()?;
        let (csrf, fresh) = session::csrf_token(req, state)?;
        let pending = PendingLogout {
            client_id: app.app.client_id.clone(),
            post_logout_redirect_uri: after.redirect.clone(),
            state: after.state,
            csrf: Digest::of(&csrf),
            expires_at: state.clock.now() + CONFIRM_LIFETIME,
        };
        state.store.put_pending_logout(&tx, &pending)?;
        Ok::<_, crate::error::OAuthError>((tx, csrf, fresh))
    })();
    let (tx, csrf, fresh) = match result {
        Ok(parts) => parts,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let context = json!({
        "app_name": app.app.name,
        "username": username,
        "tx": tx,
        "csrf_token": csrf,
    });
    // Confirming redirects the browser to the application: a form target.
    let target = after.redirect.as_ref().and_then(RedirectUri::csp_source);
    let mut response = state.ui.page(StatusCode::OK, "logout_confirm.html", &context, target.as_deref());
    if fresh {
        let _ = response.add_cookie(&session::cookie(state, session::CookieName::Csrf, csrf, CONFIRM_LIFETIME));
    }
    response
}

/// `/logout/confirm`: the user's answer. The form must carry this
/// browser's CSRF token; a confirmation is used once.
pub async fn confirm(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| confirm_now(req, body, state)).await
}

fn confirm_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let expired = || {
        PageError::bad_request(
            "Sign-out expired",
            "This sign-out page is no longer valid. Nothing was changed; go back to the application and try again.",
        )
        .render(&state.ui)
    };
    if require_form(req).is_err() {
        return refused("The form was not form-encoded.").render(&state.ui);
    }
    let Ok(params) = Params::parse(&body) else { return expired() };
    let tx = params.get("tx").unwrap_or_default();
    let pending = match state.store.pending_logout(tx) {
        Ok(Some(p)) if p.expires_at > state.clock.now() => p,
        Ok(_) => return expired(),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let form_token = params.get("csrf_token").unwrap_or_default();
    if !super::interaction::csrf_matches(req, &state, form_token, &pending.csrf) {
        return PageError::forbidden(
            "Sign-out refused",
            "This form did not come from this browser's sign-out page. Nothing was changed.",
        )
        .render(&state.ui);
    }
    match state.store.take_pending_logout(tx) {
        Ok(Some(_)) => {}
        Ok(None) => return expired(),
        Err(e) => return PageError::server(e).render(&state.ui),
    }
    let after = AfterSignOut { redirect: pending.post_logout_redirect_uri, state: pending.state };
    if params.get("decision") != Some("sign_out") {
        return HttpResponse::SeeOther().insert_header((header::LOCATION, crate::paths::ACCOUNT)).finish();
    }
    match session::current(req, &state) {
        Ok(Some(active)) => {
            if let Err(e) = session::end(&state, &active.key, EndReason::SignedOut) {
                return PageError::server(e).render(&state.ui);
            }
            tracing::info!(user = %active.user.username, client_id = %pending.client_id, "signed out (confirmed)");
        }
        Ok(None) => {}
        Err(e) => return PageError::server(e).render(&state.ui),
    }
    finish(&state, after)
}

/// After a sign-out on ferrid's own pages: the "signed out" page.
pub(crate) fn signed_out(state: &AppState) -> HttpResponse {
    finish(state, AfterSignOut { redirect: None, state: None })
}

/// The browser forgets its session cookie, then goes back to the
/// application (with `state`) or sees the "signed out" page.
fn finish(state: &AppState, after: AfterSignOut) -> HttpResponse {
    let gone = session::removal(state);
    match after.redirect {
        Some(uri) => {
            let location = match &after.state {
                Some(value) => uri.with_query(&[("state", value)]),
                None => uri.as_str().to_owned(),
            };
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(gone)
                .finish()
        }
        None => {
            let mut response = state.ui.page(StatusCode::OK, "signed_out.html", &json!({}), None);
            let _ = response.add_cookie(&gone);
            response
        }
    }
}
