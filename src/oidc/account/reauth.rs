//! Re-authentication ("sudo mode", as GitHub has it): the one gate of every
//! privileged action, in the console (anything that grants privilege,
//! weakens sign-in, changes where codes go, reveals or rotates a secret, or
//! destroys) and on the account page (tokens and second factors).
//!
//! A session may act if its user signed in or re-authenticated within
//! `lifetimes.reauthentication` (5 minutes by default), with their second
//! factor if they have one. Otherwise the browser is sent to confirm: a
//! sign-in parked for this user only (`interaction::park_reauthentication`)
//! that walks the usual steps (password, then code or passkey) and then
//! refreshes this session in place, and returns to the page. A user
//! without a second factor may instead type their password into the form
//! itself, checked as at sign-in (throttled, audited when wrong).

use super::password_confirms;
use crate::http::AppState;
use crate::http::RequestView;
use crate::oidc::interaction::park_reauthentication;
use crate::sessions::ActiveSession;
use crate::ui::PageError;
use actix_web::HttpResponse;

/// What the gate decided.
pub(crate) enum Gate {
    /// Recently authenticated (now, perhaps): go on.
    Open,
    /// A password typed into the form was wrong: nothing may change.
    WrongPassword,
    /// The response that sends the browser to confirm it is them.
    Confirm(Box<HttpResponse>),
}

/// The gate for a privileged action by `active`. `password`: one typed
/// into the form, if any. `return_to`: the page to come back to after
/// confirming (a path ferrid built).
pub(crate) fn gate(
    req: &RequestView,
    state: &AppState,
    active: &ActiveSession,
    password: Option<&str>,
    return_to: &str,
) -> Result<Gate, Box<HttpResponse>> {
    let server = |e: &dyn std::fmt::Display| Box::new(PageError::server(e).render(&state.ui));
    let has_factor = state.mfa().has_second_factor(&active.user).map_err(|e| server(&e))?;
    if let Some(password) = password.filter(|p| !p.is_empty()) {
        if !password_confirms(req, state, active, password).map_err(|e| server(&e))? {
            return Ok(Gate::WrongPassword);
        }
        if !has_factor {
            let amr = vec![crate::mfa::AMR_PASSWORD.to_owned()];
            state.sessions().reauthenticated(&active.key, amr, None).map_err(|e| server(&e))?;
            return Ok(Gate::Open);
        }
    }
    let window = state.config.lifetimes.reauthentication;
    if active.is_fresh(has_factor, state.clock.now(), window) {
        return Ok(Gate::Open);
    }
    tracing::info!(user = %active.user.username, "privileged action: re-authentication asked");
    let parked = park_reauthentication(req, state, &active.user, local_path(return_to)).map_err(|e| server(&e))?;
    Ok(Gate::Confirm(Box::new(parked.redirect_to(crate::paths::LOGIN))))
}

/// `path` if it is a path on this server, else the account page: the
/// sign-in redirects there, so it must never leave the site.
fn local_path(path: &str) -> String {
    let local = path.starts_with('/') && !path.starts_with("//") && !path.contains(['\\', '\r', '\n']);
    if local { path.to_owned() } else { crate::paths::ACCOUNT.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_server_are_returned_to() {
        assert_eq!(local_path("/admin/users/alice"), "/admin/users/alice");
        for hostile in ["//evil.example/", "https://evil.example/", "/\\evil.example", "admin", "/a\r\nSet-Cookie: x"] {
            assert_eq!(local_path(hostile), "/account/", "{hostile}");
        }
    }
}
