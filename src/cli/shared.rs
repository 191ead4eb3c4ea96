//! What the command files share: the config, the `--json` flag, running an
//! administrative command (here, or through the server that holds the
//! store), and printing its answer.

use crate::admin::endpoint::{AdminEndpoint, admin_file};
use crate::admin::{AdminCommand, AdminContext, Change, client, execute};
use crate::clock::Clock;
use crate::config::{Config, ProcessEnv};
use clap::Args;
use serde_json::Value;

pub(super) fn load_config(path: &std::path::Path) -> Result<Config, String> {
    Config::load(path, &ProcessEnv).map_err(|e| e.to_string())
}

#[derive(Args)]
pub(super) struct JsonFlag {
    /// Machine-readable output.
    #[arg(long)]
    pub(super) json: bool,
}

/// Runs a command on the store, or via the server that holds it.
pub(super) fn dispatch(config: &Config, command: AdminCommand) -> Result<Value, String> {
    // Never a new, empty database for an admin command: that would list
    // nobody and exit 0 when the config points somewhere unexpected.
    // `try_exists`: a data dir ferrid may not look into is not a missing
    // one; opening it says what is wrong with its permissions.
    if matches!(config.store, crate::config::StoreChoice::Sled { .. })
        && matches!(config.data_dir.try_exists(), Ok(false))
    {
        return Err(format!(
            "there is no ferrid database at {} (data_dir): check the config, or run `ferrid serve` once to create it",
            config.data_dir.display()
        ));
    }
    match crate::startup::open_store(config) {
        Ok(store) => {
            let clock = Clock::system();
            let no_server = |_: Change| Ok(());
            let ctx =
                AdminContext { store: &store, config, clock: &clock, on_change: &no_server, actor: "command line" };
            execute(&ctx, command).map(|answer| answer.to_json()).map_err(|e| e.to_string())
        }
        Err(e) if e.is_locked() => {
            let path = admin_file(&config.data_dir);
            let text = std::fs::read(&path).map_err(|_| {
                format!(
                    "the database is in use by another process and {} is missing; is ferrid starting or stopping?",
                    path.display()
                )
            })?;
            let endpoint: AdminEndpoint =
                serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            client::send(&endpoint, &command).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

pub(super) fn print(value: &Value, json: bool, columns: &[&str]) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        return;
    }
    let rows: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    println!("{}", columns.join("\t"));
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            // Cells can hold what an attacker typed (audit rows): escaped,
            // so a newline or tab cannot forge a row and no escape sequence
            // reaches the terminal.
            .map(|c| match &row[*c] {
                Value::String(s) => crate::escape::escaped(s),
                Value::Null => "-".into(),
                Value::Array(items) => crate::escape::escaped(
                    &items.iter().map(|i| i.as_str().unwrap_or_default()).collect::<Vec<_>>().join(","),
                ),
                other => other.to_string(),
            })
            .collect();
        println!("{}", cells.join("\t"));
    }
}
