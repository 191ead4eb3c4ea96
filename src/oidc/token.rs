//! `/application/o/token/` (RFC 6749 §3.2): no-store, parse the body,
//! authenticate the client, dispatch on the grant type.

use super::client_auth::{self, AuthenticatedClient};
use super::grants;
use super::mint::Issuer;
use super::params::Params;
use crate::domain::{GrantType, ScopeSet};
use crate::error::OAuthError;
use crate::http::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: ScopeSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl TokenResponse {
    /// An access token alone: no refresh token, no id_token.
    pub fn access_only(access_token: String, expires_in: i64, scope: ScopeSet) -> Self {
        TokenResponse { access_token, token_type: "Bearer", expires_in, scope, refresh_token: None, id_token: None }
    }
}

type Exchange = fn(&Issuer<'_>, &AuthenticatedClient, &Params) -> Result<TokenResponse, OAuthError>;

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
        web::block(move || exchange(&Issuer::of(&state, &published), &client, &params))
            .await
            .map_err(OAuthError::server)??
    } else {
        // One signature and no disk write: cheaper than a thread hand-off.
        exchange(&Issuer::of(&state, &published), &client, &params)?
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}
