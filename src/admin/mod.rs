//! Administration: one set of commands, one executor. The CLI runs a
//! command against the store directly when no server holds it, and through
//! the server's loopback admin API when one does (sled allows one process).

pub mod bootstrap;
mod catalog;
pub mod client;
mod commands;
pub mod endpoint;
pub mod views;

pub use catalog::AppUpdate;

/// Members may use the admin console at `/admin/`. Made at every start if
/// missing; the first-start `admin` user is put in it.
pub const ADMIN_GROUP: &str = "ferrid-admins";
pub use commands::{AdminCommand, AdminContext, AdminError, Change, execute};

/// May `user` use the admin console?
pub fn is_admin(user: &crate::store::User) -> bool {
    !user.disabled && user.groups.iter().any(|g| g.as_str() == ADMIN_GROUP)
}
