//! `/account/`: who you are, your groups, the applications you may use,
//! where you are signed in (each session with "sign out", and "sign out
//! everywhere"), the consents ferrid remembers (with "withdraw") and a
//! summary of your access tokens. Also `/account/sign-out`, the "sign out"
//! button every signed-in page carries.

use super::reauth::{self, Gate};
use super::{checked_form, render, signed_in};
use crate::domain::ClientId;
use crate::form::Params;
use crate::http::RequestView;
use crate::http::{AppState, on_pool};
use crate::oidc::end_session::signed_out;
use crate::oidc::session;
use crate::sessions::{ActiveSession, EndReason};
use crate::signin::{ChangeRefused, check_new_password};
use crate::store::StoreError;
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| show_now(req, state)).await
}

fn show_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(req, &state) {
        Ok(active) => {
            let notice = match web::Query::<Notice>::from_query(req.query_string()) {
                Ok(q) => q.into_inner().describe(),
                Err(_) => None,
            };
            page(req, &state, &active, Shown::notice(notice))
        }
        Err(response) => *response,
    }
}

/// A message after a redirect back to the page (`?done=…`).
#[derive(serde::Deserialize)]
struct Notice {
    done: Option<String>,
}

impl Notice {
    fn describe(self) -> Option<&'static str> {
        match self.done.as_deref()? {
            "session" => Some("That session is signed out."),
            "others" => Some("You are signed out everywhere else."),
            "consent" => {
                Some("Consent withdrawn: the application will ask again, and its access while you are away is revoked.")
            }
            "password" => Some("Password changed. Your other sessions are signed out."),
            "source-linked" => Some("Linked: you can sign in with it from now on."),
            "source-unlinked" => Some("Unlinked: it no longer signs in to this account."),
            "verify-sent" => Some("A mail with a link is on its way to your address: open it to confirm the address."),
            "setup-password" => Some(
                "Welcome: your password is set. A second factor (below, Second factors) keeps the account safe if it leaks.",
            ),
            "recovered" => Some(
                "You are signed in by your recovery link, and signed out everywhere else. Set a new password below, or \
                 add a passkey under Second factors, within the next few minutes; and remove any passkey or app there \
                 that you do not know.",
            ),
            "password_set" => {
                Some("Password set: you can sign in with it or with a passkey. Your other sessions are signed out.")
            }
            _ => None,
        }
    }
}

/// A message shown at the top of the page: news, or what was wrong (400).
#[derive(Default)]
pub(super) struct Shown<'a> {
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

impl<'a> Shown<'a> {
    fn notice(notice: Option<&'a str>) -> Self {
        Shown { notice, error: None }
    }
    pub(super) fn error(error: &'a str) -> Self {
        Shown { notice: None, error: Some(error) }
    }
}

pub(super) fn page(req: &RequestView, state: &AppState, active: &ActiveSession, shown: Shown<'_>) -> HttpResponse {
    let user = &active.user;
    let now = state.clock.now();
    let published = state.published();
    let result = (|| {
        let sessions = state.sessions().of_user(user)?;
        let consents = crate::consent::of_user(&state.store, user)?;
        let tokens = crate::pat::list(&state.store, Some(user), now)?;
        let mut apps: Vec<String> = state
            .store
            .apps()?
            .into_iter()
            .filter(|a| a.allows(user) && published.by_slug(a.slug.as_str()).is_some())
            .map(|a| a.name)
            .collect();
        apps.sort();
        Ok::<_, crate::store::StoreError>((sessions, consents, tokens, apps))
    })();
    let (sessions, consents, tokens, apps) = match result {
        Ok(parts) => parts,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    // People know applications by name, not by client id.
    let app_name = |client_id: &String| {
        published.by_client_id(client_id).map(|a| a.app.name.clone()).unwrap_or_else(|| client_id.clone())
    };
    let sessions: Vec<_> = sessions
        .iter()
        .map(|(key, s)| {
            json!({
                "sid": s.sid,
                "current": *key == active.key,
                "browser": browser_name(s.user_agent.as_deref()),
                "address": s.address,
                "started": s.started,
                "last_seen": s.last_seen,
                "applications": s.applications.iter().map(app_name).collect::<Vec<_>>().join(", "),
            })
        })
        .collect();
    let consents: Vec<_> = consents
        .iter()
        .map(|c| json!({ "client_id": c.client_id, "app": c.app, "scope": c.scope, "granted_at": c.granted_at }))
        .collect();
    let context = json!({
        "user": {
            "username": user.username,
            "name": user.name,
            "email": user.email,
            "email_verified": user.email_verified,
            "groups": user.groups,
            "has_password": user.has_password(),
        },
        "apps": apps,
        "sources": sources_of(state, user),
        "sessions": sessions,
        "consents": consents,
        "token_count": tokens.iter().filter(|t| t.status == "active").count(),
        "knows_password": knows_password(active),
        "can_verify_email": state.mailer.is_some() && user.email.is_some() && !user.email_verified,
        "has_password": user.has_password(),
        "notice": shown.notice,
        "error": shown.error,
        "guessed": state.mfa().guessing_notice(user, state.clock.now()),
    });
    let status = if shown.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    render(req, state, active, status, "account.html", context)
}

/// Each sign-in source, and the account linked there, if any.
fn sources_of(state: &AppState, user: &crate::store::User) -> Vec<serde_json::Value> {
    state
        .sources
        .all()
        .map(|source| {
            let linked = user.identities.iter().find(|i| i.source == source.slug.as_str());
            json!({
                "slug": source.slug.as_str(),
                "name": source.name,
                "login": linked.map(|i| i.login.clone()),
                "linked_at": linked.map(|i| i.linked_at),
            })
        })
        .collect()
}

fn back_to_account(done: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{}?done={done}", crate::paths::ACCOUNT)))
        .finish()
}

/// `/account/sign-out`: ends this browser's session.
pub async fn sign_out(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| sign_out_now(req, body, state)).await
}

fn sign_out_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, _) = match checked_form(req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    if let Err(e) = session::end(&state, &active.key, EndReason::SignedOut) {
        return PageError::server(e).render(&state.ui);
    }
    tracing::info!(user = %active.user.username, "signed out");
    signed_out(&state)
}

/// `/account/sessions/end`: `sid` = one of the user's sessions, or `all`.
pub async fn end_sessions(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| end_sessions_now(req, body, state)).await
}

fn end_sessions_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match checked_form(req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let sid = params.get("sid").unwrap_or_default();
    if sid == "all" {
        if let Err(e) = revoke_tokens_if_asked(&state, &active, &params) {
            return PageError::server(e).render(&state.ui);
        }
        let others = state.sessions().end_all_of(&active.user.sub, Some(&active.key), EndReason::SignedOutElsewhere);
        let this = others.and_then(|_| session::end(&state, &active.key, EndReason::SignedOut));
        return match this {
            Ok(_) => {
                tracing::info!(user = %active.user.username, "signed out everywhere");
                signed_out(&state)
            }
            Err(e) => PageError::server(e).render(&state.ui),
        };
    }
    if sid == active.sid() {
        return sign_out_this(&state, &active);
    }
    match state.sessions().end_by_sid(&active.user, sid, EndReason::SignedOutElsewhere) {
        Ok(true) => {
            state.logout_outbox.notify_one();
            back_to_account("session")
        }
        Ok(false) => page(req, &state, &active, Shown::notice(Some("That session had already ended."))),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// "Revoke my personal access tokens too" (checked by default on the
/// forms that end sessions): a token made in a stolen session would
/// otherwise outlive the sign-out and the new password.
fn revoke_tokens_if_asked(state: &AppState, active: &ActiveSession, params: &Params) -> Result<(), StoreError> {
    if params.get("revoke_tokens").is_some() {
        let revoked = crate::pat::revoke_all_of(&state.store, &active.user, state.clock.now())?;
        tracing::info!(user = %active.user.username, revoked, "personal access tokens revoked by their owner");
    }
    Ok(())
}

fn sign_out_this(state: &AppState, active: &ActiveSession) -> HttpResponse {
    match session::end(state, &active.key, EndReason::SignedOut) {
        Ok(_) => signed_out(state),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/account/consents/revoke`: forget the answer given to one application,
/// and revoke the refresh and personal access tokens it held for the user.
pub async fn revoke_consent(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| revoke_consent_now(req, body, state)).await
}

fn revoke_consent_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match checked_form(req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let Some(client_id) = params.get("client_id").and_then(|c| ClientId::parse(c).ok()) else {
        return page(req, &state, &active, Shown::error("There is no such consent."));
    };
    match crate::consent::revoke(&state.store, &active.user, &client_id, state.clock.now()) {
        Ok(Some(_)) => back_to_account("consent"),
        Ok(None) => page(req, &state, &active, Shown::error("There is no such consent.")),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// `/account/password`: the user changes their own password (see
/// `SignIn::change_password`); their other sessions end, this one stays.
pub async fn change_password(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| change_password_now(req, body, state)).await
}

fn change_password_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, params) = match checked_form(req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let new = params.get("new_password").unwrap_or_default();
    if let Err(refused) = check_new_password(new, params.get("repeat_password").unwrap_or_default()) {
        return page(req, &state, &active, Shown::error(&refused.to_string()));
    }
    // The current password (unless there is none to know: an account
    // without one, or a session a recovery link opened because it was
    // forgotten), and always through the re-authentication gate: a user
    // with a second factor changes it only from a session that proved that
    // factor lately (else a stolen cookie plus the password would lock the
    // owner out). An account without a password sets one through the gate
    // alone (its passkey).
    let wrong = || page(req, &state, &active, Shown::error(&ChangeRefused::WrongPassword.to_string()));
    let had_password = active.user.has_password();
    let current = params.get("current_password").unwrap_or_default();
    if current.is_empty() && knows_password(&active) {
        return wrong();
    }
    let typed = Some(current).filter(|_| had_password);
    match reauth::gate(req, &state, &active, typed, crate::paths::ACCOUNT) {
        Ok(Gate::Open) => {}
        Ok(Gate::WrongPassword) => return wrong(),
        Ok(Gate::Confirm(response)) | Err(response) => return *response,
    }
    let sign_in = state.sign_in();
    let now = state.clock.now();
    let changed = sign_in.set_own_password(&active.user, new, state.config.password_hash_cost, now);
    let changed = changed.map_err(|e| e.to_string()).and_then(|user| {
        revoke_tokens_if_asked(&state, &active, &params).map_err(|e| e.to_string())?;
        Ok(user)
    });
    match changed {
        Ok(user) => match state.sessions().keep_only(&active.key, &user, EndReason::PasswordSet) {
            Ok(_) => {
                state.logout_outbox.notify_one();
                tracing::info!(user = %user.username, "password changed by the user");
                back_to_account(if had_password { "password" } else { "password_set" })
            }
            Err(e) => PageError::server(e).render(&state.ui),
        },
        Err(e) => PageError::server(e).render(&state.ui),
    }
}

/// Whether the password form asks for the current password: not of a
/// user without one, nor in a session a recovery link opened.
fn knows_password(active: &ActiveSession) -> bool {
    active.user.has_password() && !active.session.amr.iter().any(|m| m == crate::mfa::AMR_LINK)
}

/// "Firefox on Linux", from a User-Agent header: enough to tell one's own
/// browsers apart; the header is the browser's claim, nothing more.
fn browser_name(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else { return "Unknown browser".into() };
    let browser = [
        ("Firefox/", "Firefox"),
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map_or("A browser", |(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_owned(),
    }
}

/// `POST paths::ACCOUNT_VERIFY_EMAIL`: mails the user a link that proves
/// the address on their account is theirs (with `smtp:`). At most three an
/// hour.
pub async fn verify_email(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| verify_email_now(req, body, state)).await
}

fn verify_email_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let (active, _) = match checked_form(req, &body, &state) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let user = &active.user;
    let (Some(mailer), Some(address), false) = (state.mailer.clone(), &user.email, user.email_verified) else {
        return page(req, &state, &active, Shown::error("There is no address to confirm."));
    };
    let now = state.clock.now();
    let kind = crate::store::LinkKind::EmailCheck;
    // Per account and address: a corrected typo gets its own three.
    let mailbox = format!("check\0{}\0{}", user.sub, address.to_lowercase());
    let cap = crate::links::Cap { max: 3, window: 3600, mailbox: &mailbox };
    let lifetime = state.config.lifetimes.invitation;
    let made = match crate::links::make_capped(&state.store, user, kind, now, lifetime, "the user", cap) {
        Ok(Some(made)) => made,
        Ok(None) => {
            return page(req, &state, &active, Shown::error("Three links went out this hour: check your mail."));
        }
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let url = state.config.public_url.endpoint(&crate::links::path(kind, &made.secret));
    if let Some(mail) = crate::links::mail(user, kind, &url, state.config.public_url.as_str()) {
        crate::mail::send_later(mailer, mail, format!("address check for {}", user.username));
    }
    back_to_account("verify-sent")
}

#[cfg(test)]
mod tests {
    #[test]
    fn browsers_are_named_by_their_user_agent() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(super::browser_name(Some(chrome)), "Chrome on Linux");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(super::browser_name(Some(iphone)), "Safari on iOS");
        assert_eq!(super::browser_name(None), "Unknown browser");
    }
}
