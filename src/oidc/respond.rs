//! The authorization response: a code or an error, back to the client's
//! verified redirect URI, with `state` and `iss` (RFC 9207).

use crate::crypto::secrets::{Digest, random_token};
use crate::domain::{AuthorizationRequest, RedirectUri, ResponseMode};
use crate::error::{AuthorizeError, OAuthError};
use crate::http::AppState;
use crate::published::PublishedApp;
use crate::store::{AuthCode, User};
use crate::ui::PageError;
use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use serde_json::json;

/// Where a response goes once client and redirect URI are verified.
pub struct ReplyTo<'a> {
    pub app: &'a PublishedApp,
    pub redirect_uri: &'a RedirectUri,
    pub state: Option<&'a str>,
    pub mode: ResponseMode,
}

impl<'a> ReplyTo<'a> {
    pub fn for_request(app: &'a PublishedApp, request: &'a AuthorizationRequest) -> Self {
        ReplyTo {
            app,
            redirect_uri: &request.redirect_uri,
            state: request.state.as_deref(),
            mode: request.response_mode,
        }
    }

    pub fn error(&self, state: &AppState, error: &AuthorizeError) -> HttpResponse {
        self.send(state, vec![("error", error.code()), ("error_description", error.description())])
    }

    fn send<'f>(&'f self, state: &AppState, mut fields: Vec<(&'f str, &'f str)>) -> HttpResponse {
        if let Some(s) = self.state {
            fields.push(("state", s));
        }
        fields.push(("iss", &self.app.issuer));
        match self.mode {
            ResponseMode::Query => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, self.redirect_uri.with_query(&fields)))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish(),
            ResponseMode::FormPost => {
                let fields: Vec<_> =
                    fields.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect();
                let context = json!({
                    "app_name": self.app.app.name,
                    "action": self.redirect_uri.as_str(),
                    "fields": fields,
                });
                state.ui.page(StatusCode::OK, "form_post.html", &context, Some(&self.redirect_uri.origin()))
            }
        }
    }
}

/// Logs and audits that the access policy refused a signed-in user.
pub fn audit_refusal(state: &AppState, app: &PublishedApp, user: &User) {
    tracing::info!(user = %user.username, client_id = %app.app.client_id, "access policy refused the user");
    state.audit(
        crate::store::AuditEvent::new(crate::store::AuditKind::AccessDenied, state.clock.now())
            .user(&user.username)
            .app(&app.app.client_id),
    );
}

/// Issues a code bound to the request (client, redirect URI, PKCE, nonce)
/// and the signed-in user, and sends it to the client.
pub fn issue_code(
    state: &AppState,
    app: &PublishedApp,
    request: &AuthorizationRequest,
    user: &User,
    auth_time: i64,
) -> Result<HttpResponse, OAuthError> {
    if !app.app.allows(user) {
        audit_refusal(state, app, user);
        let message = format!(
            "You are signed in as {}, but this account may not use {}. Ask the administrator to add it to one of the application's groups.",
            user.username, app.app.name
        );
        return Ok(PageError::forbidden("No access to this application", message).render(&state.ui));
    }
    let code = random_token()?;
    let now = state.clock.now();
    let valid_until = now + state.config.lifetimes.code;
    let record = AuthCode {
        request: request.clone(),
        sub: user.sub,
        auth_time,
        user_epoch: user.epoch,
        valid_until,
        expires_at: valid_until + 600,
        redeemed: None,
    };
    state.store.put_code(&Digest::of(&code), &record)?;
    tracing::info!(client_id = %request.client_id, user = %user.username, "authorization code issued");
    Ok(ReplyTo::for_request(app, request).send(state, vec![("code", &code)]))
}
