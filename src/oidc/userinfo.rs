//! `/application/o/userinfo/` (OIDC Core §5.3): GET or POST with a bearer
//! access token; claims by the token's scope.

use super::bearer;
use super::params::{Params, require_form};
use crate::domain::Scope;
use crate::error::OAuthError;
use crate::http::{AppState, RequestView, on_pool};
use crate::tokens::claims::user_claims;
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn userinfo(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| userinfo_now(req, body, state)).await
}

fn userinfo_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let params = if req.method() == Method::POST && !body.is_empty() {
        require_form(req)?;
        Some(Params::parse(&body)?)
    } else {
        None
    };
    let token = bearer::extract(req, params.as_ref().and_then(|p| p.get("access_token")))?;
    let published = state.published();
    let access = bearer::verify(&state, &published, &token)?;
    if !access.scope.contains(Scope::OpenId) {
        return Err(OAuthError::insufficient_scope("the token was not granted the openid scope"));
    }
    // The user must still exist, be enabled and be allowed to use the app.
    let invalid = || OAuthError::invalid_token("the access token is invalid or expired");
    let user = access.current_user(&state.store)?.ok_or_else(invalid)?;
    let mut claims = access.app.app.mapped_claims(&user);
    claims.extend(user_claims(&user, access.scope, &access.app.app));
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(claims))
}
