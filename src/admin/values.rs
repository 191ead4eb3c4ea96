//! What to paste into an application to sign in with ferrid: the issuer,
//! the endpoints, the client id, the scopes and the redirect URIs, under
//! OpenID Connect's own names or, for the applications docs/integrations/
//! covers, under that application's setting names. Never the client
//! secret: ferrid keeps only its hash, so the answer says where it was
//! shown instead.

use super::views::{AppView, PasteValues, Setting};
use crate::config::{Config, SecretSource};
use crate::store::Application;

/// The applications `--for` knows, as the CLI and the console name them.
pub const TARGETS: &[&str] = &[
    "grafana",
    "proxmox",
    "home-assistant",
    "portainer",
    "gitea",
    "forgejo",
    "nextcloud",
    "jellyfin",
    "jupyterhub",
    "node-red",
];

/// The scopes every guide asks for: `profile` carries `preferred_username`,
/// `name` and `groups`.
const SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// The values for `app`, for `target` (one of [`TARGETS`]) or in OpenID
/// Connect's own names; an unknown target is refused with the known ones.
pub(super) fn paste(app: &Application, config: &Config, target: Option<&str>) -> Result<PasteValues, String> {
    let target = match target.map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(raw) => Some(
            TARGETS
                .iter()
                .copied()
                .find(|t| t.eq_ignore_ascii_case(raw))
                .ok_or_else(|| format!("{raw:?} is not one of {}", TARGETS.join(", ")))?,
        ),
    };
    let view = AppView::of(app, config);
    let values = Values { app: &view, secret: secret_placeholder(&view) };
    let mut built = match target {
        None => values.generic(),
        Some("grafana") => values.grafana(),
        Some("proxmox") => values.proxmox(),
        Some("home-assistant") => values.home_assistant(),
        Some("portainer") => values.portainer(),
        Some(forge @ ("gitea" | "forgejo")) => values.forge(forge),
        Some("nextcloud") => values.nextcloud(),
        Some("jellyfin") => values.jellyfin(),
        Some("jupyterhub") => values.jupyterhub(),
        Some(_) => values.node_red(),
    };
    built.notes.extend(differences(&view, target));
    Ok(PasteValues {
        slug: view.slug.to_string(),
        target,
        title: built.title,
        settings: built.settings.into_iter().map(|(name, value)| Setting { name, value }).collect(),
        snippet: built.snippet,
        secret: secret_note(app, config),
        notes: built.notes,
        guide: Some(match target {
            Some("forgejo" | "gitea") => "docs/integrations/gitea-forgejo.md".to_owned(),
            Some(t) => format!("docs/integrations/{t}.md"),
            None => "docs/integrations/README.md".to_owned(),
        }),
    })
}

/// Where the client secret was shown: it is never shown again.
fn secret_note(app: &Application, config: &Config) -> String {
    let slug = app.slug.as_str();
    if app.is_public() {
        return "none: a public client has no secret; it proves itself with PKCE".to_owned();
    }
    if app.registration.is_some() {
        return "shown once, in the answer to the client's own registration (RFC 7591); ferrid keeps only its hash"
            .to_owned();
    }
    let again = format!("`ferrid app rotate-secret {slug}` (or the console) makes a new one, shown once");
    match config.applications.iter().find(|decl| decl.slug == app.slug).map(|decl| &decl.secret) {
        Some(SecretSource::Digest(_)) => format!(
            "not shown: it is the one config.yaml gives for {slug} (client_secret_env, or the secret behind its \
             client_secret_sha256); ferrid keeps only its hash"
        ),
        Some(_) => format!(
            "not shown: ferrid keeps only its hash. It was printed once, at ferrid's first start with {slug} in \
             config.yaml (or by the latest rotate-secret); {again}"
        ),
        None => format!(
            "not shown: ferrid keeps only its hash. It was printed once, by `ferrid app add {slug}` or the \
             console (or by the latest rotate-secret); {again}"
        ),
    }
}

fn secret_placeholder(app: &AppView) -> String {
    format!("<client secret of {}>", app.slug)
}

/// One target's values, before the common parts are added.
struct Built {
    title: String,
    settings: Vec<(String, String)>,
    snippet: Option<String>,
    notes: Vec<String>,
}

impl Built {
    fn new(title: impl Into<String>, settings: Vec<(&str, String)>) -> Built {
        Built {
            title: title.into(),
            settings: settings.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            snippet: None,
            notes: Vec::new(),
        }
    }

    fn snippet(mut self, snippet: String) -> Built {
        self.snippet = Some(snippet);
        self
    }

    fn note(mut self, note: impl Into<String>) -> Built {
        self.notes.push(note.into());
        self
    }
}

struct Values<'a> {
    app: &'a AppView,
    secret: String,
}

impl Values<'_> {
    fn client_id(&self) -> String {
        self.app.client_id.to_string()
    }

    fn redirect(&self) -> String {
        self.app
            .redirect_uris
            .first()
            .map_or_else(|| "(no redirect URI registered)".to_owned(), |u| u.as_str().to_owned())
    }

    /// The end-session endpoint with `client_id`, and the first registered
    /// post-logout address to come back to.
    fn sign_out_url(&self) -> String {
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut url = format!("{}?client_id={}", self.app.end_session_endpoint, encode(self.app.client_id.as_str()));
        if let Some(back) = self.app.post_logout_redirect_uris.first() {
            url.push_str(&format!("&post_logout_redirect_uri={}", encode(back.as_str())));
        }
        url
    }

    /// The path segment after `marker` in the first redirect URI that has
    /// one (a Gitea source's or a Jellyfin provider's name).
    fn name_after(&self, marker: &str, end: &str) -> String {
        self.app
            .redirect_uris
            .iter()
            .filter_map(|u| u.as_str().split_once(marker).map(|(_, rest)| rest.to_owned()))
            .map(|rest| rest.split(end).next().unwrap_or_default().to_owned())
            .find(|name| !name.is_empty())
            .unwrap_or_else(|| "ferrid".to_owned())
    }

    fn methods(&self) -> &[&'static str] {
        &self.app.token_endpoint_auth_methods
    }

    fn generic(&self) -> Built {
        let app = self.app;
        let mut settings = vec![
            ("issuer", app.issuer.clone()),
            ("discovery", app.discovery.clone()),
            ("client_id", self.client_id()),
            ("authorization_endpoint", app.authorization_endpoint.clone()),
            ("token_endpoint", app.token_endpoint.clone()),
            ("userinfo_endpoint", app.userinfo_endpoint.clone()),
            ("end_session_endpoint", app.end_session_endpoint.clone()),
            ("jwks_uri", app.jwks_uri.clone()),
            ("scopes", SCOPES.join(" ")),
        ];
        settings.extend(app.redirect_uris.iter().map(|u| ("redirect_uri", u.as_str().to_owned())));
        settings
            .extend(app.post_logout_redirect_uris.iter().map(|u| ("post_logout_redirect_uri", u.as_str().to_owned())));
        settings.extend([
            ("pkce", app.pkce.to_owned()),
            ("token_endpoint_auth_methods", app.token_endpoint_auth_methods.join(", ")),
            ("id_token_claims", app.id_token_claims.to_owned()),
            ("signing_alg", app.signing_alg.to_string()),
        ]);
        Built::new(format!("OpenID Connect values for {}", app.slug), settings)
    }

    fn grafana(&self) -> Built {
        let app = self.app;
        let auth_style = match self.methods() {
            ["client_secret_basic"] => "InHeader",
            ["client_secret_post"] => "InParams",
            _ => "AutoDetect",
        };
        let admins = app.allowed_groups.first().map_or("ADMIN-GROUP", |g| g.as_str());
        let settings = vec![
            ("enabled", "true".to_owned()),
            ("name", "ferrid".to_owned()),
            ("client_id", self.client_id()),
            ("client_secret", self.secret.clone()),
            ("scopes", SCOPES.join(" ")),
            ("auth_url", app.authorization_endpoint.clone()),
            ("token_url", app.token_endpoint.clone()),
            ("api_url", app.userinfo_endpoint.clone()),
            ("use_pkce", "true".to_owned()),
            ("auth_style", auth_style.to_owned()),
            ("login_attribute_path", "preferred_username".to_owned()),
            ("role_attribute_path", format!("contains(groups[*], '{admins}') && 'Admin' || 'Viewer'")),
            ("signout_redirect_url", self.sign_out_url()),
        ];
        let snippet = std::iter::once("[auth.generic_oauth]".to_owned())
            .chain(settings.iter().map(|(k, v)| format!("{k} = {v}")))
            .collect::<Vec<_>>()
            .join("\n");
        Built::new("Grafana: [auth.generic_oauth] in grafana.ini", settings)
            .snippet(snippet)
            .note("role_attribute_path: name your own groups for Admin and Editor (a JMESPath over `groups`)")
    }

    fn proxmox(&self) -> Built {
        let app = self.app;
        let settings = vec![
            ("issuer-url", app.issuer.clone()),
            ("client-id", self.client_id()),
            ("client-key", self.secret.clone()),
            ("username-claim", "username".to_owned()),
            ("scopes", "openid email profile".to_owned()),
            ("autocreate", "1".to_owned()),
            ("groups-claim", "groups".to_owned()),
        ];
        let flags: Vec<String> = settings.iter().map(|(k, v)| format!("  --{k} {}", shell_word(v))).collect();
        let snippet = format!("pveum realm add ferrid --type openid \\\n{}", flags.join(" \\\n"));
        Built::new("Proxmox VE: an OpenID Connect realm (pveum realm add, or Datacenter → Realms)", settings)
            .snippet(snippet)
    }

    fn home_assistant(&self) -> Built {
        let app = self.app;
        let mut settings = vec![("client_id", self.client_id()), ("discovery_url", app.discovery.clone())];
        if app.client_type != "public" {
            settings.push(("client_secret", self.secret.clone()));
        }
        settings.push(("display_name", "ferrid".to_owned()));
        if app.signing_alg.to_string() != "RS256" {
            settings.push(("id_token_signing_alg", app.signing_alg.to_string()));
        }
        let snippet = std::iter::once("auth_oidc:".to_owned())
            .chain(settings.iter().map(|(k, v)| format!("  {k}: {}", yaml_string(v))))
            .collect::<Vec<_>>()
            .join("\n");
        Built::new("Home Assistant (hass-oidc-auth): auth_oidc in configuration.yaml", settings)
            .snippet(snippet)
            .note("roles.admin and roles.user: the ferrid groups for Home Assistant's administrators and users")
    }

    fn portainer(&self) -> Built {
        let app = self.app;
        let settings = vec![
            ("Client ID", self.client_id()),
            ("Client secret", self.secret.clone()),
            ("Authorization URL", app.authorization_endpoint.clone()),
            ("Access token URL", app.token_endpoint.clone()),
            ("Resource URL", app.userinfo_endpoint.clone()),
            ("Redirect URL", self.redirect()),
            ("Logout URL", self.sign_out_url()),
            ("User identifier", "preferred_username".to_owned()),
            ("Scopes", SCOPES.join(" ")),
        ];
        Built::new("Portainer: Settings → Authentication → OAuth → Custom", settings)
    }

    fn forge(&self, forge: &'static str) -> Built {
        let app = self.app;
        let name = self.name_after("/user/oauth2/", "/");
        let settings = vec![
            ("--name", name),
            ("--provider", "openidConnect".to_owned()),
            ("--key", self.client_id()),
            ("--secret", self.secret.clone()),
            ("--auto-discover-url", app.discovery.clone()),
            ("--scopes", SCOPES.join(",")),
            ("--group-claim-name", "groups".to_owned()),
        ];
        let mut flags: Vec<String> = Vec::new();
        for (k, v) in &settings {
            if *k == "--scopes" {
                flags.extend(SCOPES.iter().map(|s| format!("  --scopes {s}")));
            } else {
                flags.push(format!("  {k} {}", shell_word(v)));
            }
        }
        let snippet = format!("{forge} admin auth add-oauth \\\n{}", flags.join(" \\\n"));
        let title = if forge == "gitea" { "Gitea" } else { "Forgejo" };
        Built::new(format!("{title}: an OAuth2 authentication source (admin auth add-oauth)"), settings)
            .snippet(snippet)
            .note("--admin-group and --restricted-group take ferrid group names")
    }

    fn nextcloud(&self) -> Built {
        let app = self.app;
        let settings = vec![
            ("--clientid", self.client_id()),
            ("--clientsecret", self.secret.clone()),
            ("--discoveryuri", app.discovery.clone()),
            ("--scope", "openid email profile".to_owned()),
            ("--unique-uid", "0".to_owned()),
            ("--mapping-uid", "preferred_username".to_owned()),
            ("--mapping-display-name", "name".to_owned()),
            ("--mapping-email", "email".to_owned()),
            ("--mapping-groups", "groups".to_owned()),
            ("--group-provisioning", "1".to_owned()),
        ];
        let flags: Vec<String> = settings.iter().map(|(k, v)| format!("  {k}={}", shell_word(v))).collect();
        let snippet = format!("sudo -u www-data php occ user_oidc:provider ferrid \\\n{}", flags.join(" \\\n"));
        Built::new("Nextcloud (user_oidc): occ user_oidc:provider", settings).snippet(snippet)
    }

    fn jellyfin(&self) -> Built {
        let app = self.app;
        let provider = self.name_after("/sso/OID/redirect/", "/");
        let settings = vec![
            ("oidEndpoint", app.issuer.clone()),
            ("oidClientId", self.client_id()),
            ("oidSecret", self.secret.clone()),
            ("enabled", "true".to_owned()),
            ("enableAuthorization", "true".to_owned()),
            ("roleClaim", "groups".to_owned()),
            ("doNotValidateEndpoints", "true".to_owned()),
        ];
        let json: serde_json::Map<String, serde_json::Value> = settings
            .iter()
            .map(|(k, v)| {
                let value = match v.as_str() {
                    "true" => serde_json::Value::Bool(true),
                    other => serde_json::Value::String(other.to_owned()),
                };
                ((*k).to_owned(), value)
            })
            .collect();
        let snippet = serde_json::to_string_pretty(&json).unwrap_or_default();
        Built::new(format!("Jellyfin (SSO plugin): OpenID provider {provider:?}"), settings)
            .snippet(snippet)
            .note(format!("the plugin's API takes this JSON at POST /sso/OID/Add/{provider}"))
            .note("roles and adminRoles: the ferrid groups that may sign in, and those that administer")
    }

    fn jupyterhub(&self) -> Built {
        let app = self.app;
        let basic = matches!(self.methods(), ["client_secret_basic"]);
        let quoted = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
        let scopes = SCOPES.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", ");
        let settings = vec![
            ("client_id", quoted(&self.client_id())),
            ("client_secret", "os.environ[\"FERRID_CLIENT_SECRET\"]".to_owned()),
            ("oauth_callback_url", quoted(&self.redirect())),
            ("authorize_url", quoted(&app.authorization_endpoint)),
            ("token_url", quoted(&app.token_endpoint)),
            ("userdata_url", quoted(&app.userinfo_endpoint)),
            ("scope", format!("[{scopes}]")),
            ("username_claim", quoted("preferred_username")),
            ("manage_groups", "True".to_owned()),
            ("claim_groups_key", quoted("groups")),
            ("basic_auth", if basic { "True" } else { "False" }.to_owned()),
        ];
        let settings: Vec<(String, String)> =
            settings.into_iter().map(|(k, v)| (format!("c.GenericOAuthenticator.{k}"), v)).collect();
        let snippet = ["import os".to_owned(), "c.JupyterHub.authenticator_class = \"generic-oauth\"".to_owned()]
            .into_iter()
            .chain(settings.iter().map(|(k, v)| format!("{k} = {v}")))
            .collect::<Vec<_>>()
            .join("\n");
        Built {
            title: "JupyterHub: GenericOAuthenticator in jupyterhub_config.py".to_owned(),
            settings,
            ..Built::new("", vec![])
        }
        .snippet(snippet)
        .note(format!("start JupyterHub with FERRID_CLIENT_SECRET set to {}'s client secret", app.slug))
        .note("allowed_groups and admin_groups (after manage_groups): the ferrid group names")
    }

    fn node_red(&self) -> Built {
        let app = self.app;
        let settings = vec![
            ("issuer", app.issuer.clone()),
            ("authorizationURL", app.authorization_endpoint.clone()),
            ("tokenURL", app.token_endpoint.clone()),
            ("userInfoURL", app.userinfo_endpoint.clone()),
            ("clientID", self.client_id()),
            ("clientSecret", "process.env.FERRID_CLIENT_SECRET".to_owned()),
            ("callbackURL", self.redirect()),
            ("scope", "[\"openid\", \"email\", \"profile\"]".to_owned()),
        ];
        Built::new("Node-RED: passport-openidconnect options in adminAuth (settings.js)", settings).note(format!(
            "`ferrid nodered setup --app {} --user-dir DIR` writes all of it, with the permissions",
            app.slug
        ))
    }
}

/// Where the application's switches or redirect URIs differ from what its
/// guide sets: said, not changed.
fn differences(app: &AppView, target: Option<&str>) -> Vec<String> {
    let Some(target) = target else { return Vec::new() };
    let public = app.client_type == "public";
    let slug = app.slug.as_str();
    let mut notes = Vec::new();
    // (callback marker, wants public, wants PKCE required, the one method it sends)
    let (marker, wants_public, wants_pkce, method) = match target {
        "grafana" => (Some("/login/generic_oauth"), false, true, Some("client_secret_basic")),
        "proxmox" => (None, false, true, Some("client_secret_basic")),
        "home-assistant" => (Some("/auth/oidc/callback"), true, false, None),
        "portainer" => (None, false, false, None),
        "gitea" | "forgejo" => (Some("/user/oauth2/"), false, false, None),
        "nextcloud" => (Some("/apps/user_oidc/code"), false, true, None),
        "jellyfin" => (Some("/sso/OID/redirect/"), false, false, Some("client_secret_post")),
        "jupyterhub" => (Some("/hub/oauth_callback"), false, true, Some("client_secret_post")),
        _ => (Some("/auth/strategy/callback"), false, false, Some("client_secret_post")),
    };
    if let Some(marker) = marker
        && !app.redirect_uris.iter().any(|u| u.as_str().contains(marker))
    {
        notes.push(format!("no registered redirect URI has {marker}, where this application's callback is"));
    }
    if wants_public && !public {
        notes.push(format!("the guide makes {slug} a public client; as a confidential one, give it the secret"));
    }
    // How to change a switch: in config.yaml for a declared application.
    let change = |yaml: &str, flag: &str| match app.declared_in_config {
        true => format!("`{yaml}` in config.yaml"),
        false => format!("`ferrid app update {slug} {flag}`"),
    };
    if !public && wants_pkce && app.pkce != "required" {
        let how = change("pkce: required", "--pkce required");
        notes.push(format!("this application sends PKCE: {how} makes ferrid insist on it"));
    }
    if let (false, Some(method)) = (public, method)
        && !app.token_endpoint_auth_methods.contains(&method)
    {
        let how = change(
            &format!("token_endpoint_auth_methods: [{method}]"),
            &format!("--token-endpoint-auth-method {method}"),
        );
        notes.push(format!(
            "it authenticates with {method}, which {slug} does not allow ({}): {how}",
            app.token_endpoint_auth_methods.join(", ")
        ));
    }
    notes
}

/// `value` as one shell word: single-quoted unless plainly safe.
fn shell_word(value: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c);
    if !value.is_empty() && value.chars().all(plain) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// `value` as a YAML scalar: quoted (JSON strings are YAML) unless plain.
fn yaml_string(value: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./".contains(c);
    if value.chars().all(plain) && !value.is_empty() {
        value.to_owned()
    } else {
        serde_json::Value::String(value.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RedirectUri;

    fn config() -> Config {
        struct NoEnv;
        impl crate::config::Env for NoEnv {
            fn var(&self, _: &str) -> Option<String> {
                None
            }
        }
        Config::from_yaml("public_url: https://id.home.lan/\n", &NoEnv).unwrap()
    }

    /// Every target builds from any application, public or not, with or
    /// without redirect URIs, and names the issuer's host; the names in a
    /// Gitea or Jellyfin callback come through.
    #[test]
    fn every_target_builds_and_takes_names_from_the_callbacks() {
        let config = config();
        let mut public = Application::for_test("x", None);
        public.redirect_uris =
            vec![RedirectUri::parse("https://git.home.lan/user/oauth2/Home%20SSO/callback").unwrap()];
        let mut confidential = Application::for_test("y", None);
        confidential.client = crate::store::ClientKind::Confidential {
            secret_sha256: crate::crypto::secrets::Digest::of("a-secret-of-enough-length"),
        };
        confidential.redirect_uris =
            vec![RedirectUri::parse("https://media.home.lan/sso/OID/redirect/ferrid2").unwrap()];
        for app in [&public, &confidential, &Application::for_test("z", None)] {
            for target in std::iter::once(None).chain(TARGETS.iter().copied().map(Some)) {
                let values = paste(app, &config, target).unwrap();
                let text = format!("{:?}", values);
                assert!(text.contains("https://id.home.lan/application/o/"), "{target:?}: {text}");
                assert!(!values.settings.is_empty() && !values.title.is_empty(), "{target:?}");
            }
        }
        let gitea = paste(&public, &config, Some("Gitea")).unwrap();
        assert_eq!(gitea.settings[0].value, "Home%20SSO");
        assert!(gitea.snippet.unwrap().contains("--name Home%20SSO"));
        let jellyfin = paste(&confidential, &config, Some("jellyfin")).unwrap();
        assert!(jellyfin.notes.iter().any(|n| n.contains("/sso/OID/Add/ferrid2")), "{:?}", jellyfin.notes);
        assert!(paste(&public, &config, Some("gitlab")).unwrap_err().contains("grafana, proxmox"));
        assert!(paste(&public, &config, None).unwrap().secret.starts_with("none: a public client"));
    }

    #[test]
    fn shell_words_and_yaml_strings_quote_what_needs_it() {
        assert_eq!(shell_word("https://id.home.lan/application/o/x/"), "https://id.home.lan/application/o/x/");
        assert_eq!(shell_word("<client secret of x>"), "'<client secret of x>'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(yaml_string("home-assistant"), "home-assistant");
        assert_eq!(yaml_string("https://id.home.lan/x"), "\"https://id.home.lan/x\"");
    }
}
