//! The admin console at `/admin/`, for members of `admin::ADMIN_GROUP`.
//! Pages (`pages`) read through the same `admin::execute` the CLI calls;
//! every change is one POST to `/admin/act` (`actions`), which is checked
//! in this order: signed in, an administrator, a form with this browser's
//! CSRF token, and for privileged changes the re-authentication gate
//! (`oidc::account::reauth`: signed in or confirmed within 5 minutes).
//! The audit trail names the administrator (`NAME (console)`).

mod action_list;
mod actions;
mod chart;
mod pages;

pub use action_list::action_names;
pub use actions::act;
pub use pages::{app, apps, audit, groups, keys, overview, tokens, user, users};

use crate::admin::views::AdminAnswer;
use crate::admin::{AdminCommand, AdminError};
use crate::http::AppState;
use crate::http::RequestView;
use crate::oidc::account::signed_in;
use crate::sessions::ActiveSession;
use crate::ui::PageError;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// The signed-in administrator, or the response for anyone else: the
/// sign-in form for a stranger, 403 for a signed-in user who is not one.
fn administrator(req: &RequestView, state: &AppState) -> Result<ActiveSession, Box<HttpResponse>> {
    let active = signed_in(req, state)?;
    if !crate::admin::is_admin(&active.user) {
        tracing::warn!(user = %active.user.username, path = req.path(), "admin console refused: not an administrator");
        return Err(Box::new(
            PageError::new(
                StatusCode::FORBIDDEN,
                "Administrators only",
                "Your account may not use the admin console. An administrator can add you to the ferrid-admins group.",
            )
            .render(&state.ui),
        ));
    }
    Ok(active)
}

/// Runs an administrative command as the CLI does, in the name of
/// `active`'s user.
fn run(state: &AppState, active: &ActiveSession, command: AdminCommand) -> Result<AdminAnswer, AdminError> {
    state.administer(command, &format!("{} (console)", active.user.username))
}

/// A message at the top of a page: news, an error, or a secret shown once.
#[derive(Default)]
struct Shown {
    status: Option<StatusCode>,
    notice: Option<String>,
    error: Option<String>,
    /// (what it is, the value): a generated password or client secret.
    once: Option<(String, String)>,
}

impl Shown {
    fn error(status: StatusCode, message: impl Into<String>) -> Shown {
        Shown { status: Some(status), error: Some(message.into()), ..Default::default() }
    }
}
