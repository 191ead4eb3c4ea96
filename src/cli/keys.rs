//! `keys`: listing, rotating and exporting the signing keys.

use super::shared::{JsonFlag, dispatch, print};
use crate::admin::AdminCommand;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// List signing keys: algorithm, kid, created, published or retired.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Start signing with a new key; the old one stays in the JWKS until its tokens expire.
    Rotate {
        /// Only this algorithm's key (RS256, ES256, EdDSA; default: all in use).
        #[arg(long)]
        alg: Option<String>,
    },
    /// Print the published public keys (current first), e.g. for passport-jwt's secretOrKey.
    Export {
        /// PEM output (the only format here; the JWKS is at /application/o/{slug}/jwks/).
        #[arg(long, required = true)]
        pem: bool,
        /// RS256 (default), ES256 or EdDSA.
        #[arg(long)]
        alg: Option<String>,
    },
}

pub(super) fn run(config: &Config, cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::List { out } => {
            print(&dispatch(config, AdminCommand::KeysList)?, out.json, &["kid", "alg", "status", "created_at"])
        }
        KeysCommand::Rotate { alg } => {
            print(&dispatch(config, AdminCommand::KeysRotate { alg })?, false, &["kid", "alg", "file"])
        }
        KeysCommand::Export { pem: _, alg } => {
            let value = dispatch(config, AdminCommand::KeysExportPem { alg })?;
            print!("{}", value["pem"].as_str().unwrap_or_default());
        }
    }
    Ok(())
}
