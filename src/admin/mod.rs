//! Administration: one set of commands, one executor. The CLI runs a
//! command against the store directly when no server holds it, and through
//! the server's loopback admin API when one does (sled allows one process).

pub mod bootstrap;
mod catalog;
pub mod client;
mod commands;
mod context;
pub mod endpoint;
mod guard;
mod links;
mod registration;
mod values;
pub mod views;

pub use catalog::{AppUpdate, ClientSwitches};
pub use commands::AdminCommand;
pub use context::{AdminContext, AdminError, Change};
pub use guard::{ADMIN_GROUP, is_admin, names_admin_group};
pub use values::TARGETS as VALUE_TARGETS;

/// Runs one administrative command for the CLI, the admin API and the
/// console alike: the rules that keep an administrator (`guard`) first,
/// then the command, then its audit event.
pub fn execute(ctx: &AdminContext<'_>, command: AdminCommand) -> Result<views::AdminAnswer, AdminError> {
    // Stamped again when recorded: the events the command itself leaves
    // (a session ended) carry later times, and the trail is in time order.
    let audited = commands::audit_of(&command, ctx.clock.now());
    let _one_at_a_time = guard::one_at_a_time(&command);
    guard::check(ctx, &command)?;
    let result = commands::run(ctx, command)?;
    if let Some(mut event) = audited {
        event.at = ctx.clock.now();
        ctx.store.record(&event.by(ctx.actor));
    }
    Ok(result)
}
