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
