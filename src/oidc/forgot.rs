//! "Forgot your password?" (`paths::FORGOT`, only with `smtp:`): a
//! recovery link mailed to the account's confirmed address. The page answers the
//! same, at once, whether or not the name or address exists: the look-up,
//! the link and the mail all happen after the answer, on the blocking pool.
//! At most `MAILS_PER_HOUR` links an hour go to one mailbox, whoever asks
//! and for whichever of the accounts at it (`links::make_capped`: also
//! when many ask at once); the route's rate limit bounds how often one
//! client address asks.

use super::account::csrf_checked;
use super::session::{self, CookieName};
use crate::domain::Username;
use crate::http::RequestView;
use crate::http::{AppState, on_pool};
use crate::store::{AuditEvent, AuditKind, LinkKind, User};
use crate::ui::PageError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

const MADE_BY: &str = crate::links::BY_FORGOT_PAGE;
const MAILS_PER_HOUR: usize = 3;

fn page(req: &RequestView, state: &AppState, sent: bool) -> HttpResponse {
    if state.mailer.is_none() {
        return PageError::new(StatusCode::NOT_FOUND, "Not here", "This ferrid sends no mail: ask your administrator.")
            .render(&state.ui);
    }
    let (csrf, fresh) = match session::csrf_token(req, state) {
        Ok(pair) => pair,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let mut response = state.ui.page(StatusCode::OK, "forgot.html", &json!({ "csrf_token": csrf, "sent": sent }), None);
    if fresh {
        let _ = response.add_cookie(&session::cookie(state, CookieName::Csrf, csrf, 3600));
    }
    response
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_now(req, state)).await
}

fn show_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    page(req, &state, false)
}

pub async fn submit(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| submit_now(req, body, state)).await
}

fn submit_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let Some(mailer) = state.mailer.clone() else { return page(req, &state, false) };
    let params = match csrf_checked(req, &body, &state) {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let who = params.get("who").unwrap_or_default().trim().to_owned();
    if !who.is_empty() && who.len() <= 254 {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = mail_a_link(&state, mailer, &who) {
                tracing::warn!(error = %e, "forgot password: no link made");
            }
        });
    }
    page(req, &state, true)
}

/// Finds the accounts by name, or else every account at the address, and
/// mails each a recovery link, unless it is disabled, has no address mail
/// can go to or a second factor (`links::mail_may_recover`), or its
/// mailbox had its share this hour.
fn mail_a_link(state: &AppState, mailer: std::sync::Arc<crate::mail::Mailer>, who: &str) -> Result<(), String> {
    let users = state.store.users().map_err(|e| e.to_string())?;
    for user in find(&users, who) {
        let Some(address) = user.email.as_deref().filter(|e| !user.disabled && crate::mail::is_address(e)) else {
            continue;
        };
        // Only to an address someone confirmed is the user's (an
        // administrator, or a mailed check): one an administrator mistyped
        // would hand the account to whoever reads that mailbox.
        if !user.email_verified {
            tracing::info!(user = %user.username, "forgot password: no link to an address nobody confirmed");
            continue;
        }
        if !crate::links::mail_may_recover(&state.store, user).map_err(|e| e.to_string())? {
            tracing::info!(user = %user.username, "forgot password: no link by mail for an account with a second factor");
            continue;
        }
        if !mailer.has_room() {
            tracing::warn!(user = %user.username, "forgot password: the mail queue is full; no link made");
            continue;
        }
        // The share is the mailbox's, whichever of its accounts is asked for.
        let mailbox = format!("recovery\0{}", address.to_ascii_lowercase());
        let cap = crate::links::Cap { max: MAILS_PER_HOUR, window: 3600, mailbox: &mailbox };
        let (now, lifetime) = (state.clock.now(), state.config.lifetimes.recovery_link);
        let made = crate::links::make_capped(&state.store, user, LinkKind::Recovery, now, lifetime, MADE_BY, cap)
            .map_err(|e| e.to_string())?;
        let Some(made) = made else {
            tracing::info!(user = %user.username, "forgot password: this address had its links for the hour");
            continue;
        };
        let url = state.config.public_url.endpoint(&crate::links::path(LinkKind::Recovery, &made.secret));
        let site = state.config.public_url.as_str().to_owned();
        if let Some(mail) = crate::links::mail(user, LinkKind::Recovery, &url, &site) {
            state.audit(
                AuditEvent::new(AuditKind::UserChanged, now)
                    .user(&user.username)
                    .detail("recovery link mailed (forgot password)"),
            );
            crate::mail::send_later(mailer.clone(), mail, format!("recovery link for {}", user.username));
        }
    }
    Ok(())
}

/// The account by username, or else every account at the address
/// (case-insensitively: a person with two accounts at one address, or a
/// family sharing one, gets a link for each, and picks): a homelab has few
/// users, and a scan costs what an index would not need to.
fn find<'a>(users: &'a [User], who: &str) -> Vec<&'a User> {
    if let Ok(name) = Username::parse(who)
        && let Some(user) = users.iter().find(|u| u.username == name)
    {
        return vec![user];
    }
    if !who.contains('@') {
        return vec![];
    }
    users.iter().filter(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(who))).collect()
}
