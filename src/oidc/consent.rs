//! `/consent`: the page on which a signed-in user allows or denies an
//! application (see `crate::consent` for when it is shown). The request
//! waits parked (`interaction`) for the user who was asked: the browser
//! must still be signed in as them, and the form carries the CSRF token.

use super::interaction::{self, At, SignInRoute, expired};
use super::params::{Params, require_form};
use super::respond::{ReplyTo, SignedIn, issue_code};
use super::session;
use crate::domain::AuthorizationRequest;
use crate::error::AuthorizeError;
use crate::http::AppState;
use crate::published::PublishedApp;
use crate::sessions::ActiveSession;
use crate::ui::PageError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use std::sync::Arc;

/// The parked request, its application and the browser's session, if the
/// session is the one of the user who was asked.
struct Waiting {
    request: AuthorizationRequest,
    app: Arc<PublishedApp>,
    active: ActiveSession,
}

/// The request parked at its consent step, if this browser is still
/// signed in as the user who was asked.
fn waiting(req: &HttpRequest, state: &AppState, at: &At) -> Result<Option<Waiting>, PageError> {
    let (Some(request), Some(user)) = (&at.request, &at.user) else { return Ok(None) };
    let Some(active) = session::current(req, state).map_err(PageError::server)? else { return Ok(None) };
    if active.user.sub != user.sub {
        return Ok(None);
    }
    let Some(app) = state.published().by_client_id(request.client_id.as_str()).cloned() else { return Ok(None) };
    Ok(Some(Waiting { request: request.clone(), app, active }))
}

/// What the application will receive, in words.
fn receives(waiting: &Waiting) -> Vec<String> {
    let mut items: Vec<String> = waiting.request.scope.iter().map(|s| s.describe().to_owned()).collect();
    for claim in &waiting.app.app.claims {
        items.push(format!("{} (set from your groups)", claim.name));
    }
    items
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Ok(params) = Params::parse(req.query_string().as_bytes()) else { return expired(&state) };
    let tx = params.get("tx").unwrap_or_default();
    let at = match interaction::at(&req, &state, SignInRoute::ShowConsent, tx, None) {
        Ok(at) => at,
        Err(refused) => return refused.page(&state),
    };
    let waiting = match waiting(&req, &state, &at) {
        Ok(Some(waiting)) => waiting,
        Ok(None) => return expired(&state),
        Err(page) => return page.render(&state.ui),
    };
    let csrf = session::CookieName::Csrf.value(&req, &state).unwrap_or_default();
    let context = json!({
        "app_name": waiting.app.app.name,
        "username": waiting.active.user.username,
        "receives": receives(&waiting),
        "remembered": waiting.app.app.consent == crate::domain::ConsentMode::Once,
        "tx": tx,
        "csrf_token": csrf,
        "signed_in": waiting.active.user.username,
    });
    // Allowing redirects the browser to the client: a form target.
    state.ui.page(StatusCode::OK, "consent.html", &context, waiting.request.redirect_uri.csp_source().as_deref())
}

pub async fn submit(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if require_form(&req).is_err() {
        return PageError::bad_request("Bad request", "The form was not form-encoded.").render(&state.ui);
    }
    let Ok(params) = Params::parse(&body) else { return expired(&state) };
    let tx = params.get("tx").unwrap_or_default();
    let form_token = params.get("csrf_token").unwrap_or_default();
    let at = match interaction::at(&req, &state, SignInRoute::SubmitConsent, tx, Some(form_token)) {
        Ok(at) => at,
        Err(refused) => return refused.page(&state),
    };
    let waiting = match waiting(&req, &state, &at) {
        Ok(Some(waiting)) => waiting,
        Ok(None) => return expired(&state),
        Err(page) => return page.render(&state.ui),
    };
    // One answer per request: whoever ends it first.
    if let Err(refused) = at.finish(&state) {
        return refused.page(&state);
    }
    let Waiting { request, app, active, .. } = &waiting;
    let reply = ReplyTo::for_request(app, request);
    if params.get("decision") != Some("allow") {
        tracing::info!(user = %active.user.username, client_id = %app.app.client_id, "consent denied");
        return reply.error(&state, &AuthorizeError::AccessDenied);
    }
    // The policy may have changed while the page was open.
    if !app.app.allows(&active.user) {
        return reply.error(&state, &AuthorizeError::AccessDenied);
    }
    let now = state.clock.now();
    let result = crate::consent::given(&state.store, &app.app, &active.user, request.scope, now)
        .map_err(crate::error::OAuthError::from)
        .and_then(|()| {
            let signed_in = SignedIn { user: &active.user, session: &active.key, record: &active.session };
            issue_code(&state, app, request, signed_in)
        });
    result.unwrap_or_else(|_| reply.error(&state, &AuthorizeError::ServerError))
}
