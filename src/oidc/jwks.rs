//! `/application/o/{slug}/jwks/`: every public key that may have signed an
//! unexpired token (the current one and recently rotated ones).

use super::discovery::{not_found, public_json};
use crate::http::AppState;
use actix_web::{HttpResponse, web};

pub async fn jwks(slug: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let published = state.published();
    match published.by_slug(&slug) {
        Some(_) => public_json(published.jwks.clone()),
        None => not_found(),
    }
}

/// `/application/o/{slug}/keys.pem`: the application's public keys as PEM,
/// the current one first, for verifiers that take a PEM instead of a JWKS
/// (passport-jwt's `secretOrKey`, `openssl`, most JWT libraries).
pub async fn pem(slug: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let published = state.published();
    match published.by_slug(&slug) {
        Some(app) => HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .insert_header((actix_web::http::header::CACHE_CONTROL, "public, max-age=60"))
            .body(published.pem(app.app.signing_alg)),
        None => not_found(),
    }
}
