//! `nodered`: what Node-RED needs to sign in with ferrid.

use super::shared::dispatch;
use crate::admin::AdminCommand;
use crate::config::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum NoderedCommand {
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

pub(super) fn run(config: &Config, cmd: NoderedCommand) -> Result<(), String> {
    match cmd {
        NoderedCommand::Setup { app, user_dir, claim, pat } => {
            let shown = dispatch(config, AdminCommand::AppShow { slug: app })?;
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
        NoderedCommand::Settings { app, http: true, .. } => {
            let shown = dispatch(config, AdminCommand::AppShow { slug: app })?;
            print!("{}", crate::nodered::http_middleware(&shown).map_err(|e| e.to_string())?);
            Ok(())
        }
        NoderedCommand::Settings { app, claim, tokens, pat, .. } => {
            let shown = dispatch(config, AdminCommand::AppShow { slug: app })?;
            let options = crate::nodered::Options { claim: claim.as_deref(), tokens, introspect: pat };
            print!("{}", crate::nodered::settings(&shown, &options).map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}
