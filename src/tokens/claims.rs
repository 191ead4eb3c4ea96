//! User claims by scope, shared by the id_token and userinfo so they agree.

use crate::domain::{EmailVerified, Scope, ScopeSet};
use crate::store::{Application, User};
use serde_json::{Map, Value, json};

/// `sub` plus the claims the granted scopes allow, for `app`.
pub fn user_claims(user: &User, scope: ScopeSet, app: &Application) -> Map<String, Value> {
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
        // ferrid sends no mail: an address is verified where an
        // administrator marked it, or where the app is set to assume it.
        let verified = user.email_verified || app.email_verified == EmailVerified::Always;
        claims.insert("email_verified".into(), json!(verified));
    }
    // authentik's `profile` scope carries `groups` too, and guides written
    // for it ask for `openid profile email` and then check the groups.
    if scope.contains(Scope::Groups) || scope.contains(Scope::Profile) {
        let groups: Vec<&str> = user.groups.iter().map(|g| g.as_str()).collect();
        claims.insert("groups".into(), json!(groups));
    }
    claims
}
