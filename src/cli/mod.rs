//! Command-line interface. Administrative commands work whether or not the
//! server runs: against the store directly, or through the running server's
//! loopback admin API (sled lets only one process open the database).
//!
//! This file holds clap's top level and runs each command; a file per group
//! of commands holds its subcommands and what they do, and `shared` what
//! they all use (the config, `--json`, running an admin command, printing).

mod app;
mod audit;
mod backup;
mod cert;
mod group;
mod keys;
mod migrate;
mod nodered;
mod password;
mod serve;
mod shared;
mod token;
mod user;

use app::AppCommand;
use cert::CertCommand;
use clap::{Parser, Subcommand};
use group::GroupCommand;
use keys::KeysCommand;
use nodered::NoderedCommand;
use shared::{JsonFlag, load_config};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use token::TokenCommand;
use user::UserCommand;

#[derive(Parser)]
#[command(name = "ferrid", version, about = "A small OpenID Connect / JWT identity provider")]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "FERRID_CONFIG", default_value = "config.yaml")]
    config: PathBuf,
    /// Log lines as text (default) or as one JSON object per line.
    #[arg(long, global = true, env = "FERRID_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the identity provider.
    Serve,
    /// Validate the configuration and exit (0 if it is valid).
    CheckConfig,
    /// Ask the running server's /healthz (for Docker's HEALTHCHECK): exit 0
    /// if it answers 200, 1 otherwise.
    Healthcheck {
        /// The server's base URL; default: `listen` from the config
        /// (https when `tls` is set; 0.0.0.0 asked as 127.0.0.1).
        #[arg(long)]
        url: Option<String>,
    },
    /// Print a bcrypt hash of a password (from stdin when it is not a terminal),
    /// ready to paste into Node-RED's settings.js.
    HashPw {
        /// bcrypt work factor (each step doubles the time); Node-RED takes 8 and more.
        #[arg(long, default_value_t = 10)]
        cost: u32,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage applications (OAuth clients).
    #[command(subcommand)]
    App(AppCommand),
    /// Groups: declared in config.yaml, or made at run time.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Node-RED helpers.
    #[command(subcommand)]
    Nodered(NoderedCommand),
    /// Personal access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Write a consistent copy of the store and signing keys to FILE (mode
    /// 0600), also while the server runs.
    Backup {
        /// Where to write the backup.
        file: PathBuf,
    },
    /// Restore a backup into the configured data dir, which must be empty
    /// (the server must not be running on it).
    Restore {
        /// A file `ferrid backup` wrote.
        file: PathBuf,
    },
    /// Copy every record from the configured store into another, empty one
    /// (sled to PostgreSQL, or back), then check counts and a checksum. Stop
    /// ferrid first; afterwards point `store` in config.yaml at the target.
    Migrate {
        /// A PostgreSQL database to copy into (postgres://user@host/db; the
        /// password may come from FERRID_POSTGRES_PASSWORD[_FILE]).
        #[arg(long, conflicts_with = "to_sled", required_unless_present = "to_sled")]
        to_postgres: Option<String>,
        /// A folder for a new sled database to copy into (a data_dir).
        #[arg(long)]
        to_sled: Option<PathBuf>,
    },
    /// TLS certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Show the audit trail: sign-ins, tokens issued, administrative changes.
    Audit {
        /// Only events of this user (username).
        #[arg(long)]
        user: Option<String>,
        /// The application's slug (as everywhere in the CLI), or its client id.
        #[arg(long)]
        app: Option<String>,
        /// Only events of this kind (sign_in, sign_in_failed, user_changed…).
        #[arg(long)]
        kind: Option<String>,
        /// How far back, e.g. 1h, 7d (default: 24h).
        #[arg(long, default_value = "24h")]
        since: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

pub fn main() -> ExitCode {
    crate::fsutil::private_umask();
    crate::malloc::one_malloc_arena();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve) {
        crate::malloc::restart_without_thread_caches();
    } else {
        crate::fsutil::default_sigpipe();
    }
    init_tracing(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ferrid: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRID_LOG").unwrap_or_else(|_| "info".into());
    // Colour codes only for a person at a terminal, never into a log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.fmt_fields(escaped_fields()).init(),
        // Span fields (the request id) go on every line, for log shippers.
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}

/// Text log fields with control characters escaped (see `escape`): a
/// username typed with a newline cannot forge a log line, and escape
/// sequences never reach a terminal. Applies to every field, span fields
/// (the request path) included. (JSON logs are escaped by JSON itself.)
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        if field.name() != "message" {
            write!(writer, "{}=", field.name())?;
        }
        std::fmt::Write::write_fmt(&mut crate::escape::EscapingWriter(writer), format_args!("{value:?}"))
    })
    .delimited(" ")
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve => serve::serve(load_config(&cli.config)?),
        Command::Healthcheck { url } => serve::healthcheck(&cli.config, url),
        Command::CheckConfig => serve::check_config(&cli.config),
        Command::HashPw { cost } => password::hash_pw(cost),
        Command::User(cmd) => user::run(&load_config(&cli.config)?, cmd),
        Command::App(cmd) => app::run(&load_config(&cli.config)?, cmd),
        Command::Group(cmd) => group::run(&load_config(&cli.config)?, cmd),
        Command::Keys(cmd) => keys::run(&load_config(&cli.config)?, cmd),
        Command::Token(cmd) => token::run(&load_config(&cli.config)?, cmd),
        Command::Backup { file } => backup::backup(&load_config(&cli.config)?, &file),
        Command::Restore { file } => backup::restore(&load_config(&cli.config)?, &file),
        Command::Migrate { to_postgres, to_sled } => migrate::run(&load_config(&cli.config)?, to_postgres, to_sled),
        Command::Cert(cmd) => cert::run(cmd),
        Command::Audit { user, app, kind, since, out } => {
            audit::run(&load_config(&cli.config)?, user, app, kind, &since, out.json)
        }
        Command::Nodered(cmd) => nodered::run(&load_config(&cli.config)?, cmd),
    }
}

#[cfg(test)]
mod help_tests {
    use clap::CommandFactory;

    /// Every command says what it does and every argument has a line of
    /// `--help`: nobody should need the source to run ferrid.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{sub_path} (no about)"));
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "ferrid", &mut missing);
        assert!(missing.is_empty(), "without help:\n{}", missing.join("\n"));
    }
}
