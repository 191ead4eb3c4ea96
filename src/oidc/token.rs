//! `/application/o/token/` (RFC 6749 §3.2): no-store, parse the body,
//! authenticate the client, dispatch on the grant type.

use super::client_auth;
use super::params::Params;
use crate::domain::GrantType;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::published::PublishedApp;
use crate::tokens::{self as grants, Issuer, TokenResponse};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

type Exchange = fn(&Issuer<'_>, &PublishedApp, &Params) -> Result<TokenResponse, OAuthError>;

pub async fn token(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let published = state.published();
    let (params, client) = client_auth::authenticate_form(&req, &body, &published)?;
    let grant_type = params.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    // Whether the grant writes to disk durably decides where it runs.
    let (exchange, writes_durably): (Exchange, bool) = match GrantType::parse(grant_type) {
        Some(GrantType::AuthorizationCode) => (grants::authorization_code::exchange, true),
        Some(GrantType::RefreshToken) => (grants::refresh_token::exchange, true),
        Some(GrantType::ClientCredentials) => (grants::client_credentials::exchange, false),
        None => {
            return Err(OAuthError::unsupported_grant_type(format!("grant_type {grant_type} is not supported")));
        }
    };
    let response = if writes_durably {
        // An fdatasync takes 10–50 ms on an SD card, and these grants also
        // sign twice: they run on the blocking pool, because an actix worker
        // serves many connections and none of them should wait for a disk.
        // Concurrent ones then share fsyncs (store/group_commit.rs).
        crate::http::off_thread(move || exchange(&state.issuer(&published), &client.app, &params))
            .await
            .map_err(OAuthError::server)??
    } else {
        // One signature and no disk write: cheaper than a thread hand-off.
        exchange(&state.issuer(&published), &client.app, &params)?
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}
