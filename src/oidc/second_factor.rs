//! The second step of a sign-in. After the password, a user who has a
//! second factor is asked for a code (`/login/code`: TOTP, or a recovery
//! code); one who needs a factor (policy, or `acr_values=mfa`) but has none
//! sets up an authenticator app on the spot (`/login/enroll`), or is
//! refused if the administrator chose so. The request waits parked under a
//! fresh id, marked with the user whose password was right; the forms carry
//! the browser's CSRF token; codes are throttled (see `mfa`).

use super::device;
use super::interaction::{self, Parked};
use super::login::{complete, expired};
use super::params::{Params, require_form};
use crate::config::WithoutFactor;
use crate::crypto::totp;
use crate::http::AppState;
use crate::mfa::{AMR_MFA, AMR_OTP, AMR_PASSWORD, Checked};
use crate::store::{Interaction, StoreError, User};
use crate::throttle::Client;
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

/// What the sign-in needs after the password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Code,
    Enroll,
    Refuse,
}

/// None: the password is enough.
pub fn needed(state: &AppState, interaction: &Interaction, user: &User) -> Result<Option<Step>, StoreError> {
    if state.mfa().has_second_factor(user)? {
        return Ok(Some(Step::Code));
    }
    let published = state.published();
    let request = interaction.request.as_ref();
    let app = request.and_then(|r| published.by_client_id(r.client_id.as_str()));
    let asked = request.is_some_and(|r| r.acr_mfa);
    if !crate::mfa::required(&state.config.mfa, &state.store, app.map(|a| &a.app), user, asked)? {
        return Ok(None);
    }
    Ok(Some(match state.config.mfa.without_factor {
        WithoutFactor::Enroll => Step::Enroll,
        WithoutFactor::Refuse => Step::Refuse,
    }))
}

/// Parks the request for the second step and sends the browser there.
pub fn ask(req: &HttpRequest, state: &AppState, waiting: Interaction, user: &User, step: Step) -> HttpResponse {
    if step == Step::Refuse {
        // Where the account page itself needs a factor (the global policy,
        // a group's), only an administrator can change things.
        let way_out = if waiting.request.is_some() {
            "Set one up on your ferrid account page first, or ask the administrator."
        } else {
            "Ask the administrator: they can exempt this account or let it set one up."
        };
        return PageError::forbidden(
            "A second factor is needed",
            format!(
                "Signing in here needs a code from an authenticator app as well as your password, and this account \
                 has none. {way_out}"
            ),
        )
        .render(&state.ui);
    }
    let parked = interaction::park_interaction(req, state, |csrf| Interaction {
        request: waiting.request,
        consent_for: None,
        password_ok: Some(user.sub),
        enrolling: None,
        webauthn: None,
        return_to: waiting.return_to,
        csrf,
        expires_at: state.clock.now() + interaction::LIFETIME,
    });
    let path = if step == Step::Code { crate::paths::LOGIN_CODE } else { crate::paths::LOGIN_ENROLL };
    match parked {
        Ok(parked) => Parked::redirect_to(parked, path),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// The parked request `tx` names at its second step, and its user (who
/// must still exist and be enabled).
fn waiting(state: &AppState, tx: &str) -> Result<Option<(Interaction, User)>, StoreError> {
    let Some(interaction) = interaction::pending(state, Some(tx))? else { return Ok(None) };
    let Some(sub) = interaction.password_ok else { return Ok(None) };
    match state.store.user_by_sub(&sub)? {
        Some(user) if !user.disabled => Ok(Some((interaction, user))),
        _ => Ok(None),
    }
}

fn app_name(state: &AppState, interaction: &Interaction) -> Option<String> {
    let request = interaction.request.as_ref()?;
    state.published().by_client_id(request.client_id.as_str()).map(|a| a.app.name.clone())
}

/// The code page. It offers the user's passkeys too: a fresh challenge,
/// whose state waits in the parked request (`webauthn`).
fn code_page(
    state: &AppState,
    interaction: &Interaction,
    user: &User,
    tx: &str,
    csrf: &str,
    error: Option<&str>,
) -> HttpResponse {
    let options = match offer_passkeys(state, interaction, user, tx) {
        Ok(options) => options,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let context = json!({
        "username": user.username,
        "app_name": app_name(state, interaction),
        "tx": tx,
        "csrf_token": csrf,
        "error": error,
        "webauthn_options": options.map(|o| crate::ui::json_in_html(&o)),
    });
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    // Success redirects the browser to the client: a form target.
    let target = interaction.request.as_ref().map(|r| r.redirect_uri.origin());
    state.ui.page(status, "login_code.html", &context, target.as_deref())
}

fn offer_passkeys(
    state: &AppState,
    interaction: &Interaction,
    user: &User,
    tx: &str,
) -> Result<Option<serde_json::Value>, String> {
    let Some(passkeys) = &state.passkeys else { return Ok(None) };
    let offered = passkeys.start_authentication(&state.store, user).map_err(|e| e.to_string())?;
    let Some((options, challenge)) = offered else { return Ok(None) };
    let mut parked = interaction.clone();
    parked.webauthn = Some(challenge);
    state.store.put_interaction(tx, &parked).map_err(|e| e.to_string())?;
    Ok(Some(options))
}

/// The form's fields, checked: form-encoded, a parked second step, and
/// this browser's CSRF token.
fn checked(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<(Params, String, Interaction, User), Box<HttpResponse>> {
    if require_form(req).is_err() {
        return Err(Box::new(
            PageError::bad_request("Bad request", "The form was not form-encoded.").render(&state.ui),
        ));
    }
    let Ok(params) = Params::parse(body) else { return Err(Box::new(expired(state))) };
    let tx = params.get("tx").unwrap_or_default().to_owned();
    let (interaction, user) = match waiting(state, &tx) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(Box::new(expired(state))),
        Err(e) => return Err(Box::new(PageError::server(e).render(&state.ui))),
    };
    if !interaction::csrf_matches(req, state, params.get("csrf_token").unwrap_or_default(), &interaction.csrf) {
        return Err(Box::new(
            PageError::forbidden("Sign-in refused", "This form did not come from this browser's sign-in page.")
                .render(&state.ui),
        ));
    }
    Ok((params, tx, interaction, user))
}

/// Takes the parked request (once) and completes the sign-in; `factor` is
/// the second factor's method (`otp`, `hwk`).
fn finish(req: &HttpRequest, state: &AppState, tx: &str, user: &User, factor: &str) -> HttpResponse {
    let amr = [AMR_PASSWORD, factor, AMR_MFA].map(str::to_owned).to_vec();
    match state.store.take_interaction(tx) {
        Ok(Some(interaction)) => complete(state, req, interaction, user, amr),
        Ok(None) => expired(state),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

pub async fn show_code(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Ok(params) = Params::parse(req.query_string().as_bytes()) else { return expired(&state) };
    let tx = params.get("tx").unwrap_or_default();
    let (interaction, user) = match waiting(&state, tx) {
        Ok(Some(found)) => found,
        Ok(None) => return expired(&state),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let Some(csrf) = super::session::CookieName::Csrf.value(&req, &state) else { return expired(&state) };
    code_page(&state, &interaction, &user, tx, &csrf, None)
}

pub async fn submit_code(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (params, tx, interaction, user) = match checked(&req, &state, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let now = state.clock.now();
    let device = match device::known(&req, &state, Some(&user), now) {
        Ok(device) => device,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let (ip, _) = crate::http::client_of(&req);
    let address = ip.unwrap_or_default();
    let code = params.get("code").unwrap_or_default().to_owned();
    // A right code is marked used with an fsync (10-50 ms on an SD card):
    // on the blocking pool, not the worker that serves other connections.
    let (shared, checked_user) = (state.clone(), user.clone());
    let checked = crate::http::off_thread(move || {
        let client = match device.as_deref() {
            Some(id) => Client::Known(id),
            None => Client::Unknown(&address),
        };
        shared.mfa().check(&checked_user, &code, client, &address, now)
    })
    .await
    .unwrap_or(Err(crate::mfa::MfaError::Pool));
    match checked {
        Ok(Checked::Totp) => finish(&req, &state, &tx, &user, AMR_OTP),
        Ok(Checked::Recovery { left }) => recovery_used(&state, finish(&req, &state, &tx, &user, AMR_OTP), left),
        Ok(Checked::Refused { delay }) => {
            actix_web::rt::time::sleep(delay).await;
            let csrf = params.get("csrf_token").unwrap_or_default();
            code_page(&state, &interaction, &user, &tx, csrf, Some("That code is wrong, used or expired."))
        }
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// After a recovery code: a page that says how many are left, whose
/// "Continue" goes where the sign-in was going (its cookies kept).
fn recovery_used(state: &AppState, onward: HttpResponse, left: usize) -> HttpResponse {
    let Some(next) = onward.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned) else {
        return onward;
    };
    let mut page = state.ui.page(StatusCode::OK, "recovery_used.html", &json!({ "left": left, "next": next }), None);
    for cookie in onward.cookies() {
        let _ = page.add_cookie(&cookie.into_owned());
    }
    page
}

pub async fn show_enroll(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Ok(params) = Params::parse(req.query_string().as_bytes()) else { return expired(&state) };
    let tx = params.get("tx").unwrap_or_default();
    let (mut interaction, user) = match waiting(&state, tx) {
        Ok(Some(found)) => found,
        Ok(None) => return expired(&state),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let Some(csrf) = super::session::CookieName::Csrf.value(&req, &state) else { return expired(&state) };
    let now = state.clock.now();
    let mfa = state.mfa();
    // One enrollment per parked sign-in: a reload shows the same seed.
    let seed = match interaction.enrolling.as_deref().map(|id| mfa.pending_seed(&user, id)) {
        Some(Ok(Some(seed))) => Ok(seed),
        Some(Err(e)) => Err(e),
        _ => mfa.start_totp(&user, "Authenticator app", now).and_then(|enrollment| {
            interaction.enrolling = Some(enrollment.id);
            state.store.put_interaction(tx, &interaction)?;
            Ok(enrollment.seed)
        }),
    };
    match seed {
        Ok(seed) => enroll_page(&state, &interaction, &user, tx, &csrf, &seed, None),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

fn enroll_page(
    state: &AppState,
    interaction: &Interaction,
    user: &User,
    tx: &str,
    csrf: &str,
    seed: &[u8],
    error: Option<&str>,
) -> HttpResponse {
    let uri = totp::otpauth_uri("ferrid", user.username.as_str(), seed);
    let context = json!({
        "app_name": app_name(state, interaction),
        "qr_svg": crate::ui::qr_svg(&uri),
        "secret": totp::base32(seed),
        "tx": tx,
        "csrf_token": csrf,
        "error": error,
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let target = interaction.request.as_ref().map(|r| r.redirect_uri.origin());
    state.ui.page(status, "login_enroll.html", &context, target.as_deref())
}

pub async fn submit_enroll(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (params, tx, interaction, user) = match checked(&req, &state, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let Some(id) = interaction.enrolling.clone() else { return expired(&state) };
    let mfa = state.mfa();
    let now = state.clock.now();
    match mfa.confirm_totp(&user, &id, params.get("code").unwrap_or_default(), now) {
        Ok(true) => finish(&req, &state, &tx, &user, AMR_OTP),
        Ok(false) => match mfa.pending_seed(&user, &id) {
            Ok(Some(seed)) => {
                let csrf = params.get("csrf_token").unwrap_or_default();
                let error = Some("That code does not match. Check the app's clock and try the newest code.");
                enroll_page(&state, &interaction, &user, &tx, csrf, &seed, error)
            }
            Ok(None) => expired(&state),
            Err(e) => PageError::server(e).render(&state.ui),
        },
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/login/passkey`: the browser's assertion for the challenge the code
/// page offered. A replay finds the request taken (or the challenge
/// changed); another user's key is not among those offered.
pub async fn submit_passkey(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (params, tx, interaction, user) = match checked(&req, &state, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let (Some(_), Some(challenge)) = (&state.passkeys, interaction.webauthn.clone()) else {
        return expired(&state);
    };
    let now = state.clock.now();
    let answer = params.get("credential").unwrap_or_default().to_owned();
    // An ES256 check and a durable counter update (bench: 0.76 ms; an
    // fsync is 10-50 ms on an SD card): on the blocking pool.
    let (shared, checked_user) = (state.clone(), user.clone());
    let verified = crate::http::off_thread(move || match &shared.passkeys {
        Some(passkeys) => passkeys.finish_authentication(&shared.store, &checked_user, &challenge, &answer, now),
        None => Ok(Err(crate::passkeys::Refused("Passkeys are off.".into()))),
    })
    .await;
    let verified = match verified {
        Ok(verified) => verified,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    match verified {
        Ok(Ok(())) => finish(&req, &state, &tx, &user, crate::mfa::AMR_HARDWARE_KEY),
        Ok(Err(refused)) => {
            let csrf = params.get("csrf_token").unwrap_or_default();
            code_page(&state, &interaction, &user, &tx, csrf, Some(&refused.to_string()))
        }
        Err(e) => PageError::server(e).render(&state.ui),
    }
}
