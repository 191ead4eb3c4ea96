//! Signing in through a source (`sources:`): `/login/source`, a button of
//! the sign-in page, parks the sign-in at `AwaitingUpstream` under a fresh
//! id that goes to the provider as `state`, with a nonce and a PKCE
//! verifier of its own, and sends the browser there; the provider sends
//! it back to the source's own redirect URI
//! (`/source/oauth/callback/{slug}/`), which takes only the sign-in
//! parked for that source, in the browser that started it (its CSRF
//! cookie, as every step's). The code is redeemed and checked
//! (`sources`), the account found, and the sign-in goes on as after a
//! password: a disabled user is refused, a second factor asked where one
//! is due (unless the operator trusts the provider's), then the access
//! policy and consent.
//!
//! The provider is called from the worker (async, no database); the store
//! is read and written on the blocking pool before and after.

use super::complete::complete;
use super::interaction::{self, At, SignInRoute};
use super::login;
use super::params::Params;
use crate::config::SourceDecl;
use crate::crypto::secrets::{b64url, random_token, sha256};
use crate::http::{Answer, AppState, RequestView, off_thread};
use crate::metrics::SignInOutcome;
use crate::sources::{Finish, Resolved, SourceError, Start, UpstreamAccount};
use crate::store::{AuditEvent, AuditKind, Linked, LinkedIdentity, SignInStep};
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

/// A sign-in about to go to a source.
struct Leaving {
    at: At,
    slug: String,
    name: String,
}

pub async fn start(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let view = RequestView::of(&req);
    let shared = state.clone();
    let Leaving { at, slug, name } = match off_thread(move || leave(&view, &body, &shared)).await {
        Ok(Ok(leaving)) => leaving,
        Ok(Err(page)) => return page.send().await,
        Err(_) => return shutting_down(),
    };
    let fresh = at.reauth.is_some();
    send_to_source(&state, slug, &name, fresh, move |state, tx, step| {
        at.advance_to(state, tx, step).map(drop).map_err(|refused| Answer::from(refused.page(state)))
    })
    .await
}

/// Sends the browser to sign in at `slug` (`name`), for a sign-in or a
/// link alike: the provider's authorization URL for a fresh `state`,
/// nonce and PKCE verifier first (a provider that is down changes
/// nothing), then `park` parks the step under that `state` on the pool.
/// `fresh`: the provider is to ask the user again (a re-authentication).
pub(crate) async fn send_to_source<P>(
    state: &web::Data<AppState>,
    slug: String,
    name: &str,
    fresh: bool,
    park: P,
) -> HttpResponse
where
    P: FnOnce(&AppState, String, SignInStep) -> Result<(), Answer> + Send + 'static,
{
    let (tx, nonce, verifier) = match (random_token(), random_token(), random_token()) {
        (Ok(tx), Ok(nonce), Ok(verifier)) => (tx, nonce, verifier),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return PageError::server(e).render(&state.ui),
    };
    let redirect_uri = callback_uri(state, &slug);
    let challenge = b64url(&sha256(verifier.as_bytes()));
    let begin = Start { state: &tx, nonce: &nonce, challenge: &challenge, redirect_uri: &redirect_uri, fresh };
    let url = match state.sources.authorization_url(&slug, begin).await {
        Ok(url) => url,
        Err(e) => return source_failed(state, name, &e),
    };
    let shared = state.clone();
    let step = SignInStep::AwaitingUpstream { source: slug, nonce, verifier };
    match off_thread(move || park(&shared, tx, step)).await {
        Ok(Ok(())) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Ok(Err(page)) => page.send().await,
        Err(_) => shutting_down(),
    }
}

pub(crate) fn callback_uri(state: &AppState, slug: &str) -> String {
    state.config.public_url.endpoint(&crate::paths::for_app(crate::paths::SOURCE_CALLBACK, slug))
}

/// The posted button's sign-in and source, if it may go there.
fn leave(req: &RequestView, body: &[u8], state: &AppState) -> Result<Leaving, Answer> {
    let (params, at) =
        login::posted(req, body, state, SignInRoute::SubmitSource).map_err(|page| Answer::from(*page))?;
    let slug = params.get("source").unwrap_or_default();
    let Some(source) = state.sources.get(slug) else {
        return Err(PageError::bad_request("No such source", "This server has no such way to sign in.")
            .render(&state.ui)
            .into());
    };
    if !login::takes_source(state, &at, slug) {
        return Err(not_taken(state, &source.name).into());
    }
    // A re-authentication goes only to a source that may confirm its user.
    if let Some(sub) = at.reauth {
        let user = state.store.user_by_sub(&sub).map_err(|e| Answer::from(PageError::server(e).render(&state.ui)))?;
        if !user.is_some_and(|user| login::confirms(state, &user, source)) {
            return Err(not_taken(state, &source.name).into());
        }
    }
    Ok(Leaving { slug: slug.to_owned(), name: source.name.clone(), at })
}

fn not_taken(state: &AppState, name: &str) -> HttpResponse {
    PageError::forbidden(
        "Sign-in refused",
        format!("Signing in with {name} is not possible here. Nothing was changed; use another way to sign in."),
    )
    .render(&state.ui)
}

pub(crate) fn shutting_down() -> HttpResponse {
    HttpResponse::ServiceUnavailable().content_type("text/plain; charset=utf-8").body("Shutting down.")
}

/// The page for a provider that failed: down (502, try later), or an
/// answer that does not check out or says no (400: start again).
fn source_failed(state: &AppState, name: &str, error: &SourceError) -> HttpResponse {
    // The provider's own words (its `error`) are escaped: no forged log lines.
    let logged = crate::escape::escaped(&error.to_string());
    tracing::warn!(source = name, error = %logged, "sign-in through a source failed");
    state.metrics.sign_in(SignInOutcome::Failed);
    match error {
        SourceError::Unreachable(_) => PageError::new(
            StatusCode::BAD_GATEWAY,
            "Sign-in service unreachable",
            format!("{name} cannot be reached just now. Nothing was changed; try again shortly, or use another way to sign in."),
        ),
        SourceError::Refused(_) | SourceError::Invalid(_) => PageError::new(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            format!("{name} did not sign you in. Nothing was changed; go back to the application and start again."),
        ),
    }
    .render(&state.ui)
}

/// A sign-in back from its source, and what it kept for the answer.
struct Returned {
    at: At,
    slug: String,
    nonce: String,
    verifier: String,
}

pub async fn callback(req: HttpRequest, slug: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let view = RequestView::of(&req);
    let Ok(params) = Params::parse(view.query_string().as_bytes()) else { return interaction::expired(&state) };
    let field = |name: &str| params.get(name).unwrap_or_default().to_owned();
    let (tx, code, error, iss) = (field("state"), field("code"), field("error"), params.get("iss").map(str::to_owned));
    let slug = slug.into_inner();
    let shared = state.clone();
    let returned = match off_thread(move || come_back(&view, &shared, &slug, &tx)).await {
        Ok(Ok(returned)) => returned,
        Ok(Err(page)) => return page.send().await,
        Err(_) => return shutting_down(),
    };
    let name = state.sources.get(&returned.slug).map(|s| s.name.clone()).unwrap_or_default();
    let now = state.clock.now();
    let account = if !error.is_empty() || code.is_empty() {
        Err(SourceError::Refused(if error.is_empty() { "no code".to_owned() } else { error }))
    } else {
        let redirect_uri = callback_uri(&state, &returned.slug);
        let back = Finish {
            code: &code,
            verifier: &returned.verifier,
            nonce: &returned.nonce,
            redirect_uri: &redirect_uri,
            iss: iss.as_deref(),
            fresh: returned.at.reauth.is_some(),
            now,
        };
        state.sources.finish(&returned.slug, back).await
    };
    let account = match account {
        Ok(account) => account,
        // The sign-in stays parked: its id leads nowhere without a new code
        // from the provider, and the person may go back and try again.
        Err(e) => return source_failed(&state, &name, &e),
    };
    let shared = state.clone();
    let view = RequestView::of(&req);
    let work = move || Answer::from(onward(&view, &shared, conclude(&view, &shared, returned, &account)));
    match off_thread(work).await {
        Ok(answer) => answer.send().await,
        Err(_) => shutting_down(),
    }
}

/// The last hop off this site, for a browser, as a page that moves on by
/// itself (a meta refresh) rather than a redirect. The browser came here
/// by a redirect from the provider's sign-in form, and Chromium checks
/// that form's CSP `form-action` (the provider's) against every later
/// redirect too: a provider with a strict one (another ferrid) would stop
/// the browser here. A refresh is a navigation of its own. Clients that
/// are not a navigating browser (no `Sec-Fetch-Mode: navigate`) get the
/// redirect.
fn onward(req: &RequestView, state: &AppState, response: HttpResponse) -> HttpResponse {
    let navigating = req.headers().get("sec-fetch-mode").is_some_and(|m| m.as_bytes() == b"navigate");
    let location = response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned);
    let Some(url) = location.filter(|l| navigating && (l.starts_with("https://") || l.starts_with("http://"))) else {
        return response;
    };
    if response.status() != StatusCode::SEE_OTHER || url.starts_with(&format!("{}/", state.config.public_url.as_str()))
    {
        return response;
    }
    let target = crate::domain::RedirectUri::parse(&url).ok().and_then(|u| u.csp_source());
    let mut page =
        state.ui.page(StatusCode::OK, "continue.html", &serde_json::json!({ "url": url }), target.as_deref());
    // The session and device cookies the redirect carried.
    for cookie in response.cookies() {
        let _ = page.add_cookie(&cookie.into_owned());
    }
    page
}

/// The sign-in `tx` names, at `AwaitingUpstream` for the source `slug`,
/// in this browser.
fn come_back(req: &RequestView, state: &AppState, slug: &str, tx: &str) -> Result<Returned, Answer> {
    let at = interaction::at(req, state, SignInRoute::SourceCallback, tx, None)
        .map_err(|refused| Answer::from(refused.page(state)))?;
    match &at.step {
        // The answer came to this source's redirect URI: the one asked.
        SignInStep::AwaitingUpstream { source, nonce, verifier } if source == slug => {
            Ok(Returned { slug: source.clone(), nonce: nonce.clone(), verifier: verifier.clone(), at })
        }
        // Another source's sign-in (a mix-up), or not one at all.
        _ => Err(interaction::expired(state).into()),
    }
}

/// The provider vouched for `account`: find the user and go on as after
/// a password (one request only: the step is swapped away as it goes on).
fn conclude(req: &RequestView, state: &AppState, returned: Returned, account: &UpstreamAccount) -> HttpResponse {
    let Returned { mut at, slug, .. } = returned;
    let Some(source) = state.sources.get(&slug) else { return interaction::expired(state) };
    if let Some(sub) = at.link {
        return link(req, state, at, sub, source, account);
    }
    let (ip, ua) = crate::http::client_of(req, state);
    let event = |kind: AuditKind, user: &str, detail: String| {
        AuditEvent::new(kind, state.clock.now())
            .user(user)
            .app("ferrid")
            .from_client(ip.clone(), ua.clone())
            .detail(detail)
    };
    // Audited as the source's account, never as a ferrid name it may mimic.
    let login = format!("{slug}:{}", account.login.as_deref().unwrap_or(&account.subject));
    // A re-authentication takes only an account linked already: it links
    // or makes nothing (the user who asked is checked below).
    let resolved = match at.reauth {
        Some(_) => state.store.user_by_identity(&slug, &account.subject).map(|user| match user {
            Some(user) => Resolved::User { user, how: crate::sources::How::Linked },
            None => Resolved::Refused(crate::sources::Refusal::NotLinked),
        }),
        None => crate::sources::resolve(&state.store, source, account, state.clock.now()),
    };
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(e) => return PageError::server(e).render(&state.ui),
    };
    let (user, how) = match resolved {
        Resolved::User { user, how } => (user, how),
        Resolved::Refused(why) => {
            state.metrics.sign_in(SignInOutcome::Failed);
            state.audit(event(AuditKind::SignInFailed, &login, format!("{slug}: {why:?}")));
            return match at.finish(state) {
                Ok(_) => PageError::forbidden("Sign-in refused", why.explain(&source.name)).render(&state.ui),
                Err(refused) => refused.page(state),
            };
        }
    };
    if how != crate::sources::How::Linked {
        state.audit(event(AuditKind::UserChanged, user.username.as_str(), format!("{login}: {}", how.as_str())));
    }
    if user.disabled {
        state.metrics.sign_in(SignInOutcome::Failed);
        return match at.finish(state) {
            Ok(_) => login::disabled(state, &format!("{} account", source.name)),
            Err(refused) => refused.page(state),
        };
    }
    if at.reauth.is_some_and(|sub| sub != user.sub) {
        state.metrics.sign_in(SignInOutcome::Failed);
        return match at.finish(state) {
            Ok(_) => PageError::forbidden(
                "Sign-in refused",
                format!("This {} account is not the one linked to the account signed in here.", source.name),
            )
            .render(&state.ui),
            Err(refused) => refused.page(state),
        };
    }
    at.came_through(&slug);
    if source.trust_upstream_mfa && account.mfa {
        let amr = vec![crate::mfa::AMR_FEDERATED.to_owned(), crate::mfa::AMR_MFA.to_owned()];
        return match at.finish(state) {
            Ok(interaction) => complete(state, req, interaction, &user, amr),
            Err(refused) => refused.page(state),
        };
    }
    login::first_factor_accepted(req, state, at, &user)
}

/// The source's answer to a link asked for on the account page: the
/// account it names is linked to the user who asked, if this browser is
/// still signed in as them and no one else has that account.
fn link(
    req: &RequestView,
    state: &AppState,
    at: At,
    sub: uuid::Uuid,
    source: &SourceDecl,
    account: &UpstreamAccount,
) -> HttpResponse {
    let refuse = |at: At, why: String| match at.finish(state) {
        Ok(_) => PageError::forbidden("Not linked", why).render(&state.ui),
        Err(refused) => refused.page(state),
    };
    match super::session::current(req, state) {
        Ok(Some(active)) if active.user.sub == sub => {}
        Ok(_) => {
            return refuse(
                at,
                "This browser is no longer signed in as the account that asked. Nothing was changed.".into(),
            );
        }
        Err(e) => return PageError::server(e).render(&state.ui),
    }
    let login = account.login.clone().unwrap_or_else(|| account.subject.clone());
    let identity = LinkedIdentity {
        source: source.slug.to_string(),
        subject: account.subject.clone(),
        login: login.clone(),
        linked_at: state.clock.now(),
    };
    // The step is swapped away first: one answer links, once.
    let Ok(_) = at.finish(state) else { return interaction::expired(state) };
    match state.store.link_identity(&sub, identity) {
        Ok(Linked::Linked) => {
            let (ip, ua) = crate::http::client_of(req, state);
            let username =
                state.store.user_by_sub(&sub).ok().flatten().map(|u| u.username.to_string()).unwrap_or_default();
            state.audit(
                AuditEvent::new(AuditKind::UserChanged, state.clock.now())
                    .user(&username)
                    .from_client(ip, ua)
                    .detail(format!("{} account {login} linked", source.slug)),
            );
            HttpResponse::SeeOther().insert_header((header::LOCATION, "/account/?done=source-linked")).finish()
        }
        Ok(Linked::Taken) => PageError::forbidden(
            "Not linked",
            format!("This {} account is linked to another ferrid account. Nothing was changed.", source.name),
        )
        .render(&state.ui),
        Ok(Linked::SourceInUse | Linked::NoUser) => PageError::forbidden(
            "Not linked",
            format!("Your account has a {} account linked already. Nothing was changed.", source.name),
        )
        .render(&state.ui),
        Err(e) => PageError::server(e).render(&state.ui),
    }
}
