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
pub use commands::{AdminCommand, AdminContext, AdminError, Change, execute};
