//! What is stored. Each record is JSON in its tree; short-lived ones carry an
//! `expires_at` (unix seconds) that the purge reads.

use crate::crypto::secrets::Digest;
use crate::domain::{
    AccessPolicy, AuthorizationRequest, ClaimMapping, ClientId, GroupName, RedirectUri, ScopeSet, SigningAlg, Slug,
    Username,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    /// Stable subject identifier; never reused, never changes with the username.
    pub sub: Uuid,
    pub username: Username,
    pub email: Option<String>,
    pub name: Option<String>,
    /// bcrypt (`$2b$…`), the same format Node-RED's `settings.js` takes.
    pub password_hash: String,
    pub groups: Vec<GroupName>,
    pub disabled: bool,
    pub created_at: i64,
    /// Raised when the password changes or the account is disabled. Sessions,
    /// codes and refresh families carry the epoch they were made in; one of
    /// an older epoch is over for good (re-enabling does not bring it back).
    #[serde(default)]
    pub epoch: u32,
}

impl User {
    /// An enabled user with no groups, for unit tests.
    #[cfg(test)]
    pub fn for_test(username: &str, password_hash: String) -> User {
        User {
            sub: Uuid::new_v4(),
            username: Username::parse(username).expect("a valid test username"),
            email: None,
            name: None,
            password_hash,
            groups: vec![],
            disabled: false,
            created_at: 0,
            epoch: 0,
        }
    }

    /// Ends every session and refresh family made before now (see `epoch`).
    pub fn end_sessions_and_grants(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Group {
    pub name: GroupName,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientKind {
    /// Cannot keep a secret (SPA, native app): PKCE is required.
    Public,
    Confidential {
        secret_sha256: Digest,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Application {
    pub slug: Slug,
    pub name: String,
    pub client_id: ClientId,
    pub client: ClientKind,
    pub redirect_uris: Vec<RedirectUri>,
    pub signing_alg: SigningAlg,
    #[serde(default)]
    pub access: AccessPolicy,
    #[serde(default)]
    pub claims: Vec<ClaimMapping>,
    /// Declared in config.yaml (upserted at start) rather than made with the CLI.
    pub declared: bool,
    pub created_at: i64,
}

impl Application {
    pub fn is_public(&self) -> bool {
        matches!(self.client, ClientKind::Public)
    }

    pub fn allows(&self, user: &User) -> bool {
        self.access.allows(&user.username, &user.groups)
    }

    /// The user, if a token or session of theirs for this application is
    /// still good now: they exist (the caller looked them up), are enabled,
    /// and the access policy lets them use it (RFC 7662 §2.2).
    pub fn admits(&self, user: Option<User>) -> Option<User> {
        user.filter(|u| !u.disabled && self.allows(u))
    }

    /// This application's group-mapped claims for `user`.
    pub fn mapped_claims(&self, user: &User) -> serde_json::Map<String, serde_json::Value> {
        self.claims.iter().map(|m| (m.name.clone(), serde_json::json!(m.value_for(&user.groups)))).collect()
    }

    /// Exact string comparison against the registered URIs (RFC 9700 §4.1.3).
    pub fn registered_redirect(&self, candidate: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|uri| uri.as_str() == candidate)
    }
}

/// A signed-in browser. Keyed by the digest of the cookie value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub sub: Uuid,
    pub auth_time: i64,
    pub expires_at: i64,
    /// The user's `epoch` when it began.
    #[serde(default)]
    pub epoch: u32,
}

/// A browser that signed in as `sub` (its device cookie, by digest): the
/// sign-in throttle treats it as the owner's, not a stranger's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Device {
    pub sub: Uuid,
    pub expires_at: i64,
}

/// A sign-in waiting for the user: for an authorization request, or (None)
/// for ferrid's own account page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Interaction {
    pub request: Option<AuthorizationRequest>,
    /// Digest of the CSRF token that is both in the form and in a cookie.
    pub csrf: Digest,
    pub expires_at: i64,
}

/// An authorization code, keyed by its digest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthCode {
    pub request: AuthorizationRequest,
    pub sub: Uuid,
    pub auth_time: i64,
    /// The user's `epoch` when it was issued.
    #[serde(default)]
    pub user_epoch: u32,
    /// Redeemable until then.
    pub valid_until: i64,
    /// Kept past `valid_until` so a late replay is still recognised as reuse.
    pub expires_at: i64,
    pub redeemed: Option<Redemption>,
}

/// What the one legitimate redemption of a code issued, so a replay can revoke it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Redemption {
    pub family: Option<Uuid>,
    pub access: IssuedJwt,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IssuedJwt {
    pub jti: Uuid,
    pub expires_at: i64,
}

/// One chain of refresh tokens from one code. Only `current` may be redeemed;
/// presenting an older member means it leaked, and the family is revoked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub id: Uuid,
    pub client_id: ClientId,
    pub sub: Uuid,
    pub scope: ScopeSet,
    pub auth_time: i64,
    pub current: Option<Digest>,
    pub generation: u32,
    pub revoked: bool,
    pub last_access: Option<IssuedJwt>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The user's `epoch` when the family began.
    #[serde(default)]
    pub user_epoch: u32,
}

/// Points a refresh token (by digest) at its family.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefreshTokenRef {
    pub family: Uuid,
    pub expires_at: i64,
}

/// An access token that must no longer be honoured by ferrid's own endpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevokedJti {
    pub expires_at: i64,
}
