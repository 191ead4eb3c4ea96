//! Editing what exists: a user's profile, a group's name, an application's
//! settings, and removing an application. Called by `commands::run` for the
//! CLI and the console alike.

use super::context::{AdminContext, AdminError, Change, parse};
use super::views::{AdminAnswer, AppRemoved, AppView, GroupRenamed, UserView};
use crate::domain::{
    ClaimMapping, Compatibility, ConsentMode, GroupName, ProxyRule, ProxyTarget, RedirectUri, SigningAlg, Username,
    parse_bypass,
};

use serde::{Deserialize, Serialize};

/// The settings `app update` changes; `None` leaves one as it is.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AppUpdate {
    pub slug: String,
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub signing_alg: Option<String>,
    pub allowed_groups: Option<Vec<String>>,
    pub allowed_users: Option<Vec<String>>,
    /// Claim mappings, one per entry, as `ClaimMapping::parse_line` reads them.
    pub claims: Option<Vec<String>>,
    pub consent: Option<String>,
    pub require_mfa: Option<bool>,
    /// The per-client switches (`ClientSwitches`).
    #[serde(default)]
    pub switches: ClientSwitches,
}

/// The per-client switches as `app add`, `app update` and the console give
/// them, spelt as in config.yaml; `None` keeps a switch as it is (for a new
/// application: the default).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClientSwitches {
    /// `required` or `optional`.
    #[serde(default)]
    pub pkce: Option<String>,
    /// `client_secret_basic` and/or `client_secret_post`.
    #[serde(default)]
    pub token_endpoint_auth_methods: Option<Vec<String>>,
    /// `full` or `minimal`.
    #[serde(default)]
    pub id_token_claims: Option<String>,
    /// The device flow on or off.
    #[serde(default)]
    pub device_flow: Option<bool>,
    /// `0s` to `60s`.
    #[serde(default)]
    pub refresh_reuse_interval: Option<String>,
}

impl ClientSwitches {
    /// Sets the given switches on `compat`, by config.yaml's rules: a
    /// public client always sends PKCE and has no secret to send.
    pub(super) fn apply(&self, compat: &mut Compatibility, public: bool) -> Result<(), AdminError> {
        let invalid = |what: &str, why: String| AdminError::Invalid(format!("{what}: {why}"));
        if let Some(raw) = &self.pkce {
            let required = Compatibility::parse_pkce(raw).map_err(|e| invalid("pkce", e))?;
            if public && !required {
                return Err(invalid("pkce", "a public client always sends PKCE: it cannot be optional".into()));
            }
            compat.pkce_required = required;
        }
        if let Some(raw) = &self.token_endpoint_auth_methods {
            if public {
                return Err(invalid("token_endpoint_auth_methods", "a public client has no secret to send".into()));
            }
            compat.auth_methods =
                Compatibility::parse_methods(raw).map_err(|e| invalid("token_endpoint_auth_methods", e))?;
        }
        if let Some(raw) = &self.id_token_claims {
            compat.minimal_id_token =
                Compatibility::parse_id_token_claims(raw).map_err(|e| invalid("id_token_claims", e))?;
        }
        if let Some(on) = self.device_flow {
            compat.device_flow = on;
        }
        if let Some(raw) = &self.refresh_reuse_interval {
            compat.refresh_reuse_interval =
                Compatibility::parse_reuse_interval(raw).map_err(|e| invalid("refresh_reuse_interval", e))?;
        }
        Ok(())
    }
}

pub(super) fn update_user(
    ctx: &AdminContext<'_>,
    username: &str,
    name: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
) -> Result<AdminAnswer, AdminError> {
    let mut user = ctx.user(username)?;
    // Given and empty clears the claim; not given keeps it.
    if let Some(name) = name {
        user.name = Some(name.trim().to_owned()).filter(|n| !n.is_empty());
    }
    let mut moved = false;
    if email.is_some() {
        let email = super::context::email(email)?;
        if email != user.email {
            user.email = email;
            user.email_verified = false;
            moved = true;
        }
    }
    if let Some(verified) = email_verified {
        user.email_verified = verified && user.email.is_some();
    }
    if moved {
        // The checks sent to the old address end with it, for good.
        ctx.store.update_user_ending_checks(&user)?;
    } else {
        ctx.store.update_user(&user)?;
    }
    Ok(AdminAnswer::User(UserView::of(&user)))
}

pub(super) fn rename_group(ctx: &AdminContext<'_>, name: &str, new_name: &str) -> Result<AdminAnswer, AdminError> {
    let old = parse("group", GroupName::parse(name))?;
    let new = parse("new group name", GroupName::parse(new_name))?;
    let group = ctx.group(&old)?;
    if group.declared {
        return Err(AdminError::Invalid(format!("group {old} is declared in config.yaml; rename it there")));
    }
    if old == new {
        return Err(AdminError::Invalid(format!("group {old} already has that name")));
    }
    let (users, apps) = ctx.store.rename_group(&old, &new)?;
    if apps > 0 {
        ctx.changed(Change::Apps)?;
    }
    Ok(AdminAnswer::GroupRenamed(GroupRenamed { name: old.to_string(), new_name: new.to_string(), users, apps }))
}

fn uris(what: &str, raw: &[String]) -> Result<Vec<RedirectUri>, AdminError> {
    raw.iter().map(|u| u.trim()).filter(|u| !u.is_empty()).map(|u| parse(what, RedirectUri::parse(u))).collect()
}

pub(super) fn update_app(ctx: &AdminContext<'_>, update: AppUpdate) -> Result<AdminAnswer, AdminError> {
    let mut app = ctx.app(&update.slug)?;
    if app.declared {
        return Err(AdminError::Invalid(format!(
            "{} is declared in config.yaml: change it there (a start would undo this)",
            app.slug
        )));
    }
    if let Some(name) = update.name {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AdminError::Invalid("the name must be 1 to 100 characters".into()));
        }
        app.name = name.to_owned();
    }
    if let Some(raw) = &update.redirect_uris {
        app.redirect_uris = uris("redirect URI", raw)?;
    }
    if app.proxy.is_some() && !app.redirect_uris.is_empty() {
        return Err(AdminError::Invalid("a proxy application has no redirect URI".into()));
    }
    if let Some(raw) = &update.post_logout_redirect_uris {
        app.post_logout_redirect_uris = uris("post-logout redirect URI", raw)?;
    }
    let mut new_alg = false;
    if let Some(raw) = update.signing_alg.as_deref().filter(|a| !a.is_empty()) {
        let alg =
            SigningAlg::parse(raw).ok_or_else(|| AdminError::Invalid(format!("{raw} is not RS256, ES256 or EdDSA")))?;
        new_alg = alg != app.signing_alg;
        app.signing_alg = alg;
    }
    if let Some(groups) = &update.allowed_groups {
        app.access.allowed_groups = ctx.groups(groups)?;
    }
    if let Some(users) = &update.allowed_users {
        app.access.allowed_users = users
            .iter()
            .flat_map(|u| u.split(','))
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| parse("allowed user", Username::parse(u)))
            .collect::<Result<_, _>>()?;
    }
    if let Some(lines) = &update.claims {
        let mut claims: Vec<ClaimMapping> = Vec::new();
        for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
            let claim = ClaimMapping::parse_line(line).map_err(|e| AdminError::Invalid(e.0))?;
            for (group, _) in &claim.from_groups {
                ctx.group(group)?;
            }
            if claims.iter().any(|c| c.name == claim.name) {
                return Err(AdminError::Invalid(format!("claim {} is mapped twice", claim.name)));
            }
            claims.push(claim);
        }
        app.claims = claims;
    }
    if let Some(raw) = update.consent.as_deref().filter(|c| !c.is_empty()) {
        app.consent = ConsentMode::parse(raw)
            .ok_or_else(|| AdminError::Invalid(format!("consent {raw:?} is not implicit, once or always")))?;
    }
    if let Some(required) = update.require_mfa {
        app.require_mfa = required;
    }
    let public = app.is_public();
    update.switches.apply(&mut app.compat, public)?;
    // As config.yaml's rule: the device flow signs a person in to an OAuth
    // client; a proxy application is none, and a registered client did
    // not register it (its approval page would show a name it chose).
    if app.compat.device_flow && (app.proxy.is_some() || app.registration.is_some()) {
        return Err(AdminError::Invalid(
            "device_flow: not for a proxy application nor a client that registered itself".into(),
        ));
    }
    // After the switches: a device-only client needs no redirect URI.
    if app.redirect_uris.is_empty() && app.is_public() && app.proxy.is_none() && !app.compat.device_flow {
        return Err(AdminError::Invalid(
            "a public client needs at least one redirect URI (or the device flow, for a device that signs in \
             with a code)"
                .into(),
        ));
    }
    // Forward-auth has no consent page to show: a proxy app is the
    // operator's own site, and who may pass is its access policy.
    // Forward-auth asks on the first pass only: `always` would ask forever.
    if app.proxy.is_some() && app.consent == ConsentMode::Always {
        return Err(AdminError::Invalid("a proxy application asks consent once at most (implicit or once)".into()));
    }
    if new_alg {
        ctx.keys()?.load_or_create(&[app.signing_alg], ctx.clock.now() * 1000)?;
    }
    ctx.store.put_app(&app)?;
    ctx.changed(if new_alg { Change::Keys } else { Change::Apps })?;
    Ok(AdminAnswer::App(Box::new(AppView::of(&app, ctx.config))))
}

pub(super) fn remove_app(ctx: &AdminContext<'_>, slug: &str) -> Result<AdminAnswer, AdminError> {
    let app = ctx.app(slug)?;
    if app.declared {
        return Err(AdminError::Invalid(format!(
            "{} is declared in config.yaml: remove it there (a start would bring it back)",
            app.slug
        )));
    }
    let removal = ctx.store.delete_app(&app)?;
    ctx.changed(Change::Apps)?;
    Ok(AdminAnswer::AppRemoved(AppRemoved {
        slug: app.slug.to_string(),
        consents: removal.consents,
        refresh_families: removal.refresh_families,
        tokens: removal.tokens,
    }))
}

/// A proxy application made at run time: a public client (it never
/// authenticates; PATs and forward-auth name it) covering `hosts`.
pub(super) fn add_proxy_app(
    ctx: &AdminContext<'_>,
    slug: &str,
    name: Option<String>,
    hosts: &[String],
    bypass: &[String],
) -> Result<AdminAnswer, AdminError> {
    let slug = parse("slug", crate::domain::Slug::parse(slug))?;
    if ctx.store.app(&slug)?.is_some() {
        return Err(AdminError::Conflict(format!("an application with slug {slug} already exists")));
    }
    if hosts.is_empty() {
        return Err(AdminError::Invalid("a proxy application needs at least one HOST[:PORT][/PATH]".into()));
    }
    let targets = hosts.iter().map(|h| parse("proxy host", ProxyTarget::parse(h))).collect::<Result<_, _>>()?;
    let bypass = bypass.iter().map(|b| parse("bypass path", parse_bypass(b))).collect::<Result<_, _>>()?;
    let app = crate::store::Application {
        client_id: parse("client_id", crate::domain::ClientId::parse(slug.as_str()))?,
        name: name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| slug.to_string()),
        slug,
        client: crate::store::ClientKind::Public,
        redirect_uris: Vec::new(),
        signing_alg: SigningAlg::default(),
        access: Default::default(),
        claims: Vec::new(),
        declared: false,
        created_at: ctx.clock.now(),
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        consent: ConsentMode::Implicit,
        require_mfa: false,
        proxy: Some(ProxyRule { targets, bypass }),
        email_verified: Default::default(),
        compat: Default::default(),
        registration: None,
    };
    ctx.store.put_app(&app)?;
    ctx.changed(Change::Apps)?;
    Ok(AdminAnswer::App(Box::new(AppView::of(&app, ctx.config))))
}
