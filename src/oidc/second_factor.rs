//! The second step of a sign-in. After the password, a user who has a
//! second factor is asked for a code (`/login/code`: TOTP, or a recovery
//! code); one who needs a factor (policy, or `acr_values=mfa`) but has none
//! sets up an authenticator app on the spot (`/login/enroll`), or is
//! refused if the administrator chose so. The request waits parked under a
//! fresh id at its step (`SignInStep::AwaitingCode` or `AwaitingEnrollment`,
//! naming the user whose password was right and their epoch); each route
//! here accepts only its step (see `interaction`); codes are throttled
//! (see `mfa`).

use super::complete::complete;
use super::interaction::{self, At, Refused, SignInRoute, expired};
use super::known_browser;
use super::params::{Params, require_form};
use crate::config::WithoutFactor;
use crate::crypto::totp;
use crate::http::RequestView;
use crate::http::{Answer, AppState, on_pool};
use crate::mfa::{AMR_MFA, AMR_OTP, Checked};
use crate::store::{Interaction, SignInStep, StoreError, User};
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

/// None: the password is enough. The application whose rules apply is
/// the authorization request's, the proxy application's or the device's.
pub fn needed(state: &AppState, signing_in: &Interaction, user: &User) -> Result<Option<Step>, StoreError> {
    if state.mfa().has_second_factor(user)? {
        return Ok(Some(Step::Code));
    }
    let published = state.published();
    let request = signing_in.request.as_ref();
    let app = signing_in.client_id().and_then(|c| published.by_client_id(c.as_str()));
    let asked = request.is_some_and(|r| r.acr_mfa);
    if !crate::mfa::required(&state.config.mfa, &state.store, app.map(|a| &a.app), user, asked)? {
        return Ok(None);
    }
    Ok(Some(match state.config.mfa.without_factor {
        WithoutFactor::Enroll => Step::Enroll,
        WithoutFactor::Refuse => Step::Refuse,
    }))
}

/// A factor is needed, the user has none, and the administrator chose
/// not to let them set one up here.
pub fn refuse(state: &AppState, ended: &Interaction) -> HttpResponse {
    // Where the account page itself needs a factor (the global policy,
    // a group's), only an administrator can change things.
    let way_out = if ended.request.is_some() {
        "Set one up on your ferrid account page first, or ask the administrator."
    } else {
        "Ask the administrator: they can exempt this account or let it set one up."
    };
    PageError::forbidden(
        "A second factor is needed",
        format!(
            "Signing in here needs a code from an authenticator app as well as your password, and this account \
             has none. {way_out}"
        ),
    )
    .render(&state.ui)
}

fn app_name(state: &AppState, interaction: &Interaction) -> Option<String> {
    let client_id = interaction.client_id()?;
    state.published().by_client_id(client_id.as_str()).map(|a| a.app.name.clone())
}

/// The code page. It offers the user's passkeys too: a fresh challenge,
/// which waits in the parked step (`passkey_challenge`).
fn code_page(state: &AppState, at: &At, user: &User, csrf: &str, error: Option<&str>) -> HttpResponse {
    let context = json!({
        "username": user.username,
        "app_name": app_name(state, at),
        "tx": at.tx,
        "csrf_token": csrf,
        "error": error,
        "guessed": state.mfa().guessing_notice(user, state.clock.now()),
        "webauthn_options": offered_passkeys(at).map(crate::ui::json_in_html),
    });
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    // Success redirects the browser to the client: a form target.
    let target = interaction::form_target(at);
    state.ui.page(status, "login_code.html", &context, target.as_deref())
}

/// The options of the passkey challenge parked with the code step.
fn offered_passkeys(at: &At) -> Option<&serde_json::Value> {
    match &at.step {
        SignInStep::AwaitingCode { passkey_challenge: Some(offer), .. } => offer.get("options"),
        _ => None,
    }
}

/// Offers the user's passkeys: a fresh challenge, parked with the step
/// (with the options the page shows, so a form re-shown after a wrong
/// code offers the same challenge).
fn offer_passkeys(state: &AppState, at: &mut At, user: &User) -> Result<(), Refused> {
    let Some(passkeys) = &state.passkeys else { return Ok(()) };
    let SignInStep::AwaitingCode { user: sub, epoch, .. } = at.step else { return Err(Refused::Expired) };
    let offered = passkeys.start_authentication(&state.store, user).map_err(|e| Refused::Server(e.to_string()))?;
    let Some((options, challenge)) = offered else { return Ok(()) };
    let offer = json!({ "options": options, "challenge": challenge });
    at.update(state, SignInStep::AwaitingCode { user: sub, epoch, passkey_challenge: Some(offer) })
}

/// The form's fields: form-encoded, and a sign-in parked at the step
/// `route` accepts, from this browser.
fn checked(
    req: &RequestView,
    state: &AppState,
    body: &[u8],
    route: SignInRoute,
) -> Result<(Params, At, User), Box<HttpResponse>> {
    if require_form(req).is_err() {
        return Err(Box::new(
            PageError::bad_request("Bad request", "The form was not form-encoded.").render(&state.ui),
        ));
    }
    let Ok(params) = Params::parse(body) else { return Err(Box::new(expired(state))) };
    let tx = params.get("tx").unwrap_or_default();
    let at = interaction::at(req, state, route, tx, Some(params.get("csrf_token").unwrap_or_default()))
        .map_err(|r| Box::new(r.page(state)))?;
    let user = at.user().map_err(|r| Box::new(r.page(state)))?.clone();
    Ok((params, at, user))
}

/// A GET of a second-step page: the sign-in parked at the step `route`
/// accepts, shown only to the browser it was parked for.
fn shown(req: &RequestView, state: &AppState, route: SignInRoute) -> Result<(At, User, String), Box<HttpResponse>> {
    let Ok(params) = Params::parse(req.query_string().as_bytes()) else { return Err(Box::new(expired(state))) };
    let tx = params.get("tx").unwrap_or_default();
    let at = interaction::at(req, state, route, tx, None).map_err(|r| Box::new(r.page(state)))?;
    let user = at.user().map_err(|r| Box::new(r.page(state)))?.clone();
    let csrf = super::session::CookieName::Csrf.value(req, state).unwrap_or_default();
    Ok((at, user, csrf))
}

/// Ends the parked sign-in (once) and completes it; `factor` is what the
/// second factor showed (`otp`; a passkey's `passkeys::methods_of`).
fn finish(req: &RequestView, state: &AppState, at: At, user: &User, factor: &[String]) -> HttpResponse {
    let amr = [super::complete::first_factor_amr(&at).as_slice(), factor, &[AMR_MFA.to_owned()]].concat();
    match at.finish(state) {
        Ok(interaction) => complete(state, req, interaction, user, amr),
        Err(refused) => refused.page(state),
    }
}

pub async fn show_code(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_code_now(req, state)).await
}

fn show_code_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    let (mut at, user, csrf) = match shown(req, &state, SignInRoute::ShowCode) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    if let Err(refused) = offer_passkeys(&state, &mut at, &user) {
        return refused.page(&state);
    }
    code_page(&state, &at, &user, &csrf, None)
}

pub async fn submit_code(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| submit_code_now(req, body, state)).await
}

fn submit_code_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> Answer {
    let (params, at, user) = match checked(req, &state, &body, SignInRoute::SubmitCode) {
        Ok(ok) => ok,
        Err(page) => return (*page).into(),
    };
    let now = state.clock.now();
    let device = match known_browser::known(req, &state, Some(&user), now) {
        Ok(device) => device,
        Err(e) => return PageError::server(e).render(&state.ui).into(),
    };
    let (ip, _) = crate::http::client_of(req, &state);
    let address = ip.unwrap_or_default();
    let code = params.get("code").unwrap_or_default().to_owned();
    let client = match device.as_deref() {
        Some(id) => Client::Known(id),
        None => Client::Unknown(&address),
    };
    match state.mfa().check(&user, &code, client, &address, now) {
        Ok(Checked::Totp) => finish(req, &state, at, &user, &[AMR_OTP.to_owned()]).into(),
        Ok(Checked::Recovery { left }) => {
            recovery_used(&state, finish(req, &state, at, &user, &[AMR_OTP.to_owned()]), left).into()
        }
        Ok(Checked::Refused { delay }) => {
            let csrf = params.get("csrf_token").unwrap_or_default();
            Answer::from(code_page(&state, &at, &user, csrf, Some("That code is wrong, used or expired."))).after(delay)
        }
        Err(e) => PageError::server(e).render(&state.ui).into(),
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

/// Setting up a factor at sign-in is for a user who has none: one who
/// has a factor (perhaps added since the password) is asked for it instead.
fn still_without_factor(state: &AppState, user: &User) -> Result<(), Box<HttpResponse>> {
    match state.mfa().has_second_factor(user) {
        Ok(false) => Ok(()),
        Ok(true) => Err(Box::new(expired(state))),
        Err(e) => Err(Box::new(PageError::server(e).render(&state.ui))),
    }
}

pub async fn show_enroll(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_enroll_now(req, state)).await
}

fn show_enroll_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    let (mut at, user, csrf) = match shown(req, &state, SignInRoute::ShowEnroll) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    if let Err(page) = still_without_factor(&state, &user) {
        return *page;
    }
    let SignInStep::AwaitingEnrollment { user: sub, epoch, factor } = at.step.clone() else { return expired(&state) };
    let mfa = state.mfa();
    // One enrollment per parked sign-in: a reload shows the same seed.
    let seed = match factor.as_deref().map(|id| mfa.pending_seed(&user, id)) {
        Some(Ok(Some(seed))) => seed,
        Some(Err(e)) => return PageError::server(e).render(&state.ui),
        _ => {
            let enrollment = match mfa.start_totp(&user, "Authenticator app", state.clock.now()) {
                Ok(enrollment) => enrollment,
                Err(e) => return PageError::server(e).render(&state.ui),
            };
            let step = SignInStep::AwaitingEnrollment { user: sub, epoch, factor: Some(enrollment.id.clone()) };
            if let Err(refused) = at.update(&state, step) {
                // Someone moved the sign-in first: the seed shown to no one goes.
                let _ = mfa.remove(&user, &enrollment.id, state.clock.now());
                return refused.page(&state);
            }
            enrollment.seed
        }
    };
    enroll_page(&state, &at, &user, &csrf, &seed, None)
}

fn enroll_page(state: &AppState, at: &At, user: &User, csrf: &str, seed: &[u8], error: Option<&str>) -> HttpResponse {
    let uri = totp::otpauth_uri("ferrid", user.username.as_str(), seed);
    let context = json!({
        "app_name": app_name(state, at),
        "qr_svg": crate::ui::qr_svg(&uri),
        "secret": totp::base32(seed),
        "tx": at.tx,
        "csrf_token": csrf,
        "error": error,
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let target = interaction::form_target(at);
    state.ui.page(status, "login_enroll.html", &context, target.as_deref())
}

pub async fn submit_enroll(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| submit_enroll_now(req, body, state)).await
}

fn submit_enroll_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (params, at, user) = match checked(req, &state, &body, SignInRoute::SubmitEnroll) {
        Ok(ok) => ok,
        Err(page) => return *page,
    };
    if let Err(page) = still_without_factor(&state, &user) {
        return *page;
    }
    let SignInStep::AwaitingEnrollment { factor: Some(id), .. } = at.step.clone() else { return expired(&state) };
    let mfa = state.mfa();
    let now = state.clock.now();
    match mfa.confirm_totp(&user, &id, params.get("code").unwrap_or_default(), now) {
        Ok(true) => finish(req, &state, at, &user, &[AMR_OTP.to_owned()]),
        Ok(false) => match mfa.pending_seed(&user, &id) {
            Ok(Some(seed)) => {
                let csrf = params.get("csrf_token").unwrap_or_default();
                let error = Some("That code does not match. Check the app's clock and try the newest code.");
                enroll_page(&state, &at, &user, csrf, &seed, error)
            }
            Ok(None) => expired(&state),
            Err(e) => PageError::server(e).render(&state.ui),
        },
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/login/passkey`: the browser's assertion for the challenge the code
/// page offered. A replay finds the sign-in ended (or the challenge
/// changed); another user's key is not among those offered.
pub async fn submit_passkey(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| submit_passkey_now(req, body, state)).await
}

fn submit_passkey_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (params, at, user) = match checked(req, &state, &body, SignInRoute::SubmitPasskey) {
        Ok(ok) => ok,
        Err(page) => return *page,
    };
    let challenge = match &at.step {
        SignInStep::AwaitingCode { passkey_challenge: Some(offer), .. } => offer.get("challenge").cloned(),
        _ => None,
    };
    let (Some(_), Some(challenge)) = (&state.passkeys, challenge) else {
        return expired(&state);
    };
    let now = state.clock.now();
    let answer = params.get("credential").unwrap_or_default().to_owned();
    let verified = match &state.passkeys {
        Some(passkeys) => passkeys.finish_authentication(&state.store, &user, &challenge, &answer, now),
        None => Ok(Err(crate::passkeys::Refused("Passkeys are off.".into()))),
    };
    match verified {
        Ok(Ok(methods)) => finish(req, &state, at, &user, &methods),
        Ok(Err(refused)) => {
            let csrf = params.get("csrf_token").unwrap_or_default();
            code_page(&state, &at, &user, csrf, Some(&refused.to_string()))
        }
        Err(e) => PageError::server(e).render(&state.ui),
    }
}
