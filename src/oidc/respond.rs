//! The authorization response: a code or an error, back to the client's
//! verified redirect URI, with `state` and `iss` (RFC 9207).

use super::interaction::park;
use crate::crypto::secrets::Digest;
use crate::domain::{AuthorizationRequest, RedirectUri, ResponseMode};
use crate::error::{AuthorizeError, OAuthError};
use crate::http::AppState;
use crate::http::RequestView;
use crate::published::PublishedApp;
use crate::store::{AuthCode, User};
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
                state.ui.page(StatusCode::OK, "form_post.html", &context, self.redirect_uri.csp_source().as_deref())
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

/// The user an authorization request continues with: signed in just now,
/// or already (single sign-on), in the session `session`.
pub struct SignedIn<'a> {
    pub user: &'a User,
    /// The session's key, and its record as last read.
    pub session: &'a Digest,
    pub record: &'a crate::store::Session,
}

/// What follows once the user is known.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The application's access policy refuses the user.
    NoAccess,
    /// The application must ask the user first.
    Consent,
    Code,
}

impl Next {
    /// The application's access policy, then consent.
    pub fn for_user(
        state: &AppState,
        app: &PublishedApp,
        request: &AuthorizationRequest,
        user: &User,
    ) -> Result<Next, OAuthError> {
        if !app.app.allows(user) {
            return Ok(Next::NoAccess);
        }
        if crate::consent::needed(&state.store, &app.app, user, request.scope, request.force_consent)? {
            return Ok(Next::Consent);
        }
        Ok(Next::Code)
    }
}

/// Decides what follows (`Next::for_user`) and does it.
pub fn proceed(
    state: &AppState,
    req: &RequestView,
    app: &PublishedApp,
    request: &AuthorizationRequest,
    signed_in: SignedIn<'_>,
    prompt_none: bool,
) -> Result<HttpResponse, OAuthError> {
    let next = Next::for_user(state, app, request, signed_in.user)?;
    act(state, req, app, request, signed_in, next, prompt_none)
}

/// The "No access" page, the consent page, or the code. With `prompt_none`
/// no page may be shown (OIDC Core §3.1.2.1), so a refusal or a needed
/// consent goes back to the client as an error.
pub fn act(
    state: &AppState,
    req: &RequestView,
    app: &PublishedApp,
    request: &AuthorizationRequest,
    signed_in: SignedIn<'_>,
    next: Next,
    prompt_none: bool,
) -> Result<HttpResponse, OAuthError> {
    let reply = ReplyTo::for_request(app, request);
    match next {
        Next::NoAccess => {
            audit_refusal(state, app, signed_in.user);
            if prompt_none {
                return Ok(reply.error(state, &AuthorizeError::AccessDenied));
            }
            no_access(state, req, app, request, signed_in.user)
        }
        Next::Consent if prompt_none => Ok(reply.error(state, &AuthorizeError::ConsentRequired)),
        Next::Consent => {
            let step = crate::store::SignInStep::AwaitingConsent { user: signed_in.user.sub };
            let parked = park(req, state, Some(request.clone()), step)?;
            Ok(parked.redirect_to(crate::paths::CONSENT))
        }
        Next::Code => issue_code(state, app, request, signed_in),
    }
}

/// "No access", with a way out: sign in as someone else (the same request,
/// parked again for the sign-in form) or go to the account page.
fn no_access(
    state: &AppState,
    req: &RequestView,
    app: &PublishedApp,
    request: &AuthorizationRequest,
    user: &User,
) -> Result<HttpResponse, OAuthError> {
    let again = AuthorizationRequest { force_login: true, ..request.clone() };
    let parked = park(req, state, Some(again), crate::store::SignInStep::AwaitingPassword)?;
    let context = json!({
        "username": user.username,
        "app_name": app.app.name,
        "switch_url": format!("{}?tx={}", crate::paths::LOGIN, parked.tx),
        "signed_in": user.username,
        "csrf_token": parked.csrf,
    });
    let mut response = state.ui.page(StatusCode::FORBIDDEN, "no_access.html", &context, None);
    if let Some(cookie) = parked.csrf_cookie {
        response.add_cookie(&cookie).map_err(OAuthError::server)?;
    }
    Ok(response)
}

/// Issues a code bound to the request (client, redirect URI, PKCE, nonce),
/// the user and their session, and sends it to the client. The session
/// notes the application, which will hear when it ends.
pub fn issue_code(
    state: &AppState,
    app: &PublishedApp,
    request: &AuthorizationRequest,
    signed_in: SignedIn<'_>,
) -> Result<HttpResponse, OAuthError> {
    let SignedIn { user, session, record } = signed_in;
    let auth_time = record.auth_time;
    state.sessions().signed_in_to(session, record, &app.app.client_id)?;
    let code = crate::tokens::authorization_code::new_code(&user.sub)?;
    let now = state.clock.now();
    let valid_until = now + state.config.lifetimes.code;
    let record = AuthCode {
        request: request.clone(),
        sub: user.sub,
        auth_time,
        user_epoch: user.epoch,
        sid: Some(crate::sessions::sid_of(session)),
        amr: record.amr.clone(),
        valid_until,
        expires_at: valid_until + 600,
        redeemed: None,
    };
    state.store.put_code(&Digest::of(&code), &record)?;
    tracing::info!(client_id = %request.client_id, user = %user.username, "authorization code issued");
    Ok(ReplyTo::for_request(app, request).send(state, vec![("code", &code)]))
}
