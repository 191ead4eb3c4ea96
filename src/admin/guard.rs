//! The rules that keep ferrid administrable, checked by `execute` before
//! any command runs, so the console, the CLI and the admin API all obey
//! them: `ferrid-admins` cannot be renamed or removed (membership in it is
//! what makes an administrator, and a group under another name would make
//! no one one), and the last enabled administrator cannot be disabled,
//! deleted or taken out of it. Otherwise every administrator is locked out
//! until someone edits the database from the command line.

use super::commands::AdminCommand;
use super::context::{AdminContext, AdminError};
use crate::domain::GroupName;
use std::sync::{Mutex, MutexGuard};

/// Members may use the admin console at `/admin/`. Made at every start if
/// missing; the first-start `admin` user is put in it.
pub const ADMIN_GROUP: &str = "ferrid-admins";

/// May `user` use the admin console?
pub fn is_admin(user: &crate::store::User) -> bool {
    !user.disabled && user.groups.iter().any(|g| g.as_str() == ADMIN_GROUP)
}

/// Held while a command that may take away an administrator is checked and
/// run: two administrators removing each other at the same moment would
/// otherwise both see the other one remain. (One process: instances that
/// share a PostgreSQL database each have their own.)
static ADMIN_CHANGES: Mutex<()> = Mutex::new(());

/// Whether `raw` names the administrators' group, read as a group name is.
fn is_admin_group(raw: &str) -> bool {
    GroupName::parse(raw.trim()).is_ok_and(|g| g.as_str() == ADMIN_GROUP)
}

/// Whether a list of groups as commands take it (entries may hold several,
/// comma-separated, as `AdminContext::groups` reads them) includes
/// `ferrid-admins`.
pub fn names_admin_group(groups: &[String]) -> bool {
    groups.iter().flat_map(|g| g.split(',')).any(is_admin_group)
}

/// The user a command would leave without administrator rights, and what
/// it would do to them (for the message); None if it takes none away.
fn demoted(command: &AdminCommand) -> Option<(&str, &'static str)> {
    match command {
        AdminCommand::UserDisable { username, disabled: true } => Some((username, "disabling")),
        AdminCommand::UserDelete { username } => Some((username, "deleting")),
        AdminCommand::UserGroups { username, groups } if !names_admin_group(groups) => {
            Some((username, "taking them out of ferrid-admins"))
        }
        _ => None,
    }
}

/// Taken for the commands `check` must see run before the next one looks.
pub(super) fn one_at_a_time(command: &AdminCommand) -> Option<MutexGuard<'static, ()>> {
    // The guarded data is (): a panic elsewhere cannot leave it inconsistent.
    demoted(command).map(|_| ADMIN_CHANGES.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Refuses a command that would leave ferrid without an administrator.
pub(super) fn check(ctx: &AdminContext<'_>, command: &AdminCommand) -> Result<(), AdminError> {
    match command {
        AdminCommand::GroupRename { name, .. } | AdminCommand::GroupRemove { name } if is_admin_group(name) => {
            Err(AdminError::Invalid(format!(
                "{ADMIN_GROUP} cannot be renamed or removed: its members are ferrid's administrators. \
                 To change who administers ferrid, change who is in it."
            )))
        }
        _ => match demoted(command) {
            Some((username, doing)) => keeps_another_admin(ctx, username, doing),
            None => Ok(()),
        },
    }
}

fn keeps_another_admin(ctx: &AdminContext<'_>, username: &str, doing: &str) -> Result<(), AdminError> {
    let user = ctx.user(username)?;
    if !is_admin(&user) {
        return Ok(());
    }
    let others = ctx.store.users()?.iter().filter(|u| u.sub != user.sub && is_admin(u)).count();
    if others > 0 {
        return Ok(());
    }
    Err(AdminError::Conflict(format!(
        "{} is the last enabled administrator: {doing} would leave no one who can use the admin console. \
         Make another user an administrator first (add them to {ADMIN_GROUP}).",
        user.username
    )))
}
