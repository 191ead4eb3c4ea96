//! Every URL path ferrid serves, spelled once. `routes` binds each to its
//! handler and per-route policy; whatever else needs a path (discovery
//! documents, redirects to the sign-in form, the Node-RED snippet, the
//! CLI's admin client) takes it from here. Lowest layer: it imports nothing.

/// The shared endpoints, in authentik's layout.
pub const AUTHORIZE: &str = "/application/o/authorize/";
pub const TOKEN: &str = "/application/o/token/";
pub const USERINFO: &str = "/application/o/userinfo/";
pub const INTROSPECT: &str = "/application/o/introspect/";
pub const REVOKE: &str = "/application/o/revoke/";
/// RFC 8628's device authorization endpoint, at authentik's path.
pub const DEVICE_AUTHORIZATION: &str = "/application/o/device/";

/// Per application; `{slug}` is the application's slug (see `for_app`).
pub const ISSUER: &str = "/application/o/{slug}/";
pub const DISCOVERY: &str = "/application/o/{slug}/.well-known/openid-configuration";
pub const JWKS: &str = "/application/o/{slug}/jwks/";
pub const KEYS_PEM: &str = "/application/o/{slug}/keys.pem";
/// RP-Initiated Logout 1.0, at authentik's path.
pub const END_SESSION: &str = "/application/o/{slug}/end-session/";
/// Dynamic Client Registration (RFC 7591), at the issuer that offers it
/// (`registration:` in config.yaml), and each registered client's own
/// configuration endpoint (RFC 7592), `{client_id}` its client id.
pub const REGISTER: &str = "/application/o/{slug}/register/";
pub const REGISTRATION: &str = "/application/o/{slug}/register/{client_id}";

/// ferrid's own pages.
pub const LOGIN: &str = "/login";
/// Where a reverse proxy sends a browser to sign in (`?rd=` the URL it
/// wanted), as Authelia's portal root is.
pub const PORTAL: &str = "/";
/// Forward-auth for Traefik and Caddy (Authelia's path).
pub const FORWARD_AUTH: &str = "/api/authz/forward-auth";
/// Forward-auth for nginx `auth_request` (Authelia's path).
pub const AUTH_REQUEST: &str = "/api/authz/auth-request";
/// The second step of a sign-in: a code, or setting up an authenticator app.
pub const LOGIN_CODE: &str = "/login/code";
pub const LOGIN_ENROLL: &str = "/login/enroll";
pub const LOGIN_PASSKEY: &str = "/login/passkey";
/// Signing in with a passkey alone, from the sign-in page.
pub const LOGIN_WITH_PASSKEY: &str = "/login/with-passkey";
/// Signing in through a source (`sources:`): the sign-in page's buttons
/// post here, and the source sends the browser back to its own redirect
/// URI (authentik's path).
pub const LOGIN_SOURCE: &str = "/login/source";
pub const SOURCE_CALLBACK: &str = "/source/oauth/callback/{slug}/";
pub const CONSENT: &str = "/consent";
/// Where a person enters a device's code (RFC 8628 `verification_uri`),
/// and approves or denies its request.
pub const DEVICE: &str = "/device";
pub const DEVICE_APPROVE: &str = "/device/approve";
/// Where a sign-out an application asked for is confirmed.
pub const LOGOUT_CONFIRM: &str = "/logout/confirm";
pub const ACCOUNT: &str = "/account/";
/// One-time links (`links`): an invitation, and a recovery link.
pub const SETUP: &str = "/setup/{secret}";
pub const RECOVER: &str = "/recover/{secret}";
pub const VERIFY_EMAIL: &str = "/verify-email/{secret}";
/// "Forgot your password?": a recovery link by mail (with `smtp:`).
pub const FORGOT: &str = "/forgot";
/// The account page's "send me a link" for the user's address.
pub const ACCOUNT_VERIFY_EMAIL: &str = "/account/verify-email";
pub const ACCOUNT_SIGN_OUT: &str = "/account/sign-out";
pub const ACCOUNT_SESSIONS_END: &str = "/account/sessions/end";
pub const ACCOUNT_CONSENTS_REVOKE: &str = "/account/consents/revoke";
pub const ACCOUNT_PASSWORD: &str = "/account/password";
pub const ACCOUNT_PASSWORD_REMOVE: &str = "/account/password/remove";
pub const ACCOUNT_MFA: &str = "/account/mfa";
pub const ACCOUNT_MFA_TOTP: &str = "/account/mfa/totp";
pub const ACCOUNT_MFA_TOTP_CONFIRM: &str = "/account/mfa/totp/confirm";
pub const ACCOUNT_MFA_RECOVERY: &str = "/account/mfa/recovery";
pub const ACCOUNT_MFA_REMOVE: &str = "/account/mfa/remove";
pub const ACCOUNT_MFA_PASSKEY: &str = "/account/mfa/passkey";
pub const ACCOUNT_MFA_PASSKEY_FINISH: &str = "/account/mfa/passkey/finish";
pub const ACCOUNT_TOKENS: &str = "/account/tokens";
pub const ACCOUNT_SOURCES_LINK: &str = "/account/sources/link";
pub const ACCOUNT_SOURCES_UNLINK: &str = "/account/sources/unlink";
pub const ACCOUNT_TOKENS_REVOKE: &str = "/account/tokens/revoke";
/// The admin console, for members of `admin::ADMIN_GROUP`. Every change is
/// a POST to `ADMIN_ACT`.
pub const ADMIN: &str = "/admin/";
pub const ADMIN_USERS: &str = "/admin/users";
pub const ADMIN_USER: &str = "/admin/users/{username}";
pub const ADMIN_GROUPS: &str = "/admin/groups";
pub const ADMIN_APPS: &str = "/admin/apps";
pub const ADMIN_APP: &str = "/admin/apps/{slug}";
pub const ADMIN_TOKENS: &str = "/admin/tokens";
pub const ADMIN_KEYS: &str = "/admin/keys";
pub const ADMIN_AUDIT: &str = "/admin/audit";
pub const ADMIN_ACT: &str = "/admin/act";
pub const STYLESHEET: &str = "/static/ferrid.css";
pub const FORM_POST_SCRIPT: &str = "/static/form_post.js";
pub const WEBAUTHN_SCRIPT: &str = "/static/webauthn.js";
pub const COPY_SCRIPT: &str = "/static/copy.js";

/// Probes and the Prometheus scrape.
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";

/// The loopback admin API (a listener of its own, never the public one).
pub const ADMIN_EXEC: &str = "/admin/exec";

/// A per-application path for `slug`.
pub fn for_app(pattern: &str, slug: &str) -> String {
    pattern.replace("{slug}", slug)
}

/// A registered client's configuration endpoint (RFC 7592) under `slug`'s issuer.
pub fn registration(slug: &str, client_id: &str) -> String {
    for_app(REGISTRATION, slug).replace("{client_id}", client_id)
}

/// `path` as a log line may carry it: a one-time link's secret cut off
/// (`SETUP`, `RECOVER`: it would open the account to whoever reads the log).
/// Percent-escapes are read first, as routing reads them.
pub fn loggable(path: &str) -> std::borrow::Cow<'_, str> {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, ..) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    for pattern in [SETUP, RECOVER, VERIFY_EMAIL] {
        let prefix = pattern.trim_end_matches("{secret}");
        if decoded.len() > prefix.len() && decoded[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()) {
            return std::borrow::Cow::Owned(format!("{prefix}…"));
        }
    }
    std::borrow::Cow::Borrowed(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_link_secret_never_reaches_a_log_line() {
        let secret = "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg";
        for path in [
            format!("/setup/{secret}"),
            format!("/recover/{secret}"),
            format!("/verify-email/{secret}"),
            format!("/recover/{secret}/more"),
            format!("/%72ecover/{secret}"),
            format!("/SETUP/{secret}"),
        ] {
            let logged = super::loggable(&path);
            assert!(!logged.contains(secret) && logged.ends_with('…'), "{path}: {logged}");
        }
        for path in ["/account/", "/setup/", "/recover", "/login", "/%", "/%zz", "/é"] {
            assert_eq!(super::loggable(path), path);
        }
    }

    #[test]
    fn per_application_paths_take_the_slug() {
        assert_eq!(super::for_app(super::JWKS, "node-red"), "/application/o/node-red/jwks/");
        assert_eq!(super::for_app(super::ISSUER, "a"), "/application/o/a/");
        assert_eq!(super::registration("a", "reg-1"), "/application/o/a/register/reg-1");
    }
}
