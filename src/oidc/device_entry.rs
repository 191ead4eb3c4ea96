//! `/device` (RFC 8628 `verification_uri`): where a person types the code
//! their device shows, or lands with it filled in
//! (`verification_uri_complete`, which the page also shows as a QR code,
//! for a device that can open the page on its own screen to be scanned).
//!
//! A right code parks the answer to that device's request as a sign-in
//! (`interaction::park_device_request`): to the sign-in form, or, for a
//! browser already signed in as the application's rules want, straight to
//! the approval (`device_approval`). The code is looked up by its digest.
//! Wrong codes are counted per client address with the link throttle
//! (`Throttle::record_address_failure`); a code works once.

use super::account::csrf_checked;
use super::interaction::park_device_request;
use super::session::{self, CookieName};
use crate::crypto::secrets::Digest;
use crate::domain::UserCode;
use crate::http::{AppState, RequestView, on_pool};
use crate::published::PublishedApp;
use crate::store::{DeviceRequest, DeviceState, SignInStep};
use crate::ui::PageError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

/// What the throttle counts wrong codes under (per address).
const THROTTLE_ACCOUNT: &str = "device-code";
const WRONG_CODE: &str = "That code is not valid, or it has expired or been used. Check your device's screen.";

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| {
        let typed = super::params::Params::parse(req.query_string().as_bytes())
            .ok()
            .and_then(|p| p.get("code").map(str::to_owned))
            .unwrap_or_default();
        form(req, &state, &typed, None)
    })
    .await
}

/// The page: the code field (filled in from `typed`), and for a well-formed
/// code its QR code, to approve from a phone.
fn form(req: &RequestView, state: &AppState, typed: &str, error: Option<&str>) -> HttpResponse {
    let (csrf, fresh) = match session::csrf_token(req, state) {
        Ok(pair) => pair,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let code = UserCode::parse(typed).ok();
    let qr = code.as_ref().filter(|_| error.is_none()).map(|code| {
        let url = state.config.public_url.endpoint(crate::paths::DEVICE);
        crate::ui::qr_svg(&format!("{url}?code={}", code.display()))
    });
    let context = json!({
        "code": code.map(|c| c.display()).unwrap_or_default(),
        "csrf_token": csrf,
        "error": error,
        "qr_svg": qr,
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut response = state.ui.page(status, "device.html", &context, None);
    if fresh {
        let _ = response.add_cookie(&session::cookie(state, CookieName::Csrf, csrf, super::interaction::LIFETIME));
    }
    response
}

pub async fn submit(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| submit_now(req, body, state)).await
}

fn submit_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let params = match csrf_checked(req, &body, &state) {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let typed = params.get("code").unwrap_or_default();
    let now = state.clock.now();
    let (ip, _) = crate::http::client_of(req, &state);
    let address = ip.unwrap_or_default();
    if state.throttle.is_address_locked(THROTTLE_ACCOUNT, &address, now) {
        return PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong codes",
            "Too many codes from here were wrong. Nothing was changed; wait a few minutes, then try again.",
        )
        .render(&state.ui);
    }
    let found = match UserCode::parse(typed) {
        Ok(code) => match state.store.device_grant_by_user_code(&Digest::of(code.as_str())) {
            Ok(found) => found.map(|(grant, record)| (grant, record, code)),
            Err(e) => return PageError::server(e).render(&state.ui),
        },
        Err(_) => None,
    };
    let published = state.published();
    let waiting = found.and_then(|(grant, record, code)| {
        let app = published.by_client_id(record.client_id.as_str())?.clone();
        let waits = record.state == DeviceState::Pending && record.expires_at > now && app.app.compat.device_flow;
        let request = DeviceRequest {
            grant,
            client_id: record.client_id.clone(),
            scope: record.scope,
            user_code: code.display(),
        };
        waits.then_some((request, app))
    });
    let Some((request, app)) = waiting else {
        state.throttle.record_address_failure(THROTTLE_ACCOUNT, &address, now);
        tracing::info!(address = %address, "device: a wrong or spent user code");
        return form(req, &state, typed, Some(WRONG_CODE));
    };
    let signed_in = match usable_session(req, &state, &app) {
        Ok(signed_in) => signed_in,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let (step, path) = match signed_in {
        Some(user) => (SignInStep::AwaitingDeviceApproval { user }, crate::paths::DEVICE_APPROVE),
        None => (SignInStep::AwaitingPassword, crate::paths::LOGIN),
    };
    match park_device_request(req, &state, request, step) {
        Ok(parked) => parked.redirect_to(path),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// The browser's user, if its session may answer for `app` (`session::serves`).
fn usable_session(
    req: &RequestView,
    state: &AppState,
    app: &PublishedApp,
) -> Result<Option<uuid::Uuid>, crate::store::StoreError> {
    let Some(active) = session::current(req, state)? else { return Ok(None) };
    Ok(session::serves(state, app, &active)?.then_some(active.user.sub))
}
