//! Command-line interface. Administrative commands work whether or not the
//! server runs: against the store directly, or through the running server's
//! loopback admin API (sled lets only one process open the database).

use crate::admin::endpoint::{AdminEndpoint, admin_file};
use crate::admin::{AdminCommand, AdminContext, Change, client, execute};
use crate::clock::Clock;
use crate::config::{Config, ProcessEnv};
use crate::startup::Application;
use crate::store::Store;
use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

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

#[derive(Subcommand)]
enum CertCommand {
    /// Write a self-signed certificate and key for a homelab host
    /// (EC P-256 unless --rsa; the key file gets mode 0600).
    SelfSigned {
        /// DNS name clients use (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// IP address clients use (repeatable).
        #[arg(long = "ip")]
        ips: Vec<std::net::IpAddr>,
        /// Where cert.pem and key.pem go.
        #[arg(long, default_value = "tls")]
        out: PathBuf,
        /// How long it is valid (397 days is what browsers accept at most).
        #[arg(long, default_value_t = crate::tls::self_signed::DEFAULT_DAYS)]
        days: u32,
        /// RSA 2048 instead of EC P-256 (for old clients).
        #[arg(long)]
        rsa: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
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

#[derive(Subcommand)]
enum NoderedCommand {
    /// Print a settings.js fragment (adminAuth with passport-openidconnect and
    /// group permissions) for an application.
    Settings {
        /// The application (slug) Node-RED is registered as.
        #[arg(long)]
        app: String,
        /// The claim carrying permissions (default: the application's first mapped claim).
        #[arg(long)]
        claim: Option<String>,
        /// Also accept ferrid access tokens on the admin API (adminAuth.tokens), verified offline.
        #[arg(long, conflicts_with = "pat")]
        tokens: bool,
        /// Also accept personal access tokens (and access tokens) on the admin API,
        /// checked with ferrid's introspection endpoint at every request.
        #[arg(long)]
        pat: bool,
        /// Instead: an httpNodeMiddleware that puts Node-RED's HTTP-in endpoints
        /// and dashboard behind ferrid (APP is then a proxy application).
        #[arg(long, conflicts_with_all = ["claim", "tokens", "pat"])]
        http: bool,
    },
    /// Write ferrid-auth.js into Node-RED's user directory and print the one
    /// line its settings.js needs at the end (works with Node-RED's own
    /// default settings.js as it is).
    Setup {
        /// The application (slug) Node-RED is registered as.
        #[arg(long)]
        app: String,
        /// Node-RED's user directory (~/.node-red, or the -u DIR it runs with).
        #[arg(long)]
        user_dir: std::path::PathBuf,
        /// The claim carrying permissions (default: the application's first mapped claim).
        #[arg(long)]
        claim: Option<String>,
        /// Also accept personal access tokens on the admin API (introspection).
        #[arg(long)]
        pat: bool,
    },
}

#[derive(Args)]
struct JsonFlag {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum UserCommand {
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

#[derive(Subcommand)]
enum AppCommand {
    /// Register an application; its client secret is printed once.
    Add {
        /// The application's slug (its path: /application/o/SLUG/).
        slug: String,
        /// Where the application receives sign-ins (repeat for several).
        #[arg(long = "redirect-uri", required_unless_present_any = ["machine", "proxy"])]
        redirect_uris: Vec<String>,
        /// A proxy application (forward-auth behind nginx, Caddy or
        /// Traefik): the HOST[:PORT][/PATH] it protects (repeat for several).
        #[arg(long, conflicts_with_all = ["machine", "public", "redirect_uris", "client_id", "signing_alg"])]
        proxy: Vec<String>,
        /// A path of a proxy application that passes without signing in
        /// (repeat for several), such as /health.
        #[arg(long, requires = "proxy")]
        bypass: Vec<String>,
        /// A script or service with no sign-in page: client_credentials only,
        /// no redirect URI.
        #[arg(long, conflicts_with_all = ["public", "redirect_uris"])]
        machine: bool,
        /// The name users see (default: the slug).
        #[arg(long)]
        name: Option<String>,
        /// The OAuth client_id (default: the slug).
        #[arg(long)]
        client_id: Option<String>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// RS256 (default), ES256 or EdDSA: how its tokens are signed.
        #[arg(long)]
        signing_alg: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List applications.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one application: URLs, secret kind, policy, claims.
    Show {
        /// The application's slug (its path: /application/o/SLUG/).
        slug: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change an application made with `app add` (those in config.yaml are
    /// changed there). Options not given stay as they are.
    Update {
        /// The application's slug (its path: /application/o/SLUG/).
        slug: String,
        /// The name users see.
        #[arg(long)]
        name: Option<String>,
        /// Replace the redirect URIs (repeat for several; give "" for none on a machine client).
        #[arg(long = "redirect-uri")]
        redirect_uris: Option<Vec<String>>,
        /// Replace where RP-Initiated Logout may return to (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Option<Vec<String>>,
        /// RS256, ES256 or EdDSA.
        #[arg(long)]
        signing_alg: Option<String>,
        /// Replace the groups allowed to sign in (comma-separated; "" for everyone).
        #[arg(long, value_delimiter = ',')]
        allowed_groups: Option<Vec<String>>,
        /// Replace the users allowed to sign in (comma-separated).
        #[arg(long, value_delimiter = ',')]
        allowed_users: Option<Vec<String>>,
        /// Replace the claim mappings, one per flag: 'CLAIM: GROUP=VALUE,VALUE; GROUP=VALUE'.
        #[arg(long = "claim")]
        claims: Option<Vec<String>>,
        /// implicit, once or always.
        #[arg(long)]
        consent: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Remove an application made with `app add`: its consents go, its
    /// refresh and personal access tokens are revoked.
    Remove {
        /// The application's slug (its path: /application/o/SLUG/).
        slug: String,
    },
    /// Replace the client secret; the new one is printed once.
    RotateSecret {
        /// The application's slug (its path: /application/o/SLUG/).
        slug: String,
    },
    /// Require a second factor to sign in to the application (or, with
    /// --off, not). For one declared in config.yaml, its `require_mfa` wins
    /// at the next start.
    RequireMfa {
        /// The application's slug (its path: /application/o/SLUG/).
        slug: String,
        /// Make it optional again.
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
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

#[derive(Subcommand)]
enum KeysCommand {
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

pub fn main() -> ExitCode {
    crate::fsutil::private_umask();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve) {
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

fn load_config(path: &std::path::Path) -> Result<Config, String> {
    Config::load(path, &ProcessEnv).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve => serve(load_config(&cli.config)?),
        Command::Healthcheck { url } => healthcheck(&cli.config, url),
        Command::CheckConfig => {
            let config = load_config(&cli.config)?;
            if let Some(tls) = &config.tls {
                let (_, _, info) = crate::tls::CertReloader::open(&tls.cert, &tls.key).map_err(|e| e.to_string())?;
                println!("{}: serial {}, valid until {}", tls.cert.display(), info.serial, info.not_after);
            }
            println!(
                "{}: valid ({} applications, {} groups, issuer base {})",
                cli.config.display(),
                config.applications.len(),
                config.groups.len(),
                config.public_url.as_str()
            );
            Ok(())
        }
        Command::HashPw { cost } => {
            let password = read_password("Password: ")?;
            println!("{}", crate::crypto::password::hash(&password, cost).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::User(cmd) => user(&load_config(&cli.config)?, cmd),
        Command::App(cmd) => app(&load_config(&cli.config)?, cmd),
        Command::Group(GroupCommand::Add { name, description }) => {
            let value = dispatch(&load_config(&cli.config)?, AdminCommand::GroupAdd { name, description })?;
            print(&value, false, GROUP_COLUMNS);
            Ok(())
        }
        Command::Group(GroupCommand::List { out }) => {
            print(&dispatch(&load_config(&cli.config)?, AdminCommand::GroupList)?, out.json, GROUP_COLUMNS);
            Ok(())
        }
        Command::Group(GroupCommand::Rename { name, new_name }) => {
            let value = dispatch(&load_config(&cli.config)?, AdminCommand::GroupRename { name, new_name })?;
            println!(
                "group {} renamed to {}; {} member(s) and {} application(s) updated",
                value["name"].as_str().unwrap_or_default(),
                value["new_name"].as_str().unwrap_or_default(),
                value["users"].as_u64().unwrap_or(0),
                value["apps"].as_u64().unwrap_or(0)
            );
            Ok(())
        }
        Command::Group(GroupCommand::Remove { name }) => {
            let value = dispatch(&load_config(&cli.config)?, AdminCommand::GroupRemove { name: name.clone() })?;
            println!("group {name} removed; {} member(s) lost it", value["members"].as_u64().unwrap_or(0));
            Ok(())
        }
        Command::Group(GroupCommand::RequireMfa { name, off }) => {
            let config = load_config(&cli.config)?;
            dispatch(&config, AdminCommand::GroupRequireMfa { group: name.clone(), required: !off })?;
            println!("group {name}: second factor {}", if off { "optional" } else { "required" });
            Ok(())
        }
        Command::Keys(cmd) => keys(&load_config(&cli.config)?, cmd),
        Command::Token(cmd) => token(&load_config(&cli.config)?, cmd),
        Command::Backup { file } => backup(&load_config(&cli.config)?, &file),
        Command::Restore { file } => restore(&load_config(&cli.config)?, &file),
        Command::Migrate { to_postgres, to_sled } => migrate(&load_config(&cli.config)?, to_postgres, to_sled),
        Command::Cert(CertCommand::SelfSigned { hosts, ips, out, days, rsa }) => {
            self_signed(&hosts, &ips, &out, days, rsa)
        }
        Command::Audit { user, app, kind, since, out } => {
            let config = load_config(&cli.config)?;
            let back = crate::config::parse_duration(&since).map_err(|e| format!("--since: {e}"))?;
            let since = Clock::system().now() - back;
            let events = dispatch(&config, AdminCommand::AuditList { since, user, app, kind })?;
            print(&events, out.json, &["time", "kind", "user", "app", "ip", "detail", "by"]);
            Ok(())
        }
        Command::Nodered(NoderedCommand::Setup { app, user_dir, claim, pat }) => {
            let shown = dispatch(&load_config(&cli.config)?, AdminCommand::AppShow { slug: app })?;
            let options = crate::nodered::Options { claim: claim.as_deref(), tokens: false, introspect: pat };
            let module = crate::nodered::setup_module(&shown, &options).map_err(|e| e.to_string())?;
            let settings = user_dir.join("settings.js");
            if !settings.is_file() {
                return Err(format!(
                    "{} does not exist: start Node-RED once (it makes its user directory and settings.js), or give \
                     the -u DIR it runs with",
                    settings.display()
                ));
            }
            let path = user_dir.join("ferrid-auth.js");
            std::fs::write(&path, module).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("Wrote {}.", path.display());
            println!(
                "Add this line at the very end of {}:\n\n    {}\n",
                settings.display(),
                crate::nodered::SETUP_LINE
            );
            println!(
                "Then, in {}: npm install passport-openidconnect\nand start Node-RED with the client secret: \
                 FERRID_CLIENT_SECRET=... node-red",
                user_dir.display()
            );
            Ok(())
        }
        Command::Nodered(NoderedCommand::Settings { app, http: true, .. }) => {
            let shown = dispatch(&load_config(&cli.config)?, AdminCommand::AppShow { slug: app })?;
            print!("{}", crate::nodered::http_middleware(&shown).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Nodered(NoderedCommand::Settings { app, claim, tokens, pat, .. }) => {
            let shown = dispatch(&load_config(&cli.config)?, AdminCommand::AppShow { slug: app })?;
            let options = crate::nodered::Options { claim: claim.as_deref(), tokens, introspect: pat };
            print!("{}", crate::nodered::settings(&shown, &options).map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}

fn serve(config: Config) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listen = config.listen;
        let public = config.public_url.clone();
        let app = Application::build(config, Clock::system()).await.map_err(|e| e.to_string())?;
        if let Some(password) = &app.first_start.admin_password {
            println!("\nCreated user `admin` with password: {password}\n(shown once; change it with `ferrid user passwd admin`)\n");
        }
        for (slug, secret) in &app.first_start.generated_secrets {
            println!("\nApplication `{slug}` client secret: {secret}\n(shown once; `ferrid app rotate-secret {slug}` makes a new one)\n");
        }
        tracing::info!(%listen, port = app.port(), issuer_base = public.as_str(), "ferrid is listening");
        // On stdout too, with the port actually bound (`listen: …:0` picks a
        // free one): a supervisor or a test reads it there.
        println!("Listening on {}:{}", listen.ip(), app.port());
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

fn backup(config: &Config, file: &std::path::Path) -> Result<(), String> {
    if file.exists() {
        return Err(format!("{} exists; choose a new file name (nothing was written)", file.display()));
    }
    let value = dispatch(config, AdminCommand::Backup)?;
    let backup: crate::backup::Backup = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let bytes = crate::backup::encode(&backup);
    crate::fsutil::write_new_file(file, &bytes, 0o600).map_err(|e| format!("{}: {e}", file.display()))?;
    println!("wrote {} ({} bytes)", file.display(), bytes.len());
    Ok(())
}

fn restore(config: &Config, file: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let backup = crate::backup::decode(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let restored = crate::backup::restore(&backup, &config.data_dir, &config.keys_dir).map_err(|e| e.to_string())?;
    println!(
        "restored {} users and {} applications into {}; {} key files written to {}",
        restored.users,
        restored.apps,
        config.data_dir.display(),
        restored.keys_written,
        config.keys_dir.display()
    );
    Ok(())
}

fn migrate(config: &Config, to_postgres: Option<String>, to_sled: Option<PathBuf>) -> Result<(), String> {
    let source = crate::startup::open_store(config)
        .map_err(|e| if e.is_locked() { format!("{e}: stop ferrid before migrating") } else { e.to_string() })?;
    let into_sled = to_sled.is_some();
    let (target, named) = match (to_postgres, to_sled) {
        (Some(url), _) => {
            // The URL and password are read as the config reads them.
            let env = crate::config::ProcessEnv;
            let yaml = format!("store: {{ postgres: {} }}", serde_json::Value::String(url));
            let parsed = Config::from_yaml(&yaml, &env).map_err(|e| format!("--to-postgres: {e}"))?;
            let crate::config::StoreChoice::Postgres(pg) = parsed.store else {
                return Err("--to-postgres: not a PostgreSQL URL".into());
            };
            (Store::open_postgres(*pg).map_err(|e| e.to_string())?, "the PostgreSQL database".to_owned())
        }
        (None, Some(dir)) => {
            if dir.join("db").exists() {
                return Err(format!("{} already holds a database; migrate only into an empty one", dir.display()));
            }
            (Store::open(&dir).map_err(|e| e.to_string())?, dir.display().to_string())
        }
        (None, None) => return Err("give --to-postgres URL or --to-sled DIR".into()),
    };
    let report = source.copy_into(&target).map_err(|e| e.to_string())?;
    let total: usize = report.records.values().sum();
    println!("copied {total} records into {named}; counts and checksum match ({})", report.checksum);
    // Back to sled: its ferrid reads signing keys from files, not the database.
    if into_sled && matches!(config.store, crate::config::StoreChoice::Postgres(_)) {
        let keys = crate::keystore::KeyStore::of(config, &source).map_err(|e| e.to_string())?;
        let written = keys.export_to_files(&config.keys_dir).map_err(|e| e.to_string())?;
        println!("wrote {written} signing key files to {}", config.keys_dir.display());
    }
    for (tree, count) in &report.records {
        println!("  {tree:<16} {count}");
    }
    println!("next: set `store` in config.yaml to the target (docs/scaling.md), then start ferrid");
    Ok(())
}

fn self_signed(
    hosts: &[String],
    ips: &[std::net::IpAddr],
    out: &std::path::Path,
    days: u32,
    rsa: bool,
) -> Result<(), String> {
    use crate::tls::self_signed::{KeyKind, Request, generate};
    let key = if rsa { KeyKind::Rsa2048 } else { KeyKind::EcP256 };
    let generated = generate(&Request { hosts, ips, days, key }).map_err(|e| e.to_string())?;
    let (cert_path, key_path) = (out.join("cert.pem"), out.join("key.pem"));
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(format!("{} exists; move it away first (nothing was written)", path.display()));
        }
    }
    crate::fsutil::create_private_dir(out).map_err(|e| format!("{}: {e}", out.display()))?;
    crate::fsutil::write_new_file(&key_path, &generated.key_pem, 0o600)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    crate::fsutil::write_new_file(&cert_path, &generated.cert_pem, 0o644)
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    println!("wrote {} and {} (mode 0600), valid {days} days", cert_path.display(), key_path.display());
    println!("\nIn config.yaml:\n  tls: {{ cert: {}, key: {} }}", cert_path.display(), key_path.display());
    println!(
        "\nClients must trust {} (Node.js, e.g. Node-RED: NODE_EXTRA_CA_CERTS={}; browsers: import it).",
        cert_path.display(),
        cert_path.display()
    );
    Ok(())
}

fn read_password(prompt: &str) -> Result<String, String> {
    let password = match std::io::stdin().is_terminal() {
        true => rpassword::prompt_password(prompt).map_err(|e| e.to_string())?,
        false => piped_password()?.ok_or("no password was given on standard input")?,
    };
    checked(password, std::io::stdin().is_terminal())
}

/// The first line of a piped standard input, if it holds one.
fn piped_password() -> Result<Option<String>, String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text.lines().next().filter(|l| !l.is_empty()).map(str::to_owned))
}

fn checked(password: String, typed: bool) -> Result<String, String> {
    match crate::crypto::password::check_policy(&password) {
        Ok(()) => Ok(password),
        Err(e) if typed => Err(e.to_string()),
        Err(e) => Err(format!("the password given on standard input is refused: {e}")),
    }
}

fn healthcheck(config_path: &std::path::Path, url: Option<String>) -> Result<(), String> {
    let base = match url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let config = load_config(config_path)?;
            let mut addr = config.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("{}://{addr}", if config.tls.is_some() { "https" } else { "http" })
        }
    };
    let probe = format!("{base}{}", crate::paths::HEALTHZ);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let status = runtime.block_on(async {
        // A local liveness probe: the certificate is for the public name, not this address.
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| e.to_string())?;
        let response = client.get(&probe).send().await.map_err(|e| format!("{probe}: {e}"))?;
        Ok::<_, String>(response.status())
    })?;
    if status.is_success() {
        println!("{probe}: {status}");
        Ok(())
    } else {
        Err(format!("{probe}: {status}"))
    }
}

/// Runs a command on the store, or via the server that holds it.
fn dispatch(config: &Config, command: AdminCommand) -> Result<Value, String> {
    // Never a new, empty database for an admin command: that would list
    // nobody and exit 0 when the config points somewhere unexpected.
    // `try_exists`: a data dir ferrid may not look into is not a missing
    // one; opening it says what is wrong with its permissions.
    if matches!(config.store, crate::config::StoreChoice::Sled) && matches!(config.data_dir.try_exists(), Ok(false)) {
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

fn print(value: &Value, json: bool, columns: &[&str]) {
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

/// A new user's password (`prompt` empty: generated and shown once,
/// unless one is piped in) or a new one for `user passwd` (asked for).
fn hashed_password(config: &Config, prompt: &str) -> Result<(String, Option<String>), String> {
    let interactive = std::io::stdin().is_terminal();
    let generate = || crate::crypto::password::generate().map_err(|e| e.to_string());
    let (password, shown) = match (prompt.is_empty(), interactive) {
        (true, true) => {
            let generated = generate()?;
            (generated.clone(), Some(generated))
        }
        // A script or a pipe: the first line of standard input, or, with
        // nothing there, a generated password shown once as on a terminal.
        (true, false) => match piped_password()? {
            Some(given) => (checked(given, false)?, None),
            None => {
                let generated = generate()?;
                (generated.clone(), Some(generated))
            }
        },
        (false, _) => (read_password(prompt)?, None),
    };
    let hash = crate::crypto::password::hash(&password, config.password_hash_cost).map_err(|e| e.to_string())?;
    Ok((hash, shown))
}

const USER_COLUMNS: &[&str] = &["username", "sub", "email", "groups", "disabled"];
const GROUP_COLUMNS: &[&str] = &["name", "description", "require_mfa", "declared"];
const FACTOR_COLUMNS: &[&str] = &["id", "kind", "name", "created_at", "last_used_at", "left"];
const SESSION_COLUMNS: &[&str] = &["sid", "started", "last_seen", "address", "applications", "user_agent"];
const APP_COLUMNS: &[&str] = &["slug", "client_id", "client_type", "signing_alg", "issuer"];

fn user(config: &Config, cmd: UserCommand) -> Result<(), String> {
    match cmd {
        UserCommand::Add { username, email, name, groups, out } => {
            let (password_hash, shown) = hashed_password(config, "")?;
            let value = dispatch(config, AdminCommand::UserAdd { username, email, name, groups, password_hash })?;
            print(&value, out.json, USER_COLUMNS);
            if let Some(password) = shown {
                eprintln!("password (shown once): {password}");
            }
        }
        UserCommand::List { out } => print(&dispatch(config, AdminCommand::UserList)?, out.json, USER_COLUMNS),
        UserCommand::Update { username, name, email } => {
            print(
                &dispatch(config, AdminCommand::UserUpdate { username, name, email, email_verified: None })?,
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

fn app(config: &Config, cmd: AppCommand) -> Result<(), String> {
    match cmd {
        AppCommand::Add { slug, name, proxy: hosts, bypass, out, .. } if !hosts.is_empty() => {
            let value = dispatch(config, AdminCommand::AppAddProxy { slug, name, hosts, bypass })?;
            print(&value, out.json, APP_COLUMNS);
        }
        AppCommand::Add { slug, redirect_uris, machine, name, client_id, public, signing_alg, out, .. } => {
            let command = AdminCommand::AppAdd { slug, name, client_id, public, redirect_uris, signing_alg, machine };
            let value = dispatch(config, command)?;
            print(&value, out.json, APP_COLUMNS);
            if let (false, Some(secret)) = (out.json, value["client_secret"].as_str()) {
                println!("client secret (shown once): {secret}");
            }
        }
        AppCommand::List { out } => print(&dispatch(config, AdminCommand::AppList)?, out.json, APP_COLUMNS),
        AppCommand::Show { slug, out } => {
            print(&dispatch(config, AdminCommand::AppShow { slug })?, out.json, APP_COLUMNS)
        }
        AppCommand::Update {
            slug,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            signing_alg,
            allowed_groups,
            allowed_users,
            claims,
            consent,
            out,
        } => {
            let update = crate::admin::AppUpdate {
                slug,
                name,
                redirect_uris,
                post_logout_redirect_uris,
                signing_alg,
                allowed_groups,
                allowed_users,
                claims,
                consent,
                require_mfa: None,
            };
            print(&dispatch(config, AdminCommand::AppUpdate(Box::new(update)))?, out.json, APP_COLUMNS);
        }
        AppCommand::Remove { slug } => {
            let value = dispatch(config, AdminCommand::AppRemove { slug: slug.clone() })?;
            println!(
                "{slug} removed; {} consent(s) withdrawn, {} refresh and {} personal access token(s) revoked",
                value["consents"].as_u64().unwrap_or(0),
                value["refresh_families"].as_u64().unwrap_or(0),
                value["tokens"].as_u64().unwrap_or(0)
            );
        }
        AppCommand::RequireMfa { slug, off } => {
            dispatch(config, AdminCommand::AppRequireMfa { slug: slug.clone(), required: !off })?;
            println!("{slug}: second factor {}", if off { "optional" } else { "required" });
        }
        AppCommand::RotateSecret { slug } => {
            let value = dispatch(config, AdminCommand::AppRotateSecret { slug })?;
            println!("client secret (shown once): {}", value["client_secret"].as_str().unwrap_or_default());
        }
    }
    Ok(())
}

fn keys(config: &Config, cmd: KeysCommand) -> Result<(), String> {
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

const TOKEN_COLUMNS: &[&str] =
    &["id", "user", "app", "scope", "status", "created_at", "expires_at", "last_used", "description"];

fn token(config: &Config, cmd: TokenCommand) -> Result<(), String> {
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
