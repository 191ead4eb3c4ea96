//! Per-application access policy and claims computed from group membership.

use super::{GroupName, Username};
use serde::{Deserialize, Serialize};

/// Who may use an application. Empty lists mean everyone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessPolicy {
    pub allowed_groups: Vec<GroupName>,
    pub allowed_users: Vec<Username>,
}

impl AccessPolicy {
    pub fn is_open(&self) -> bool {
        self.allowed_groups.is_empty() && self.allowed_users.is_empty()
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
    fn an_empty_policy_is_open_and_a_set_one_admits_by_group_or_name() {
        let alice = Username::parse("alice").unwrap();
        assert!(AccessPolicy::default().allows(&alice, &[]));
        let policy =
            AccessPolicy { allowed_groups: vec![g("admins")], allowed_users: vec![Username::parse("bob").unwrap()] };
        assert!(!policy.allows(&alice, &[g("viewers")]));
        assert!(policy.allows(&alice, &[g("admins")]));
        assert!(policy.allows(&Username::parse("bob").unwrap(), &[]));
    }
}
