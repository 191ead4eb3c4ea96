//! `/device/approve`: the signed-in user sees which application's device
//! asks, for what, and the code it shows, and approves or denies it
//! (RFC 8628 §3.3). The page is shown every time, whatever the
//! application's consent mode: a code typed from someone else's screen is
//! how device-flow phishing works (§5.4), so the user always confirms.
//!
//! It is the last step of the sign-in `device_entry` parked: reached from
//! the sign-in's end (`after_sign_in`) or, for a browser signed in
//! already, from `/device` itself. The browser must still be signed in as
//! the user the step names; the answer goes to the device's request with
//! a compare-and-swap (`tokens::device_code::answer`), once.

use super::interaction::{self, At, SignInRoute, expired};
use super::params::{Params, require_form};
use super::session;
use crate::http::{AppState, RequestView, on_pool};
use crate::published::PublishedApp;
use crate::sessions::ActiveSession;
use crate::store::{AuditEvent, AuditKind, DeviceRequest, SignInStep, User};
use crate::tokens::device_code::{self, Answer};
use crate::ui::PageError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use std::sync::Arc;

/// The sign-in for a device's request is done: the session starts (as for
/// ferrid's own pages: the application gets tokens only once approved),
/// and the approval is parked for this user.
pub(super) fn after_sign_in(
    state: &AppState,
    req: &RequestView,
    device: DeviceRequest,
    user: &User,
    amr: Vec<String>,
    source: Option<&str>,
) -> HttpResponse {
    let result = (|| {
        let started = session::start(state, user, req, None, amr, source)?;
        let remembered = super::known_browser::remember(req, state, user)?;
        let step = SignInStep::AwaitingDeviceApproval { user: user.sub };
        let parked = interaction::park_device_request(req, state, device, step)?;
        let mut response = parked.redirect_to(crate::paths::DEVICE_APPROVE);
        response.add_cookie(&started.cookie).map_err(crate::error::OAuthError::server)?;
        response.add_cookie(&remembered).map_err(crate::error::OAuthError::server)?;
        Ok::<_, crate::error::OAuthError>(response)
    })();
    result.unwrap_or_else(|e| PageError::server(e).render(&state.ui))
}

/// The request, its application and the browser's session, if the
/// session is the one of the user the step names and the application
/// takes it (`session::serves`).
struct Waiting {
    device: DeviceRequest,
    app: Arc<PublishedApp>,
    active: ActiveSession,
}

fn waiting(req: &RequestView, state: &AppState, at: &At) -> Result<Option<Waiting>, PageError> {
    let (Some(user), Some(device)) = (&at.user, &at.device) else { return Ok(None) };
    let Some(active) = session::current(req, state).map_err(PageError::server)? else { return Ok(None) };
    if active.user.sub != user.sub {
        return Ok(None);
    }
    let Some(app) = state.published().by_client_id(device.client_id.as_str()).cloned() else { return Ok(None) };
    // The session as it is now: one the browser signed in with since the
    // step was parked (through a source the application does not take,
    // without its second factor) answers nothing.
    if !session::serves(state, &app, &active).map_err(PageError::server)? {
        return Ok(None);
    }
    Ok(Some(Waiting { device: device.clone(), app, active }))
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_now(req, state)).await
}

fn show_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    let Ok(params) = Params::parse(req.query_string().as_bytes()) else { return expired(&state) };
    let tx = params.get("tx").unwrap_or_default();
    let at = match interaction::at(req, &state, SignInRoute::ShowDeviceApproval, tx, None) {
        Ok(at) => at,
        Err(refused) => return refused.page(&state),
    };
    let waiting = match waiting(req, &state, &at) {
        Ok(Some(waiting)) => waiting,
        Ok(None) => return expired(&state),
        Err(page) => return page.render(&state.ui),
    };
    let mut receives: Vec<String> = waiting.device.scope.iter().map(|s| s.describe().to_owned()).collect();
    receives.extend(waiting.app.app.claims.iter().map(|claim| format!("{} (set from your groups)", claim.name)));
    let context = json!({
        "app_name": waiting.app.app.name,
        "username": waiting.active.user.username,
        "user_code": waiting.device.user_code,
        "receives": receives,
        "tx": tx,
        "csrf_token": session::CookieName::Csrf.value(req, &state).unwrap_or_default(),
        "signed_in": waiting.active.user.username,
    });
    state.ui.page(StatusCode::OK, "device_approve.html", &context, None)
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
    let approve = match params.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return PageError::bad_request("Bad request", "Approve or deny: nothing was changed.").render(&state.ui),
    };
    let at = match interaction::at(req, &state, SignInRoute::SubmitDeviceApproval, tx, Some(form_token)) {
        Ok(at) => at,
        Err(refused) => return refused.page(&state),
    };
    let waiting = match waiting(req, &state, &at) {
        Ok(Some(waiting)) => waiting,
        Ok(None) => return expired(&state),
        Err(page) => return page.render(&state.ui),
    };
    // The application's access policy, as at any sign-in: a user it does
    // not allow can only deny.
    let allowed = waiting.app.app.allows(&waiting.active.user);
    let approve = approve && allowed;
    // One answer per request: whoever ends the step first.
    if let Err(refused) = at.finish(&state) {
        return refused.page(&state);
    }
    decide(req, &state, &waiting, approve, allowed)
}

fn decide(req: &RequestView, state: &AppState, waiting: &Waiting, approve: bool, allowed: bool) -> HttpResponse {
    let Waiting { device, app, active } = waiting;
    let user = &active.user;
    let answer = Answer {
        approve,
        user,
        auth_time: active.session.auth_time,
        amr: active.session.amr.clone(),
        sid: Some(active.sid()),
    };
    let now = state.clock.now();
    match device_code::answer(&state.store, now, &device.grant, answer) {
        Ok(true) => {}
        Ok(false) => {
            return PageError::bad_request(
                "Request no longer waiting",
                "The device's request expired or was answered already. Nothing was changed; start again on the \
                 device.",
            )
            .render(&state.ui);
        }
        Err(e) => return PageError::server(e).render(&state.ui),
    }
    let (ip, ua) = crate::http::client_of(req, state);
    let (kind, detail) = match (approve, allowed) {
        (true, _) => (AuditKind::ConsentGiven, "device approved"),
        (false, true) => (AuditKind::AccessDenied, "device denied by the user"),
        (false, false) => (AuditKind::AccessDenied, "device refused by the access policy"),
    };
    state.audit(
        AuditEvent::new(kind, now).user(&user.username).app(&app.app.client_id).from_client(ip, ua).detail(detail),
    );
    if approve {
        // The session hears of the application: signing out ends it there too.
        if let Err(e) = state.sessions().signed_in_to(&active.key, &active.session, &app.app.client_id) {
            return PageError::server(e).render(&state.ui);
        }
    }
    tracing::info!(user = %user.username, client_id = %app.app.client_id, approve, "device request answered");
    let context = json!({
        "app_name": app.app.name,
        "approved": approve,
        "allowed": allowed,
        "signed_in": user.username,
    });
    let status = if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN };
    state.ui.page(status, "device_done.html", &context, None)
}
