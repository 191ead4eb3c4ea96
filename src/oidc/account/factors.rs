//! `/account/mfa`: a signed-in user's second factors. Adding an
//! authenticator app, making recovery codes and removing a factor each ask
//! for the current password (checked as at sign-in), so that a session
//! someone else got hold of cannot change how the account signs in.

use super::super::params::Params;
use super::reauth::{self, Gate};
use super::{checked_form, render, signed_in};
use crate::crypto::totp;
use crate::http::RequestView;
use crate::http::{AppState, on_pool};
use crate::passkeys::Removal;
use crate::sessions::{ActiveSession, EndReason};
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

const WRONG_PASSWORD: &str = "The current password is wrong. Nothing was changed.";

fn page(
    req: &RequestView,
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
                "created": f.created_at,
                "last_used": f.last_used_at,
                "signs_in_alone": f.discoverable,
            })
        })
        .collect();
    let signs_in_alone = match crate::passkeys::signs_in_alone(&state.store, &active.user, None) {
        Ok(alone) => alone,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    // A first factor just added and no recovery codes yet: offer them now,
    // before the phone is lost.
    let has_codes = state.mfa().list(&active.user).map(|all| all.iter().any(|f| f.kind == "recovery_codes"));
    let offer_recovery = notice == Some(TOTP_ADDED) && !has_codes.unwrap_or(true);
    let context = json!({
        "factors": factors,
        "notice": notice,
        "error": error,
        "passkeys": state.passkeys.is_some(),
        "offer_recovery": offer_recovery,
        "has_password": active.user.has_password(),
        "passwordless_ready": signs_in_alone,
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    render(req, state, active, status, "account_mfa.html", context)
}

const TOTP_ADDED: &str = "Authenticator app added: sign-ins now ask for its code.";

fn done(what: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{}?done={what}", crate::paths::ACCOUNT_MFA)))
        .finish()
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_now(req, state)).await
}

fn show_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    let active = match signed_in(req, &state) {
        Ok(active) => active,
        Err(response) => return *response,
    };
    let notice = match Params::parse(req.query_string().as_bytes()).ok().and_then(|p| p.get("done").map(str::to_owned))
    {
        Some(done) if done == "totp" => Some(TOTP_ADDED),
        Some(done) if done == "removed" => Some("Removed."),
        Some(done) if done == "passkey" => Some("Passkey added: sign-ins can use it instead of a code."),
        Some(done) if done == "setup-passkey" => {
            Some("Welcome: add your passkey below. Until you do, or set a password, you cannot sign in again.")
        }
        Some(done) if done == "password" => Some(PASSWORD_REMOVED),
        _ => None,
    };
    page(req, &state, &active, notice, None)
}

/// A form that changes the factors: checked, and through the
/// re-authentication gate (a password typed into the form counts for a
/// user without a second factor).
fn confirmed(req: &RequestView, state: &AppState, body: &[u8]) -> Result<(ActiveSession, Params), Box<HttpResponse>> {
    let (active, params) = checked_form(req, body, state)?;
    let typed = params.get("current_password");
    match reauth::gate(req, state, &active, typed, crate::paths::ACCOUNT_MFA)? {
        Gate::Open => Ok((active, params)),
        Gate::WrongPassword => Err(Box::new(page(req, state, &active, None, Some(WRONG_PASSWORD)))),
        Gate::Confirm(response) => Err(response),
    }
}

/// `/account/mfa/totp`: a new seed, shown as a QR code until the first code confirms it.
pub async fn add_totp(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| add_totp_now(req, body, state)).await
}

fn add_totp_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match confirmed(req, &state, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let name = params.get("name").unwrap_or_default();
    match state.mfa().start_totp(&active.user, name, state.clock.now()) {
        Ok(enrollment) => enroll_page(req, &state, &active, &enrollment.id, &enrollment.seed, None),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

fn enroll_page(
    req: &RequestView,
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
    on_pool(&req, move |req| confirm_totp_now(req, body, state)).await
}

fn confirm_totp_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match checked_form(req, &body, &state) {
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
                enroll_page(req, &state, &active, id, &seed, error)
            }
            Ok(None) => page(req, &state, &active, None, Some("There is no such app waiting to be confirmed.")),
            Err(e) => PageError::server(e).render(&state.ui),
        },
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/account/mfa/recovery`: ten new codes, shown once.
pub async fn recovery_codes(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| recovery_codes_now(req, body, state)).await
}

fn recovery_codes_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, _) = match confirmed(req, &state, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    match state.mfa().new_recovery_codes(&active.user, state.clock.now()) {
        Ok(codes) => render(req, &state, &active, StatusCode::OK, "account_mfa_codes.html", json!({ "codes": codes })),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

const LAST_WAY_IN: &str = "This is your last passkey that signs in on its own, and your account has no password: \
                           without it you could not sign in. Add another passkey or set a password first.";
const NO_PASSKEY_ALONE: &str = "None of your passkeys is known to sign in on its own yet. Sign in once with \
                                \"Sign in with a passkey\" on the sign-in page, then remove the password.";
const CHANGED_MEANWHILE: &str = "Your account changed while this was being done (a passkey used, a factor removed): nothing was changed. Try again.";
const PASSWORD_REMOVED: &str =
    "Password removed: you sign in with a passkey from now on. Your other sessions are signed out.";

/// `/account/mfa/remove`: one factor, by id. Not the last passkey of an
/// account without a password (`passkeys::remove_factor`).
pub async fn remove(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| remove_now(req, body, state)).await
}

fn remove_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match confirmed(req, &state, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let id = params.get("id").unwrap_or_default();
    match crate::passkeys::remove_factor(&state.store, &active.user.sub, id, state.clock.now()) {
        Ok(Removal::Removed) => done("removed"),
        Ok(Removal::LastWayIn) => page(req, &state, &active, None, Some(LAST_WAY_IN)),
        Ok(Removal::NoSuchFactor) => page(req, &state, &active, None, Some("There is no such factor among yours.")),
        Ok(Removal::Busy) => page(req, &state, &active, None, Some(CHANGED_MEANWHILE)),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// How long the browser has to answer a passkey registration.
const CEREMONY_LIFETIME: i64 = 300;

/// `/account/mfa/passkey`: the options for the browser to make a key.
pub async fn add_passkey(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| add_passkey_now(req, body, state)).await
}

fn add_passkey_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match confirmed(req, &state, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let Some(passkeys) = &state.passkeys else {
        return page(req, &state, &active, None, Some("Passkeys need ferrid served under a host name."));
    };
    let started = passkeys.start_registration(&state.store, &active.user).map_err(|e| e.to_string()).and_then(
        |(options, ceremony_state)| {
            let id = crate::crypto::secrets::random_token().map_err(|e| e.to_string())?;
            let ceremony = crate::store::Ceremony {
                sub: Some(active.user.sub),
                session: Some(active.sid()),
                name: params.get("name").unwrap_or_default().to_owned(),
                state: ceremony_state,
                expires_at: state.clock.now() + CEREMONY_LIFETIME,
            };
            state.store.put_ceremony(&id, &ceremony).map_err(|e| e.to_string())?;
            Ok((id, options))
        },
    );
    match started {
        Ok((id, options)) => {
            let context = json!({ "ceremony": id, "options": crate::ui::json_in_html(&options) });
            render(req, &state, &active, StatusCode::OK, "account_mfa_passkey.html", context)
        }
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/account/mfa/passkey/finish`: the browser's new key. The ceremony must
/// be this session's (not another user's, nor another session of the
/// same user), unexpired, and is used once.
pub async fn finish_passkey(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| finish_passkey_now(req, body, state)).await
}

fn finish_passkey_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match checked_form(req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let Some(passkeys) = &state.passkeys else { return page(req, &state, &active, None, Some("Passkeys are off.")) };
    let now = state.clock.now();
    let ceremony = match state.store.take_ceremony(params.get("ceremony").unwrap_or_default()) {
        Ok(Some(c)) if c.sub == Some(active.user.sub) && c.session == Some(active.sid()) && c.expires_at > now => c,
        Ok(_) => {
            let error = "That passkey request has expired or is not yours. Nothing was changed; start again.";
            return page(req, &state, &active, None, Some(error));
        }
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let answer = params.get("credential").unwrap_or_default();
    match passkeys.finish_registration(&state.store, &active.user, &ceremony.name, &ceremony.state, answer, now) {
        Ok(Ok(())) => done("passkey"),
        Ok(Err(refused)) => page(req, &state, &active, None, Some(&refused.to_string())),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/account/password/remove`: an account with a passkey known to sign in
/// on its own may do without a password, through the re-authentication
/// gate (a session that proved a factor lately). Its other sessions and
/// refresh families end, as after a password change.
pub async fn remove_password(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| remove_password_now(req, body, state)).await
}

fn remove_password_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, _) = match confirmed(req, &state, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    if !active.user.has_password() {
        return page(req, &state, &active, None, Some("This account has no password."));
    }
    // The key that stays must still be there when the password goes (a
    // removal of it at the same moment loses, or this does).
    let keeps = match crate::passkeys::one_that_signs_in_alone(&state.store, &active.user, None) {
        Ok(Some(keeps)) => keeps,
        Ok(None) => return page(req, &state, &active, None, Some(NO_PASSKEY_ALONE)),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let user = match state.sign_in().remove_own_password(&active.user, &keeps, state.clock.now()) {
        Ok(Some(user)) => user,
        Ok(None) => return page(req, &state, &active, None, Some(CHANGED_MEANWHILE)),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    match state.sessions().keep_only(&active.key, &user, EndReason::PasswordSet) {
        Ok(_) => {
            state.logout_outbox.notify_one();
            tracing::info!(user = %active.user.username, "password removed by the user");
            done("password")
        }
        Err(e) => PageError::server(e).render(&state.ui),
    }
}
