//! Signing in with an account at another identity provider (`sources:`
//! in config.yaml): a generic OpenID Connect provider, or GitHub. This
//! module talks to the provider and decides which ferrid user the account
//! is; the routes (`oidc::source`) park the sign-in and finish it as a
//! password's.
//!
//! Each source has a redirect URI of its own
//! (`{public_url}/source/oauth/callback/{slug}/`, authentik's path), and
//! the parked sign-in names the source it went to, so a response arriving
//! at another source's URI is refused (mix-up, RFC 9700 §4.4).

mod accounts;
mod github;
mod oidc;
mod upstream;

pub use accounts::{How, Refusal, Resolved, resolve};
pub use upstream::{SourceError, UpstreamAccount};

use crate::config::{SourceDecl, SourceKind};

enum Driver {
    Oidc(oidc::OidcProvider),
    Github(github::Github),
}

/// The configured sources, and one HTTP client to reach them.
pub struct Sources {
    /// Made at the first sign-in through a source: a server without
    /// sources never loads the TLS roots it needs.
    http: std::sync::OnceLock<reqwest::Client>,
    all: Vec<(SourceDecl, Driver)>,
}

/// The authorization request's per-sign-in values.
pub struct Start<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    /// The PKCE challenge (S256) of the verifier kept with the sign-in.
    pub challenge: &'a str,
    pub redirect_uri: &'a str,
    /// A re-authentication: the provider should ask again.
    pub fresh: bool,
}

/// What came back to the redirect URI, and what the sign-in kept.
pub struct Finish<'a> {
    pub code: &'a str,
    pub verifier: &'a str,
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
    pub iss: Option<&'a str>,
    /// A re-authentication (asked with `max_age=0`): the provider must
    /// have signed the user in just now.
    pub fresh: bool,
    pub now: i64,
}

impl Sources {
    pub fn new(decls: &[SourceDecl]) -> Sources {
        let all = decls
            .iter()
            .map(|decl| {
                let driver = match &decl.kind {
                    SourceKind::Oidc { issuer, .. } => Driver::Oidc(oidc::OidcProvider::new(issuer)),
                    SourceKind::Github { web_url, api_url } => {
                        Driver::Github(github::Github { web_url: web_url.clone(), api_url: api_url.clone() })
                    }
                };
                (decl.clone(), driver)
            })
            .collect();
        Sources { http: std::sync::OnceLock::new(), all }
    }

    pub fn get(&self, slug: &str) -> Option<&SourceDecl> {
        self.all.iter().map(|(decl, _)| decl).find(|decl| decl.slug.as_str() == slug)
    }

    pub fn all(&self) -> impl Iterator<Item = &SourceDecl> {
        self.all.iter().map(|(decl, _)| decl)
    }

    /// The origins the browser is sent to when it signs in at a source,
    /// as one CSP source list (a page whose form posts to a source's
    /// button is redirected there, and Chromium checks `form-action`
    /// against the redirect too). Empty without sources.
    pub fn form_action_origins(&self) -> String {
        let mut origins: Vec<String> = Vec::new();
        for (_, driver) in &self.all {
            let found = match driver {
                Driver::Oidc(provider) => provider.browser_origins(),
                Driver::Github(github) => {
                    url::Url::parse(&github.web_url).map(|u| vec![u.origin().ascii_serialization()]).unwrap_or_default()
                }
            };
            for origin in found {
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
        }
        origins.join(" ")
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(upstream::http_client)
    }

    fn driver(&self, slug: &str) -> Option<(&SourceDecl, &Driver)> {
        self.all.iter().find(|(decl, _)| decl.slug.as_str() == slug).map(|(decl, driver)| (decl, driver))
    }

    /// Where to send the browser to sign in at `slug`.
    pub async fn authorization_url(&self, slug: &str, start: Start<'_>) -> Result<String, SourceError> {
        let Some((decl, driver)) = self.driver(slug) else {
            return Err(SourceError::Invalid(format!("no source {slug}")));
        };
        let mut query = vec![
            ("client_id", decl.client_id.as_str()),
            ("redirect_uri", start.redirect_uri),
            ("state", start.state),
            ("code_challenge", start.challenge),
            ("code_challenge_method", "S256"),
        ];
        match (driver, &decl.kind) {
            (Driver::Oidc(provider), SourceKind::Oidc { scopes, .. }) => {
                let scope = scopes.join(" ");
                query.extend([("scope", scope.as_str()), ("nonce", start.nonce)]);
                provider.authorization_url(self.http(), &query, start.fresh).await
            }
            (Driver::Github(github), _) => {
                query.push(("scope", github::Github::scope(!decl.group_map.is_empty())));
                github.authorization_url(&query)
            }
            _ => Err(SourceError::Invalid(format!("source {slug} is misbuilt"))),
        }
    }

    /// Redeems the code at `slug` and says whose account it is.
    pub async fn finish(&self, slug: &str, back: Finish<'_>) -> Result<UpstreamAccount, SourceError> {
        let Some((decl, driver)) = self.driver(slug) else {
            return Err(SourceError::Invalid(format!("no source {slug}")));
        };
        match (driver, &decl.kind) {
            (Driver::Oidc(provider), SourceKind::Oidc { username_claim, groups_claim, .. }) => {
                let callback = oidc::Callback {
                    code: back.code,
                    verifier: back.verifier,
                    nonce: back.nonce,
                    redirect_uri: back.redirect_uri,
                    iss: back.iss,
                    client_id: &decl.client_id,
                    client_secret: &decl.client_secret,
                    username_claim,
                    groups_claim: groups_claim.as_deref(),
                    fresh: back.fresh,
                    now: back.now,
                };
                provider.finish(self.http(), callback).await
            }
            (Driver::Github(github), _) => {
                let callback = github::Callback {
                    code: back.code,
                    verifier: back.verifier,
                    redirect_uri: back.redirect_uri,
                    client_id: &decl.client_id,
                    client_secret: &decl.client_secret,
                    wants_groups: !decl.group_map.is_empty(),
                };
                github.finish(self.http(), callback).await
            }
            _ => Err(SourceError::Invalid(format!("source {slug} is misbuilt"))),
        }
    }
}
