//! What is stored. Each record is JSON in its tree; short-lived ones carry an
//! `expires_at` (unix seconds) that the purge reads.

use crate::crypto::secrets::Digest;
use crate::domain::{
    AccessPolicy, AuthorizationRequest, ClaimMapping, ClientId, ConsentMode, GroupName, RedirectUri, ScopeSet,
    SigningAlg, Slug, Username,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    /// Stable subject identifier; never reused, never changes with the username.
    pub sub: Uuid,
    pub username: Username,
    pub email: Option<String>,
    /// An administrator marked `email` as the user's own; a new or changed
    /// address is not (the `email_verified` claim follows this).
    #[serde(default)]
    pub email_verified: bool,
    pub name: Option<String>,
    /// bcrypt (`$2b$…`), the same format Node-RED's `settings.js` takes.
    /// Empty: the account has no password and signs in with a passkey
    /// alone (a password typed for it fails as a wrong one does).
    pub password_hash: String,
    pub groups: Vec<GroupName>,
    pub disabled: bool,
    pub created_at: i64,
    /// Raised when the password changes or the account is disabled. Sessions,
    /// codes and refresh families carry the epoch they were made in; one of
    /// an older epoch is over for good (re-enabling does not bring it back).
    #[serde(default)]
    pub epoch: u32,
    /// Accounts at sign-in sources linked to this one (at most one per
    /// source); `Tree::Identities` finds the user from one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<LinkedIdentity>,
}

/// An account at a sign-in source, linked to a ferrid user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    /// The source's slug (`sources:` in config.yaml).
    pub source: String,
    /// The source's stable id for the account (OIDC `sub`, GitHub's
    /// numeric user id), never its changeable login.
    pub subject: String,
    /// What the source called the account when it was linked, to show.
    pub login: String,
    pub linked_at: i64,
}

impl User {
    /// False for an account made by invitation that chose a passkey, or one
    /// whose owner removed the password: it signs in with a passkey only.
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }

    /// An enabled user with no groups, for unit tests.
    #[cfg(test)]
    pub fn for_test(username: &str, password_hash: String) -> User {
        User {
            sub: Uuid::new_v4(),
            username: Username::parse(username).expect("a valid test username"),
            email: None,
            email_verified: false,
            name: None,
            password_hash,
            groups: vec![],
            disabled: false,
            created_at: 0,
            epoch: 0,
            identities: vec![],
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
    /// Its members need a second factor to sign in.
    #[serde(default)]
    pub require_mfa: bool,
    /// Declared in config.yaml (rewritten at every start; read-only to the CLI).
    #[serde(default)]
    pub declared: bool,
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
    /// Where RP-Initiated Logout may send the browser afterwards (exact match).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Back-Channel Logout 1.0: where its logout tokens are POSTed.
    #[serde(default)]
    pub backchannel_logout_uri: Option<RedirectUri>,
    /// Its logout tokens must carry `sid` (they always do).
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    #[serde(default)]
    pub consent: ConsentMode,
    /// Signing in to it needs a second factor.
    #[serde(default)]
    pub require_mfa: bool,
    /// A `proxy` application: what it protects behind forward-auth.
    #[serde(default)]
    pub proxy: Option<crate::domain::ProxyRule>,
    #[serde(default)]
    pub email_verified: crate::domain::EmailVerified,
    /// Switches for clients that differ (PKCE, authentication methods,
    /// what the id_token carries).
    #[serde(default)]
    pub compat: crate::domain::Compatibility,
    /// Registered by the client itself (RFC 7591), not by an administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
}

/// How a client that registered itself (RFC 7591) came, and what it
/// registered that the other fields do not hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The application whose issuer it registered at: its tokens carry
    /// that issuer (`iss`), and it is published under it.
    pub issuer: Slug,
    /// The digest of its registration access token (RFC 7592).
    pub access_token: Digest,
    /// The public id of the initial access token it registered with.
    pub initial_token: String,
    /// `token_endpoint_auth_method` as registered (`none`,
    /// `client_secret_basic` or `client_secret_post`).
    pub auth_method: String,
    /// `grant_types` as registered (authorization_code, refresh_token).
    pub grant_types: Vec<String>,
    /// The scopes it may be granted; None: any ferrid knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSet>,
}

impl Application {
    /// A public client whose slug is its client id, for unit tests.
    #[cfg(test)]
    pub fn for_test(slug: &str, backchannel_logout_uri: Option<&str>) -> Application {
        Application {
            slug: Slug::parse(slug).expect("a valid test slug"),
            name: slug.into(),
            client_id: ClientId::parse(slug).expect("a valid test client id"),
            client: ClientKind::Public,
            redirect_uris: vec![],
            signing_alg: Default::default(),
            access: Default::default(),
            claims: vec![],
            declared: false,
            created_at: 0,
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: backchannel_logout_uri.map(|u| RedirectUri::parse(u).expect("a valid test URI")),
            backchannel_logout_session_required: false,
            consent: Default::default(),
            require_mfa: false,
            proxy: None,
            email_verified: Default::default(),
            compat: Default::default(),
            registration: None,
        }
    }

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

    /// Exact string comparison, as for redirect URIs (RP-Initiated Logout §3).
    pub fn registered_post_logout_redirect(&self, candidate: &str) -> Option<&RedirectUri> {
        self.post_logout_redirect_uris.iter().find(|uri| uri.as_str() == candidate)
    }
}

/// A signed-in browser. Keyed by the digest of the cookie value; its
/// public id (`sid`) is derived from that key (see `sessions::sid_of`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub sub: Uuid,
    pub auth_time: i64,
    pub expires_at: i64,
    /// The user's `epoch` when it began.
    #[serde(default)]
    pub epoch: u32,
    /// When the browser last used it (sign-in or single sign-on).
    #[serde(default)]
    pub last_seen: i64,
    /// Where and with what it signed in, for the account page.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The applications it signed in to: each is told when it ends
    /// (Back-Channel Logout).
    #[serde(default)]
    pub clients: Vec<ClientId>,
    /// How the user proved who they are (RFC 8176: `pwd`, `otp`, `mfa`).
    #[serde(default)]
    pub amr: Vec<String>,
    /// The sign-in source it began through (its slug); None: ferrid's own
    /// password or passkey. An application that does not take that source
    /// asks for a sign-in of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Session {
    #[cfg(test)]
    pub fn for_test(sub: Uuid, expires_at: i64) -> Session {
        Session {
            sub,
            auth_time: 0,
            expires_at,
            epoch: 0,
            last_seen: 0,
            address: None,
            user_agent: None,
            clients: vec![],
            amr: vec![],
            source: None,
        }
    }
}

/// An RP-Initiated Logout waiting for the user to confirm it (the request
/// carried no `id_token_hint` for the browser's session). Keyed by a random id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingLogout {
    pub client_id: ClientId,
    pub post_logout_redirect_uri: Option<RedirectUri>,
    pub state: Option<String>,
    /// Digest of the CSRF token that is both in the form and in a cookie.
    pub csrf: Digest,
    pub expires_at: i64,
}

/// A WebAuthn ceremony waiting for the browser's answer (its two
/// requests): a passkey registration, keyed by a random id, or the
/// passkey sign-in a sign-in page offers, keyed by its sign-in
/// (`passkeys::sign_in_ceremony`). Used once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ceremony {
    /// The user registering a key; None for a sign-in, where the key
    /// names its user.
    pub sub: Option<Uuid>,
    /// The session that started it (`sid`): only it may answer, so an
    /// older (stale) session of the same user cannot add its own key.
    #[serde(default)]
    pub session: Option<String>,
    /// What the user will call the key.
    pub name: String,
    /// webauthn-rs's state for the second request.
    pub state: serde_json::Value,
    pub expires_at: i64,
}

/// A second factor of a user's. Keyed by `sub` then `id`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Factor {
    /// 16 hex digits, unique per user.
    pub id: String,
    pub sub: Uuid,
    /// What the user called it ("phone", "YubiKey").
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub kind: FactorKind,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FactorKind {
    /// RFC 6238. The seed is sealed (`crypto::seal`, context = the factor's
    /// key), never stored in the clear.
    Totp {
        sealed_seed: String,
        /// Set by the first code, which proves the app has the seed.
        confirmed: bool,
        /// The step of the last code accepted: none at or before it is again.
        last_step: Option<i64>,
    },
    /// Single-use codes, stored as digests; a used one becomes None.
    RecoveryCodes { codes: Vec<Option<Digest>> },
    /// A WebAuthn credential (webauthn-rs's record: the public key, its
    /// id and signature counter; nothing secret).
    Passkey {
        passkey: serde_json::Value,
        /// Known to sign in on its own (a discoverable credential): the
        /// browser said so when it was made (`credProps.rk`), or it has
        /// signed in without a username. Only such a key lets an account
        /// do without a password.
        #[serde(default)]
        discoverable: bool,
    },
}

impl Factor {
    /// Does it count as a second factor now? (An unconfirmed TOTP does not,
    /// nor do recovery codes: they stand in for one.)
    pub fn is_second_factor(&self) -> bool {
        matches!(self.kind, FactorKind::Totp { confirmed: true, .. } | FactorKind::Passkey { .. })
    }
}

/// A user's answer on the consent page for one application, remembered
/// when the application asks only once. Keyed by `sub` then client id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Consent {
    pub sub: Uuid,
    pub client_id: ClientId,
    /// What the user agreed to; a request for more asks again.
    pub scope: ScopeSet,
    pub granted_at: i64,
}

/// A logout token owed to an application (Back-Channel Logout 1.0 §2.5),
/// kept until it is delivered or its retries run out, so a restart does not
/// forget it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogoutNotice {
    pub id: Uuid,
    pub client_id: ClientId,
    pub sub: Uuid,
    pub sid: String,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

/// A browser that signed in as `sub` (its device cookie, by digest): the
/// sign-in throttle treats it as the owner's, not a stranger's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Device {
    pub sub: Uuid,
    pub expires_at: i64,
}

/// A sign-in waiting for the user: for an authorization request, or (None)
/// for ferrid's own account page. It stands at exactly one `SignInStep`;
/// each sign-in route accepts one step and moves it on with a
/// compare-and-swap (`Store::advance_interaction`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Interaction {
    pub request: Option<AuthorizationRequest>,
    pub step: SignInStep,
    /// For a sign-in to ferrid's own pages: the page to return to (one of
    /// `paths`, never a URL from the request).
    #[serde(default)]
    pub return_to: Option<String>,
    /// A re-authentication: the user whose session asked for it. Only
    /// they may sign in here, and their session is refreshed in place
    /// rather than a new one started.
    #[serde(default)]
    pub reauth: Option<Uuid>,
    /// A sign-in for a `proxy` application (forward-auth), whose rules
    /// (second factor) apply; `return_to` is then the protected URL.
    #[serde(default)]
    pub proxy_app: Option<crate::domain::ClientId>,
    /// Digest of the CSRF token that is both in the form and in a cookie.
    pub csrf: Digest,
    pub expires_at: i64,
    /// The sign-in source (its slug) the first factor came from; None: a
    /// password or passkey of ferrid's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Not a sign-in: the linking of a source to this user's account (the
    /// signed-in user who asked, from the account page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Uuid>,
    /// A sign-in to answer a device's request (RFC 8628) on `/device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceRequest>,
}

impl Interaction {
    /// The application this sign-in is for: an authorization request's,
    /// a proxy application's or a device's; None for ferrid's own pages.
    pub fn client_id(&self) -> Option<&crate::domain::ClientId> {
        match (&self.request, &self.proxy_app, &self.device) {
            (Some(request), _, _) => Some(&request.client_id),
            (None, Some(app), _) => Some(app),
            (None, None, Some(device)) => Some(&device.client_id),
            (None, None, None) => None,
        }
    }
}

/// The device request a sign-in on `/device` answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// Its device code's digest (the `DeviceGrants` key).
    pub grant: Digest,
    pub client_id: crate::domain::ClientId,
    pub scope: crate::domain::ScopeSet,
    /// Its user code as shown (`XXXX-XXXX`), for the user to compare with
    /// the device's screen.
    pub user_code: String,
}

/// Where a parked sign-in stands. A step that names a user was reached by
/// that user's password (or session, for consent); `epoch` is the user's
/// when it was, so a password change or disable ends the step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum SignInStep {
    /// The sign-in form.
    AwaitingPassword,
    /// Gone to sign in at a source (its slug); its answer, to the source's
    /// redirect URI, is awaited. The id of this step is the `state` sent
    /// there; the nonce and PKCE verifier are this sign-in's.
    AwaitingUpstream { source: String, nonce: String, verifier: String },
    /// The password was right; the user's second factor is awaited. The
    /// passkey challenge the code page offered waits here too.
    AwaitingCode { user: Uuid, epoch: u32, passkey_challenge: Option<serde_json::Value> },
    /// The password was right, a factor is required and the user has none:
    /// they set up an authenticator app (`factor`: the one being set up).
    AwaitingEnrollment { user: Uuid, epoch: u32, factor: Option<String> },
    /// Signed in already: the request waits only for this user's consent.
    AwaitingConsent { user: Uuid },
    /// Signed in: the device's request (`Interaction::device`) waits for
    /// this user to approve or deny it.
    AwaitingDeviceApproval { user: Uuid },
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
    /// The session it was issued in (its public id), for the id_token's `sid`.
    #[serde(default)]
    pub sid: Option<String>,
    /// The session's authentication methods, for the id_token's `amr` and `acr`.
    #[serde(default)]
    pub amr: Vec<String>,
    /// Redeemable until then.
    pub valid_until: i64,
    /// Kept past `valid_until` so a late replay is still recognised as reuse.
    pub expires_at: i64,
    /// Always None in what this ferrid writes: a redeemed code is stored as
    /// a [`RedeemedCode`]. Some in codes redeemed by an older ferrid.
    pub redeemed: Option<Redemption>,
}

/// What is kept of a code once redeemed, until its `expires_at`: only what
/// a replay needs to revoke what the one legitimate redemption issued. The
/// request it was issued for is dropped (most of a code's bytes, held by
/// the store for the code's whole lifetime: docs/benchmarks.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RedeemedCode {
    pub client_id: ClientId,
    pub redeemed: Redemption,
    pub expires_at: i64,
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
    /// The session the family began in. An `offline_access` family outlives
    /// it; the id_tokens it yields keep naming it.
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    /// The last rotation, while its client may still retry it (the
    /// application's `refresh_reuse_interval`); None when that is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryWindow>,
}

/// What a retry of the last rotation needs: the token it replaced, when,
/// and the successor it handed out, sealed with a key derived from the
/// replaced token (`tokens::refresh_token`), so that only a client that
/// holds that token can open it, and the database alone opens nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryWindow {
    pub previous: Digest,
    pub rotated_at: i64,
    /// base64url of the sealed successor.
    pub successor: String,
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
