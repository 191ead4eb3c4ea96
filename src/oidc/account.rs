//! `/account/tokens`: a signed-in user creates, lists and revokes their own
//! personal access tokens. The same `pat` service functions as `ferrid
//! token`, so the CLI and the page behave (and audit) alike. Forms carry the
//! browser's CSRF token, which must equal its CSRF cookie.

use super::authorize::start_interaction;
use super::params::{Params, require_form};
use super::session::{self, CookieName};
use crate::crypto::secrets::constant_time_eq;
use crate::domain::ScopeSet;
use crate::http::AppState;
use crate::store::User;
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

const LIFETIMES: [(&str, i64); 4] = [("7 days", 7), ("30 days", 30), ("90 days", 90), ("1 year", 365)];

/// The signed-in user, or the response that sends the browser to sign in.
/// (Boxed: an HttpResponse is large, and this is the rare path.)
fn signed_in(req: &HttpRequest, state: &AppState) -> Result<User, Box<HttpResponse>> {
    match session::current(req, state) {
        Ok(Some(active)) => Ok(active.user),
        Ok(None) => Err(Box::new(
            start_interaction(req, state, None).unwrap_or_else(|e| PageError::server(e).render(&state.ui)),
        )),
        Err(e) => Err(Box::new(PageError::server(e).render(&state.ui))),
    }
}

fn page(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    created: Option<&Value>,
    error: Option<&str>,
) -> HttpResponse {
    let tokens = match crate::pat::list(&state.store, Some(user), state.clock.now()) {
        Ok(tokens) => tokens,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let published = state.published();
    let mut apps: Vec<Value> = match state.store.apps() {
        Ok(apps) => apps
            .iter()
            .filter(|a| a.allows(user) && published.by_slug(a.slug.as_str()).is_some())
            .map(|a| json!({ "slug": a.slug, "name": a.name }))
            .collect(),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    apps.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let (csrf, fresh) = match session::csrf_token(req, state) {
        Ok(pair) => pair,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let lifetimes: Vec<Value> = LIFETIMES.iter().map(|(label, days)| json!({ "label": label, "days": days })).collect();
    let context = json!({
        "username": user.username,
        "tokens": tokens,
        "apps": apps,
        "lifetimes": lifetimes,
        "csrf_token": csrf,
        "created": created,
        "error": error,
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut response = state.ui.page(status, "account_tokens.html", &context, None);
    if fresh {
        let _ = response.add_cookie(&session::cookie(state, CookieName::Csrf, csrf, 3600));
    }
    response
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(&req, &state) {
        Ok(user) => page(&state, &req, &user, None, None),
        Err(response) => *response,
    }
}

/// A state-changing form: signed in, form-encoded, and carrying this browser's CSRF token.
fn checked_form(req: &HttpRequest, body: &[u8], state: &AppState) -> Result<(User, Params), Box<HttpResponse>> {
    let user = signed_in(req, state)?;
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
                "This form did not come from this browser's token page. Reload the page and try again.",
            )
            .render(&state.ui),
        ));
    }
    Ok((user, params))
}

pub async fn create(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (user, params) = match checked_form(&req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let days = params.get("expires_days").and_then(|d| d.parse::<i64>().ok()).filter(|d| (1..=400).contains(d));
    let (Some(app), Some(days)) = (params.get("app"), days) else {
        return page(&state, &req, &user, None, Some("Choose an application and a lifetime."));
    };
    let app = match crate::domain::Slug::parse(app).ok().map(|slug| state.store.app(&slug)).transpose() {
        Ok(Some(Some(app))) => app,
        Ok(_) => return page(&state, &req, &user, None, Some("There is no such application.")),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let scope = ScopeSet::parse("openid profile email groups");
    let description = params.get("description").unwrap_or_default();
    let now = state.clock.now();
    match crate::pat::create(&state.store, &user, &app, scope, days * 86_400, description, now) {
        Ok((token, view)) => {
            let mut created = serde_json::to_value(view).unwrap_or_default();
            created["token"] = json!(token);
            page(&state, &req, &user, Some(&created), None)
        }
        Err(e @ crate::pat::PatError::NotAllowed { .. }) => page(&state, &req, &user, None, Some(&e.to_string())),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

pub async fn revoke(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (user, params) = match checked_form(&req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let id = params.get("id").unwrap_or_default();
    // Only the user's own tokens.
    let owned = state.store.pat_by_id(id).map(|pat| pat.is_some_and(|p| p.sub == user.sub));
    match owned {
        Ok(true) => {
            if let Err(e) = crate::pat::revoke(&state.store, id, state.clock.now()) {
                return PageError::server(e).render(&state.ui);
            }
            HttpResponse::SeeOther().insert_header((header::LOCATION, crate::paths::ACCOUNT_TOKENS)).finish()
        }
        Ok(false) => page(&state, &req, &user, None, Some("There is no such token among yours.")),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}
