//! GitHub as a source: OAuth 2 (GitHub is no OpenID provider: no
//! `id_token`, no discovery) with PKCE and state, then GitHub's REST API
//! for the account (`GET /user`), its addresses (`GET /user/emails`: the
//! primary one, and whether GitHub verified it) and, when the source maps
//! groups, its organizations and teams (`GET /user/orgs`, `/user/teams`),
//! named `org` and `org/team`. GitHub's access token is used for these
//! calls and dropped.

use super::upstream::{SourceError, UpstreamAccount, json_ok, string};
use serde_json::Value;

/// GitHub's documented REST API version these calls are written against.
const API_VERSION: &str = "2022-11-28";

pub struct Github {
    pub web_url: String,
    pub api_url: String,
}

/// What the callback hands over.
pub struct Callback<'a> {
    pub code: &'a str,
    pub verifier: &'a str,
    pub redirect_uri: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    /// Organization and team memberships are asked for (`read:org`).
    pub wants_groups: bool,
}

impl Github {
    /// The scopes asked for: the profile and addresses, and with groups mapped,
    /// memberships.
    pub fn scope(wants_groups: bool) -> &'static str {
        if wants_groups { "read:user user:email read:org" } else { "read:user user:email" }
    }

    pub fn authorization_url(&self, query: &[(&str, &str)]) -> Result<String, SourceError> {
        let mut url = url::Url::parse(&format!("{}/login/oauth/authorize", self.web_url))
            .map_err(|_| SourceError::Unreachable("GitHub's URL".into()))?;
        url.query_pairs_mut().extend_pairs(query);
        Ok(url.into())
    }

    pub async fn finish(&self, http: &reqwest::Client, back: Callback<'_>) -> Result<UpstreamAccount, SourceError> {
        let form = [
            ("client_id", back.client_id),
            ("client_secret", back.client_secret),
            ("code", back.code),
            ("redirect_uri", back.redirect_uri),
            ("code_verifier", back.verifier),
        ];
        let request =
            http.post(format!("{}/login/oauth/access_token", self.web_url)).header("accept", "application/json");
        let tokens = json_ok(request.form(&form), "GitHub's token endpoint").await?;
        // GitHub answers a refused code with 200 and an `error` field.
        if let Some(error) = string(&tokens, "error") {
            return Err(SourceError::Refused(format!("GitHub's token endpoint: {error}")));
        }
        let token = string(&tokens, "access_token")
            .ok_or_else(|| SourceError::Invalid("GitHub's token answer has no access_token".into()))?;
        let get = |path: &str| {
            http.get(format!("{}{path}", self.api_url))
                .bearer_auth(&token)
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", API_VERSION)
        };
        let user = json_ok(get("/user"), "GitHub's /user").await?;
        let subject = match user.get("id") {
            Some(Value::Number(id)) => id.to_string(),
            _ => return Err(SourceError::Invalid("GitHub's /user has no numeric id".into())),
        };
        let emails = json_ok(get("/user/emails?per_page=100"), "GitHub's /user/emails").await?;
        let primary = emails
            .as_array()
            .and_then(|all| all.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))))
            .cloned()
            .unwrap_or(Value::Null);
        let mut groups = Vec::new();
        if back.wants_groups {
            let orgs = json_ok(get("/user/orgs?per_page=100"), "GitHub's /user/orgs").await?;
            groups.extend(orgs.as_array().into_iter().flatten().filter_map(|o| string(o, "login")));
            let teams = json_ok(get("/user/teams?per_page=100"), "GitHub's /user/teams").await?;
            groups.extend(teams.as_array().into_iter().flatten().filter_map(|team| {
                let org = team.get("organization").and_then(|o| string(o, "login"))?;
                Some(format!("{org}/{}", string(team, "slug")?))
            }));
        }
        Ok(UpstreamAccount {
            subject,
            login: string(&user, "login"),
            name: string(&user, "name"),
            email: string(&primary, "email"),
            email_verified: primary.get("verified") == Some(&Value::Bool(true)),
            groups,
            // GitHub says nothing about how its user signed in.
            mfa: false,
        })
    }
}
