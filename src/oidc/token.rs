//! `/application/o/token/` (RFC 6749 §3.2): no-store, parse the body,
//! authenticate the client, dispatch on the grant type.

use super::client_auth;
use super::params::Params;
use crate::domain::GrantType;
use crate::error::OAuthError;
use crate::http::{AppState, RequestView};
use crate::published::PublishedApp;
use crate::tokens::{self as grants, Issuer, TokenResponse};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

type Exchange = fn(&Issuer<'_>, &PublishedApp, &Params) -> Result<TokenResponse, OAuthError>;

pub async fn token(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let published = state.published();
    let (params, client) = client_auth::authenticate_form(&RequestView::of(&req), &body, &published)?;
    let grant_type = params.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let exchange: Exchange = match GrantType::parse(grant_type) {
        Some(GrantType::AuthorizationCode) => grants::authorization_code::exchange,
        Some(GrantType::RefreshToken) => grants::refresh_token::exchange,
        Some(GrantType::ClientCredentials) => grants::client_credentials::exchange,
        Some(GrantType::DeviceCode) => grants::device_code::exchange,
        None => {
            return Err(OAuthError::unsupported_grant_type(format!("grant_type {grant_type} is not supported")));
        }
    };
    // Every grant reads or writes the store (a code, a refresh token, a
    // PAT, the audit trail): on the blocking pool, as every handler that
    // does (http::off_worker). Concurrent durable writes share fsyncs
    // (store/group_commit.rs).
    let response = crate::http::off_thread(move || exchange(&state.issuer(&published), &client.app, &params))
        .await
        .map_err(OAuthError::server)??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}
