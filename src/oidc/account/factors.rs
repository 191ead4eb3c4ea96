//! `/account/mfa`: a signed-in user's second factors. Adding an
//! authenticator app, making recovery codes and removing a factor each ask
//! for the current password (checked as at sign-in), so that a session
//! someone else got hold of cannot change how the account signs in.

use super::super::params::Params;
use super::{checked_form, password_confirms, render, signed_in};
use crate::crypto::totp;
use crate::http::AppState;
use crate::sessions::ActiveSession;
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

const WRONG_PASSWORD: &str = "The current password is wrong. Nothing was changed.";

fn page(
    req: &HttpRequest,
    state: &AppState,
    active: &ActiveSession,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let factors = match state.mfa().list(&active.user) {
        Ok(factors) => factors,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let factors: Vec<_> = factors
        .iter()
        .filter(|f| f.kind != "totp" || f.last_used_at.is_some())
        .map(|f| {
            json!({
                "id": f.id,
                "name": f.name,
                "left": f.left,
                "created": crate::clock::human(f.created_at),
                "last_used": f.last_used_at.map(crate::clock::human),
            })
        })
        .collect();
    let context = json!({ "factors": factors, "notice": notice, "error": error });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    render(req, state, active, status, "account_mfa.html", context)
}

fn done(what: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{}?done={what}", crate::paths::ACCOUNT_MFA)))
        .finish()
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let active = match signed_in(&req, &state) {
        Ok(active) => active,
        Err(response) => return *response,
    };
    let notice = match Params::parse(req.query_string().as_bytes()).ok().and_then(|p| p.get("done").map(str::to_owned))
    {
        Some(done) if done == "totp" => Some("Authenticator app added: sign-ins now ask for its code."),
        Some(done) if done == "removed" => Some("Removed."),
        _ => None,
    };
    page(&req, &state, &active, notice, None)
}

/// A form that changes the factors: checked, and with the right password.
async fn confirmed(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<(ActiveSession, Params), Box<HttpResponse>> {
    let (active, params) = checked_form(req, body, state)?;
    match password_confirms(req, state, &active, params.get("current_password").unwrap_or_default()).await {
        Ok(true) => Ok((active, params)),
        Ok(false) => Err(Box::new(page(req, state, &active, None, Some(WRONG_PASSWORD)))),
        Err(e) => Err(Box::new(PageError::server(e).render(&state.ui))),
    }
}

/// `/account/mfa/totp`: a new seed, shown as a QR code until the first code confirms it.
pub async fn add_totp(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match confirmed(&req, &state, &body).await {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let name = params.get("name").unwrap_or_default();
    match state.mfa().start_totp(&active.user, name, state.clock.now()) {
        Ok(enrollment) => enroll_page(&req, &state, &active, &enrollment.id, &enrollment.seed, None),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

fn enroll_page(
    req: &HttpRequest,
    state: &AppState,
    active: &ActiveSession,
    id: &str,
    seed: &[u8],
    error: Option<&str>,
) -> HttpResponse {
    let uri = totp::otpauth_uri("ferrid", active.user.username.as_str(), seed);
    let context = json!({
        "id": id,
        "qr_svg": crate::ui::qr_svg(&uri),
        "secret": totp::base32(seed),
        "error": error,
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    render(req, state, active, status, "account_mfa_enroll.html", context)
}

/// `/account/mfa/totp/confirm`: the app's first code.
pub async fn confirm_totp(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match checked_form(&req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let id = params.get("id").unwrap_or_default();
    let mfa = state.mfa();
    match mfa.confirm_totp(&active.user, id, params.get("code").unwrap_or_default(), state.clock.now()) {
        Ok(true) => done("totp"),
        Ok(false) => match mfa.pending_seed(&active.user, id) {
            Ok(Some(seed)) => {
                let error = Some("That code does not match. Check the app's clock and try the newest code.");
                enroll_page(&req, &state, &active, id, &seed, error)
            }
            Ok(None) => page(&req, &state, &active, None, Some("There is no such app waiting to be confirmed.")),
            Err(e) => PageError::server(e).render(&state.ui),
        },
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/account/mfa/recovery`: ten new codes, shown once.
pub async fn recovery_codes(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, _) = match confirmed(&req, &state, &body).await {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    match state.mfa().new_recovery_codes(&active.user, state.clock.now()) {
        Ok(codes) => render(&req, &state, &active, StatusCode::OK, "account_mfa_codes.html", json!({ "codes": codes })),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/account/mfa/remove`: one factor, by id.
pub async fn remove(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match confirmed(&req, &state, &body).await {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    match state.mfa().remove(&active.user, params.get("id").unwrap_or_default(), state.clock.now()) {
        Ok(true) => done("removed"),
        Ok(false) => page(&req, &state, &active, None, Some("There is no such factor among yours.")),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}
