//! The end of every sign-in, after the password (`login`) or the second
//! factor (`second_factor`): the session starts (or, for a
//! re-authentication, is refreshed), the sign-in is audited, and the
//! request goes on.

use super::interaction::expired;
use super::known_browser;
use super::respond::{Next, ReplyTo, SignedIn, act};
use super::session;
use crate::error::AuthorizeError;
use crate::http::AppState;
use crate::http::RequestView;
use crate::metrics::SignInOutcome;
use crate::store::{AuditEvent, AuditKind, Interaction, User};
use crate::ui::PageError;
use actix_web::HttpResponse;

/// The `amr` of the first factor: a password of ferrid's, or a source.
pub(super) fn first_factor_amr(interaction: &Interaction) -> Vec<String> {
    let first = if interaction.source.is_some() { crate::mfa::AMR_FEDERATED } else { crate::mfa::AMR_PASSWORD };
    vec![first.to_owned()]
}

/// The user is who they say (password, and a second factor if needed):
/// the session starts, the sign-in is audited, and the request goes on
/// (to its application, or to the ferrid page it was for).
pub(super) fn complete(
    state: &AppState,
    req: &RequestView,
    interaction: Interaction,
    user: &User,
    amr: Vec<String>,
) -> HttpResponse {
    let (ip, ua) = crate::http::client_of(req, state);
    let source = interaction.source.clone();
    let detail = match &source {
        Some(slug) => format!("{} via {slug}", amr.join(" ")),
        None => amr.join(" "),
    };
    let signed_in = |client: &str| {
        tracing::info!(user = %user.username, client_id = client, "signed in");
        state.metrics.sign_in(SignInOutcome::Ok);
        state.audit(
            AuditEvent::new(AuditKind::SignIn, state.clock.now())
                .user(&user.username)
                .app(client)
                .from_client(ip, ua)
                .detail(detail),
        );
    };
    if let Some(sub) = interaction.reauth {
        return reauthenticated(state, req, interaction, sub, user, amr, signed_in);
    }
    if let Some(device) = interaction.device {
        signed_in(device.client_id.as_str());
        return super::device_approval::after_sign_in(state, req, device, user, amr, source.as_deref());
    }
    let Some(request) = interaction.request else {
        // ferrid's own pages.
        let return_to = interaction.return_to.unwrap_or_else(|| crate::paths::ACCOUNT.to_owned());
        signed_in("ferrid");
        let cookies = session::start(state, user, req, None, amr, source.as_deref())
            .and_then(|started| Ok((started.cookie, known_browser::remember(req, state, user)?)));
        return match cookies {
            Ok((session, device)) => HttpResponse::SeeOther()
                .insert_header((actix_web::http::header::LOCATION, return_to))
                .cookie(session)
                .cookie(device)
                .finish(),
            Err(e) => PageError::server(e).render(&state.ui),
        };
    };
    let published = state.published();
    let Some(app) = published.by_client_id(request.client_id.as_str()) else {
        return expired(state);
    };
    signed_in(app.app.client_id.as_str());
    let result = Next::for_user(state, app, &request, user).and_then(|next| {
        // Decided before the session starts, so that a session that will get
        // a code names its application from the first write (no second one),
        // and one refused or awaiting consent names none.
        let client = (next == Next::Code).then_some(&app.app.client_id);
        let started = session::start(state, user, req, client, amr, source.as_deref())?;
        let signed_in = SignedIn { user, session: &started.key, record: &started.record };
        let mut response = act(state, req, app, &request, signed_in, next, false)?;
        response.add_cookie(&started.cookie).map_err(crate::error::OAuthError::server)?;
        response.add_cookie(&known_browser::remember(req, state, user)?).map_err(crate::error::OAuthError::server)?;
        Ok(response)
    });
    // The cause was logged where the OAuthError was made.
    result.unwrap_or_else(|_| ReplyTo::for_request(app, &request).error(state, &AuthorizeError::ServerError))
}

/// A re-authentication is done: the browser's session, which must still be
/// the one of the user who asked, counts as freshly signed in (auth_time,
/// amr) and the browser goes back to the page that asked.
fn reauthenticated(
    state: &AppState,
    req: &RequestView,
    interaction: Interaction,
    asked_by: uuid::Uuid,
    user: &User,
    amr: Vec<String>,
    audit: impl FnOnce(&str),
) -> HttpResponse {
    let active = match session::current(req, state) {
        Ok(Some(active)) if active.user.sub == asked_by && user.sub == asked_by => active,
        Ok(_) => return expired(state),
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    if let Err(e) = state.sessions().reauthenticated(&active.key, amr, interaction.source.as_deref()) {
        return PageError::server(e).render(&state.ui);
    }
    audit("ferrid (re-authentication)");
    let return_to = interaction.return_to.unwrap_or_else(|| crate::paths::ACCOUNT.to_owned());
    HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, return_to)).finish()
}
