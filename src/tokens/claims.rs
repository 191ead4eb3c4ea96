//! User claims by scope, shared by the id_token and userinfo so they agree.

use crate::domain::{Scope, ScopeSet};
use crate::store::User;
use serde_json::{Map, Value, json};

/// `sub` plus the claims the granted scopes allow.
pub fn user_claims(user: &User, scope: ScopeSet) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.sub.to_string()));
    if scope.contains(Scope::Profile) {
        // Node-RED matches `profile.username`, which passport-openidconnect
        // takes from preferred_username.
        claims.insert("preferred_username".into(), json!(user.username.as_str()));
        claims.insert("name".into(), json!(user.name.clone().unwrap_or_else(|| user.username.to_string())));
    }
    if scope.contains(Scope::Email)
        && let Some(email) = &user.email
    {
        claims.insert("email".into(), json!(email));
        // Addresses are set by the administrator, not claimed by the user.
        claims.insert("email_verified".into(), json!(true));
    }
    // authentik's `profile` scope carries `groups` too, and guides written
    // for it ask for `openid profile email` and then check the groups.
    if scope.contains(Scope::Groups) || scope.contains(Scope::Profile) {
        let groups: Vec<&str> = user.groups.iter().map(|g| g.as_str()).collect();
        claims.insert("groups".into(), json!(groups));
    }
    claims
}
