//! `user`: adding, listing and changing users, their groups, sessions and
//! second factors.

use super::password::hashed_password;
use super::shared::{JsonFlag, dispatch, print};
use crate::admin::AdminCommand;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum UserCommand {
    /// Add a user. The password is read from stdin when it is not a terminal;
    /// otherwise a random one is generated and printed once.
    Add {
        /// The name to sign in with (letters, digits, . _ - @).
        username: String,
        /// The email address claim (`email` scope).
        #[arg(long)]
        email: Option<String>,
        /// The full name claim (`profile` scope).
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated groups (declared in config.yaml).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Add a user without a password, and print a one-time invitation link
    /// where they choose a password or register a passkey (you never see
    /// their password). It works once, for `lifetimes.invitation` (24h).
    Invite {
        /// The name to sign in with (letters, digits, . _ - @).
        username: String,
        /// The email address claim (`email` scope).
        #[arg(long)]
        email: Option<String>,
        /// The full name claim (`profile` scope).
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated groups (declared in config.yaml).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Also mail the link to --email (needs `smtp:` in config.yaml).
        #[arg(long, requires = "email")]
        mail: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Print a one-time recovery link for a user who lost their password or
    /// passkey: it signs them in to set a new one, and ends their other
    /// sessions. It works once, for `lifetimes.recovery_link` (1h).
    Link {
        /// The user's name.
        username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List a user's invitation and recovery links (open, used, expired).
    Links {
        /// The user's name.
        username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Revoke an open link by its id (from `user links`).
    RevokeLink {
        /// The link's id (`link_…`).
        id: String,
    },
    /// List users.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change a user's name or email claim (an empty value clears it).
    Update {
        /// The user's name.
        username: String,
        /// The full name claim.
        #[arg(long)]
        name: Option<String>,
        /// The email address claim.
        #[arg(long)]
        email: Option<String>,
        /// Mark the address as the user's (`email_verified: true` in tokens,
        /// and recovery links by mail): only if you know it is.
        #[arg(long)]
        email_verified: bool,
    },
    /// Set a user's password (stdin, or prompted on a terminal).
    Passwd {
        /// The user's name.
        username: String,
    },
    /// Disable a user (their sessions and refresh tokens stop working).
    Disable {
        /// The user's name.
        username: String,
        /// Enable again instead (as `user enable`).
        #[arg(long)]
        enable: bool,
    },
    /// Enable a disabled user again (their old sessions stay ended).
    Enable {
        /// The user's name.
        username: String,
    },
    /// Replace a user's groups.
    Groups {
        /// The user's name.
        username: String,
        /// The groups, comma-separated (none: no groups).
        #[arg(value_delimiter = ',')]
        groups: Vec<String>,
    },
    /// List where a user is signed in (their SSO sessions).
    Sessions {
        /// The user's name.
        username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Sign a user out everywhere: every session ends, and applications with
    /// a back-channel logout URI are told.
    Logout {
        /// The user's name.
        username: String,
    },
    /// Delete a user: sessions end, tokens stop working.
    Delete {
        /// The user's name.
        username: String,
    },
    /// A user's second factors: `mfa NAME` lists them, `mfa reset NAME`
    /// removes them all (a lost phone).
    Mfa {
        /// NAME, or `reset NAME`.
        #[arg(num_args = 1..=2, value_names = ["reset", "NAME"])]
        args: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

const USER_COLUMNS: &[&str] = &["username", "sub", "email", "groups", "disabled"];
const LINK_COLUMNS: &[&str] = &["id", "kind", "username", "status", "expires_at", "created_by"];
const FACTOR_COLUMNS: &[&str] = &["id", "kind", "name", "created_at", "last_used_at", "left"];
const SESSION_COLUMNS: &[&str] = &["sid", "started", "last_seen", "address", "applications", "user_agent"];

pub(super) fn run(config: &Config, cmd: UserCommand) -> Result<(), String> {
    match cmd {
        UserCommand::Add { username, email, name, groups, out } => {
            let (password_hash, shown) = hashed_password(config, "")?;
            let value = dispatch(config, AdminCommand::UserAdd { username, email, name, groups, password_hash })?;
            print(&value, out.json, USER_COLUMNS);
            if let Some(password) = shown {
                eprintln!("password (shown once): {password}");
            }
        }
        UserCommand::Invite { username, email, name, groups, mail, out } => {
            let command = AdminCommand::UserInvite {
                username: username.clone(),
                email: email.clone(),
                name: name.clone(),
                groups,
            };
            let value = dispatch(config, command)?;
            print_link(&value, out.json, "Invitation");
            if let (true, Some(to)) = (mail, email) {
                let smtp = config.smtp.as_ref().ok_or("--mail: config.yaml has no smtp: settings")?;
                let mailer = crate::mail::Mailer::new(smtp).map_err(|e| e.to_string())?;
                let url = value["url"].as_str().unwrap_or_default();
                let kind = crate::store::LinkKind::Invitation;
                let site = config.public_url.as_str();
                let letter = crate::links::mail_to(&to, &username, name.as_deref(), kind, url, site);
                mailer.send(&letter).map_err(|e| format!("the link above was not mailed: {e}"))?;
                eprintln!("mailed to {to}");
            }
        }
        UserCommand::Link { username, out } => {
            print_link(&dispatch(config, AdminCommand::UserLink { username })?, out.json, "Recovery link");
        }
        UserCommand::Links { username, out } => {
            print(&dispatch(config, AdminCommand::LinkList { username })?, out.json, LINK_COLUMNS);
        }
        UserCommand::RevokeLink { id } => {
            print(&dispatch(config, AdminCommand::LinkRevoke { id })?, false, LINK_COLUMNS);
        }
        UserCommand::List { out } => print(&dispatch(config, AdminCommand::UserList)?, out.json, USER_COLUMNS),
        UserCommand::Update { username, name, email, email_verified } => {
            let email_verified = email_verified.then_some(true);
            print(
                &dispatch(config, AdminCommand::UserUpdate { username, name, email, email_verified })?,
                false,
                USER_COLUMNS,
            );
        }
        UserCommand::Passwd { username } => {
            let (password_hash, _) = hashed_password(config, "New password: ")?;
            dispatch(config, AdminCommand::UserPasswd { username: username.clone(), password_hash })?;
            println!("password changed for {username}");
        }
        UserCommand::Disable { username, enable } => {
            let value = dispatch(config, AdminCommand::UserDisable { username, disabled: !enable })?;
            print(&value, false, USER_COLUMNS);
        }
        UserCommand::Enable { username } => {
            let value = dispatch(config, AdminCommand::UserDisable { username, disabled: false })?;
            print(&value, false, USER_COLUMNS);
        }
        UserCommand::Groups { username, groups } => {
            print(&dispatch(config, AdminCommand::UserGroups { username, groups })?, false, USER_COLUMNS);
        }
        UserCommand::Sessions { username, out } => {
            print(&dispatch(config, AdminCommand::UserSessions { username })?, out.json, SESSION_COLUMNS)
        }
        UserCommand::Logout { username } => {
            let value = dispatch(config, AdminCommand::UserLogout { username: username.clone() })?;
            println!("{username}: {} session(s) ended", value["sessions"].as_u64().unwrap_or(0));
        }
        UserCommand::Mfa { args, out } => match args.as_slice() {
            [username] => print(
                &dispatch(config, AdminCommand::UserMfa { username: username.clone() })?,
                out.json,
                FACTOR_COLUMNS,
            ),
            [reset, username] if reset == "reset" => {
                let value = dispatch(config, AdminCommand::UserMfaReset { username: username.clone() })?;
                println!("{username}: {} second factor(s) removed", value["factors"].as_u64().unwrap_or(0));
            }
            _ => return Err("usage: ferrid user mfa NAME | ferrid user mfa reset NAME".into()),
        },
        UserCommand::Delete { username } => {
            let value = dispatch(config, AdminCommand::UserDelete { username: username.clone() })?;
            println!("{username} deleted; {} session(s) ended", value["sessions"].as_u64().unwrap_or(0));
        }
    }
    Ok(())
}

/// A link just made: its URL on a line of its own (to copy, or to pipe).
fn print_link(value: &serde_json::Value, json: bool, what: &str) {
    if json {
        print(value, true, LINK_COLUMNS);
        return;
    }
    let text = |k: &str| value[k].as_str().unwrap_or_default().to_owned();
    println!("{what} for {} ({}), works once until {}:", text("username"), text("id"), text("expires_at"));
    println!("{}", text("url"));
}
