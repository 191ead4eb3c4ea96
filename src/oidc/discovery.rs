//! `/application/o/{slug}/.well-known/openid-configuration`: a body built once
//! per change (see `published.rs`), served as bytes.

use crate::http::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};

pub async fn discovery(slug: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    match state.published().by_slug(&slug) {
        Some(app) => public_json(app.discovery.clone()),
        None => not_found(),
    }
}

/// JSON that anyone may read and cache briefly. Browser code may read it
/// from the application's own origins (CORS, in the route table).
pub fn public_json(body: bytes::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(body)
}

/// An unknown slug: 404, with an RFC 6749 code like every JSON error.
pub fn not_found() -> HttpResponse {
    use actix_web::ResponseError;
    crate::error::OAuthError::invalid_request("no application has this slug").with_status(404).error_response()
}
