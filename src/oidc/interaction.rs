//! Parking an authorization request server-side while the browser shows one
//! of ferrid's pages (sign-in, second factor, consent), as an explicit
//! state machine.
//!
//! A parked sign-in stands at one `SignInStep`. Every route that reads one
//! is a `SignInRoute`, and names the one step it accepts; `at` is the only
//! way a handler gets a parked sign-in, and it refuses any other step, an
//! expired one, another browser's (the CSRF cookie must hash to the digest
//! parked with it), and one whose user has since changed password or been
//! disabled. A route moves the sign-in on with a compare-and-swap
//! (`At::advance`, `At::update`, `At::finish`), so two requests racing on
//! one step cannot both go on. `tests/api/sign_in_states.rs` tries every
//! route in `SignInRoute::ALL` from every state.

use super::session;
use crate::crypto::secrets::{Digest, random_token};
use crate::domain::AuthorizationRequest;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::http::RequestView;
use crate::store::{Interaction, SignInStep, StoreError, Stored, User};
use crate::ui::PageError;
use actix_web::HttpResponse;
use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};

/// How long a user has to fill in the page.
pub const LIFETIME: i64 = 600;

/// Declares the sign-in routes: each with its method, path and the one
/// step it accepts. A new route needs a line here to read a parked
/// sign-in at all, and the state-table test reads `ALL`.
macro_rules! sign_in_routes {
    ($($(#[$doc:meta])* $route:ident => $method:ident $path:ident accepts $step:ident;)*) => {
        /// A route that reads a parked sign-in.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum SignInRoute { $($(#[$doc])* $route),* }

        impl SignInRoute {
            pub const ALL: &'static [SignInRoute] = &[$(SignInRoute::$route),*];

            pub fn method(self) -> &'static str {
                match self { $(SignInRoute::$route => stringify!($method)),* }
            }

            pub fn path(self) -> &'static str {
                match self { $(SignInRoute::$route => crate::paths::$path),* }
            }

            /// The name of the one `SignInStep` variant this route accepts.
            pub fn accepts(self) -> &'static str {
                match self { $(SignInRoute::$route => stringify!($step)),* }
            }

            fn accepts_step(self, step: &SignInStep) -> bool {
                match self { $(SignInRoute::$route => matches!(step, SignInStep::$step { .. })),* }
            }
        }
    };
}

sign_in_routes! {
    ShowPassword => GET LOGIN accepts AwaitingPassword;
    SubmitPassword => POST LOGIN accepts AwaitingPassword;
    /// A passkey alone, for the challenge the sign-in page offered.
    SignInWithPasskey => POST LOGIN_WITH_PASSKEY accepts AwaitingPassword;
    /// The code page; it offers the user's passkeys (a fresh challenge).
    ShowCode => GET LOGIN_CODE accepts AwaitingCode;
    SubmitCode => POST LOGIN_CODE accepts AwaitingCode;
    /// The passkey assertion for the challenge the code page offered.
    SubmitPasskey => POST LOGIN_PASSKEY accepts AwaitingCode;
    ShowEnroll => GET LOGIN_ENROLL accepts AwaitingEnrollment;
    SubmitEnroll => POST LOGIN_ENROLL accepts AwaitingEnrollment;
    ShowConsent => GET CONSENT accepts AwaitingConsent;
    SubmitConsent => POST CONSENT accepts AwaitingConsent;
    /// A button of the sign-in page: off to sign in at a source.
    SubmitSource => POST LOGIN_SOURCE accepts AwaitingPassword;
    /// The source's answer (`state` is the step's id, not `tx`).
    SourceCallback => GET SOURCE_CALLBACK accepts AwaitingUpstream;
    /// A device's request, for the signed-in user to approve or deny.
    ShowDeviceApproval => GET DEVICE_APPROVE accepts AwaitingDeviceApproval;
    SubmitDeviceApproval => POST DEVICE_APPROVE accepts AwaitingDeviceApproval;
}

pub struct Parked {
    pub tx: String,
    /// The browser's CSRF token, for the page's forms.
    pub csrf: String,
    /// Set when the browser had no CSRF token yet.
    pub csrf_cookie: Option<Cookie<'static>>,
}

impl Parked {
    /// 303 to `path?tx=…`.
    pub fn redirect_to(self, path: &str) -> HttpResponse {
        let mut response = HttpResponse::SeeOther();
        response
            .insert_header((header::LOCATION, format!("{path}?tx={}", self.tx)))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(cookie) = self.csrf_cookie {
            response.cookie(cookie);
        }
        response.finish()
    }
}

/// Parks `request` (None: a sign-in to ferrid's own pages) at `step`.
pub fn park(
    req: &RequestView,
    state: &AppState,
    request: Option<AuthorizationRequest>,
    step: SignInStep,
) -> Result<Parked, OAuthError> {
    park_interaction(req, state, Seed { request, step, ..Seed::default() })
}

/// Parks a sign-in to ferrid's own pages, which returns to `return_to`.
pub fn park_account_sign_in(
    req: &RequestView,
    state: &AppState,
    return_to: &'static str,
) -> Result<Parked, OAuthError> {
    park_interaction(req, state, Seed { return_to: Some(return_to.to_owned()), ..Seed::default() })
}

/// Parks a re-authentication of `user` (the signed-in user), which
/// returns to `return_to`: a path ferrid built, never one from a request.
pub fn park_reauthentication(
    req: &RequestView,
    state: &AppState,
    user: &User,
    return_to: String,
) -> Result<Parked, OAuthError> {
    park_interaction(req, state, Seed { return_to: Some(return_to), reauth: Some(user.sub), ..Seed::default() })
}

/// Parks a sign-in for the proxy application `app`, which returns to
/// `url`: a URL that application covers (`forward_auth::protected_target`).
pub fn park_account_sign_in_to(
    req: &RequestView,
    state: &AppState,
    url: String,
    app: &crate::domain::ClientId,
) -> Result<Parked, OAuthError> {
    park_interaction(req, state, Seed { return_to: Some(url), proxy_app: Some(app.clone()), ..Seed::default() })
}

/// Steps up `user`'s session for the proxy application `app` (its second
/// factor), then returns to `url` (as `park_account_sign_in_to`).
pub fn park_reauthentication_to(
    req: &RequestView,
    state: &AppState,
    user: &User,
    url: String,
    app: &crate::domain::ClientId,
) -> Result<Parked, OAuthError> {
    let seed = Seed { return_to: Some(url), reauth: Some(user.sub), proxy_app: Some(app.clone()), ..Seed::default() };
    park_interaction(req, state, seed)
}

/// Asks `user` (signed in) to allow the proxy application `app`, then
/// returns to `url` (as `park_account_sign_in_to`).
pub fn park_consent_to(
    req: &RequestView,
    state: &AppState,
    user: &User,
    url: String,
    app: &crate::domain::ClientId,
) -> Result<Parked, OAuthError> {
    let step = SignInStep::AwaitingConsent { user: user.sub };
    park_interaction(req, state, Seed { step, return_to: Some(url), proxy_app: Some(app.clone()), ..Seed::default() })
}

/// Parks the linking of a source to `user`'s account (the signed-in
/// user), gone to the source (`step`) under `tx`, the `state` sent there.
pub fn park_source_link(
    req: &RequestView,
    state: &AppState,
    user: &User,
    tx: String,
    step: SignInStep,
) -> Result<Parked, OAuthError> {
    let return_to = Some(crate::paths::ACCOUNT.to_owned());
    park_interaction(req, state, Seed { step, return_to, link: Some(user.sub), tx: Some(tx), ..Seed::default() })
}

/// Parks the answer to a device's request, entered on `/device`: a
/// sign-in first (`AwaitingPassword`), or, for a browser signed in
/// already, the approval itself (`AwaitingDeviceApproval`).
pub fn park_device_request(
    req: &RequestView,
    state: &AppState,
    device: crate::store::DeviceRequest,
    step: SignInStep,
) -> Result<Parked, OAuthError> {
    park_interaction(req, state, Seed { step, device: Some(device), ..Seed::default() })
}

/// What a parked sign-in starts with.
struct Seed {
    request: Option<AuthorizationRequest>,
    step: SignInStep,
    return_to: Option<String>,
    reauth: Option<uuid::Uuid>,
    proxy_app: Option<crate::domain::ClientId>,
    link: Option<uuid::Uuid>,
    device: Option<crate::store::DeviceRequest>,
    /// Its id, if chosen before (else a fresh one).
    tx: Option<String>,
}

impl Default for Seed {
    fn default() -> Self {
        Seed {
            request: None,
            step: SignInStep::AwaitingPassword,
            return_to: None,
            reauth: None,
            proxy_app: None,
            link: None,
            device: None,
            tx: None,
        }
    }
}

fn park_interaction(req: &RequestView, state: &AppState, seed: Seed) -> Result<Parked, OAuthError> {
    let Seed { request, step, return_to, reauth, proxy_app, link, device, tx } = seed;
    let tx = match tx {
        Some(tx) => tx,
        None => random_token()?,
    };
    let (csrf, fresh) = session::csrf_token(req, state)?;
    let expires_at = state.clock.now() + LIFETIME;
    let csrf_digest = Digest::of(&csrf);
    let interaction = Interaction {
        request,
        step,
        return_to,
        reauth,
        proxy_app,
        csrf: csrf_digest,
        expires_at,
        source: None,
        link,
        device,
    };
    state.store.put_interaction(&tx, &interaction)?;
    let csrf_cookie = fresh.then(|| session::cookie(state, session::CookieName::Csrf, csrf.clone(), LIFETIME));
    Ok(Parked { tx, csrf, csrf_cookie })
}

/// Where the sign-in sends the browser when it is done, as a CSP
/// `form-action` source (Chromium checks the redirect after a form too):
/// the request's redirect URI, or the protected URL of a proxy sign-in.
pub fn form_target(interaction: &Interaction) -> Option<String> {
    match (&interaction.request, &interaction.proxy_app, &interaction.return_to) {
        (Some(request), _, _) => request.redirect_uri.csp_source(),
        (None, Some(_), Some(url)) => crate::domain::RedirectUri::parse(url).ok()?.csp_source(),
        _ => None,
    }
}

/// A parked sign-in at the step a route accepts, as read.
pub struct At {
    pub tx: String,
    parked: Stored<Interaction>,
    /// The user the step names: exists, enabled, and (after a password)
    /// of the same epoch as when the step was reached.
    pub user: Option<User>,
}

impl std::ops::Deref for At {
    type Target = Interaction;
    fn deref(&self) -> &Interaction {
        &self.parked
    }
}

/// Why `at` refused: the page to show. Nothing was changed.
pub enum Refused {
    /// No such sign-in at this step (or expired, or its user changed).
    Expired,
    /// The form or cookie is not this sign-in's browser's.
    OtherBrowser,
    /// The cause, for the log.
    Server(String),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Server(e.to_string())
    }
}

impl Refused {
    pub fn page(&self, state: &AppState) -> HttpResponse {
        match self {
            Refused::Expired => expired(state),
            Refused::OtherBrowser => PageError::forbidden(
                "Sign-in refused",
                "This page did not come from this browser's sign-in. Go back to the application and start again.",
            )
            .render(&state.ui),
            Refused::Server(e) => PageError::server(e).render(&state.ui),
        }
    }
}

/// The page for a sign-in that cannot go on from here.
pub fn expired(state: &AppState) -> HttpResponse {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in page is no longer valid. Nothing was changed; go back to the application and start again.",
    )
    .render(&state.ui)
}

/// The sign-in `tx` names, if it stands at the step `route` accepts and
/// belongs to this browser. `form_token`: a POST's CSRF field, which must
/// equal the cookie too; a GET shows the page only to the browser whose
/// cookie the sign-in was parked with.
pub fn at(
    req: &RequestView,
    state: &AppState,
    route: SignInRoute,
    tx: &str,
    form_token: Option<&str>,
) -> Result<At, Refused> {
    let Some(parked) = state.store.interaction(tx).map_err(Refused::from)? else { return Err(Refused::Expired) };
    if parked.expires_at <= state.clock.now() || !route.accepts_step(&parked.step) {
        return Err(Refused::Expired);
    }
    let cookie = session::CookieName::Csrf.value(req, state).unwrap_or_default();
    let browser_matches = match form_token {
        Some(token) => csrf_matches(req, state, token, &parked.csrf),
        None => !cookie.is_empty() && parked.csrf.matches(&cookie),
    };
    if !browser_matches {
        return Err(Refused::OtherBrowser);
    }
    let user = match &parked.step {
        SignInStep::AwaitingPassword | SignInStep::AwaitingUpstream { .. } => None,
        SignInStep::AwaitingCode { user, epoch, .. } | SignInStep::AwaitingEnrollment { user, epoch, .. } => {
            Some(current_user(state, user, Some(*epoch))?)
        }
        SignInStep::AwaitingConsent { user } | SignInStep::AwaitingDeviceApproval { user } => {
            Some(current_user(state, user, None)?)
        }
    };
    Ok(At { tx: tx.to_owned(), parked, user })
}

fn current_user(state: &AppState, sub: &uuid::Uuid, epoch: Option<u32>) -> Result<User, Refused> {
    match state.store.user_by_sub(sub).map_err(Refused::from)? {
        Some(user) if !user.disabled && epoch.is_none_or(|e| e == user.epoch) => Ok(user),
        _ => Err(Refused::Expired),
    }
}

impl At {
    /// The user the step names (every step but the password's names one).
    pub fn user(&self) -> Result<&User, Refused> {
        self.user.as_ref().ok_or(Refused::Expired)
    }

    /// Parks the next step under a fresh id (a leaked URL of this step
    /// leads nowhere), if no one moved this sign-in first.
    pub fn advance(self, state: &AppState, step: SignInStep) -> Result<Parked, Refused> {
        let tx = random_token().map_err(|e| Refused::Server(e.to_string()))?;
        self.advance_to(state, tx, step)
    }

    /// `advance`, under the id `tx` chosen before (the `state` a source's
    /// authorization request carries).
    pub fn advance_to(self, state: &AppState, tx: String, step: SignInStep) -> Result<Parked, Refused> {
        let next = Interaction { step, ..self.parked.record.clone() };
        self.swap(state, Some((&tx, &next)))?;
        // The browser's CSRF cookie stays as it is: its digest is parked.
        Ok(Parked { tx, csrf: String::new(), csrf_cookie: None })
    }

    /// The first factor came from the source `slug`: the steps after this
    /// one (a code, the end) carry it.
    pub fn came_through(&mut self, slug: &str) {
        self.parked.record.source = Some(slug.to_owned());
    }

    /// Changes this step's own data (the passkey challenge, the factor
    /// being set up) under the same id.
    pub fn update(&mut self, state: &AppState, step: SignInStep) -> Result<(), Refused> {
        let next = Interaction { step, ..self.parked.record.clone() };
        self.swap(state, Some((&self.tx, &next)))?;
        self.parked = state.store.interaction(&self.tx).map_err(Refused::from)?.ok_or(Refused::Expired)?;
        Ok(())
    }

    /// Ends the sign-in (done, or refused for good): one request only.
    pub fn finish(self, state: &AppState) -> Result<Interaction, Refused> {
        self.swap(state, None)?;
        Ok(self.parked.record)
    }

    fn swap(&self, state: &AppState, next: Option<(&str, &Interaction)>) -> Result<(), Refused> {
        match state.store.advance_interaction(&self.tx, &self.parked, next) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Refused::Expired),
            Err(e) => Err(Refused::from(e)),
        }
    }
}

/// Does the form's CSRF token equal the browser's cookie and the one the
/// interaction was parked with?
pub fn csrf_matches(req: &RequestView, state: &AppState, form_token: &str, expected: &Digest) -> bool {
    let cookie_token = session::CookieName::Csrf.value(req, state).unwrap_or_default();
    !form_token.is_empty()
        && crate::crypto::secrets::constant_time_eq(form_token.as_bytes(), cookie_token.as_bytes())
        && expected.matches(form_token)
}
