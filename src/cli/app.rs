//! `app`: registering, showing, changing and removing applications.

use super::shared::{JsonFlag, dispatch, print};
use crate::admin::{AdminCommand, ClientSwitches};
use crate::config::Config;
use clap::{Args, Subcommand};
use serde_json::Value;

/// The per-client switches, as config.yaml spells them (docs/integrators.md).
#[derive(Args)]
pub(super) struct SwitchArgs {
    /// required or optional: whether a confidential client must send PKCE
    /// too (a public client always must).
    #[arg(long)]
    pkce: Option<String>,
    /// client_secret_basic or client_secret_post: how the client may send
    /// its secret (repeat, or comma-separate, for both).
    #[arg(long = "token-endpoint-auth-method", value_delimiter = ',')]
    token_endpoint_auth_methods: Option<Vec<String>>,
    /// full or minimal: whether the id_token carries the user's claims or
    /// only sub (the rest at userinfo).
    #[arg(long)]
    id_token_claims: Option<String>,
    /// true or false: the device flow (RFC 8628), a code shown on a device
    /// and approved on {public_url}/device.
    #[arg(long)]
    device_flow: Option<bool>,
    /// 0s to 60s: how long after a refresh its client may retry with the
    /// same refresh token and get the same new one (docs/security.md).
    #[arg(long)]
    refresh_reuse_interval: Option<String>,
}

impl SwitchArgs {
    fn given(&self) -> bool {
        self.pkce.is_some()
            || self.token_endpoint_auth_methods.is_some()
            || self.id_token_claims.is_some()
            || self.device_flow.is_some()
            || self.refresh_reuse_interval.is_some()
    }

    fn into_switches(self) -> ClientSwitches {
        ClientSwitches {
            pkce: self.pkce,
            token_endpoint_auth_methods: self.token_endpoint_auth_methods,
            id_token_claims: self.id_token_claims,
            device_flow: self.device_flow,
            refresh_reuse_interval: self.refresh_reuse_interval,
        }
    }
}

#[derive(Subcommand)]
pub(super) enum AppCommand {
    /// Register an application; its client secret is printed once.
    Add {
        /// The application's slug (its path: /application/o/SLUG/).
        slug: String,
        /// Where the application receives sign-ins (repeat for several).
        #[arg(long = "redirect-uri", required_unless_present_any = ["machine", "proxy", "device_flow"])]
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
        switches: SwitchArgs,
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
    /// The values to paste into the application: issuer, discovery URL,
    /// client id, endpoints, scopes and redirect URIs. Never the client
    /// secret (ferrid keeps only its hash): it says where that was shown.
    Values {
        /// The application's slug (its path: /application/o/SLUG/).
        slug: String,
        /// Under this application's own setting names: grafana, proxmox,
        /// home-assistant, portainer, gitea, forgejo, nextcloud, jellyfin,
        /// jupyterhub or node-red (docs/integrations/).
        #[arg(long = "for", value_name = "APP")]
        target: Option<String>,
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
        switches: SwitchArgs,
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
    /// Initial access tokens for Dynamic Client Registration (RFC 7591;
    /// `registration:` in config.yaml, docs/registration.md).
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCommand),
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
pub(super) enum RegistrationTokenCommand {
    /// Make an initial access token; it is printed once. A client registers
    /// itself with it at the registration endpoint it also prints.
    Create {
        /// How long it lasts, e.g. 24h (1m to 30d).
        #[arg(long, default_value = "24h")]
        expires: String,
        /// How many clients it may register.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// What it is for ("grafana in the lab"), shown in lists.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List initial access tokens (never their secrets) and the clients
    /// each registered.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Revoke an initial access token at once; the clients it registered stay
    /// (`ferrid app remove CLIENT_ID` removes one).
    Revoke {
        /// The token's id, as `app registration-token list` shows it.
        id: String,
    },
}

const REGISTRATION_TOKEN_COLUMNS: &[&str] =
    &["id", "status", "used", "allowed", "expires_at", "created_by", "description", "clients"];

const APP_COLUMNS: &[&str] = &["slug", "client_id", "client_type", "signing_alg", "issuer"];

pub(super) fn run(config: &Config, cmd: AppCommand) -> Result<(), String> {
    match cmd {
        AppCommand::Add { slug, name, proxy: hosts, bypass, switches, out, .. } if !hosts.is_empty() => {
            if switches.given() {
                return Err("a proxy application is no OIDC client: --pkce, --token-endpoint-auth-method, \
                            --id-token-claims, --device-flow and --refresh-reuse-interval do not apply"
                    .into());
            }
            let value = dispatch(config, AdminCommand::AppAddProxy { slug, name, hosts, bypass })?;
            print(&value, out.json, APP_COLUMNS);
        }
        AppCommand::Add {
            slug, redirect_uris, machine, name, client_id, public, signing_alg, switches, out, ..
        } => {
            let switches = switches.into_switches();
            let command =
                AdminCommand::AppAdd { slug, name, client_id, public, redirect_uris, signing_alg, machine, switches };
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
        AppCommand::Values { slug, target, out } => {
            let value = dispatch(config, AdminCommand::AppValues { slug, target })?;
            if out.json {
                println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            } else {
                print!("{}", values_text(&value));
            }
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
            switches,
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
                switches: switches.into_switches(),
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
        AppCommand::RegistrationToken(cmd) => run_registration_token(config, cmd)?,
        AppCommand::RotateSecret { slug } => {
            let value = dispatch(config, AdminCommand::AppRotateSecret { slug })?;
            println!("client secret (shown once): {}", value["client_secret"].as_str().unwrap_or_default());
        }
    }
    Ok(())
}

/// `app values` for a terminal: the title, the settings (as the
/// application takes them in one piece where it does, else one per line),
/// where the secret was shown, the notes and the guide. Every value is
/// escaped: a name or URI from the store cannot move the cursor.
fn values_text(value: &Value) -> String {
    let text = |v: &Value| crate::escape::escaped(v.as_str().unwrap_or_default());
    let mut out = format!("{}\n\n", text(&value["title"]));
    match value["snippet"].as_str() {
        Some(snippet) => {
            for line in snippet.lines() {
                out.push_str(&format!("  {}\n", crate::escape::escaped(line)));
            }
        }
        None => {
            let settings = value["settings"].as_array().cloned().unwrap_or_default();
            let width = settings.iter().map(|s| text(&s["name"]).chars().count()).max().unwrap_or(0);
            for setting in &settings {
                out.push_str(&format!("  {:width$}  {}\n", text(&setting["name"]), text(&setting["value"])));
            }
        }
    }
    out.push_str(&format!("\nClient secret: {}\n", text(&value["secret"])));
    for note in value["notes"].as_array().into_iter().flatten() {
        out.push_str(&format!("Note: {}\n", text(note)));
    }
    if value["guide"].is_string() {
        out.push_str(&format!("Guide: {}\n", text(&value["guide"])));
    }
    out
}

fn run_registration_token(config: &Config, cmd: RegistrationTokenCommand) -> Result<(), String> {
    match cmd {
        RegistrationTokenCommand::Create { expires, uses, description, out } => {
            let expires_in = crate::config::parse_duration(&expires).map_err(|e| format!("--expires: {e}"))?;
            let command = AdminCommand::RegistrationTokenCreate {
                expires_in: Some(expires_in),
                uses: Some(uses),
                description: Some(description),
            };
            let value = dispatch(config, command)?;
            if out.json {
                print(&value, true, REGISTRATION_TOKEN_COLUMNS);
            } else {
                println!("{}", value["token"].as_str().unwrap_or_default());
                let id = value["id"].as_str().unwrap_or_default();
                eprintln!(
                    "initial access token {id} (shown once): {} registration(s) until {}, at {}; revoke with \
                     `ferrid app registration-token revoke {id}`",
                    value["allowed"],
                    value["expires_at"].as_str().unwrap_or_default(),
                    value["registration_endpoint"].as_str().unwrap_or_default(),
                );
            }
        }
        RegistrationTokenCommand::List { out } => {
            print(&dispatch(config, AdminCommand::RegistrationTokenList)?, out.json, REGISTRATION_TOKEN_COLUMNS)
        }
        RegistrationTokenCommand::Revoke { id } => {
            dispatch(config, AdminCommand::RegistrationTokenRevoke { id: id.clone() })?;
            println!("registration token {id} revoked");
        }
    }
    Ok(())
}
