//! `/application/o/revoke/` (RFC 7009): a client revokes a token it holds.
//! A refresh token ends its whole family; a personal access token stops at
//! once; an access token stops being honoured by ferrid's own endpoints.
//! Unknown tokens and other applications' tokens get the same 200 and change
//! nothing, so the answer never tells whether a token exists.

use super::bearer;
use super::client_auth::{self, AuthenticatedClient};
use crate::crypto::secrets::Digest;
use crate::error::OAuthError;
use crate::http::{AppState, RequestView};
use crate::pat;
use crate::published::Published;
use crate::store::{AuditEvent, AuditKind, IssuedJwt};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let published = state.published();
    let (params, client) = client_auth::authenticate_form(&RequestView::of(&req), &body, &published)?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?.to_owned();
    // A revocation is written durably: off the async workers, as the token
    // endpoint's user grants (oidc/token.rs).
    crate::http::off_thread(move || revoke_token(&state, &published, &client, &token))
        .await
        .map_err(OAuthError::server)??;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}

fn revoke_token(
    state: &AppState,
    published: &Published,
    client: &AuthenticatedClient,
    token: &str,
) -> Result<(), OAuthError> {
    let client_id = &client.app.app.client_id;
    let now = state.clock.now();
    let event = |kind, detail: &str| AuditEvent::new(kind, now).app(client_id).detail(detail);

    if pat::looks_like_pat(token) {
        if let Some(found) = state.store.pat(&Digest::of(token))?.filter(|p| &p.client_id == client_id && !p.revoked) {
            state.store.revoke_pat(&found.id)?;
            let mut revoked = event(AuditKind::PatRevoked, &found.id);
            if let Some(owner) = state.store.user_by_sub(&found.sub)? {
                revoked = revoked.user(&owner.username);
            }
            state.audit(revoked);
        }
    } else if token.split('.').count() == 3 {
        if let Ok(access) = bearer::verify(state, published, token).map_err(|e| e.code)
            && &access.app.app.client_id == client_id
        {
            state.store.revoke_access_token(&IssuedJwt { jti: access.jti, expires_at: access.exp })?;
            state.audit(event(AuditKind::TokenRevoked, "access token"));
        }
    } else if let Some(family) = state.store.family_of_refresh_token(&Digest::of(token))?
        && &family.client_id == client_id
        && !family.revoked
    {
        state.store.revoke_family(family.id, now)?;
        state.audit(event(AuditKind::TokenRevoked, "refresh token family"));
    }
    Ok(())
}
