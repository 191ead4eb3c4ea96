//! The console's actions, by form name: whether each is privileged and
//! the notice shown after it. `actions` runs them; `pages` shows the
//! notice after the redirect (`?done=NAME`).

/// An action: its form name, whether it is privileged (and so passes
/// the re-authentication gate, `oidc::account::reauth`), and the notice
/// shown after it.
pub(super) struct Action {
    pub(super) name: &'static str,
    pub(super) privileged: bool,
    pub(super) notice: &'static str,
}

const fn action(name: &'static str, privileged: bool, notice: &'static str) -> Action {
    Action { name, privileged, notice }
}

/// Privileged: anything that grants privilege (a user with groups, groups,
/// re-enabling), weakens sign-in (second factors, a group's or an app's
/// policy), changes where codes go (redirect URIs, e-mail), reveals or
/// rotates a secret (passwords, client secrets, keys), or destroys. What
/// only takes an attacker's options away (sign a user out, revoke a token)
/// or adds nothing (an empty group) is not.
pub(super) const ACTIONS: &[Action] = &[
    action("user-add", true, "User added."),
    action("user-invite", true, "User invited."),
    action("user-link", true, "Recovery link made."),
    action("link-revoke", false, "Link revoked."),
    action("user-update", true, "Profile saved."),
    action("user-groups", true, "Groups saved."),
    action("user-logout", false, "Signed out everywhere."),
    action("user-enable", true, "User enabled."),
    action("user-disable", true, "User disabled: their sessions and tokens have stopped."),
    action("user-password", true, "New password set."),
    action("user-mfa-reset", true, "Second factors removed."),
    action("user-delete", true, "User deleted."),
    action("group-add", false, "Group added."),
    action("group-rename", true, "Group renamed."),
    action("group-mfa", true, "Group saved."),
    action("group-remove", true, "Group removed."),
    action("app-add", true, "Application added."),
    action("app-update", true, "Application saved."),
    action("app-secret", true, "New client secret made."),
    action("app-remove", true, "Application removed."),
    action("token-revoke", false, "Token revoked."),
    action("keys-rotate", true, "New signing key in use; the old one stays published until its tokens expire."),
];

/// Every console action's name and whether it is privileged, for the
/// table test of the re-authentication gate.
pub fn action_names() -> impl Iterator<Item = (&'static str, bool)> {
    ACTIONS.iter().map(|a| (a.name, a.privileged))
}

/// The notice for `?done=NAME` after a redirect.
pub(super) fn notice_for(name: &str) -> Option<&'static str> {
    ACTIONS.iter().find(|a| a.name == name).map(|a| a.notice)
}
