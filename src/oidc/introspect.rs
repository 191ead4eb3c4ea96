//! `/application/o/introspect/` (RFC 7662): an authenticated client learns
//! whether a token it holds is active. Personal access tokens, access tokens
//! and refresh tokens; another application's token is simply inactive.
//! A user's token is active only while the user exists, is enabled and may
//! use the application now (§2.2): the access policy is read at every call.
//! Read-only: introspecting a rotated refresh token does not revoke anything.

use super::bearer;
use super::client_auth::{self, AuthenticatedClient};
use crate::crypto::secrets::Digest;
use crate::error::{ErrorCode, OAuthError};
use crate::http::{AppState, RequestView, on_pool};
use crate::pat;
use crate::published::Published;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

pub async fn introspect(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| introspect_now(req, body, state)).await
}

fn introspect_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let published = state.published();
    let (params, client) = client_auth::authenticate_form(req, &body, &published)?;
    if client.app.app.is_public() {
        return Err(OAuthError::invalid_client("public clients cannot introspect tokens"));
    }
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let answer = describe(&state, &published, &client, token)?.unwrap_or_else(|| json!({ "active": false }));
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(answer))
}

fn describe(
    state: &AppState,
    published: &Published,
    client: &AuthenticatedClient,
    token: &str,
) -> Result<Option<Value>, OAuthError> {
    let now = state.clock.now();
    let client_id = &client.app.app.client_id;
    if pat::looks_like_pat(token) {
        let Some(active) = pat::resolve(&state.store, &state.config.mfa, token, &client.app.app, now)? else {
            return Ok(None);
        };
        return Ok(Some(with_mapped_claims(
            client,
            &active.user,
            json!({
                "active": true,
                "token_type": "personal_access_token",
                "sub": active.user.sub.to_string(),
                "username": active.user.username,
                "scope": active.pat.scope,
                "client_id": client_id,
                "iat": active.pat.created_at,
                "exp": active.pat.expires_at,
                "iss": client.app.issuer,
            }),
        )));
    }
    if token.split('.').count() == 3 {
        let access = match bearer::verify(state, published, token) {
            Ok(access) => access,
            Err(e) if e.code == ErrorCode::InvalidToken => return Ok(None),
            Err(e) => return Err(e),
        };
        if &access.app.app.client_id != client_id {
            return Ok(None);
        }
        let user = if access.is_machine_token() {
            None
        } else {
            match access.current_user(&state.store)? {
                Some(user) => Some(user),
                None => return Ok(None),
            }
        };
        let mut answer = json!({
            "active": true,
            "token_type": "Bearer",
            "sub": access.sub,
            "scope": access.scope,
            "client_id": client_id,
            "exp": access.exp,
            "iat": access.iat,
            "iss": client.app.issuer,
        });
        if let Some(user) = user {
            answer["username"] = json!(user.username);
            answer = with_mapped_claims(client, &user, answer);
        }
        return Ok(Some(answer));
    }
    let Some(family) = state.store.inspect_refresh_token(&Digest::of(token), now)? else { return Ok(None) };
    if &family.client_id != client_id {
        return Ok(None);
    }
    let user = client.app.app.admits(state.store.user_by_sub(&family.sub)?);
    let Some(user) = user.filter(|u| u.epoch == family.user_epoch) else { return Ok(None) };
    Ok(Some(with_mapped_claims(
        client,
        &user,
        json!({
            "active": true,
            "token_type": "refresh_token",
            "sub": user.sub.to_string(),
            "username": user.username,
            "scope": family.scope,
            "client_id": client_id,
            "iat": family.created_at,
            "exp": family.expires_at,
            "iss": client.app.issuer,
        }),
    )))
}

/// The application's group-mapped claims (e.g. `nodered_permissions`), so a
/// resource server that introspects gets what it would find in a JWT.
/// RFC 7662 §2.2 allows such extension members; registered ones win.
fn with_mapped_claims(client: &AuthenticatedClient, user: &crate::store::User, mut answer: Value) -> Value {
    if let Value::Object(members) = &mut answer {
        for (name, value) in client.app.app.mapped_claims(user) {
            members.entry(name).or_insert(value);
        }
    }
    answer
}
