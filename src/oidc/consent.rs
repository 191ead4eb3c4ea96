//! `/consent`: the page on which a signed-in user allows or denies an
//! application (see `crate::consent` for when it is shown). The request
//! waits parked (`interaction`) for the user who was asked: the browser
//! must still be signed in as them, and the form carries the CSRF token.

use super::interaction::{self, At, SignInRoute, expired};
use super::params::{Params, require_form};
use super::respond::{ReplyTo, SignedIn, issue_code};
use super::session;
use crate::domain::AuthorizationRequest;
use crate::domain::ScopeSet;
use crate::error::AuthorizeError;
use crate::http::RequestView;
use crate::http::{AppState, on_pool};
use crate::published::PublishedApp;
use crate::sessions::ActiveSession;
use crate::ui::PageError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use std::sync::Arc;

/// The parked request (None: a proxy application's, which has none), its
/// application and the browser's session, if the session is the one of
/// the user who was asked.
struct Waiting {
    request: Option<AuthorizationRequest>,
    app: Arc<PublishedApp>,
    active: ActiveSession,
}

/// The request parked at its consent step, if this browser is still
/// signed in as the user who was asked.
fn waiting(req: &RequestView, state: &AppState, at: &At) -> Result<Option<Waiting>, PageError> {
    let Some(user) = &at.user else { return Ok(None) };
    let client_id = match (&at.request, &at.proxy_app) {
        (Some(request), _) => &request.client_id,
        (None, Some(proxy_app)) => proxy_app,
        (None, None) => return Ok(None),
    };
    let Some(active) = session::current(req, state).map_err(PageError::server)? else { return Ok(None) };
    if active.user.sub != user.sub {
        return Ok(None);
    }
    let Some(app) = state.published().by_client_id(client_id.as_str()).cloned() else { return Ok(None) };
    Ok(Some(Waiting { request: at.request.clone(), app, active }))
}

impl Waiting {
    /// What the application asks for: the request's scope, or what a
    /// proxy application's `Remote-*` headers carry.
    fn scope(&self) -> ScopeSet {
        self.request.as_ref().map_or_else(super::forward_auth::shared_scope, |r| r.scope)
    }
}

/// What the application will receive, in words.
fn receives(waiting: &Waiting) -> Vec<String> {
    let mut items: Vec<String> = waiting.scope().iter().map(|s| s.describe().to_owned()).collect();
    for claim in &waiting.app.app.claims {
        items.push(format!("{} (set from your groups)", claim.name));
    }
    items
}

/// For a client that registered itself, the host (or a native app's
/// scheme) its redirect URI leads to; None for any other.
fn registered_to(waiting: &Waiting) -> Option<String> {
    waiting.app.app.registration.as_ref()?;
    let url = url::Url::parse(waiting.request.as_ref()?.redirect_uri.as_str()).ok()?;
    Some(url.host_str().map_or_else(|| format!("{}:", url.scheme()), str::to_owned))
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_now(req, state)).await
}

fn show_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    let Ok(params) = Params::parse(req.query_string().as_bytes()) else { return expired(&state) };
    let tx = params.get("tx").unwrap_or_default();
    let at = match interaction::at(req, &state, SignInRoute::ShowConsent, tx, None) {
        Ok(at) => at,
        Err(refused) => return refused.page(&state),
    };
    let waiting = match waiting(req, &state, &at) {
        Ok(Some(waiting)) => waiting,
        Ok(None) => return expired(&state),
        Err(page) => return page.render(&state.ui),
    };
    let csrf = session::CookieName::Csrf.value(req, &state).unwrap_or_default();
    let context = json!({
        "app_name": waiting.app.app.name,
        "username": waiting.active.user.username,
        "receives": receives(&waiting),
        "remembered": waiting.app.app.consent == crate::domain::ConsentMode::Once,
        // A client that registered itself chose its own name: say where
        // allowing sends the user, which the name cannot disguise.
        "registered_to": registered_to(&waiting),
        "tx": tx,
        "csrf_token": csrf,
        "signed_in": waiting.active.user.username,
    });
    // Allowing redirects the browser to the client: a form target.
    state.ui.page(StatusCode::OK, "consent.html", &context, interaction::form_target(&at).as_deref())
}

pub async fn submit(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| submit_now(req, body, state)).await
}

fn submit_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if require_form(req).is_err() {
        return PageError::bad_request("Bad request", "The form was not form-encoded.").render(&state.ui);
    }
    let Ok(params) = Params::parse(&body) else { return expired(&state) };
    let tx = params.get("tx").unwrap_or_default();
    let form_token = params.get("csrf_token").unwrap_or_default();
    let at = match interaction::at(req, &state, SignInRoute::SubmitConsent, tx, Some(form_token)) {
        Ok(at) => at,
        Err(refused) => return refused.page(&state),
    };
    let waiting = match waiting(req, &state, &at) {
        Ok(Some(waiting)) => waiting,
        Ok(None) => return expired(&state),
        Err(page) => return page.render(&state.ui),
    };
    // One answer per request: whoever ends it first.
    let ended = match at.finish(&state) {
        Ok(ended) => ended,
        Err(refused) => return refused.page(&state),
    };
    let allowed = params.get("decision") == Some("allow");
    let Waiting { request, app, active } = &waiting;
    let Some(request) = request else { return proxy_answer(&state, app, active, allowed, ended.return_to) };
    let reply = ReplyTo::for_request(app, request);
    if !allowed {
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

/// A proxy application's consent answered: allowed, the answer is
/// remembered and the browser goes back to the protected URL (which
/// forward-auth will now pass); denied, to the account page.
fn proxy_answer(
    state: &AppState,
    app: &PublishedApp,
    active: &ActiveSession,
    allowed: bool,
    return_to: Option<String>,
) -> HttpResponse {
    let back = |to: &str| {
        HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, to.to_owned()))
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .finish()
    };
    if !allowed {
        tracing::info!(user = %active.user.username, client_id = %app.app.client_id, "consent denied");
        return back(crate::paths::ACCOUNT);
    }
    let scope = super::forward_auth::shared_scope();
    if let Err(e) = crate::consent::given(&state.store, &app.app, &active.user, scope, state.clock.now()) {
        return PageError::server(e).render(&state.ui);
    }
    back(return_to.as_deref().unwrap_or(crate::paths::ACCOUNT))
}
