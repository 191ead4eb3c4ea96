//! `/account/tokens`: a signed-in user creates, lists and revokes their own
//! personal access tokens. The same `pat` service functions as `ferrid
//! token`, so the CLI and the page behave (and audit) alike.

use super::{checked_form, render, signed_in};
use crate::domain::ScopeSet;
use crate::http::RequestView;
use crate::http::{AppState, on_pool};
use crate::sessions::ActiveSession;
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

const LIFETIMES: [(&str, i64); 4] = [("7 days", 7), ("30 days", 30), ("90 days", 90), ("1 year", 365)];

fn page(
    state: &AppState,
    req: &RequestView,
    active: &ActiveSession,
    created: Option<&Value>,
    error: Option<&str>,
) -> HttpResponse {
    let user = &active.user;
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
    let lifetimes: Vec<Value> = LIFETIMES.iter().map(|(label, days)| json!({ "label": label, "days": days })).collect();
    let context = json!({
        "username": user.username,
        "tokens": tokens,
        "apps": apps,
        "lifetimes": lifetimes,
        "created": created,
        "error": error,
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    render(req, state, active, status, "account_tokens.html", context)
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_now(req, state)).await
}

fn show_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(req, &state) {
        Ok(active) => page(&state, req, &active, None, None),
        Err(response) => *response,
    }
}

pub async fn create(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| create_now(req, body, state)).await
}

fn create_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match checked_form(req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    // A token outlives the session that made it: only a user who proved
    // who they are just now may make one (not a stolen session).
    match super::reauth::gate(req, &state, &active, None, crate::paths::ACCOUNT_TOKENS) {
        Ok(super::reauth::Gate::Open) => {}
        Ok(super::reauth::Gate::WrongPassword) => return page(&state, req, &active, None, Some("Wrong password.")),
        Ok(super::reauth::Gate::Confirm(response)) | Err(response) => return *response,
    }
    let days = params.get("expires_days").and_then(|d| d.parse::<i64>().ok()).filter(|d| (1..=400).contains(d));
    let (Some(app), Some(days)) = (params.get("app"), days) else {
        return page(&state, req, &active, None, Some("Choose an application and a lifetime."));
    };
    let app = match crate::domain::Slug::parse(app).ok().map(|slug| state.store.app(&slug)).transpose() {
        Ok(Some(Some(app))) => app,
        Ok(_) => return page(&state, req, &active, None, Some("There is no such application.")),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let scope = ScopeSet::parse(crate::pat::DEFAULT_SCOPE);
    let description = params.get("description").unwrap_or_default();
    let now = state.clock.now();
    // A token for an application that needs a second factor is made only
    // by a session that used one: the token is as strong as its sign-in.
    let amr = active.session.amr.clone();
    let needs_factor = crate::mfa::required(&state.config.mfa, &state.store, Some(&app), &active.user, false);
    match needs_factor {
        Ok(true) if !amr.iter().any(|m| m == crate::mfa::AMR_MFA) => {
            let message = "This application needs a second factor: sign in with one (set one up under Second \
                           factors) to make a token for it.";
            return page(&state, req, &active, None, Some(message));
        }
        Ok(_) => {}
        Err(e) => return PageError::server(e).render(&state.ui),
    }
    let asked = crate::pat::Asked { scope, expires_in: days * 86_400, description, made_with: Some(amr) };
    match crate::pat::create(&state.store, &active.user, &app, asked, now) {
        Ok((token, view)) => {
            let mut created = serde_json::to_value(view).unwrap_or_default();
            created["token"] = json!(token);
            page(&state, req, &active, Some(&created), None)
        }
        Err(e @ crate::pat::PatError::NotAllowed { .. }) => page(&state, req, &active, None, Some(&e.to_string())),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

pub async fn revoke(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| revoke_now(req, body, state)).await
}

fn revoke_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match checked_form(req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let id = params.get("id").unwrap_or_default();
    // Only the user's own tokens.
    let owned = state.store.pat_by_id(id).map(|pat| pat.is_some_and(|p| p.sub == active.user.sub));
    match owned {
        Ok(true) => {
            if let Err(e) = crate::pat::revoke(&state.store, id, state.clock.now()) {
                return PageError::server(e).render(&state.ui);
            }
            HttpResponse::SeeOther().insert_header((header::LOCATION, crate::paths::ACCOUNT_TOKENS)).finish()
        }
        Ok(false) => page(&state, req, &active, None, Some("There is no such token among yours.")),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}
