//! `/application/o/device/` (RFC 8628 §3.1, §3.2): a device asks for a
//! device code and a user code. The client authenticates as at the token
//! endpoint (a public client names itself); the application must allow
//! the device flow (`device_flow: true`).

use super::client_auth;
use crate::error::OAuthError;
use crate::http::{AppState, RequestView};
use crate::tokens::device_code;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn device_authorization(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let published = state.published();
    let (params, client) = client_auth::authenticate_form(&RequestView::of(&req), &body, &published)?;
    let scope = params.get("scope").unwrap_or_default().to_owned();
    let verification_uri = state.config.public_url.endpoint(crate::paths::DEVICE);
    // A durable write (the codes are handed out next): on the blocking pool.
    let answer = crate::http::off_thread(move || {
        device_code::start(&state.issuer(&published), &client.app, &scope, &verification_uri)
    })
    .await
    .map_err(OAuthError::server)??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(answer))
}
