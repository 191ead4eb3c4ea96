//! The rules for `applications:`: slugs and client ids unique, redirect
//! URIs valid, one way to get a secret, groups that exist, claim mappings
//! that name no registered claim.

use super::raw::*;
use super::{AppDecl, ConfigError, Env, SecretSource, env_secret, invalid};
use crate::crypto::secrets::Digest;
use crate::domain::{
    AccessPolicy, ClaimMapping, ClientId, Compatibility, ConsentMode, EmailVerified, GroupName, ProxyRule, ProxyTarget,
    REGISTERED_CLAIMS, RedirectUri, SigningAlg, Slug, Username, parse_bypass,
};
use std::collections::HashSet;

pub(super) fn validate_applications(
    raw: Vec<RawApplication>,
    declared_groups: &HashSet<GroupName>,
    declared_sources: &HashSet<Slug>,
    env: &dyn Env,
) -> Result<Vec<AppDecl>, ConfigError> {
    let mut slugs = HashSet::new();
    let mut client_ids = HashSet::new();
    let mut apps = Vec::with_capacity(raw.len());
    for (i, app) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("applications[{i}].{field}");
        let slug = Slug::parse(&app.slug).map_err(|e| invalid(key("slug"), e.0))?;
        if !slugs.insert(slug.clone()) {
            return Err(invalid(key("slug"), format!("slug {slug} is used by another application")));
        }
        let client_id = ClientId::parse(app.client_id.as_deref().unwrap_or(slug.as_str()))
            .map_err(|e| invalid(key("client_id"), e.0))?;
        if !client_ids.insert(client_id.clone()) {
            return Err(invalid(key("client_id"), format!("client_id {client_id} is used by another application")));
        }
        let proxy = app.proxy.as_ref().map(|raw| proxy_rule(raw, &key)).transpose()?;
        if proxy.is_some() {
            // A proxy application is no OAuth client: no secret, no
            // redirect URI (ferrid redirects to the protected URL itself).
            let oidc_only = app.client_secret_env.is_some()
                || app.client_secret_sha256.is_some()
                || app.machine
                || !app.redirect_uris.is_empty()
                || !app.post_logout_redirect_uris.is_empty()
                || app.backchannel_logout_uri.is_some()
                || app.consent.as_deref().is_some_and(|c| !matches!(c, "implicit" | "once"));
            if oidc_only {
                return Err(invalid(
                    key("proxy"),
                    "a proxy application takes no secret, redirect URIs, logout URIs or machine, and consent only \
                     `implicit` or `once`: give name, proxy, allowed_groups/allowed_users, require_mfa and consent",
                ));
            }
        }
        let compat = compatibility(&app, app.public || proxy.is_some(), &key)?;
        let secret = match (app.public || proxy.is_some(), app.client_secret_env, app.client_secret_sha256) {
            (true, None, None) => SecretSource::Public,
            (true, _, _) => {
                return Err(invalid(key("public"), "a public client cannot have a client secret"));
            }
            (false, Some(_), Some(_)) => {
                return Err(invalid(
                    key("client_secret_env"),
                    "give client_secret_env or client_secret_sha256, not both",
                ));
            }
            (false, Some(var), None) => {
                let value = env_secret(env, &var, &key("client_secret_env"))?;
                if value.len() < 16 {
                    return Err(invalid(
                        key("client_secret_env"),
                        format!("the secret in {var} must be at least 16 characters"),
                    ));
                }
                SecretSource::Digest(Digest::of(&value))
            }
            (false, None, Some(hex)) => SecretSource::Digest(
                Digest::from_hex(&hex).ok_or_else(|| invalid(key("client_secret_sha256"), "must be 64 hex digits"))?,
            ),
            (false, None, None) => SecretSource::Generated,
        };
        if app.machine && app.public {
            return Err(invalid(key("machine"), "a machine client has a secret: drop `public: true`"));
        }
        if app.machine && !app.redirect_uris.is_empty() {
            return Err(invalid(
                key("redirect_uris"),
                "a machine client (client_credentials only) has no redirect URI",
            ));
        }
        if app.device_flow && (app.machine || proxy.is_some()) {
            return Err(invalid(
                key("device_flow"),
                "the device flow signs a person in: not for a machine client nor a proxy application",
            ));
        }
        // A device-only client (a CLI, a TV app) never redirects a browser.
        if app.redirect_uris.is_empty() && !app.machine && proxy.is_none() && !app.device_flow {
            return Err(invalid(
                key("redirect_uris"),
                "at least one redirect URI is required (or `machine: true` for a client_credentials-only client, \
                 or `device_flow: true` for a device that signs in with a code)",
            ));
        }
        let redirect_uris = app
            .redirect_uris
            .iter()
            .enumerate()
            .map(|(j, uri)| RedirectUri::parse(uri).map_err(|e| invalid(key(&format!("redirect_uris[{j}]")), e.0)))
            .collect::<Result<Vec<_>, _>>()?;
        let signing_alg = match app.signing_alg.as_deref() {
            None => SigningAlg::default(),
            Some(raw) => SigningAlg::parse(raw)
                .ok_or_else(|| invalid(key("signing_alg"), format!("{raw:?} is not one of RS256, ES256, EdDSA")))?,
        };
        let group = |key: String, raw: &str| -> Result<GroupName, ConfigError> {
            let name = GroupName::parse(raw).map_err(|e| invalid(&key, e.0))?;
            if !declared_groups.contains(&name) {
                return Err(invalid(key, format!("group {name} is not declared under `groups`")));
            }
            Ok(name)
        };
        let access = AccessPolicy {
            allowed_groups: app
                .allowed_groups
                .iter()
                .enumerate()
                .map(|(j, g)| group(key(&format!("allowed_groups[{j}]")), g))
                .collect::<Result<_, _>>()?,
            allowed_users: app
                .allowed_users
                .iter()
                .enumerate()
                .map(|(j, u)| Username::parse(u).map_err(|e| invalid(key(&format!("allowed_users[{j}]")), e.0)))
                .collect::<Result<_, _>>()?,
            allowed_sources: app
                .sources
                .as_ref()
                .map(|sources| {
                    sources
                        .iter()
                        .enumerate()
                        .map(|(j, raw)| {
                            let slug = Slug::parse(raw).map_err(|e| invalid(key(&format!("sources[{j}]")), e.0))?;
                            if !declared_sources.contains(&slug) {
                                return Err(invalid(
                                    key(&format!("sources[{j}]")),
                                    format!("no source {slug} under `sources`"),
                                ));
                            }
                            Ok(slug)
                        })
                        .collect::<Result<_, _>>()
                })
                .transpose()?,
        };
        let mut claims = Vec::new();
        for (name, claim) in app.claims {
            let claim_key = key(&format!("claims.{name}"));
            if REGISTERED_CLAIMS.contains(&name.as_str()) || name.is_empty() {
                return Err(invalid(claim_key, "this claim is set by ferrid and cannot be mapped"));
            }
            let from_groups = claim
                .from_groups
                .into_iter()
                .map(|(g, values)| {
                    let values = match values {
                        OneOrMany::One(v) => vec![v],
                        OneOrMany::Many(vs) => vs,
                    };
                    Ok((group(format!("{claim_key}.from_groups.{g}"), &g)?, values))
                })
                .collect::<Result<_, ConfigError>>()?;
            claims.push(ClaimMapping { name, from_groups });
        }
        let post_logout_redirect_uris = app
            .post_logout_redirect_uris
            .iter()
            .enumerate()
            .map(|(j, uri)| {
                RedirectUri::parse(uri).map_err(|e| invalid(key(&format!("post_logout_redirect_uris[{j}]")), e.0))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let backchannel_logout_uri = match app.backchannel_logout_uri.as_deref() {
            None => None,
            Some(raw) => {
                let uri = RedirectUri::parse(raw).map_err(|e| invalid(key("backchannel_logout_uri"), e.0))?;
                // Back-Channel Logout 1.0 §2.2: an absolute http(s) URL, no fragment.
                if uri.web_origin().is_none() {
                    return Err(invalid(key("backchannel_logout_uri"), "must be an http or https URL"));
                }
                Some(uri)
            }
        };
        let consent = match app.consent.as_deref() {
            None => ConsentMode::default(),
            Some(raw) => ConsentMode::parse(raw)
                .ok_or_else(|| invalid(key("consent"), format!("{raw:?} is not one of implicit, once, always")))?,
        };
        let email_verified = match app.email_verified.as_deref() {
            None => EmailVerified::default(),
            Some(raw) => EmailVerified::parse(raw)
                .ok_or_else(|| invalid(key("email_verified"), format!("{raw:?} is not one of marked, always")))?,
        };
        apps.push(AppDecl {
            compat,
            email_verified,
            access,
            claims,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            backchannel_logout_session_required: app.backchannel_logout_session_required,
            consent,
            require_mfa: app.require_mfa,
            name: app.name.unwrap_or_else(|| slug.to_string()),
            slug,
            client_id,
            secret,
            redirect_uris,
            signing_alg,
            proxy,
        });
    }
    Ok(apps)
}

/// `pkce`, `token_endpoint_auth_methods`, `id_token_claims`,
/// `device_flow` and `refresh_reuse_interval`, checked.
fn compatibility(
    app: &RawApplication,
    public: bool,
    key: &dyn Fn(&str) -> String,
) -> Result<Compatibility, ConfigError> {
    let pkce_required = match app.pkce.as_deref().map(Compatibility::parse_pkce) {
        None => false,
        Some(Ok(false)) if public => {
            return Err(invalid(key("pkce"), "a public client always sends PKCE: it cannot be optional"));
        }
        Some(parsed) => parsed.map_err(|e| invalid(key("pkce"), e))?,
    };
    let auth_methods = match &app.token_endpoint_auth_methods {
        None => Vec::new(),
        Some(_) if public => {
            return Err(invalid(key("token_endpoint_auth_methods"), "a public client has no secret to send"));
        }
        Some(methods) => {
            Compatibility::parse_methods(methods).map_err(|e| invalid(key("token_endpoint_auth_methods"), e))?
        }
    };
    let minimal_id_token = match app.id_token_claims.as_deref() {
        None => false,
        Some(raw) => Compatibility::parse_id_token_claims(raw).map_err(|e| invalid(key("id_token_claims"), e))?,
    };
    let refresh_reuse_interval = match app.refresh_reuse_interval.as_deref() {
        None => 0,
        Some(raw) => Compatibility::parse_reuse_interval(raw).map_err(|e| invalid(key("refresh_reuse_interval"), e))?,
    };
    Ok(Compatibility {
        pkce_required,
        auth_methods,
        minimal_id_token,
        device_flow: app.device_flow,
        refresh_reuse_interval,
    })
}

/// `proxy: { hosts: [...], bypass: [...] }`, checked.
fn proxy_rule(raw: &RawProxy, key: &dyn Fn(&str) -> String) -> Result<ProxyRule, ConfigError> {
    if raw.hosts.is_empty() {
        return Err(invalid(key("proxy.hosts"), "name at least one host[:port][/path]"));
    }
    let targets = raw
        .hosts
        .iter()
        .enumerate()
        .map(|(j, h)| ProxyTarget::parse(h).map_err(|e| invalid(key(&format!("proxy.hosts[{j}]")), e.0)))
        .collect::<Result<_, _>>()?;
    let bypass = raw
        .bypass
        .iter()
        .enumerate()
        .map(|(j, b)| parse_bypass(b).map_err(|e| invalid(key(&format!("proxy.bypass[{j}]")), e.0)))
        .collect::<Result<_, _>>()?;
    Ok(ProxyRule { targets, bypass })
}
