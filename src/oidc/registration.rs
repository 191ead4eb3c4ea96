//! Dynamic Client Registration: `POST /application/o/{slug}/register/`
//! (RFC 7591 §3) at the issuer that offers it, and each registered
//! client's configuration endpoint, `GET` and `DELETE
//! /application/o/{slug}/register/{client_id}` (RFC 7592 §2.1, §2.3; no
//! `PUT`). Each step: offered here? (404 otherwise, before anything is
//! read) → the bearer token (`Authorization: Bearer` only, as RFC 7591 and
//! 7592 put it; `invalid_token` without one) → the work, in
//! `registration` → the answer, never cached. Wherever registration is not
//! offered, the answer is 404 (`invalid_request`), whatever the request.

use crate::error::OAuthError;
use crate::http::{AppState, RequestView, on_pool};
use crate::registration::{self, Caller};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn register(
    req: HttpRequest,
    slug: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !registration::offered_at(&state.config, &slug) {
        return not_offered();
    }
    on_pool(&req, move |req| register_now(req, &body, &state)).await
}

fn register_now(req: &RequestView, body: &[u8], state: &AppState) -> Result<HttpResponse, OAuthError> {
    let token = super::bearer::extract(req, None)?;
    let Some(offered) = &state.config.registration else { return Err(OAuthError::server("registration is off")) };
    // The token first (a stranger learns nothing about the body's rules),
    // then the body's form.
    registration::check_initial_token(&state.store, &token, state.clock.now())?;
    if !is_json(req) {
        return Err(OAuthError::invalid_client_metadata("the body must be JSON (Content-Type: application/json)"));
    }
    let info = registration::register(
        &state.store,
        &state.config,
        &offered.application,
        &token,
        body,
        state.clock.now(),
        caller(req, state),
    )?;
    // Served here at once: the client goes to the authorization endpoint
    // next. Should this fail, the catalog stamp the registration moved has
    // every instance (this one too) rebuild within `catalog_poll`.
    if let Err(e) = state.republish(false) {
        tracing::warn!(error = %e, "a client registered, but the snapshot was not rebuilt at once");
    }
    Ok(no_store(HttpResponse::Created()).json(info))
}

pub async fn read(req: HttpRequest, path: web::Path<(String, String)>, state: web::Data<AppState>) -> HttpResponse {
    let (slug, client_id) = path.into_inner();
    if !registration::offered_at(&state.config, &slug) {
        return not_offered();
    }
    on_pool(&req, move |req| {
        let token = super::bearer::extract(req, None)?;
        let app = registration::authenticate(&state.store, &slug, &client_id, &token)?;
        let info = registration::client_information(&app, &state.config, &token, None);
        Ok::<_, OAuthError>(no_store(HttpResponse::Ok()).json(info))
    })
    .await
}

pub async fn delete(req: HttpRequest, path: web::Path<(String, String)>, state: web::Data<AppState>) -> HttpResponse {
    let (slug, client_id) = path.into_inner();
    if !registration::offered_at(&state.config, &slug) {
        return not_offered();
    }
    on_pool(&req, move |req| {
        let token = super::bearer::extract(req, None)?;
        let app = registration::authenticate(&state.store, &slug, &client_id, &token)?;
        registration::delete(&state.store, &app, state.clock.now(), caller(req, &state))?;
        if let Err(e) = state.republish(false) {
            tracing::warn!(error = %e, "a registered client was deleted, but the snapshot was not rebuilt at once");
        }
        Ok::<_, OAuthError>(no_store(HttpResponse::NoContent()).finish())
    })
    .await
}

fn is_json(req: &RequestView) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn caller(req: &RequestView, state: &AppState) -> Caller {
    let (ip, user_agent) = crate::http::client_of(req, state);
    Caller { ip, user_agent }
}

fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
    builder
}

/// Registration is not offered at this issuer (or at all): 404, with an
/// RFC 6749 code like every JSON error.
fn not_offered() -> HttpResponse {
    use actix_web::ResponseError;
    OAuthError::invalid_request("client registration is not offered here").with_status(404).error_response()
}
