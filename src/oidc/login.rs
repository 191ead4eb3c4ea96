//! `/login`: the sign-in form of a pending authorization request, with a
//! username and password, or a passkey alone (`/login/with-passkey`: the
//! page offers a challenge for any of the site's passkeys the browser
//! holds, in the username field's autofill and behind a button).
//!
//! CSRF: the form carries a token that must equal the browser's
//! `ferrid_csrf` cookie and hash to the digest stored with the request, so a
//! forged cross-site POST (login CSRF) fails. Failures say only "wrong
//! username or password", whatever the reason (an account without a
//! password included); a refused passkey says only that it was refused.

use super::complete::{complete, first_factor_amr};
use super::interaction::{self, At, SignInRoute, expired};
use super::known_browser;
use super::params::{Params, require_form};
use super::second_factor;
use super::session::CookieName;
use crate::http::RequestView;
use crate::http::{Answer, AppState, answer_on_pool, on_pool};
use crate::metrics::SignInOutcome;
use crate::passkeys::SignInOutcome as PasskeySignIn;
use crate::signin::{Attempt, Outcome};
use crate::store::{Interaction, SignInStep, User};
use crate::ui::PageError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

const GENERIC_FAILURE: &str = "Wrong username or password.";
const PASSKEYS_OFF: &str =
    "Passkeys are off here: this server is reached by IP address, and passkeys need a host name. Use your password.";

fn form(
    state: &AppState,
    interaction: &Interaction,
    tx: &str,
    csrf: &str,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let published = state.published();
    if interaction.reauth.is_some() {
        return reauth_form(state, interaction, tx, csrf, error);
    }
    let (name, target) = match &interaction.request {
        Some(request) => match published.by_client_id(request.client_id.as_str()) {
            Some(app) => (app.app.name.clone(), interaction::form_target(interaction)),
            None => return expired(state),
        },
        None => {
            // A proxy or device sign-in names the application it is for.
            let site = interaction.client_id().and_then(|c| published.by_client_id(c.as_str()));
            let console = interaction.return_to.as_deref().is_some_and(|r| r.starts_with(crate::paths::ADMIN));
            let own = if console { "the ferrid admin console" } else { "your ferrid account" };
            let name = site.map_or_else(|| own.to_owned(), |app| app.app.name.clone());
            (name, interaction::form_target(interaction))
        }
    };
    let passkey_options = match offer_passkey(state, interaction, tx) {
        Ok(options) => options,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let context = json!({
        "app_name": name,
        "sources": offered_sources(state, interaction, None),
        "tx": tx,
        "csrf_token": csrf,
        "username": username,
        "error": error,
        "forgot": state.mailer.is_some(),
        "passkey_options": passkey_options,
    });
    // After sign-in the browser is redirected to the client, or to a
    // source: allow them as form targets.
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    state.ui.page(status, "login.html", &context, form_targets(state, target).as_deref())
}

/// The passkey sign-in the page offers (None when passkeys are off): a
/// fresh challenge, waiting in the store under this sign-in until it
/// expires, as JSON for the page.
fn offer_passkey(
    state: &AppState,
    interaction: &Interaction,
    tx: &str,
) -> Result<Option<String>, crate::passkeys::PasskeyError> {
    let Some(passkeys) = &state.passkeys else { return Ok(None) };
    let options = passkeys.offer_sign_in(&state.store, tx, interaction.expires_at)?;
    Ok(Some(crate::ui::json_in_html(&options)))
}

/// The sign-in form of a re-authentication: the signed-in user's name is
/// given, only the proof is asked.
fn reauth_form(state: &AppState, interaction: &Interaction, tx: &str, csrf: &str, error: Option<&str>) -> HttpResponse {
    let user = interaction.reauth.and_then(|sub| state.store.user_by_sub(&sub).ok().flatten());
    let Some(user) = user else { return expired(state) };
    let passkey_options = match offer_passkey(state, interaction, tx) {
        Ok(options) => options,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let sources = offered_sources(state, interaction, Some(&user));
    let context = json!({
        "app_name": "your ferrid account",
        "reauth": true,
        // Its owner knows it has none: no password form to confuse them.
        "passkey_only": !user.has_password() && passkey_options.is_some(),
        "no_password": !user.has_password() && (passkey_options.is_some() || !sources.is_empty()),
        "sources": sources,
        "tx": tx,
        "csrf_token": csrf,
        "username": user.username,
        "error": error,
        "passkey_options": passkey_options,
    });
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let targets = form_targets(state, interaction::form_target(interaction));
    state.ui.page(status, "login.html", &context, targets.as_deref())
}

/// Does the application this sign-in is for take sign-ins through `slug`?
/// (ferrid's own pages take every source.)
pub(super) fn takes_source(state: &AppState, signing_in: &crate::store::Interaction, slug: &str) -> bool {
    let published = state.published();
    match signing_in.client_id().and_then(|c| published.by_client_id(c.as_str())) {
        Some(app) => app.app.access.takes_source(Some(slug)),
        None => true,
    }
}

/// The page's form targets: `target` (the application) and the sources'.
pub(crate) fn form_targets(state: &AppState, target: Option<String>) -> Option<String> {
    let sources = state.sources.form_action_origins();
    match (target, sources.is_empty()) {
        (target, true) => target,
        (Some(target), false) => Some(format!("{target} {sources}")),
        (None, false) => Some(sources),
    }
}

/// The sources the sign-in page offers: those the application takes; for
/// a re-authentication, those that may confirm its user (`confirms`).
fn offered_sources(state: &AppState, interaction: &Interaction, user: Option<&User>) -> Vec<serde_json::Value> {
    state
        .sources
        .all()
        .filter(|s| takes_source(state, interaction, s.slug.as_str()))
        .filter(|s| user.is_none_or(|u| confirms(state, u, s)))
        .map(|s| json!({ "slug": s.slug.as_str(), "name": s.name }))
        .collect()
}

/// May `source` confirm it is `user` (a re-authentication)? Only one the
/// user is linked to; an OpenID provider is asked to sign them in anew
/// (`prompt=login`, `max_age=0`, its `auth_time` checked). GitHub cannot
/// be asked that (a GitHub session in the browser answers at once), so it
/// confirms only an account with no password and no passkey: one with
/// no other way to.
pub(super) fn confirms(state: &AppState, user: &User, source: &crate::config::SourceDecl) -> bool {
    if !user.identities.iter().any(|i| i.source == source.slug.as_str()) {
        return false;
    }
    match source.kind {
        crate::config::SourceKind::Oidc { .. } => true,
        crate::config::SourceKind::Github { .. } => {
            let passkey = state
                .store
                .factors_of(&user.sub)
                .map(|factors| factors.iter().any(|f| matches!(f.kind, crate::store::FactorKind::Passkey { .. })));
            !user.has_password() && matches!(passkey, Ok(false))
        }
    }
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_now(req, state)).await
}

fn show_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    let Ok(params) = Params::parse(req.query_string().as_bytes()) else { return expired(&state) };
    let tx = params.get("tx").unwrap_or_default();
    if CookieName::Csrf.value(req, &state).is_none() {
        return PageError::bad_request("Cookies required", "Signing in needs cookies for this site.").render(&state.ui);
    }
    let at = match interaction::at(req, &state, SignInRoute::ShowPassword, tx, None) {
        Ok(at) => at,
        Err(refused) => return refused.page(&state),
    };
    let csrf = CookieName::Csrf.value(req, &state).unwrap_or_default();
    form(&state, &at, tx, &csrf, "", None)
}

pub async fn submit(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    // The password check's turn, waited for here (see `PasswordTurns`).
    let Some(turn) = state.password_turns.take().await else {
        state.metrics.sign_in(SignInOutcome::Failed);
        return PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins at once",
            "ferrid is checking many passwords just now. Try again in a moment.",
        )
        .render(&state.ui);
    };
    let shared = state.clone();
    let answer = answer_on_pool(RequestView::of(&req), move |req| submit_now(req, &body, shared)).await;
    // A refused attempt's delay is waited without the turn.
    drop(turn);
    answer.send().await
}

fn submit_now(req: &RequestView, body: &[u8], state: web::Data<AppState>) -> Answer {
    let (params, at) = match posted(req, body, &state, SignInRoute::SubmitPassword) {
        Ok(posted) => posted,
        Err(page) => return (*page).into(),
    };
    let (tx, form_token) = (params.get("tx").unwrap_or_default(), params.get("csrf_token").unwrap_or_default());

    let raw_username = params.get("username").unwrap_or_default();
    let sign_in = state.sign_in();
    let user = match sign_in.lookup(raw_username) {
        // A re-authentication is for the user who asked: any other name
        // fails as an unknown one does (same bcrypt work, same answer).
        Ok(user) => user.filter(|u| at.reauth.is_none_or(|sub| sub == u.sub)),
        Err(e) => return PageError::server(e).render(&state.ui).into(),
    };
    // Is this a browser that signed in as this account before (its device cookie)?
    let device = match known_browser::known(req, &state, user.as_ref(), state.clock.now()) {
        Ok(device) => device,
        Err(e) => return PageError::server(e).render(&state.ui).into(),
    };
    let (ip, ua) = crate::http::client_of(req, &state);
    let attempt = Attempt {
        user,
        username: raw_username,
        password: params.get("password").unwrap_or_default().to_owned(),
        device: device.as_deref(),
        address: ip.as_deref().unwrap_or_default(),
        user_agent: ua.as_deref(),
        // The application asked for (a device's too); ferrid's own pages and
        // proxy sign-ins are audited as "ferrid", as before.
        app: at
            .request
            .as_ref()
            .map(|r| r.client_id.as_str())
            .or(at.device.as_ref().map(|d| d.client_id.as_str()))
            .unwrap_or("ferrid"),
        now: state.clock.now(),
    };
    let user = match sign_in.check(attempt) {
        Ok(Outcome::SignedIn(user)) => user,
        Ok(Outcome::Refused { delay }) => {
            state.metrics.sign_in(SignInOutcome::Failed);
            return Answer::from(form(&state, &at, tx, form_token, raw_username, Some(GENERIC_FAILURE))).after(delay);
        }
        Ok(Outcome::Disabled) => {
            state.metrics.sign_in(SignInOutcome::Failed);
            return disabled(&state, "password").into();
        }
        Err(e) => return PageError::server(e).render(&state.ui).into(),
    };
    first_factor_accepted(req, &state, at, &user).into()
}

/// A posted sign-in form's fields, and the parked request it is for at
/// `route`. CSRF: the form's token equals the cookie's, and it is the one
/// the request was started with (`interaction::at`).
pub(super) fn posted(
    req: &RequestView,
    body: &[u8],
    state: &AppState,
    route: SignInRoute,
) -> Result<(Params, At), Box<HttpResponse>> {
    let bad = |why: &'static str| Box::new(PageError::bad_request("Bad request", why).render(&state.ui));
    if require_form(req).is_err() {
        return Err(bad("The sign-in form was not form-encoded."));
    }
    let Ok(params) = Params::parse(body) else { return Err(bad("The sign-in form has too many fields.")) };
    let tx = params.get("tx").unwrap_or_default();
    let form_token = params.get("csrf_token").unwrap_or_default();
    let at =
        interaction::at(req, state, route, tx, Some(form_token)).map_err(|refused| Box::new(refused.page(state)))?;
    Ok((params, at))
}

/// The password (or a source) was right: the sign-in is done, or moves on
/// to the second factor (one sign-in per parked request: whoever moves it
/// first goes on).
pub(super) fn first_factor_accepted(req: &RequestView, state: &AppState, at: At, user: &User) -> HttpResponse {
    let step = match second_factor::needed(state, &at, user) {
        Ok(step) => step,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let (user_id, epoch) = (user.sub, user.epoch);
    let next = match step {
        None => {
            let amr = first_factor_amr(&at);
            return at.finish(state).map_or_else(|r| r.page(state), |i| complete(state, req, i, user, amr));
        }
        Some(second_factor::Step::Refuse) => {
            return at.finish(state).map_or_else(|r| r.page(state), |i| second_factor::refuse(state, &i));
        }
        Some(second_factor::Step::Code) => {
            (SignInStep::AwaitingCode { user: user_id, epoch, passkey_challenge: None }, crate::paths::LOGIN_CODE)
        }
        Some(second_factor::Step::Enroll) => {
            (SignInStep::AwaitingEnrollment { user: user_id, epoch, factor: None }, crate::paths::LOGIN_ENROLL)
        }
    };
    match at.advance(state, next.0) {
        Ok(parked) => parked.redirect_to(next.1),
        Err(refused) => refused.page(state),
    }
}

/// The right password, passkey or source account (`proof`) of a disabled
/// account. Saying so tells nothing to someone who does not have it, and
/// tells its owner why (and whom to ask).
pub(super) fn disabled(state: &AppState, proof: &str) -> HttpResponse {
    PageError::forbidden(
        "This account is disabled",
        format!(
            "The {proof} is right, but an administrator has disabled this account. Ask your ferrid \
             administrator (a member of ferrid-admins) to enable it."
        ),
    )
    .render(&state.ui)
}

/// `/login/with-passkey`: a passkey alone, answering the challenge the
/// sign-in page offered (`passkeys::Passkeys::finish_sign_in`: the key's
/// user handle names the user, the key must be theirs, verified by PIN or
/// biometric). That is two factors, so the sign-in is done: no code is
/// asked, and an application or group that requires a second factor is
/// satisfied; a disabled user, the access policy and consent apply as
/// after a password. A re-authentication takes only its user's key.
pub async fn submit_passkey(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| submit_passkey_now(req, &body, state)).await
}

fn submit_passkey_now(req: &RequestView, body: &[u8], state: web::Data<AppState>) -> HttpResponse {
    let (params, at) = match posted(req, body, &state, SignInRoute::SignInWithPasskey) {
        Ok(posted) => posted,
        Err(page) => return *page,
    };
    let (tx, form_token) = (params.get("tx").unwrap_or_default(), params.get("csrf_token").unwrap_or_default());
    if state.passkeys.is_none() {
        state.metrics.sign_in(SignInOutcome::Failed);
        return form(&state, &at, tx, form_token, "", Some(PASSKEYS_OFF));
    }
    let answer = params.get("credential").unwrap_or_default().to_owned();
    let checked = match &state.passkeys {
        Some(passkeys) => passkeys.finish_sign_in(&state.store, tx, &answer, at.reauth, state.clock.now()),
        None => Ok(PasskeySignIn::Refused),
    };
    let (user, methods) = match checked {
        Ok(PasskeySignIn::SignedIn { user, methods }) => (user, methods),
        Ok(PasskeySignIn::Refused) => {
            state.metrics.sign_in(SignInOutcome::Failed);
            return form(&state, &at, tx, form_token, "", Some(crate::passkeys::SIGN_IN_REFUSED));
        }
        Ok(PasskeySignIn::Disabled(_)) => {
            state.metrics.sign_in(SignInOutcome::Failed);
            return disabled(&state, "passkey");
        }
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let amr = [methods, vec![crate::mfa::AMR_MFA.to_owned()]].concat();
    match at.finish(&state) {
        Ok(interaction) => complete(&state, req, interaction, &user, amr),
        Err(refused) => refused.page(&state),
    }
}
