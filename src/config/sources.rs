//! The rules for `sources:`: other identity providers people may sign in
//! with (a generic OpenID Connect provider, or GitHub). Slugs unique,
//! exactly one kind each, a secret from the environment, URLs that parse,
//! and groups (defaults and the mapping table) that are declared.

use super::raw::{RawGithubSource, RawOidcSource, RawSource};
use super::{ConfigError, Env, SourceDecl, SourceKind, env_secret, invalid};
use crate::domain::{GroupName, Slug};
use std::collections::HashSet;

pub(super) fn validate_sources(
    raw: Vec<RawSource>,
    declared_groups: &HashSet<GroupName>,
    env: &dyn Env,
) -> Result<Vec<SourceDecl>, ConfigError> {
    let mut slugs = HashSet::new();
    let mut sources = Vec::with_capacity(raw.len());
    for (i, source) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("sources[{i}].{field}");
        let slug = Slug::parse(&source.slug).map_err(|e| invalid(key("slug"), e.0))?;
        if !slugs.insert(slug.clone()) {
            return Err(invalid(key("slug"), format!("slug {slug} is used by another source")));
        }
        let (kind, client_id, secret_env) = match (source.oidc, source.github) {
            (Some(oidc), None) => oidc_kind(oidc, &key)?,
            (None, Some(github)) => github_kind(github, &key)?,
            _ => return Err(invalid(key("oidc"), "give exactly one of `oidc:` or `github:`")),
        };
        let client_secret = env_secret(env, &secret_env, &key("client_secret_env"))?;
        let group = |field: String, raw: &str| -> Result<GroupName, ConfigError> {
            let name = GroupName::parse(raw).map_err(|e| invalid(&field, e.0))?;
            if !declared_groups.contains(&name) {
                return Err(invalid(field, format!("group {name} is not declared under `groups`")));
            }
            Ok(name)
        };
        let default_groups = source
            .default_groups
            .iter()
            .enumerate()
            .map(|(j, g)| group(key(&format!("default_groups[{j}]")), g))
            .collect::<Result<_, _>>()?;
        let group_map = source
            .groups
            .iter()
            .map(|(upstream, ours)| Ok((upstream.clone(), group(key(&format!("groups.{upstream}")), ours)?)))
            .collect::<Result<_, ConfigError>>()?;
        let name = source.name.unwrap_or_else(|| match &kind {
            SourceKind::Github { .. } => "GitHub".to_owned(),
            SourceKind::Oidc { .. } => slug.to_string(),
        });
        sources.push(SourceDecl {
            slug,
            name,
            kind,
            client_id,
            client_secret,
            link_by_email: source.link_by_email,
            create_users: source.create_users,
            default_groups,
            group_map,
            trust_upstream_mfa: source.trust_upstream_mfa,
        });
    }
    Ok(sources)
}

type Parsed = (SourceKind, String, String);

fn oidc_kind(raw: RawOidcSource, key: &dyn Fn(&str) -> String) -> Result<Parsed, ConfigError> {
    web_url_ok(&raw.issuer, &key("oidc.issuer"))?;
    let scopes = raw.scopes.unwrap_or_else(|| ["openid", "profile", "email"].map(String::from).to_vec());
    if !scopes.iter().any(|s| s == "openid") {
        return Err(invalid(key("oidc.scopes"), "must include openid"));
    }
    if let Some(bad) = scopes.iter().find(|s| s.is_empty() || !s.chars().all(|c| c.is_ascii_graphic() && c != '"')) {
        return Err(invalid(key("oidc.scopes"), format!("{bad:?} is not a scope")));
    }
    let kind = SourceKind::Oidc {
        issuer: raw.issuer,
        scopes,
        username_claim: raw.username_claim.unwrap_or_else(|| "preferred_username".to_owned()),
        groups_claim: raw.groups_claim,
    };
    Ok((kind, raw.client_id, raw.client_secret_env))
}

fn github_kind(raw: RawGithubSource, key: &dyn Fn(&str) -> String) -> Result<Parsed, ConfigError> {
    let web_url = raw.web_url.unwrap_or_else(|| "https://github.com".to_owned());
    let api_url = raw.api_url.unwrap_or_else(|| "https://api.github.com".to_owned());
    web_url_ok(&web_url, &key("github.web_url"))?;
    web_url_ok(&api_url, &key("github.api_url"))?;
    let kind = SourceKind::Github {
        web_url: web_url.trim_end_matches('/').to_owned(),
        api_url: api_url.trim_end_matches('/').to_owned(),
    };
    Ok((kind, raw.client_id, raw.client_secret_env))
}

/// An https URL (http only for a loopback host, as in tests).
fn web_url(raw: &str, key: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw).map_err(|e| invalid(key, format!("{raw:?} is not a URL: {e}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(invalid(key, "must be an https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(key, "must have no query or fragment"));
    }
    Ok(url)
}

fn web_url_ok(raw: &str, key: &str) -> Result<(), ConfigError> {
    web_url(raw, key).map(drop)
}
