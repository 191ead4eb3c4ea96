//! What administrative commands answer: typed views of users, applications,
//! keys, tokens and audit events. The CLI prints them (as a table or JSON),
//! the admin API sends them as JSON, and later pages can render them; none
//! of them ever carries a stored secret or hash.

use crate::config::Config;
use crate::domain::{ClientId, GroupName, RedirectUri, SigningAlg, Slug, Username};
use crate::pat::PatView;
use crate::store::{Application, AuditEvent, User};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub sub: uuid::Uuid,
    pub username: Username,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<GroupName>,
    pub disabled: bool,
    pub created_at: String,
}

impl UserView {
    pub fn of(user: &User) -> UserView {
        UserView {
            sub: user.sub,
            username: user.username.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            groups: user.groups.clone(),
            disabled: user.disabled,
            created_at: crate::clock::rfc3339(user.created_at),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AppView {
    pub slug: Slug,
    pub name: String,
    pub client_id: ClientId,
    /// `public` or `confidential`.
    pub client_type: &'static str,
    pub redirect_uris: Vec<RedirectUri>,
    pub signing_alg: SigningAlg,
    pub issuer: String,
    pub discovery: String,
    pub allowed_groups: Vec<GroupName>,
    pub allowed_users: Vec<Username>,
    pub mapped_claims: Vec<String>,
    /// The mappings in full, one line each (`CLAIM: GROUP=VALUE; …`).
    pub claim_mappings: Vec<String>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub end_session_endpoint: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    /// `required` or `optional`; a public client always `required`.
    pub pkce: &'static str,
    /// How it may authenticate at the token endpoint, as its discovery
    /// document lists them (`none` for a public client).
    pub token_endpoint_auth_methods: Vec<&'static str>,
    /// `full` or `minimal`.
    pub id_token_claims: &'static str,
    /// The device authorization grant (RFC 8628) is allowed.
    pub device_flow: bool,
    /// Seconds a refresh retry is forgiven after its rotation (0: never).
    pub refresh_reuse_interval: i64,
    pub backchannel_logout_uri: Option<RedirectUri>,
    pub consent: crate::domain::ConsentMode,
    pub require_mfa: bool,
    pub email_verified: crate::domain::EmailVerified,
    /// A proxy application's targets (`host[/path]`), and the forward-auth
    /// endpoint it is checked at; empty for an OIDC client.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proxy_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proxy_bypass: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_auth_endpoint: Option<String>,
    pub declared_in_config: bool,
    /// A client that registered itself (RFC 7591): the application whose
    /// issuer it registered at, and the initial access token it used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_under: Option<Slug>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_token: Option<String>,
    /// Can ferrid make it a new client secret (`app rotate-secret`)? A
    /// confidential client whose secret ferrid made, or one made at run time.
    pub secret_rotatable: bool,
    /// Only in the answer that made it, once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// Is `app`'s client secret ferrid's to replace: made at run time, or
/// declared in config.yaml without a secret (ferrid generated it, and keeps
/// the newest across starts)?
pub fn secret_is_ferrids(app: &Application, config: &Config) -> bool {
    !app.declared
        || config
            .applications
            .iter()
            .any(|decl| decl.slug == app.slug && matches!(decl.secret, crate::config::SecretSource::Generated))
}

impl AppView {
    pub fn of(app: &Application, config: &Config) -> AppView {
        // A registered client is published under the issuer it registered at.
        let registered_under = app.registration.as_ref().map(|r| r.issuer.clone());
        let issuer_slug = registered_under.as_ref().unwrap_or(&app.slug);
        let issuer = config.public_url.issuer(issuer_slug);
        AppView {
            slug: app.slug.clone(),
            name: app.name.clone(),
            client_id: app.client_id.clone(),
            client_type: if app.is_public() { "public" } else { "confidential" },
            redirect_uris: app.redirect_uris.clone(),
            signing_alg: app.signing_alg,
            discovery: format!("{issuer}.well-known/openid-configuration"),
            issuer,
            allowed_groups: app.access.allowed_groups.clone(),
            allowed_users: app.access.allowed_users.clone(),
            mapped_claims: app.claims.iter().map(|c| c.name.clone()).collect(),
            claim_mappings: app.claims.iter().map(|c| c.to_line()).collect(),
            post_logout_redirect_uris: app.post_logout_redirect_uris.clone(),
            end_session_endpoint: config
                .public_url
                .endpoint(&crate::paths::for_app(crate::paths::END_SESSION, issuer_slug.as_str())),
            authorization_endpoint: config.public_url.endpoint(crate::paths::AUTHORIZE),
            token_endpoint: config.public_url.endpoint(crate::paths::TOKEN),
            userinfo_endpoint: config.public_url.endpoint(crate::paths::USERINFO),
            jwks_uri: config.public_url.endpoint(&crate::paths::for_app(crate::paths::JWKS, issuer_slug.as_str())),
            pkce: if app.is_public() { "required" } else { app.compat.pkce_name() },
            token_endpoint_auth_methods: if app.is_public() { vec!["none"] } else { app.compat.method_names() },
            id_token_claims: app.compat.id_token_claims_name(),
            device_flow: app.compat.device_flow,
            refresh_reuse_interval: app.compat.refresh_reuse_interval,
            backchannel_logout_uri: app.backchannel_logout_uri.clone(),
            consent: app.consent,
            require_mfa: app.require_mfa,
            email_verified: app.email_verified,
            proxy_hosts: app.proxy.iter().flat_map(|p| p.targets.iter().map(|t| t.to_string())).collect(),
            proxy_bypass: app.proxy.iter().flat_map(|p| p.bypass.clone()).collect(),
            forward_auth_endpoint: app.proxy.as_ref().map(|_| config.public_url.endpoint(crate::paths::FORWARD_AUTH)),
            declared_in_config: app.declared,
            registration_token: app.registration.as_ref().map(|r| r.initial_token.clone()),
            registered_under,
            secret_rotatable: !app.is_public() && secret_is_ferrids(app, config),
            client_secret: None,
        }
    }

    pub fn with_secret(self, secret: Option<String>) -> AppView {
        AppView { client_secret: secret, ..self }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: String,
    pub status: crate::keys::KeyStatus,
    pub file: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct RotatedKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub file: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct PemExport {
    pub alg: SigningAlg,
    pub pem: String,
}

/// A personal access token just made: its view and, once, its secret.
#[derive(Clone, Debug, Serialize)]
pub struct NewPat {
    #[serde(flatten)]
    pub pat: PatView,
    pub token: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditView {
    #[serde(flatten)]
    pub event: AuditEvent,
    pub time: String,
}

impl AuditView {
    pub fn of(event: &AuditEvent) -> AuditView {
        AuditView { event: event.clone(), time: crate::clock::rfc3339(event.at) }
    }
}

/// The answer to any administrative command; serialised as the view itself.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AdminAnswer {
    User(UserView),
    Users(Vec<UserView>),
    App(Box<AppView>),
    Apps(Vec<AppView>),
    Keys(Vec<KeyView>),
    Rotated(Vec<RotatedKey>),
    Pem(PemExport),
    NewPat(NewPat),
    Pat(PatView),
    Pats(Vec<PatView>),
    Audit(Vec<AuditView>),
    Backup(Box<crate::backup::Backup>),
    Sessions(Vec<SessionRow>),
    Ended(Ended),
    Factors(Vec<crate::mfa::FactorView>),
    Removed(Removed),
    Group(crate::store::Group),
    Groups(Vec<crate::store::Group>),
    GroupRemoved(GroupRemoved),
    GroupRenamed(GroupRenamed),
    AppRemoved(AppRemoved),
    /// What to paste into an application, under its own setting names.
    Values(Box<PasteValues>),
    /// A link just made, with its URL (shown once).
    NewLink(LinkView),
    Links(Vec<LinkView>),
    /// An initial access token just made, with its secret (shown once).
    RegistrationToken(RegistrationTokenView),
    RegistrationTokens(Vec<RegistrationTokenView>),
}

/// An initial access token for Dynamic Client Registration, as the CLI and
/// the admin API list it. `token` only when just made: the store keeps
/// only its digest.
#[derive(Debug, Serialize)]
pub struct RegistrationTokenView {
    pub id: String,
    pub created_at: String,
    pub expires_at: String,
    /// How many registrations it allows in all, and has made.
    pub allowed: u32,
    pub used: u32,
    /// `open`, `used up`, `expired`, or `revoked` (in the answer to a revocation).
    pub status: &'static str,
    pub created_by: String,
    pub description: String,
    /// The clients it registered that still exist (client ids).
    pub clients: Vec<String>,
    /// Where clients register with it.
    pub registration_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl RegistrationTokenView {
    pub fn of(token: &crate::store::InitialToken, clients: Vec<String>, config: &Config, now: i64) -> Self {
        let status = if token.used >= token.allowed {
            "used up"
        } else if token.expires_at <= now {
            "expired"
        } else {
            "open"
        };
        RegistrationTokenView {
            id: token.id.clone(),
            created_at: crate::clock::rfc3339(token.created_at),
            expires_at: crate::clock::rfc3339(token.expires_at),
            allowed: token.allowed,
            used: token.used,
            status,
            created_by: token.created_by.clone(),
            description: token.description.clone(),
            clients,
            registration_endpoint: config.registration.as_ref().map(|r| {
                config.public_url.endpoint(&crate::paths::for_app(crate::paths::REGISTER, r.application.as_str()))
            }),
            token: None,
        }
    }

    pub fn with_secret(self, secret: String) -> Self {
        RegistrationTokenView { token: Some(secret), ..self }
    }
}

/// A one-time link, as the CLI and console list it. `url` only when just
/// made: the store keeps only the secret's digest.
#[derive(Debug, Serialize)]
pub struct LinkView {
    pub id: String,
    pub kind: crate::store::LinkKind,
    pub username: String,
    pub created_at: String,
    pub expires_at: String,
    pub created_by: String,
    /// `open`, `used`, `expired`, or `ended` (the user's password changed,
    /// or they were disabled or deleted, since it was made).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl LinkView {
    /// `link`, of `owner` (None: deleted).
    pub fn of(link: &crate::store::Link, owner: Option<&crate::store::User>, now: i64) -> LinkView {
        let ended = owner.is_none_or(|u| u.disabled || u.epoch != link.epoch);
        let status = match link.used_at {
            Some(_) => "used",
            None if ended => "ended",
            None if link.expires_at <= now => "expired",
            None => "open",
        };
        LinkView {
            id: link.id.clone(),
            kind: link.kind,
            username: owner.map_or("(deleted)", |u| u.username.as_str()).to_owned(),
            created_at: crate::clock::rfc3339(link.created_at),
            expires_at: crate::clock::rfc3339(link.expires_at),
            created_by: link.created_by.clone(),
            status,
            url: None,
        }
    }

    pub fn made(made: &crate::links::Made, user: &crate::store::User, config: &crate::config::Config) -> LinkView {
        let url = config.public_url.endpoint(&crate::links::path(made.link.kind, &made.secret));
        LinkView { url: Some(url), ..LinkView::of(&made.link, Some(user), made.link.created_at) }
    }
}

/// The values to paste into an application to sign in with ferrid
/// (`ferrid app values`, the console's application page): under the
/// application's own setting names when `target` names one. Never the
/// client secret: ferrid keeps only its hash; `secret` says where it was
/// shown.
#[derive(Clone, Debug, Serialize)]
pub struct PasteValues {
    pub slug: String,
    /// The application it is for (`grafana`…), or none: OIDC's own names.
    pub target: Option<&'static str>,
    /// What the settings are and where they go.
    pub title: String,
    pub settings: Vec<Setting>,
    /// The same settings as the application takes them (an ini section, a
    /// command line…), where it takes them in one piece.
    pub snippet: Option<String>,
    pub secret: String,
    /// Where ferrid's own switches differ from what the guide sets, and
    /// the like.
    pub notes: Vec<String>,
    /// The page in docs/integrations/ for the target.
    pub guide: Option<String>,
}

/// One setting: its name where it goes, and the value to paste.
#[derive(Clone, Debug, Serialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

/// A run-time group renamed, and how many users and applications were rewritten.
#[derive(Debug, Serialize)]
pub struct GroupRenamed {
    pub name: String,
    pub new_name: String,
    pub users: usize,
    pub apps: usize,
}

/// An application removed, and what it had been given that went with it.
#[derive(Debug, Serialize)]
pub struct AppRemoved {
    pub slug: String,
    pub consents: usize,
    pub refresh_families: usize,
    pub tokens: usize,
}

/// A run-time group removed, and how many users lost it.
#[derive(Debug, Serialize)]
pub struct GroupRemoved {
    pub name: String,
    pub members: usize,
}

/// How many second factors `ferrid user mfa reset` removed.
#[derive(Debug, Serialize)]
pub struct Removed {
    pub username: String,
    pub factors: usize,
}

/// One SSO session, as `ferrid user sessions` lists it.
#[derive(Debug, Serialize)]
pub struct SessionRow {
    pub sid: String,
    pub started: String,
    pub last_seen: String,
    pub expires_at: String,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub applications: Vec<String>,
}

impl SessionRow {
    pub fn of(view: crate::sessions::SessionView) -> SessionRow {
        SessionRow {
            sid: view.sid,
            started: crate::clock::rfc3339(view.started),
            last_seen: crate::clock::rfc3339(view.last_seen),
            expires_at: crate::clock::rfc3339(view.expires_at),
            address: view.address,
            user_agent: view.user_agent,
            applications: view.applications,
        }
    }
}

/// How many of a user's sessions an administrator's command ended.
#[derive(Debug, Serialize)]
pub struct Ended {
    pub username: String,
    pub sessions: usize,
}

impl AdminAnswer {
    /// As JSON, for the admin API and the CLI's printer.
    pub fn to_json(&self) -> serde_json::Value {
        // Views are plain data with string keys: serialising cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}
