//! `group`: groups made at run time (those in config.yaml are read-only).

use super::shared::{JsonFlag, dispatch, print};
use crate::admin::AdminCommand;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum GroupCommand {
    /// Make a group at run time (no restart; config.yaml's stay read-only).
    Add {
        /// The group's name.
        name: String,
        /// What the group is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List groups (`declared`: from config.yaml).
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Rename a run-time group: its members and the applications that name
    /// it (access policy, claim mappings) follow.
    Rename {
        /// The group's name now.
        name: String,
        /// Its new name.
        new_name: String,
    },
    /// Remove a run-time group; its members lose it.
    Remove {
        /// The group's name.
        name: String,
    },
    /// Require a second factor of the group's members (or, with --off, not);
    /// config.yaml's `require_mfa` wins at the next start.
    RequireMfa {
        /// The group's name.
        name: String,
        /// Make it optional again.
        #[arg(long)]
        off: bool,
    },
}

const GROUP_COLUMNS: &[&str] = &["name", "description", "require_mfa", "declared"];

pub(super) fn run(config: &Config, cmd: GroupCommand) -> Result<(), String> {
    match cmd {
        GroupCommand::Add { name, description } => {
            let value = dispatch(config, AdminCommand::GroupAdd { name, description })?;
            print(&value, false, GROUP_COLUMNS);
        }
        GroupCommand::List { out } => {
            print(&dispatch(config, AdminCommand::GroupList)?, out.json, GROUP_COLUMNS);
        }
        GroupCommand::Rename { name, new_name } => {
            let value = dispatch(config, AdminCommand::GroupRename { name, new_name })?;
            println!(
                "group {} renamed to {}; {} member(s) and {} application(s) updated",
                value["name"].as_str().unwrap_or_default(),
                value["new_name"].as_str().unwrap_or_default(),
                value["users"].as_u64().unwrap_or(0),
                value["apps"].as_u64().unwrap_or(0)
            );
        }
        GroupCommand::Remove { name } => {
            let value = dispatch(config, AdminCommand::GroupRemove { name: name.clone() })?;
            println!("group {name} removed; {} member(s) lost it", value["members"].as_u64().unwrap_or(0));
        }
        GroupCommand::RequireMfa { name, off } => {
            dispatch(config, AdminCommand::GroupRequireMfa { group: name.clone(), required: !off })?;
            println!("group {name}: second factor {}", if off { "optional" } else { "required" });
        }
    }
    Ok(())
}
