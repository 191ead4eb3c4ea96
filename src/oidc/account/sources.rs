//! Linking and unlinking sign-in sources on the account page
//! (`/account/sources/link`, `/account/sources/unlink`). Both are
//! privileged (`reauth::gate`): a stolen session alone must not add a way
//! into the account, nor take the owner's away. Linking goes to the
//! source as a sign-in does, parked with `link` set to the user; the
//! source's answer (`oidc::source`) links the account it names, if no one
//! else has it, and only while this browser is still signed in as that
//! user. The last way to sign in (no password, no passkey that signs in
//! alone, no other source) cannot be unlinked.

use super::checked_form;
use super::home::{Shown, page};
use super::reauth::{self, Gate};
use crate::http::{Answer, AppState, RequestView, off_thread, on_pool};
use crate::oidc::interaction::park_source_link;
use crate::oidc::source::{send_to_source, shutting_down};
use crate::sessions::ActiveSession;
use crate::store::{AuditEvent, AuditKind, FactorKind, User};
use crate::ui::PageError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

/// A link asked for, by a user who just proved who they are.
struct Asked {
    user: User,
    slug: String,
    name: String,
}

pub async fn link(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let view = RequestView::of(&req);
    let shared = state.clone();
    let Asked { user, slug, name } = match off_thread(move || asked(&view, &body, &shared)).await {
        Ok(Ok(asked)) => asked,
        Ok(Err(page)) => return page.send().await,
        Err(_) => return shutting_down(),
    };
    let view = RequestView::of(&req);
    send_to_source(&state, slug, &name, false, move |state, tx, step| {
        park_source_link(&view, state, &user, tx, step)
            .map(drop)
            .map_err(|e| Answer::from(PageError::server(e).render(&state.ui)))
    })
    .await
}

fn asked(req: &RequestView, body: &[u8], state: &AppState) -> Result<Asked, Answer> {
    let (active, params) = checked_form(req, body, state).map_err(|page| Answer::from(*page))?;
    let slug = params.get("source").unwrap_or_default();
    let Some(source) = state.sources.get(slug) else {
        return Err(refused(req, state, &active, "There is no such sign-in source.").into());
    };
    if active.user.identities.iter().any(|i| i.source == slug) {
        return Err(refused(req, state, &active, "That source is linked already: unlink it first.").into());
    }
    passed_gate(req, state, &active, params.get("current_password")).map_err(|page| Answer::from(*page))?;
    Ok(Asked { user: active.user.clone(), slug: slug.to_owned(), name: source.name.clone() })
}

/// The one re-authentication gate, or the response that asks for it.
fn passed_gate(
    req: &RequestView,
    state: &AppState,
    active: &ActiveSession,
    password: Option<&str>,
) -> Result<(), Box<HttpResponse>> {
    match reauth::gate(req, state, active, password, crate::paths::ACCOUNT) {
        Ok(Gate::Open) => Ok(()),
        Ok(Gate::WrongPassword) => Err(Box::new(refused(req, state, active, "Wrong password."))),
        Ok(Gate::Confirm(response)) | Err(response) => Err(response),
    }
}

/// The account page, saying why nothing changed.
fn refused(req: &RequestView, state: &AppState, active: &ActiveSession, why: &str) -> HttpResponse {
    page(req, state, active, Shown::error(why))
}

pub async fn unlink(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| unlink_now(req, &body, &state)).await
}

fn unlink_now(req: &RequestView, body: &[u8], state: &AppState) -> HttpResponse {
    let (active, params) = match checked_form(req, body, state) {
        Ok(checked) => checked,
        Err(page) => return *page,
    };
    let slug = params.get("source").unwrap_or_default().to_owned();
    if !active.user.identities.iter().any(|i| i.source == slug) {
        return refused(req, state, &active, "That source is not linked to your account.");
    }
    if let Err(response) = passed_gate(req, state, &active, params.get("current_password")) {
        return *response;
    }
    let sub = active.user.sub;
    let signs_in_alone = match state.store.factors_of(&sub) {
        Ok(factors) => factors.iter().any(|f| matches!(f.kind, FactorKind::Passkey { discoverable: true, .. })),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    // Kept if, without it, nothing would sign in to the account.
    let last_way = |after: &User| !after.has_password() && !signs_in_alone && after.identities.is_empty();
    match state.store.unlink_identity(&sub, &slug, last_way) {
        Ok(true) => {
            let (ip, ua) = crate::http::client_of(req, state);
            state.audit(
                AuditEvent::new(AuditKind::UserChanged, state.clock.now())
                    .user(active.user.username.as_str())
                    .from_client(ip, ua)
                    .detail(format!("{slug} unlinked")),
            );
            HttpResponse::SeeOther().insert_header((header::LOCATION, "/account/?done=source-unlinked")).finish()
        }
        Ok(false) => refused(
            req,
            state,
            &active,
            "This is the last way to sign in to your account: set a password or add a passkey first.",
        ),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}
