//! Forward-auth for reverse proxies, in Authelia's shape so its proxy
//! snippets work after changing the host name:
//! - `GET /api/authz/forward-auth` (Traefik `forwardAuth`, Caddy
//!   `forward_auth`): the original request in `X-Forwarded-Method`,
//!   `-Proto`, `-Host`, `-URI`;
//! - `GET /api/authz/auth-request` (nginx `auth_request`): in
//!   `X-Original-URL` and `X-Original-Method`.
//!
//! Those headers count only from `trusted_proxies`: from anyone else the
//! request names no protected address and is refused. The address is
//! matched against the `proxy` applications (the most specific target
//! wins; no match is 403, never a pass). A bypass path passes as is.
//! Otherwise the caller is who their `Authorization` (Basic `user:PAT`,
//! Bearer PAT or ferrid access token for this application) or their
//! ferrid session cookie says, and passes if the application's access
//! policy and second-factor rule allow them: `200` with `Remote-User`,
//! `Remote-Groups`, `Remote-Email`, `Remote-Name`. A wrong credential is
//! `401`, counted by the sign-in throttle; no credential is a redirect to
//! the sign-in (`/?rd=…`) for a browser, `401` for anything else (with the
//! sign-in URL in `Location` for nginx to pass on).
//!
//! No store write per request: a session's pass through an application is
//! recorded (and audited) the first time, and its last-seen at most once a
//! minute (`Sessions::signed_in_to`).

use super::interaction::{park_account_sign_in_to, park_consent_to, park_reauthentication_to};
use super::session;
use crate::domain::normalise_path;
use crate::http::{Answer, AppState, RequestView, answer_on_pool, on_pool};
use crate::published::PublishedApp;
use crate::store::{AuditEvent, AuditKind, User};
use crate::throttle::Client;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use std::sync::Arc;
use std::time::Duration;

/// Which proxy convention asks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// Traefik, Caddy: a browser is redirected (302).
    ForwardAuth,
    /// nginx `auth_request`: only 2xx, 401 and 403 mean something to it.
    AuthRequest,
}

pub async fn forward_auth(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    check(req, state, Flavor::ForwardAuth).await
}

pub async fn auth_request(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    check(req, state, Flavor::AuthRequest).await
}

/// The proxied request, as the trusted proxy describes it.
struct Original {
    /// `scheme://host/uri`, for `rd`.
    url: String,
    /// Lower case, with the port if one was given.
    host: String,
    /// Normalised (`normalise_path`).
    path: String,
}

fn header_value<'a>(req: &'a RequestView, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// A forwarded header that decides what is checked: exactly one, and only
/// visible ASCII. Anything else (two copies, non-ASCII bytes, a control
/// character) is refused rather than read as absent or as the first copy.
fn forwarded(req: &RequestView, name: &str) -> Result<Option<String>, ()> {
    let mut values = req.headers().get_all(name);
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(());
    }
    let bytes = value.as_bytes();
    if bytes.iter().any(|b| !(0x21..0x7f).contains(b)) {
        return Err(());
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Is the TCP peer one of `trusted_proxies`?
fn from_trusted_proxy(req: &RequestView, state: &AppState) -> bool {
    req.peer_addr().is_some_and(|peer| state.config.trusted_proxies.iter().any(|net| net.contains(peer.ip())))
}

/// `scheme://host[:port]/path?query`, split strictly (no URL parser's
/// leniency: `\` is not `/`, and nothing may come between the host and
/// the path).
fn split_url(raw: &str) -> Option<(String, String, String)> {
    let (scheme, rest) = raw.split_once("://")?;
    let slash = rest.find('/')?;
    Some((scheme.to_ascii_lowercase(), rest[..slash].to_owned(), rest[slash..].to_owned()))
}

fn original(req: &RequestView, state: &AppState, flavor: Flavor) -> Option<Original> {
    if !from_trusted_proxy(req, state) {
        return None;
    }
    let (scheme, host, uri) = match flavor {
        Flavor::ForwardAuth => (
            forwarded(req, "x-forwarded-proto").ok()?.unwrap_or_else(|| "https".into()).to_ascii_lowercase(),
            forwarded(req, "x-forwarded-host").ok()??,
            forwarded(req, "x-forwarded-uri").ok()??,
        ),
        Flavor::AuthRequest => split_url(&forwarded(req, "x-original-url").ok()??)?,
    };
    let host = crate::domain::canonical_host(&host)?;
    // A request target never holds `#` or `\`; one that does is a trick.
    if !matches!(scheme.as_str(), "http" | "https") || !uri.starts_with('/') || uri.contains(['#', '\\']) {
        return None;
    }
    let path = normalise_path(&uri)?;
    Some(Original { url: format!("{scheme}://{host}{uri}"), host, path })
}

/// Who passes, and how they proved it.
enum Caller {
    Anonymous,
    /// A wrong or unusable credential (never a redirect).
    Refused,
    Token(User),
    Session(crate::sessions::ActiveSession),
}

/// What needs no database is answered here, on the worker (an address no
/// application covers, a bypass path, a caller with neither credential
/// nor session cookie); the rest on the blocking pool.
async fn check(req: HttpRequest, state: web::Data<AppState>, flavor: Flavor) -> HttpResponse {
    let view = RequestView::of(&req);
    let published = state.published();
    let Some(original) = original(&view, &state, flavor) else {
        return refuse(StatusCode::FORBIDDEN, "not a protected address");
    };
    let Some(app) = published.proxy_for(&original.host, &original.path).cloned() else {
        return refuse(StatusCode::FORBIDDEN, "not a protected address");
    };
    let rule = app.app.proxy.as_ref();
    if rule.is_some_and(|r| r.bypasses(&original.path)) {
        return identity(None);
    }
    if header_value(&view, "authorization").is_none() && session::CookieName::Session.value(&view, &state).is_none() {
        return unauthorized(&state, &original, flavor, wants_html(&view));
    }
    // The view read above goes to the pool: the headers are copied once.
    answer_on_pool(view, move |req| check_caller(req, &state, flavor, &original, &app)).await.send().await
}

fn check_caller(
    req: &RequestView,
    state: &AppState,
    flavor: Flavor,
    original: &Original,
    app: &Arc<PublishedApp>,
) -> Answer {
    let (caller, wait) = match caller(req, state, app) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "forward-auth could not read the store");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "try again").into();
        }
    };
    let user = match caller {
        // After the throttle's delay, waited on the worker.
        Caller::Refused => return Answer::from(wrong_credential()).after(wait),
        Caller::Anonymous => return unauthorized(state, original, flavor, wants_html(req)).into(),
        Caller::Token(user) => user,
        Caller::Session(active) => {
            // A session begun through a source this application does not
            // take is refused here as a user it does not allow would be.
            if !app.app.allows(&active.user) || !app.app.access.takes_source(active.session.source.as_deref()) {
                super::respond::audit_refusal(state, app, &active.user);
                return refuse(StatusCode::FORBIDDEN, "not allowed").into();
            }
            // A second factor, or the user's consent, first: the portal
            // steps up this session or asks.
            let first = needs_factor(state, app, &active)
                .and_then(|factor| Ok(factor || needs_consent(state, app, &active.user)?));
            match first {
                Ok(true) => return unauthorized(state, original, flavor, wants_html(req)).into(),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "forward-auth could not read the store");
                    return refuse(StatusCode::SERVICE_UNAVAILABLE, "try again").into();
                }
            }
            first_pass(state, app, &active);
            active.user
        }
    };
    passed(&user).into()
}

/// What a proxy application learns of a user (the `Remote-*` headers), as
/// a scope for consent: who they are, their e-mail and their groups.
pub fn shared_scope() -> crate::domain::ScopeSet {
    crate::domain::ScopeSet::parse("openid profile email groups")
}

/// Must the user allow this proxy application first (`consent: once`)?
fn needs_consent(state: &AppState, app: &PublishedApp, user: &User) -> Result<bool, crate::store::StoreError> {
    crate::consent::needed(&state.store, &app.app, user, shared_scope(), false)
}

fn needs_factor(
    state: &AppState,
    app: &PublishedApp,
    active: &crate::sessions::ActiveSession,
) -> Result<bool, crate::store::StoreError> {
    let has_mfa = active.session.amr.iter().any(|m| m == crate::mfa::AMR_MFA);
    Ok(!has_mfa && crate::mfa::required(&state.config.mfa, &state.store, Some(&app.app), &active.user, false)?)
}

/// Records the session's first pass through `app` (audited once; the
/// session's last-seen at most once a minute).
fn first_pass(state: &AppState, app: &PublishedApp, active: &crate::sessions::ActiveSession) {
    let client_id = &app.app.client_id;
    let first = !active.session.clients.contains(client_id);
    if let Err(e) = state.sessions().signed_in_to(&active.key, &active.session, client_id) {
        tracing::warn!(error = %e, "cannot record a forward-auth pass");
    }
    if first {
        state.audit(
            AuditEvent::new(AuditKind::SignIn, state.clock.now())
                .user(&active.user.username)
                .app(client_id)
                .detail("forward-auth: first pass of a session"),
        );
    }
}

/// The caller: by `Authorization` if they sent one, else by session; and
/// how long to wait before saying a credential is wrong.
fn caller(
    req: &RequestView,
    state: &AppState,
    app: &Arc<PublishedApp>,
) -> Result<(Caller, Duration), crate::store::StoreError> {
    let Some(authorization) = header_value(req, "authorization") else {
        let caller = match session::current(req, state)? {
            Some(active) => Caller::Session(active),
            None => Caller::Anonymous,
        };
        return Ok((caller, Duration::ZERO));
    };
    let (scheme, credential) = authorization.split_once(' ').unwrap_or((authorization, ""));
    let (username, secret) = if scheme.eq_ignore_ascii_case("basic") {
        match basic(credential) {
            Some((username, secret)) => (Some(username), secret),
            None => return Ok((Caller::Refused, Duration::ZERO)),
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        (None, credential.trim().to_owned())
    } else {
        return Ok((Caller::Refused, Duration::ZERO));
    };
    let (ip, _) = crate::http::client_of(req, state);
    let address = ip.unwrap_or_default();
    // Counted like a password: `pat:` + the username (or the address for
    // a bare bearer token), so guessing PATs locks as guessing passwords does.
    // The name as the PAT check reads it: another spelling is the same lock.
    let name = username
        .as_deref()
        .map(|u| crate::domain::Username::parse(u).map(|n| n.to_string()).unwrap_or_else(|_| u.trim().to_lowercase()));
    let account = format!("pat:{}", name.as_deref().unwrap_or(&address));
    let client = Client::Unknown(&address);
    let now = state.clock.now();
    if state.throttle.is_locked(&account, client, now) {
        return Ok((Caller::Refused, Duration::ZERO));
    }
    let user = credential_user(state, app, username.as_deref(), &secret, now)?;
    match user {
        Some(user) => {
            state.throttle.record_success(&account, client);
            Ok((Caller::Token(user), Duration::ZERO))
        }
        None => {
            let verdict = state.throttle.record_failure(&account, client, now);
            Ok((Caller::Refused, verdict.delay))
        }
    }
}

/// The user a PAT (or, without a username, a ferrid access token for this
/// application) stands for, if it is good for `app` now.
fn credential_user(
    state: &AppState,
    app: &PublishedApp,
    username: Option<&str>,
    secret: &str,
    now: i64,
) -> Result<Option<User>, crate::store::StoreError> {
    if crate::pat::looks_like_pat(secret) {
        let Some(active) = crate::pat::resolve(&state.store, &state.config.mfa, secret, &app.app, now)? else {
            return Ok(None);
        };
        let named =
            username.is_none_or(|u| crate::domain::Username::parse(u).ok().as_ref() == Some(&active.user.username));
        return Ok(named.then_some(active.user));
    }
    if username.is_some() {
        return Ok(None);
    }
    let published = state.published();
    let Ok(token) = super::bearer::verify(state, &published, secret) else { return Ok(None) };
    if token.app.app.client_id != app.app.client_id {
        return Ok(None);
    }
    let user = token.current_user(&state.store).map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let Some(user) = user else { return Ok(None) };
    // The application's second-factor rule as it stands now, as for the PAT
    // the token was exchanged for.
    let has_mfa = token.amr.iter().any(|m| m == crate::mfa::AMR_MFA);
    if !has_mfa && crate::mfa::required(&state.config.mfa, &state.store, Some(&app.app), &user, false)? {
        return Ok(None);
    }
    Ok(Some(user))
}

/// `Basic base64(user:secret)`.
fn basic(credential: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD.decode(credential.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, secret) = text.split_once(':')?;
    Some((user.to_owned(), secret.to_owned()))
}

fn wants_html(req: &RequestView) -> bool {
    header_value(req, "accept").is_some_and(|a| a.contains("text/html"))
}

/// The sign-in URL that comes back to `original`.
fn sign_in_url(state: &AppState, original: &Original) -> String {
    let rd: String = url::form_urlencoded::byte_serialize(original.url.as_bytes()).collect();
    format!("{}/?rd={rd}", state.config.public_url.as_str().trim_end_matches('/'))
}

/// Not (yet) signed in: a browser at forward-auth is redirected to sign
/// in; everything else gets 401, with the sign-in URL in `Location` for
/// nginx's `auth_request_set` (none after a wrong credential).
fn unauthorized(state: &AppState, original: &Original, flavor: Flavor, browser: bool) -> HttpResponse {
    let url = sign_in_url(state, original);
    if flavor == Flavor::ForwardAuth && browser {
        return HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    }
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="ferrid", charset="UTF-8""#))
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A wrong, revoked or locked-out credential: 401, never a redirect.
fn wrong_credential() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="ferrid", charset="UTF-8""#))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn refuse(status: StatusCode, why: &'static str) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::CACHE_CONTROL, "no-store")).body(why)
}

fn passed(user: &User) -> HttpResponse {
    identity(Some(user))
}

/// 200 with the four `Remote-*` headers: the user's, or all empty (a
/// bypass path). Always all four: a proxy copies them over whatever the
/// client sent under those names, and Caddy 2.6 writes its placeholder's
/// literal text for one that is missing. A value that cannot be a header
/// (a line break, say) is sent empty.
fn identity(user: Option<&User>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    let groups: Vec<&str> = user.map(|u| u.groups.iter().map(|g| g.as_str()).collect()).unwrap_or_default();
    let fields = [
        ("Remote-User", user.map(|u| u.username.to_string())),
        ("Remote-Groups", Some(groups.join(","))),
        ("Remote-Email", user.and_then(|u| u.email.clone())),
        ("Remote-Name", user.and_then(|u| u.name.clone())),
    ];
    for (name, value) in fields {
        let value = value.and_then(|v| header::HeaderValue::from_str(&v).ok());
        response.insert_header((name, value.unwrap_or_else(|| header::HeaderValue::from_static(""))));
    }
    response.finish()
}

/// `GET /?rd=URL`: the sign-in a proxy sends a browser to. A URL that no
/// proxy application covers is never redirected to (the account page
/// instead). Already signed in and good for it: straight back. Signed in
/// without the second factor it needs: the session steps up (the same
/// re-authentication as for privileged actions). Otherwise: sign in.
pub async fn portal(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| portal_now(req, state)).await
}

fn portal_now(req: &RequestView, state: web::Data<AppState>) -> HttpResponse {
    let rd = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("rd").cloned());
    let published = state.published();
    let target = rd.as_deref().and_then(|rd| protected_target(&published, rd));
    let Some((url, app)) = target else {
        return found(crate::paths::ACCOUNT);
    };
    let active = match session::current(req, &state) {
        Ok(active) => active,
        Err(e) => return crate::ui::PageError::server(e).render(&state.ui),
    };
    let client_id = &app.app.client_id;
    let parked = match active {
        Some(active) => {
            let next = needs_factor(&state, &app, &active)
                .and_then(|factor| Ok((factor, !factor && needs_consent(&state, &app, &active.user)?)));
            match next {
                Ok((true, _)) => park_reauthentication_to(req, &state, &active.user, url, client_id)
                    .map(|p| (p, crate::paths::LOGIN)),
                Ok((false, true)) => {
                    park_consent_to(req, &state, &active.user, url, client_id).map(|p| (p, crate::paths::CONSENT))
                }
                Ok((false, false)) => return found(&url),
                Err(e) => return crate::ui::PageError::server(e).render(&state.ui),
            }
        }
        None => park_account_sign_in_to(req, &state, url, client_id).map(|p| (p, crate::paths::LOGIN)),
    };
    match parked {
        Ok((parked, path)) => parked.redirect_to(path),
        Err(e) => crate::ui::PageError::server(e).render(&state.ui),
    }
}

fn found(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `rd`, if it is an http(s) URL (no user info) that a proxy application
/// covers: the URL to return to, spelled as parsed, and that application.
pub fn protected_target(published: &crate::published::Published, rd: &str) -> Option<(String, Arc<PublishedApp>)> {
    let url = url::Url::parse(rd).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    let path = normalise_path(url.path())?;
    let app = published.proxy_for(&host.to_ascii_lowercase(), &path)?.clone();
    Some((url.to_string(), app))
}
