use super::catalog::{self, AppUpdate, ClientSwitches};
use super::context::{AdminContext, AdminError, Change, parse};
use super::views::{
    AdminAnswer, AppView, AuditView, Ended, GroupRemoved, KeyView, NewPat, PemExport, Removed, RotatedKey, SessionRow,
    UserView,
};
use crate::crypto::secrets::{Digest, random_token};
use crate::domain::{ClientId, GroupName, RedirectUri, SigningAlg, Slug, Username};
use crate::sessions::EndReason;
use crate::store::{Application, AuditEvent, AuditKind, ClientKind, User};
use serde::{Deserialize, Serialize};

/// Everything an administrator can do. Passwords travel only as bcrypt
/// hashes: the CLI hashes before sending.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum AdminCommand {
    UserAdd {
        username: String,
        email: Option<String>,
        name: Option<String>,
        groups: Vec<String>,
        password_hash: String,
    },
    UserList,
    /// Makes a user with no password and an invitation link (shown once)
    /// where they choose a password or a passkey.
    UserInvite {
        username: String,
        email: Option<String>,
        name: Option<String>,
        groups: Vec<String>,
    },
    /// A one-time recovery link for a user (shown once).
    UserLink {
        username: String,
    },
    /// A user's links, open and spent.
    LinkList {
        username: String,
    },
    LinkRevoke {
        id: String,
    },
    /// Changes the name or email claim (empty clears it; absent keeps it).
    /// A changed address is unverified unless `email_verified` says so.
    UserUpdate {
        username: String,
        name: Option<String>,
        email: Option<String>,
        #[serde(default)]
        email_verified: Option<bool>,
    },
    UserPasswd {
        username: String,
        password_hash: String,
    },
    UserDisable {
        username: String,
        disabled: bool,
    },
    UserGroups {
        username: String,
        groups: Vec<String>,
    },
    /// The user's SSO sessions.
    UserSessions {
        username: String,
    },
    /// Ends all of the user's SSO sessions ("sign out everywhere").
    UserLogout {
        username: String,
    },
    /// Deletes the user: sessions end, tokens stop working, the name is free again.
    UserDelete {
        username: String,
    },
    /// The user's second factors.
    UserMfa {
        username: String,
    },
    /// Removes all of the user's second factors.
    UserMfaReset {
        username: String,
    },
    /// Whether signing in to the application needs a second factor.
    AppRequireMfa {
        slug: String,
        required: bool,
    },
    /// A group made at run time (not in config.yaml).
    GroupAdd {
        name: String,
        description: Option<String>,
    },
    GroupList,
    /// Renames a run-time group, in its members and the applications that name it.
    GroupRename {
        name: String,
        new_name: String,
    },
    /// Removes a run-time group and takes it off its members.
    GroupRemove {
        name: String,
    },
    /// Whether the group's members need a second factor.
    GroupRequireMfa {
        group: String,
        required: bool,
    },
    AppAdd {
        slug: String,
        name: Option<String>,
        client_id: Option<String>,
        public: bool,
        redirect_uris: Vec<String>,
        signing_alg: Option<String>,
        /// client_credentials only: no redirect URI needed.
        #[serde(default)]
        machine: bool,
        /// The per-client switches (`ClientSwitches`).
        #[serde(default)]
        switches: ClientSwitches,
    },
    /// A proxy application (forward-auth): the hosts and paths it
    /// protects, and paths that pass without signing in.
    AppAddProxy {
        slug: String,
        name: Option<String>,
        hosts: Vec<String>,
        #[serde(default)]
        bypass: Vec<String>,
    },
    AppList,
    AppShow {
        slug: String,
    },
    /// What to paste into the application: OpenID Connect's names, or
    /// those of `target` (one of `VALUE_TARGETS`). Never the secret.
    AppValues {
        slug: String,
        #[serde(default)]
        target: Option<String>,
    },
    /// Changes an application made at run time.
    AppUpdate(Box<AppUpdate>),
    /// Removes an application made at run time: consents go, tokens are revoked.
    AppRemove {
        slug: String,
    },
    AppRotateSecret {
        slug: String,
    },
    KeysList,
    KeysRotate {
        alg: Option<String>,
    },
    /// The published public keys as PEM, the current one first.
    KeysExportPem {
        alg: Option<String>,
    },
    /// Create a personal access token; the secret is in the answer, once.
    PatCreate {
        username: String,
        app: String,
        scope: Option<String>,
        /// Lifetime in seconds.
        expires_in: i64,
        description: String,
    },
    PatList {
        username: Option<String>,
    },
    PatRevoke {
        id: String,
    },
    /// An initial access token for Dynamic Client Registration (RFC 7591):
    /// the secret is in the answer, once.
    RegistrationTokenCreate {
        /// Lifetime in seconds (default: a day).
        #[serde(default)]
        expires_in: Option<i64>,
        /// How many clients it may register (default: one).
        #[serde(default)]
        uses: Option<u32>,
        #[serde(default)]
        description: Option<String>,
    },
    /// Every initial access token (never its secret), with the clients it
    /// registered.
    RegistrationTokenList,
    /// Removes an initial access token; the clients it registered stay.
    RegistrationTokenRevoke {
        id: String,
    },
    /// A consistent copy of the store and the signing keys (see `backup`).
    Backup,
    /// Audit events since a time, optionally for one user or application.
    AuditList {
        since: i64,
        user: Option<String>,
        app: Option<String>,
        /// An event kind as the audit names it (`sign_in`, `user_changed`…).
        #[serde(default)]
        kind: Option<String>,
    },
}

fn check_hash(hash: &str) -> Result<(), AdminError> {
    if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) || hash.len() != 60 {
        return Err(AdminError::Invalid("password_hash must be a bcrypt hash".into()));
    }
    Ok(())
}

/// The audit event an administrative change leaves (reads leave none).
pub(super) fn audit_of(command: &AdminCommand, now: i64) -> Option<AuditEvent> {
    let event = |kind, detail: &str| AuditEvent::new(kind, now).detail(detail);
    Some(match command {
        AdminCommand::UserAdd { username, .. } => event(AuditKind::UserChanged, "user added").user(username),
        AdminCommand::UserInvite { username, .. } => {
            event(AuditKind::UserChanged, "user invited (invitation link made)").user(username)
        }
        AdminCommand::UserLink { username } => event(AuditKind::UserChanged, "recovery link made").user(username),
        AdminCommand::LinkRevoke { id } => event(AuditKind::UserChanged, &format!("link {id} revoked")),
        AdminCommand::UserPasswd { username, .. } => event(AuditKind::UserChanged, "password set").user(username),
        AdminCommand::UserDisable { username, disabled: true } => {
            event(AuditKind::UserChanged, "disabled").user(username)
        }
        AdminCommand::UserDisable { username, disabled: false } => {
            event(AuditKind::UserChanged, "enabled").user(username)
        }
        AdminCommand::UserLogout { username } => event(AuditKind::UserChanged, "signed out everywhere").user(username),
        AdminCommand::UserDelete { username } => event(AuditKind::UserChanged, "user deleted").user(username),
        AdminCommand::UserUpdate { username, email_verified: Some(true), .. } => {
            event(AuditKind::UserChanged, "profile changed, email marked verified").user(username)
        }
        AdminCommand::UserUpdate { username, .. } => event(AuditKind::UserChanged, "profile changed").user(username),
        AdminCommand::UserMfaReset { username } => {
            event(AuditKind::UserChanged, "second factors removed").user(username)
        }
        AdminCommand::GroupRename { name, new_name } => {
            event(AuditKind::UserChanged, &format!("group {name} renamed to {new_name}"))
        }
        AdminCommand::AppUpdate(update) => event(AuditKind::AppChanged, "settings changed").app(&update.slug),
        AdminCommand::AppRemove { slug } => event(AuditKind::AppChanged, "application removed").app(slug),
        AdminCommand::AppRequireMfa { slug, required } => {
            event(AuditKind::AppChanged, if *required { "second factor required" } else { "second factor optional" })
                .app(slug)
        }
        AdminCommand::GroupAdd { name, .. } => event(AuditKind::UserChanged, &format!("group {name} added")),
        AdminCommand::GroupRemove { name } => event(AuditKind::UserChanged, &format!("group {name} removed")),
        AdminCommand::GroupRequireMfa { group, required } => event(
            AuditKind::UserChanged,
            &format!("group {group}: second factor {}", if *required { "required" } else { "optional" }),
        ),
        AdminCommand::UserGroups { username, groups } => {
            event(AuditKind::UserChanged, &format!("groups set to [{}]", groups.join(","))).user(username)
        }
        AdminCommand::AppAdd { slug, .. } | AdminCommand::AppAddProxy { slug, .. } => {
            event(AuditKind::AppChanged, "application added").app(slug)
        }
        AdminCommand::AppRotateSecret { slug } => event(AuditKind::AppChanged, "client secret rotated").app(slug),
        AdminCommand::KeysRotate { alg } => event(AuditKind::KeysRotated, alg.as_deref().unwrap_or("all algorithms")),
        AdminCommand::RegistrationTokenRevoke { id } => {
            event(AuditKind::RegistrationTokenChanged, &format!("initial access token {id} revoked"))
        }
        // PATs are audited by the pat service, which the account page calls
        // too; a new initial access token where it is made (its id is new).
        _ => return None,
    })
}

pub(super) fn run(ctx: &AdminContext<'_>, command: AdminCommand) -> Result<AdminAnswer, AdminError> {
    let now = ctx.clock.now();
    match command {
        AdminCommand::Backup => {
            Ok(AdminAnswer::Backup(Box::new(crate::backup::take(ctx.store, &ctx.config.keys_dir, now)?)))
        }
        AdminCommand::PatCreate { username, app, scope, expires_in, description } => {
            let user = ctx.user(&username)?;
            let app = ctx.app(&app)?;
            let scope = crate::domain::ScopeSet::parse(scope.as_deref().unwrap_or(crate::pat::DEFAULT_SCOPE));
            let (token, pat) = crate::pat::create(
                ctx.store,
                &user,
                &app,
                crate::pat::Asked { scope, expires_in, description: &description, made_with: None },
                now,
            )?;
            Ok(AdminAnswer::NewPat(NewPat { pat, token }))
        }
        AdminCommand::PatList { username } => {
            let filter = username.map(|u| ctx.user(&u)).transpose()?;
            Ok(AdminAnswer::Pats(crate::pat::list(ctx.store, filter.as_ref(), now)?))
        }
        AdminCommand::PatRevoke { id } => match crate::pat::revoke(ctx.store, &id, now)? {
            Some(view) => Ok(AdminAnswer::Pat(view)),
            None => Err(AdminError::NotFound(format!("no token with id {id}"))),
        },
        AdminCommand::AuditList { since, user, app, kind } => {
            let kind = match kind {
                Some(raw) => Some(
                    serde_json::from_value::<crate::store::AuditKind>(serde_json::Value::String(raw.clone()))
                        .map_err(|_| AdminError::Invalid(format!("{raw} is not an audit event kind")))?,
                ),
                None => None,
            };
            // `--app` is a slug everywhere in the CLI; events record client
            // ids. A value that is no slug is taken as a client id.
            // Events name the application by client id (administrative
            // changes by slug): the filter matches either.
            let app: Option<Vec<String>> = match app {
                Some(given) => {
                    let found = Slug::parse(&given).ok().map(|slug| ctx.store.app(&slug)).transpose()?.flatten();
                    Some(found.map(|a| vec![a.client_id.to_string(), a.slug.to_string()]).unwrap_or(vec![given]))
                }
                None => None,
            };
            let events = ctx.store.audit_since(since)?;
            Ok(AdminAnswer::Audit(
                events
                    .iter()
                    .filter(|e| user.as_ref().is_none_or(|u| e.user.as_ref() == Some(u)))
                    .filter(|e| kind.is_none_or(|k| e.kind == Some(k)))
                    .filter(|e| app.as_ref().is_none_or(|names| e.app.as_ref().is_some_and(|a| names.contains(a))))
                    .map(AuditView::of)
                    .collect(),
            ))
        }
        AdminCommand::UserAdd { username, email, name, groups, password_hash } => {
            check_hash(&password_hash)?;
            let user = User {
                sub: uuid::Uuid::new_v4(),
                username: parse("username", Username::parse(&username))?,
                email: super::context::email(email)?,
                email_verified: false,
                name: name.filter(|n| !n.is_empty()),
                password_hash,
                groups: ctx.groups(&groups)?,
                disabled: false,
                created_at: now,
                epoch: 0,
                identities: vec![],
            };
            ctx.store.create_user(&user)?;
            Ok(AdminAnswer::User(UserView::of(&user)))
        }
        AdminCommand::UserInvite { username, email, name, groups } => {
            super::links::invite(ctx, &username, email, name, &groups)
        }
        AdminCommand::UserLink { username } => super::links::recovery(ctx, &username),
        AdminCommand::LinkList { username } => super::links::list(ctx, &username),
        AdminCommand::LinkRevoke { id } => super::links::revoke(ctx, &id),
        AdminCommand::RegistrationTokenCreate { expires_in, uses, description } => {
            super::registration::create(ctx, expires_in, uses, description.as_deref().unwrap_or_default())
        }
        AdminCommand::RegistrationTokenList => super::registration::list(ctx),
        AdminCommand::RegistrationTokenRevoke { id } => super::registration::revoke(ctx, &id),
        AdminCommand::UserUpdate { username, name, email, email_verified } => {
            catalog::update_user(ctx, &username, name, email, email_verified)
        }
        AdminCommand::GroupRename { name, new_name } => catalog::rename_group(ctx, &name, &new_name),
        AdminCommand::AppUpdate(update) => catalog::update_app(ctx, *update),
        AdminCommand::AppRemove { slug } => catalog::remove_app(ctx, &slug),
        AdminCommand::UserList => Ok(AdminAnswer::Users(ctx.store.users()?.iter().map(UserView::of).collect())),
        AdminCommand::UserPasswd { username, password_hash } => {
            check_hash(&password_hash)?;
            let mut user = ctx.user(&username)?;
            user.password_hash = password_hash;
            // The old password may have leaked: what it signed in ends.
            user.end_sessions_and_grants();
            ctx.store.update_user(&user)?;
            ctx.sessions().end_all_of(&user.sub, None, EndReason::PasswordSet)?;
            // An administrator setting a password is account recovery: the
            // tokens made while the account was someone else's stop too.
            crate::pat::revoke_all_of(ctx.store, &user, now)?;
            Ok(AdminAnswer::User(UserView::of(&user)))
        }
        AdminCommand::UserDisable { username, disabled } => {
            let mut user = ctx.user(&username)?;
            // Disabling ends every session and refresh family for good;
            // enabling again does not revive them.
            let disabling = disabled && !user.disabled;
            if disabling {
                user.end_sessions_and_grants();
            }
            user.disabled = disabled;
            ctx.store.update_user(&user)?;
            if disabling {
                ctx.sessions().end_all_of(&user.sub, None, EndReason::Disabled)?;
            }
            Ok(AdminAnswer::User(UserView::of(&user)))
        }
        AdminCommand::UserGroups { username, groups } => {
            let mut user = ctx.user(&username)?;
            user.groups = ctx.groups(&groups)?;
            ctx.store.update_user(&user)?;
            Ok(AdminAnswer::User(UserView::of(&user)))
        }
        AdminCommand::UserSessions { username } => {
            let user = ctx.user(&username)?;
            let sessions = ctx.sessions().of_user(&user)?.into_iter().map(|(_, view)| SessionRow::of(view)).collect();
            Ok(AdminAnswer::Sessions(sessions))
        }
        AdminCommand::UserLogout { username } => {
            let user = ctx.user(&username)?;
            let ended = ctx.sessions().end_all_of(&user.sub, None, EndReason::Administrator)?;
            Ok(AdminAnswer::Ended(Ended { username: user.username.to_string(), sessions: ended }))
        }
        AdminCommand::UserDelete { username } => {
            let user = ctx.user(&username)?;
            let ended = ctx.sessions().end_all_of(&user.sub, None, EndReason::Deleted)?;
            ctx.store.delete_user(&user)?;
            Ok(AdminAnswer::Ended(Ended { username: user.username.to_string(), sessions: ended }))
        }
        AdminCommand::UserMfa { username } => {
            Ok(AdminAnswer::Factors(crate::mfa::factors_of(ctx.store, &ctx.user(&username)?)?))
        }
        AdminCommand::UserMfaReset { username } => {
            let user = ctx.user(&username)?;
            let removed = crate::mfa::reset(ctx.store, &user, now)?;
            Ok(AdminAnswer::Removed(Removed { username: user.username.to_string(), factors: removed }))
        }
        AdminCommand::AppRequireMfa { slug, required } => {
            let mut app = ctx.app(&slug)?;
            app.require_mfa = required;
            ctx.store.put_app(&app)?;
            ctx.changed(Change::Apps)?;
            Ok(AdminAnswer::App(Box::new(AppView::of(&app, ctx.config))))
        }
        AdminCommand::GroupAdd { name, description } => {
            let name = parse("group", GroupName::parse(&name))?;
            if ctx.store.group_exists(&name)? {
                return Err(AdminError::Conflict(format!("group {name} already exists")));
            }
            let group = crate::store::Group {
                name,
                description: description.unwrap_or_default(),
                require_mfa: false,
                declared: false,
            };
            ctx.store.put_group(&group)?;
            Ok(AdminAnswer::Group(group))
        }
        AdminCommand::GroupList => {
            let mut groups = ctx.store.groups()?;
            groups.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(AdminAnswer::Groups(groups))
        }
        AdminCommand::GroupRemove { name } => {
            let name = parse("group", GroupName::parse(&name))?;
            let group = ctx.group(&name)?;
            if group.declared {
                return Err(AdminError::Invalid(format!(
                    "group {name} is declared in config.yaml; remove it there (and from the applications that name it)"
                )));
            }
            let members = ctx.store.delete_group(&name)?;
            Ok(AdminAnswer::GroupRemoved(GroupRemoved { name: name.to_string(), members }))
        }
        AdminCommand::GroupRequireMfa { group, required } => {
            let mut found = ctx.group(&parse("group", GroupName::parse(&group))?)?;
            found.require_mfa = required;
            ctx.store.put_group(&found)?;
            Ok(AdminAnswer::Group(found))
        }
        AdminCommand::AppAddProxy { slug, name, hosts, bypass } => {
            catalog::add_proxy_app(ctx, &slug, name, &hosts, &bypass)
        }
        AdminCommand::AppAdd { slug, name, client_id, public, redirect_uris, signing_alg, machine, switches } => {
            let slug = parse("slug", Slug::parse(&slug))?;
            if ctx.store.app(&slug)?.is_some() {
                return Err(AdminError::Conflict(format!("an application with slug {slug} already exists")));
            }
            if machine && (public || !redirect_uris.is_empty()) {
                return Err(AdminError::Invalid(
                    "a machine client has a secret and no redirect URI (drop --public and --redirect-uri)".into(),
                ));
            }
            let redirect_uris = redirect_uris
                .iter()
                .map(|u| parse("redirect URI", RedirectUri::parse(u)))
                .collect::<Result<Vec<_>, _>>()?;
            let signing_alg = match signing_alg.as_deref() {
                None => SigningAlg::default(),
                Some(raw) => SigningAlg::parse(raw)
                    .ok_or_else(|| AdminError::Invalid(format!("{raw} is not RS256, ES256 or EdDSA")))?,
            };
            let mut compat = crate::domain::Compatibility::default();
            switches.apply(&mut compat, public)?;
            if machine && compat.device_flow {
                return Err(AdminError::Invalid(
                    "device_flow: a machine client (client_credentials only) signs no person in".into(),
                ));
            }
            // A device that signs in with a code never redirects a browser.
            if redirect_uris.is_empty() && !machine && !compat.device_flow {
                return Err(AdminError::Invalid(
                    "at least one --redirect-uri is required (or --machine for a client_credentials-only client, \
                     or --device-flow true for a device that signs in with a code)"
                        .into(),
                ));
            }
            let secret = if public { None } else { Some(random_token()?) };
            let app = Application {
                client_id: parse("client_id", ClientId::parse(client_id.as_deref().unwrap_or(slug.as_str())))?,
                name: name.unwrap_or_else(|| slug.to_string()),
                slug,
                client: match &secret {
                    Some(s) => ClientKind::Confidential { secret_sha256: Digest::of(s) },
                    None => ClientKind::Public,
                },
                redirect_uris,
                signing_alg,
                access: Default::default(),
                claims: Vec::new(),
                declared: false,
                created_at: now,
                post_logout_redirect_uris: Vec::new(),
                backchannel_logout_uri: None,
                backchannel_logout_session_required: false,
                consent: Default::default(),
                require_mfa: false,
                proxy: None,
                email_verified: Default::default(),
                compat,
                registration: None,
            };
            ctx.keys()?.load_or_create(&[signing_alg], now * 1000)?;
            ctx.store.put_app(&app)?;
            ctx.changed(Change::Keys)?;
            Ok(AdminAnswer::App(Box::new(AppView::of(&app, ctx.config).with_secret(secret))))
        }
        AdminCommand::AppList => {
            Ok(AdminAnswer::Apps(ctx.store.apps()?.iter().map(|a| AppView::of(a, ctx.config)).collect()))
        }
        AdminCommand::AppShow { slug } => Ok(AdminAnswer::App(Box::new(AppView::of(&ctx.app(&slug)?, ctx.config)))),
        AdminCommand::AppValues { slug, target } => {
            let values =
                super::values::paste(&ctx.app(&slug)?, ctx.config, target.as_deref()).map_err(AdminError::Invalid)?;
            Ok(AdminAnswer::Values(Box::new(values)))
        }
        AdminCommand::AppRotateSecret { slug } => {
            let mut app = ctx.app(&slug)?;
            if app.is_public() {
                return Err(AdminError::Invalid(format!("{} is a public client and has no secret", app.slug)));
            }
            // A declared app's secret from config.yaml (its hash, or an
            // environment variable) would come back at the next start.
            if !crate::admin::views::secret_is_ferrids(&app, ctx.config) {
                return Err(AdminError::Invalid(format!(
                    "{}'s client secret comes from config.yaml (client_secret_env or client_secret_sha256): \
                     change it there",
                    app.slug
                )));
            }
            let secret = random_token()?;
            app.client = ClientKind::Confidential { secret_sha256: Digest::of(&secret) };
            ctx.store.put_app(&app)?;
            ctx.changed(Change::Apps)?;
            Ok(AdminAnswer::App(Box::new(AppView::of(&app, ctx.config).with_secret(Some(secret)))))
        }
        AdminCommand::KeysList => {
            let ring = ctx.keys()?.load()?;
            let window = ctx.config.lifetimes.longest_jwt();
            Ok(AdminAnswer::Keys(
                ring.all()
                    .map(|k| KeyView {
                        kid: k.kid.clone(),
                        alg: k.alg,
                        created_at: crate::clock::rfc3339(k.created_ms / 1000),
                        status: ring.status(k, now * 1000, window),
                        file: k.path.clone(),
                    })
                    .collect(),
            ))
        }
        AdminCommand::KeysExportPem { alg } => {
            let alg = match alg.as_deref() {
                Some(raw) => SigningAlg::parse(raw)
                    .ok_or_else(|| AdminError::Invalid(format!("{raw} is not RS256, ES256 or EdDSA")))?,
                None => SigningAlg::RS256,
            };
            let ring = ctx.keys()?.load()?;
            let pem = ring.pem_bundle(alg, now * 1000, ctx.config.lifetimes.longest_jwt());
            if pem.is_empty() {
                return Err(AdminError::NotFound(format!("there is no {alg} key yet")));
            }
            Ok(AdminAnswer::Pem(PemExport { alg, pem }))
        }
        AdminCommand::KeysRotate { alg } => {
            let ring = ctx.keys()?.load()?;
            let algs: Vec<SigningAlg> = match alg.as_deref() {
                Some(raw) => vec![
                    SigningAlg::parse(raw)
                        .ok_or_else(|| AdminError::Invalid(format!("{raw} is not RS256, ES256 or EdDSA")))?,
                ],
                None => SigningAlg::ALL.into_iter().filter(|a| ring.current(*a).is_some()).collect(),
            };
            let mut rotated = Vec::new();
            for alg in algs {
                let (kid, file) = ctx.keys()?.rotate(alg, now * 1000)?;
                rotated.push(RotatedKey { kid, alg, file });
            }
            ctx.changed(Change::Keys)?;
            Ok(AdminAnswer::Rotated(rotated))
        }
    }
}
