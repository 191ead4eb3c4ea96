//! `/application/o/authorize/` (RFC 6749 §4.1.1, OIDC Core §3.1.2).
//!
//! Until the client and its redirect URI are verified, every error is an
//! error page: redirecting to an unverified URI would be an open redirect.
//! After that, errors go back to the client.

use super::interaction::park;
use super::params::{Params, require_form};
use super::respond::{ReplyTo, SignedIn, proceed};
use super::session;
use crate::domain::{AuthorizationRequest, CodeChallenge, ResponseMode, Scope, ScopeSet};
use crate::error::AuthorizeError;
use crate::http::RequestView;
use crate::http::{AppState, on_pool};
use crate::published::PublishedApp;
use crate::ui::PageError;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;

pub async fn authorize(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| authorize_now(req, body, state)).await
}

fn authorize_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let parsed = if req.method() == Method::POST {
        if require_form(req).is_err() {
            return PageError::bad_request("Bad request", "The sign-in request was not form-encoded.")
                .render(&state.ui);
        }
        Params::parse(&body)
    } else {
        Params::parse(req.query_string().as_bytes())
    };
    // Before the client is known, so an error page, not a redirect.
    let Ok(params) = parsed else {
        return PageError::bad_request("Bad request", "The sign-in request has too many parameters.").render(&state.ui);
    };
    let published = state.published();

    // 1. Client and redirect URI, or an error page.
    let app = match verified_client(&params, &published) {
        Ok(app) => app,
        Err(refused) => return refused.render(&state.ui),
    };
    let Some(redirect_uri) = params.get("redirect_uri").and_then(|uri| app.app.registered_redirect(uri)) else {
        let sent = params.get("redirect_uri").unwrap_or("(none)");
        let registered: Vec<&str> = app.app.redirect_uris.iter().map(|u| u.as_str()).collect();
        tracing::warn!(
            client_id = %app.app.client_id,
            sent = %sent,
            registered = %registered.join(" "),
            "authorize: the redirect_uri is not registered (compare them: a trailing slash is the usual difference)"
        );
        return PageError::new(
            StatusCode::BAD_REQUEST,
            "Unregistered redirect URI",
            format!(
                "{} asked to return to {sent}, which is not registered for it. Nothing was sent there. If you \
                 run this service: ferrid's log names the addresses that are registered (a trailing slash is \
                 the usual difference); register this one, or correct the application's setting.",
                app.app.name
            ),
        )
        .render(&state.ui);
    };

    // 2. The rest of the request; errors now go back to the client.
    let mode = ResponseMode::parse(params.get("response_mode"));
    let reply =
        ReplyTo { app: &app, redirect_uri, state: params.get("state"), mode: mode.unwrap_or(ResponseMode::Query) };
    let request = match parse_request(&params, &app, mode) {
        Ok(request) => request,
        Err(error) => return reply.error(&state, &error),
    };
    let prompt_none = params.get("prompt").is_some_and(|p| p.split(' ').any(|v| v == "none"));

    // 3. Signed in already (SSO), or on to the sign-in form.
    let result = (|| {
        let now = state.clock.now();
        let active = session::current(req, &state)?;
        let usable = active.filter(|s| {
            !request.force_login
                && request.max_age.is_none_or(|max| now - s.session.auth_time <= max)
                && app.app.access.takes_source(s.session.source.as_deref())
                && second_factor_done(&state, &app, &request, s)
        });
        match usable {
            Some(s) => {
                let signed_in = SignedIn { user: &s.user, session: &s.key, record: &s.session };
                proceed(&state, req, &app, &request, signed_in, prompt_none)
            }
            None if prompt_none => {
                Ok(ReplyTo::for_request(&app, &request).error(&state, &AuthorizeError::LoginRequired))
            }
            None => start_interaction(req, &state, request),
        }
    })();
    result.unwrap_or_else(|e| PageError::server(e).render(&state.ui))
}

/// Does the session have the second factor this request needs? A session
/// signed in with a password alone must sign in again (password and
/// factor) where the application, a group of the user's, the global policy
/// or `acr_values` wants one. If the policy cannot be read, it does not.
fn second_factor_done(
    state: &AppState,
    app: &PublishedApp,
    request: &AuthorizationRequest,
    s: &session::ActiveSession,
) -> bool {
    s.session.amr.iter().any(|m| m == crate::mfa::AMR_MFA)
        || matches!(
            crate::mfa::required(&state.config.mfa, &state.store, Some(&app.app), &s.user, request.acr_mfa),
            Ok(false)
        )
}

/// The client, or the page that says why it is not known (never a
/// redirect: its redirect URI is not verified yet).
fn verified_client(params: &Params, published: &crate::published::Published) -> Result<Arc<PublishedApp>, PageError> {
    if let Some(name) = params.repeated().filter(|n| *n == "client_id" || *n == "redirect_uri") {
        return Err(PageError::bad_request("Bad request", format!("The parameter {name} was sent more than once.")));
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(PageError::bad_request("Bad request", "The request names no application (client_id is missing)."));
    };
    match published.by_client_id(client_id) {
        Some(app) => Ok(app.clone()),
        None => {
            tracing::warn!(client_id = %client_id, "authorize: no application has this client_id");
            Err(PageError::bad_request(
                "Unknown application",
                format!("This sign-in request is for an application ferrid does not know (client_id {client_id})."),
            ))
        }
    }
}

fn parse_request(
    params: &Params,
    app: &PublishedApp,
    mode: Option<ResponseMode>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let invalid = |d: &str| AuthorizeError::InvalidRequest(d.to_owned());
    if let Some(name) = params.repeated() {
        return Err(invalid(&format!("parameter {name} is repeated")));
    }
    let response_mode = mode.ok_or_else(|| invalid("response_mode must be query or form_post"))?;
    match params.get("response_type") {
        Some("code") => {}
        None => return Err(invalid("response_type is required")),
        Some(_) => {
            return Err(AuthorizeError::UnsupportedResponseType);
        }
    }
    if params.get("request").is_some() {
        return Err(AuthorizeError::RequestNotSupported);
    }
    if params.get("request_uri").is_some() {
        return Err(AuthorizeError::RequestUriNotSupported);
    }
    let scope = ScopeSet::parse(params.get("scope").unwrap_or(""));
    let code_challenge = match params.get("code_challenge") {
        Some(challenge) => {
            Some(CodeChallenge::parse(challenge, params.get("code_challenge_method")).map_err(|e| invalid(&e.0))?)
        }
        None if app.app.is_public() => {
            return Err(invalid("PKCE (code_challenge with S256) is required for public clients"));
        }
        None if app.app.compat.pkce_required => {
            return Err(invalid("PKCE (code_challenge with S256) is required for this client"));
        }
        None => None,
    };
    let prompts: Vec<&str> =
        params.get("prompt").map(|p| p.split(' ').filter(|v| !v.is_empty()).collect()).unwrap_or_default();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err(invalid("prompt=none cannot be combined with other values"));
    }
    if let Some(unknown) = prompts.iter().find(|p| !matches!(**p, "none" | "login" | "consent" | "select_account")) {
        return Err(invalid(&format!("unknown prompt value {unknown}")));
    }
    let max_age = match params.get("max_age") {
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| invalid("max_age must be a non-negative integer"))?,
        ),
        None => None,
    };
    let nonce = params.get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) || params.get("state").is_some_and(|s| s.len() > 2048) {
        return Err(invalid("nonce or state is too long"));
    }
    // A client that registered a scope is granted no more (RFC 7591 §2;
    // RFC 6749 §3.3 lets the rest be dropped: the token response says).
    let scope = match app.app.registration.as_ref().and_then(|r| r.scope) {
        Some(registered) => ScopeSet::intersection(scope, registered),
        None => scope,
    };
    // Nor a refresh token, unless it registered the refresh grant.
    let scope = match &app.app.registration {
        Some(r) if !r.grant_types.iter().any(|g| g == "refresh_token") => scope.without(Scope::OfflineAccess),
        _ => scope,
    };
    // OIDC Core §3.1.2.1: no openid scope, no OpenID request; plain OAuth still works.
    let scope = if scope.contains(Scope::OpenId) { scope } else { scope.without(Scope::OfflineAccess) };
    Ok(AuthorizationRequest {
        client_id: app.app.client_id.clone(),
        redirect_uri: app
            .app
            .registered_redirect(params.get("redirect_uri").unwrap_or(""))
            .cloned()
            .ok_or_else(|| invalid("redirect_uri"))?,
        scope,
        state: params.get("state").map(str::to_owned),
        nonce,
        code_challenge,
        response_mode,
        max_age,
        // select_account: one account per browser, so choosing one is signing in.
        force_login: prompts.contains(&"login") || prompts.contains(&"select_account"),
        force_consent: prompts.contains(&"consent"),
        // OIDC Core §3.1.2.1: voluntary, in order of preference; ferrid
        // honours a request for "mfa" (and serves "pwd" by default).
        acr_mfa: params.get("acr_values").is_some_and(|v| v.split(' ').any(|a| a == crate::mfa::ACR_MFA)),
    })
}

/// Parks the request server-side and sends the browser to the sign-in form.
fn start_interaction(
    req: &RequestView,
    state: &AppState,
    request: AuthorizationRequest,
) -> Result<HttpResponse, crate::error::OAuthError> {
    Ok(park(req, state, Some(request), crate::store::SignInStep::AwaitingPassword)?.redirect_to(crate::paths::LOGIN))
}
