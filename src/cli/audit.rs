//! `audit`: the audit trail, filtered.

use super::shared::{dispatch, print};
use crate::admin::AdminCommand;
use crate::clock::Clock;
use crate::config::Config;

pub(super) fn run(
    config: &Config,
    user: Option<String>,
    app: Option<String>,
    kind: Option<String>,
    since: &str,
    json: bool,
) -> Result<(), String> {
    let back = crate::config::parse_duration(since).map_err(|e| format!("--since: {e}"))?;
    let since = Clock::system().now() - back;
    let events = dispatch(config, AdminCommand::AuditList { since, user, app, kind })?;
    print(&events, json, &["time", "kind", "user", "app", "ip", "detail", "by"]);
    Ok(())
}
