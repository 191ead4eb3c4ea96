//! Per-application access policy and claims computed from group membership.

use super::{GroupName, Username};
use serde::{Deserialize, Serialize};

/// Who may use an application. Empty lists mean everyone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessPolicy {
    pub allowed_groups: Vec<GroupName>,
    pub allowed_users: Vec<Username>,
    /// The sign-in sources (`sources:` in config.yaml, by slug) whose
    /// sign-ins the application takes; None: all of them. ferrid's own
    /// password and passkeys always count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_sources: Option<Vec<super::Slug>>,
}

impl AccessPolicy {
    pub fn is_open(&self) -> bool {
        self.allowed_groups.is_empty() && self.allowed_users.is_empty()
    }

    /// Does the application take a sign-in through `source` (None: ferrid's own)?
    pub fn takes_source(&self, source: Option<&str>) -> bool {
        match (source, &self.allowed_sources) {
            (None, _) | (_, None) => true,
            (Some(source), Some(allowed)) => allowed.iter().any(|s| s.as_str() == source),
        }
    }

    pub fn allows(&self, username: &Username, groups: &[GroupName]) -> bool {
        self.is_open()
            || self.allowed_users.contains(username)
            || groups.iter().any(|g| self.allowed_groups.contains(g))
    }
}

/// When an application must ask the user before it receives their data
/// (OIDC Core §3.1.2.4). `implicit` is for first-party applications: the
/// administrator who registered it consented for the users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    #[default]
    Implicit,
    /// Ask once; the answer is remembered until the user revokes it or the
    /// application asks for more.
    Once,
    /// Ask at every sign-in.
    Always,
}

impl ConsentMode {
    pub fn parse(raw: &str) -> Option<ConsentMode> {
        match raw {
            "implicit" => Some(ConsentMode::Implicit),
            "once" => Some(ConsentMode::Once),
            "always" => Some(ConsentMode::Always),
            _ => None,
        }
    }
}

/// What `email_verified` says for an application (`email_verified:` in
/// config.yaml). ferrid sends no mail, so by default an address counts as
/// verified only where an administrator marked it so. `Always` claims it
/// for every address: what authentik's users add a custom `email` scope
/// mapping for, for apps such as Outline or Komga that refuse an
/// unverified address; only for an app that does not link accounts by it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailVerified {
    #[default]
    Marked,
    Always,
}

impl EmailVerified {
    pub fn parse(raw: &str) -> Option<EmailVerified> {
        match raw {
            "marked" => Some(EmailVerified::Marked),
            "always" => Some(EmailVerified::Always),
            _ => None,
        }
    }
}

/// A claim whose value is the union of the values mapped from the user's
/// groups, e.g. `nodered_permissions` from `{nodered-admins: "*"}`. Always an
/// array (Node-RED's `permissions` accepts one), empty when nothing maps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimMapping {
    pub name: String,
    pub from_groups: Vec<(GroupName, Vec<String>)>,
}

/// Names ferrid sets itself, which a mapping may not replace.
pub const REGISTERED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "acr",
    "amr",
    "sid",
    "scope",
    "client_id",
    "preferred_username",
    "name",
    "email",
    "email_verified",
    "groups",
];

impl ClaimMapping {
    pub fn value_for(&self, groups: &[GroupName]) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for (group, mapped) in &self.from_groups {
            if groups.contains(group) {
                for value in mapped {
                    if !values.contains(value) {
                        values.push(value.clone());
                    }
                }
            }
        }
        values
    }

    /// The one-line form the CLI's `--claim` and the console's text box use:
    /// `CLAIM: GROUP=VALUE[,VALUE…]; GROUP=…`, e.g.
    /// `nodered_permissions: nodered-admins=*; nodered-viewers=read`.
    pub fn parse_line(line: &str) -> Result<ClaimMapping, super::ParseError> {
        let bad = |why: &str| super::ParseError(format!("claim mapping {line:?}: {why}"));
        let (name, rest) = line.split_once(':').ok_or_else(|| bad("expected CLAIM: GROUP=VALUE"))?;
        let name = name.trim();
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !valid_name {
            return Err(bad("a claim name is letters, digits, _ - and ."));
        }
        if REGISTERED_CLAIMS.contains(&name) {
            return Err(bad("this claim is set by ferrid and cannot be mapped"));
        }
        let mut from_groups = Vec::new();
        for part in rest.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (group, values) = part.split_once('=').ok_or_else(|| bad("expected GROUP=VALUE"))?;
            let group = GroupName::parse(group.trim()).map_err(|e| bad(&e.0))?;
            let values: Vec<String> =
                values.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect();
            if values.is_empty() {
                return Err(bad("each group needs at least one value"));
            }
            from_groups.push((group, values));
        }
        if from_groups.is_empty() {
            return Err(bad("no GROUP=VALUE given"));
        }
        Ok(ClaimMapping { name: name.to_owned(), from_groups })
    }

    /// The inverse of `parse_line`.
    pub fn to_line(&self) -> String {
        let groups: Vec<String> =
            self.from_groups.iter().map(|(g, values)| format!("{g}={}", values.join(","))).collect();
        format!("{}: {}", self.name, groups.join("; "))
    }
}

/// Per-application switches for clients that differ (issue 29):
/// `pkce: required | optional`, `token_endpoint_auth_methods`,
/// `id_token_claims: full | minimal`. The defaults are what every client
/// got before, so records written before them read as they behaved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compatibility {
    /// A confidential client must send PKCE too (a public one always must).
    #[serde(default)]
    pub pkce_required: bool,
    /// How a confidential client may authenticate at the token endpoint;
    /// empty: `client_secret_basic` and `client_secret_post`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_methods: Vec<AuthMethod>,
    /// The id_token carries `sub` and the protocol's claims only; names,
    /// addresses, groups and mapped claims are at userinfo.
    #[serde(default)]
    pub minimal_id_token: bool,
    /// The device authorization grant (RFC 8628): a device shows a code,
    /// its user approves it on `/device`.
    #[serde(default)]
    pub device_flow: bool,
    /// Seconds after a refresh token's rotation during which its client
    /// may present it again and get the same successor (a retry after a
    /// lost answer) rather than have the family revoked; 0: never.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refresh_reuse_interval: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Compatibility {
    pub fn allows_method(&self, method: AuthMethod) -> bool {
        self.auth_methods.is_empty() || self.auth_methods.contains(&method)
    }

    /// `pkce` as config.yaml and the CLI spell it: `required` or `optional`.
    pub fn parse_pkce(raw: &str) -> Result<bool, String> {
        match raw.trim() {
            "required" => Ok(true),
            "optional" => Ok(false),
            other => Err(format!("{other:?} is not required or optional")),
        }
    }

    /// `refresh_reuse_interval`: `0s` to `60s` (also `30`, seconds).
    pub fn parse_reuse_interval(raw: &str) -> Result<i64, String> {
        let raw = raw.trim();
        let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
        let seconds: i64 = match (digits.parse::<i64>(), unit) {
            (Ok(n), "" | "s") => n,
            (Ok(n), "m") => n.saturating_mul(60),
            _ => return Err(format!("{raw:?} is not a duration like 30s")),
        };
        match seconds {
            0..=60 => Ok(seconds),
            _ => Err("at most 60s: a longer one hides a stolen token".into()),
        }
    }

    /// `id_token_claims`: `full` or `minimal` (true).
    pub fn parse_id_token_claims(raw: &str) -> Result<bool, String> {
        match raw.trim() {
            "full" => Ok(false),
            "minimal" => Ok(true),
            other => Err(format!("{other:?} is not full or minimal")),
        }
    }

    /// `token_endpoint_auth_methods`: at least one, each a known method.
    pub fn parse_methods(raw: &[String]) -> Result<Vec<AuthMethod>, String> {
        let mut methods = Vec::new();
        for name in raw.iter().map(|m| m.trim()) {
            let method = AuthMethod::parse(name)
                .ok_or_else(|| format!("{name:?} is not client_secret_basic or client_secret_post"))?;
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        if methods.is_empty() {
            return Err("name at least one".into());
        }
        Ok(methods)
    }

    pub fn pkce_name(&self) -> &'static str {
        if self.pkce_required { "required" } else { "optional" }
    }

    pub fn id_token_claims_name(&self) -> &'static str {
        if self.minimal_id_token { "minimal" } else { "full" }
    }

    /// The methods a confidential client may use, as discovery names them.
    pub fn method_names(&self) -> Vec<&'static str> {
        [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost]
            .into_iter()
            .filter(|m| self.allows_method(*m))
            .map(AuthMethod::as_str)
            .collect()
    }
}

/// A confidential client's way to authenticate (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

impl AuthMethod {
    pub fn parse(raw: &str) -> Option<AuthMethod> {
        match raw {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str) -> GroupName {
        GroupName::parse(name).unwrap()
    }

    #[test]
    fn a_user_in_several_groups_gets_the_union_without_repeats() {
        let mapping = ClaimMapping {
            name: "nodered_permissions".into(),
            from_groups: vec![
                (g("admins"), vec!["*".into()]),
                (g("viewers"), vec!["read".into()]),
                (g("editors"), vec!["read".into(), "flows.write".into()]),
            ],
        };
        assert_eq!(mapping.value_for(&[g("viewers"), g("editors")]), ["read", "flows.write"]);
        assert_eq!(mapping.value_for(&[g("admins")]), ["*"]);
        assert!(mapping.value_for(&[g("others")]).is_empty());
    }

    #[test]
    fn a_claim_mapping_reads_and_writes_one_line() {
        let line = "nodered_permissions: nodered-admins=*; nodered-viewers=read,flows.read";
        let mapping = ClaimMapping::parse_line(line).unwrap();
        assert_eq!(mapping.name, "nodered_permissions");
        assert_eq!(mapping.from_groups[1], (g("nodered-viewers"), vec!["read".into(), "flows.read".into()]));
        assert_eq!(mapping.to_line(), line);
        for bad in ["perms", "groups: admins=x", "perms: admins", "perms: admins=", "perms:", "p q: a=b"] {
            assert!(ClaimMapping::parse_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_policy_is_open_and_a_set_one_admits_by_group_or_name() {
        let alice = Username::parse("alice").unwrap();
        assert!(AccessPolicy::default().allows(&alice, &[]));
        let policy = AccessPolicy {
            allowed_groups: vec![g("admins")],
            allowed_users: vec![Username::parse("bob").unwrap()],
            allowed_sources: None,
        };
        assert!(!policy.allows(&alice, &[g("viewers")]));
        assert!(policy.allows(&alice, &[g("admins")]));
        assert!(policy.allows(&Username::parse("bob").unwrap(), &[]));
    }
}
