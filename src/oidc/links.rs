//! The pages a one-time link opens (`links`): an invitation at
//! `paths::SETUP`, a recovery link at `paths::RECOVER`, a mailed address
//! check at `paths::VERIFY_EMAIL`. Each route accepts
//! one state of a link, an open link of its own kind; every other state
//! (unknown, used, expired, revoked, of the other kind, for a disabled user)
//! answers one "this link does not work" page and changes nothing.
//!
//! Opening a link (GET) never uses it, so a mail scanner or a chat preview
//! that fetches it does no harm; only the form on the page (POST, with this
//! browser's CSRF cookie) uses it, once, by compare-and-swap. A dead link
//! submitted counts as a failed sign-in from its address (`throttle`), so
//! guessing is throttled like guessing passwords, per address only (links
//! are no one account: a count across addresses would let enough guessers
//! lock every link holder out); opening one only costs the route's rate
//! limit (a person clicking an old link twice is no attacker).

use super::account::csrf_checked;
use super::session::{self, CookieName};
use crate::form::Params;
use crate::http::RequestView;
use crate::http::{AppState, on_pool};
use crate::links::{OpenLink, Opened};
use crate::sessions::EndReason;
use crate::store::{AuditEvent, AuditKind, LinkKind, User};
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

/// The pseudo-account dead links count against in the sign-in throttle.
const THROTTLE_ACCOUNT: &str = "one-time link";

fn dead(state: &AppState) -> HttpResponse {
    PageError::new(
        StatusCode::GONE,
        "This link does not work",
        "It was used already, has expired, or was revoked. Ask your administrator for a new one.",
    )
    .render(&state.ui)
}

/// The link behind `secret` if it is open and of `kind`; else the dead-link
/// page (for a submitted form, counted as a failure from this address).
fn opened(req: &RequestView, state: &AppState, secret: &str, kind: LinkKind) -> Result<Opened, Box<HttpResponse>> {
    let submitted = req.method() == actix_web::http::Method::POST;
    let now = state.clock.now();
    let (ip, _) = crate::http::client_of(req, state);
    let address = ip.unwrap_or_default();
    if state.throttle.is_address_locked(THROTTLE_ACCOUNT, &address, now) {
        return Err(Box::new(dead(state)));
    }
    match crate::links::open(&state.store, secret, kind, now) {
        Ok(Opened::Closed) => {
            if submitted {
                state.throttle.record_address_failure(THROTTLE_ACCOUNT, &address, now);
            }
            tracing::info!(kind = ?kind, "a dead one-time link was opened");
            Err(Box::new(dead(state)))
        }
        Ok(open) => Ok(open),
        Err(e) => Err(Box::new(PageError::server(e).render(&state.ui))),
    }
}

/// A submitted link form: this browser's CSRF token first, then the open
/// link of `kind` (or the page that says why not).
fn submitted(
    req: &RequestView,
    body: &[u8],
    state: &AppState,
    secret: &str,
    kind: LinkKind,
) -> Result<(Params, Box<OpenLink>), Box<HttpResponse>> {
    let params = csrf_checked(req, body, state)?;
    match opened(req, state, secret, kind)? {
        Opened::Open(open) => Ok((params, open)),
        Opened::Closed => Err(Box::new(dead(state))),
    }
}

/// Uses the link, writing `next` as its user in the same step (against
/// the record as read: a change meanwhile, a disable, wins); the dead-link
/// page for every request but the one that wins.
fn use_up(state: &AppState, secret: &str, open: &OpenLink, next: Option<&User>) -> Result<(), Box<HttpResponse>> {
    match crate::links::redeem(&state.store, secret, open, next, state.clock.now()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Box::new(dead(state))),
        Err(e) => Err(Box::new(PageError::server(e).render(&state.ui))),
    }
}

/// A page for a browser that may not be signed in: its CSRF token in the
/// form and, if it had none, in a cookie.
fn page(req: &RequestView, state: &AppState, template: &str, mut context: serde_json::Value) -> HttpResponse {
    let (csrf, fresh) = match session::csrf_token(req, state) {
        Ok(pair) => pair,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    context["csrf_token"] = json!(csrf);
    let mut response = state.ui.page(StatusCode::OK, template, &context, None);
    if fresh {
        let _ = response.add_cookie(&session::cookie(state, CookieName::Csrf, csrf, 3600));
    }
    // The secret is in this page's URL: no other site may be told it.
    response.headers_mut().insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    response
}

fn greeting(user: &User) -> String {
    user.name.clone().unwrap_or_else(|| user.username.to_string())
}

/// `GET paths::SETUP`: an open invitation's page.
pub async fn show_setup(req: HttpRequest, state: web::Data<AppState>, secret: web::Path<String>) -> HttpResponse {
    on_pool(&req, move |req| show_setup_now(req, state, secret)).await
}

fn show_setup_now(req: &RequestView, state: web::Data<AppState>, secret: web::Path<String>) -> HttpResponse {
    match opened(req, &state, &secret, LinkKind::Invitation) {
        Ok(Opened::Open(open)) => setup_page(req, &state, &open.user, None),
        Ok(Opened::Closed) => dead(&state),
        Err(response) => *response,
    }
}

fn setup_page(req: &RequestView, state: &AppState, user: &User, error: Option<&str>) -> HttpResponse {
    let context = json!({
        "name": greeting(user),
        "username": user.username,
        "passkeys": state.passkeys.is_some(),
        "error": error,
        "action": req.path(),
    });
    page(req, state, "setup.html", context)
}

/// `POST paths::SETUP`: choose a password, or go on to register a passkey.
/// Either way the invitation is used, and the person is signed in.
pub async fn submit_setup(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> HttpResponse {
    on_pool(&req, move |req| submit_setup_now(req, body, state, secret)).await
}

fn submit_setup_now(
    req: &RequestView,
    body: web::Bytes,
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> HttpResponse {
    let (params, open) = match submitted(req, &body, &state, &secret, LinkKind::Invitation) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let user = open.user.record.clone();
    let with_passkey = params.get("choice") == Some("passkey") && state.passkeys.is_some();
    let password = params.get("new_password").unwrap_or_default().to_owned();
    if !with_passkey {
        let repeated = params.get("repeat_password").unwrap_or_default();
        if let Err(refused) = crate::signin::check_new_password(&password, repeated) {
            return setup_page(req, &state, &user, Some(&refused.to_string()));
        }
    }
    if let Err(response) = use_up(&state, &secret, &open, None) {
        return *response;
    }
    let now = state.clock.now();
    let user = if with_passkey {
        user
    } else {
        let sign_in = state.sign_in();
        match sign_in.set_own_password(&user, &password, state.config.password_hash_cost, now) {
            Ok(user) => user,
            Err(e) => return PageError::server(e).render(&state.ui),
        }
    };
    let (done, next) = if with_passkey {
        ("setup-passkey", crate::paths::ACCOUNT_MFA)
    } else {
        ("setup-password", crate::paths::ACCOUNT)
    };
    signed_in_by_link(req, &state, &user, "invitation used", &format!("{next}?done={done}"))
}

/// `GET paths::RECOVER`: an open recovery link's page (nothing happens
/// until its button is pressed).
pub async fn show_recover(req: HttpRequest, state: web::Data<AppState>, secret: web::Path<String>) -> HttpResponse {
    on_pool(&req, move |req| show_recover_now(req, state, secret)).await
}

fn show_recover_now(req: &RequestView, state: web::Data<AppState>, secret: web::Path<String>) -> HttpResponse {
    match opened(req, &state, &secret, LinkKind::Recovery) {
        Ok(Opened::Open(open)) => {
            let user = open.user.record;
            let minutes = state.config.lifetimes.reauthentication / 60;
            let context = json!({
                "name": greeting(&user),
                "username": user.username,
                "minutes": minutes,
                "action": req.path(),
            });
            page(req, &state, "recover.html", context)
        }
        Ok(Opened::Closed) => dead(&state),
        Err(response) => *response,
    }
}

/// `POST paths::RECOVER`: the link is used; whoever else was signed in as
/// this user is signed out, what they were given stops (sessions, refresh
/// tokens, personal access tokens: the account may have been someone
/// else's), and this browser is signed in to set a new password or passkey.
pub async fn submit_recover(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> HttpResponse {
    on_pool(&req, move |req| submit_recover_now(req, body, state, secret)).await
}

fn submit_recover_now(
    req: &RequestView,
    body: web::Bytes,
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> HttpResponse {
    let open = match submitted(req, &body, &state, &secret, LinkKind::Recovery) {
        Ok((_, open)) => open,
        Err(response) => return *response,
    };
    // The new epoch is written with the link's use, in one step that
    // expects the user as read: an administrator who disabled the account
    // (or changed it) meanwhile is never undone by this request.
    let mut user = open.user.record.clone();
    user.end_sessions_and_grants();
    if let Err(response) = use_up(&state, &secret, &open, Some(&user)) {
        return *response;
    }
    let now = state.clock.now();
    let ended = state
        .sessions()
        .end_all_of(&user.sub, None, EndReason::RecoveryLink)
        .map_err(|e| e.to_string())
        .and_then(|_| crate::pat::revoke_all_of(&state.store, &user, now).map_err(|e| e.to_string()));
    if let Err(e) = ended {
        return PageError::server(e).render(&state.ui);
    }
    state.logout_outbox.notify_one();
    let back = format!("{}?done=recovered", crate::paths::ACCOUNT);
    signed_in_by_link(req, &state, &user, "recovery link used", &back)
}

/// Starts this browser's session for `user` (amr `link`) and sends it on.
fn signed_in_by_link(req: &RequestView, state: &AppState, user: &User, what: &str, to: &str) -> HttpResponse {
    let (ip, ua) = crate::http::client_of(req, state);
    let amr = vec![crate::mfa::AMR_LINK.to_owned()];
    let started = match session::start(state, user, req, None, amr, None) {
        Ok(started) => started,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let now = state.clock.now();
    state.audit(AuditEvent::new(AuditKind::UserChanged, now).user(&user.username).detail(what));
    state.audit(
        AuditEvent::new(AuditKind::SignIn, now)
            .user(&user.username)
            .app("ferrid")
            .from_client(ip, ua)
            .detail(crate::mfa::AMR_LINK),
    );
    tracing::info!(user = %user.username, "{what}");
    HttpResponse::SeeOther().insert_header((header::LOCATION, to.to_owned())).cookie(started.cookie).finish()
}

/// `GET paths::VERIFY_EMAIL`: a mailed address check's page.
pub async fn show_verify(req: HttpRequest, state: web::Data<AppState>, secret: web::Path<String>) -> HttpResponse {
    on_pool(&req, move |req| show_verify_now(req, state, secret)).await
}

fn show_verify_now(req: &RequestView, state: web::Data<AppState>, secret: web::Path<String>) -> HttpResponse {
    match opened(req, &state, &secret, LinkKind::EmailCheck) {
        Ok(Opened::Open(open)) => {
            let context = json!({
                "name": greeting(&open.user),
                "email": open.user.email,
                "done": false,
                "action": req.path(),
            });
            page(req, &state, "verify_email.html", context)
        }
        Ok(Opened::Closed) => dead(&state),
        Err(response) => *response,
    }
}

/// `POST paths::VERIFY_EMAIL`: the address is the user's (they read mail
/// sent there); tokens say `email_verified: true` from now on.
pub async fn submit_verify(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> HttpResponse {
    on_pool(&req, move |req| submit_verify_now(req, body, state, secret)).await
}

fn submit_verify_now(
    req: &RequestView,
    body: web::Bytes,
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> HttpResponse {
    let open = match submitted(req, &body, &state, &secret, LinkKind::EmailCheck) {
        Ok((_, open)) => open,
        Err(response) => return *response,
    };
    // Marked in the same step that uses the link (a new address meanwhile wins).
    let mut user = open.user.record.clone();
    user.email_verified = true;
    if let Err(response) = use_up(&state, &secret, &open, Some(&user)) {
        return *response;
    }
    let now = state.clock.now();
    state.audit(AuditEvent::new(AuditKind::UserChanged, now).user(&user.username).detail("email verified by mail"));
    let context = json!({ "name": greeting(&user), "email": user.email, "done": true, "action": req.path() });
    page(req, &state, "verify_email.html", context)
}
