//! `token`: personal access tokens.

use super::shared::{JsonFlag, dispatch, print};
use crate::admin::AdminCommand;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum TokenCommand {
    /// Create a personal access token; it is printed once.
    Create {
        /// The user the token acts as (username).
        #[arg(long)]
        user: String,
        /// The application (slug) the token is for.
        #[arg(long)]
        app: String,
        /// Space-separated scopes (default: openid profile email groups).
        #[arg(long)]
        scope: Option<String>,
        /// Lifetime, e.g. 30d (1m to 400d).
        #[arg(long, default_value = "30d")]
        expires: String,
        /// What the token is for ("backup script"), shown in lists.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this user's tokens (username).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Revoke a token at once.
    Revoke {
        /// The token's id, as `token list` shows it.
        id: String,
    },
}

const TOKEN_COLUMNS: &[&str] =
    &["id", "user", "app", "scope", "status", "created_at", "expires_at", "last_used", "description"];

pub(super) fn run(config: &Config, cmd: TokenCommand) -> Result<(), String> {
    match cmd {
        TokenCommand::Create { user, app, scope, expires, description, out } => {
            let expires_in = crate::config::parse_duration(&expires).map_err(|e| format!("--expires: {e}"))?;
            let value =
                dispatch(config, AdminCommand::PatCreate { username: user, app, scope, expires_in, description })?;
            if out.json {
                print(&value, true, TOKEN_COLUMNS);
            } else {
                println!("{}", value["token"].as_str().unwrap_or_default());
                eprintln!(
                    "token {} (shown once; revoke with `ferrid token revoke {}`)",
                    value["id"].as_str().unwrap_or_default(),
                    value["id"].as_str().unwrap_or_default()
                );
            }
        }
        TokenCommand::List { user, out } => {
            print(&dispatch(config, AdminCommand::PatList { username: user })?, out.json, TOKEN_COLUMNS)
        }
        TokenCommand::Revoke { id } => {
            dispatch(config, AdminCommand::PatRevoke { id: id.clone() })?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}
