//! Per-route policy, attached to a resource in the route table: which
//! rate-limit budget it spends, whether browsers of other origins may call
//! it (CORS), and in which form it refuses (OAuth JSON or a page). Because
//! it wraps the resource actix matched, it applies however the path was
//! spelled (`/application/o/%74oken/` is the token route), unlike a check
//! on the raw path before routing.

use super::AppState;
use super::rate_limit::{LimitClass, retry_after_seconds};
use crate::error::OAuthError;
use crate::ui::PageError;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpResponse, ResponseError, web};
use std::time::Duration;

/// Which browser origins may read a route's responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cors {
    /// Same-origin only (pages, forms): no CORS headers at all.
    Off,
    /// A shared endpoint (token, userinfo, revocation): the origin of any
    /// registered redirect URI. A preflight cannot name its client, so the
    /// set is every application's.
    RegisteredOrigins,
    /// An application's own documents (`/application/o/{slug}/…`): the
    /// origins of that application's redirect URIs.
    AppOrigins,
}

/// How a route refuses a request itself (over its rate limit, a body over
/// `limits.body_bytes`): the way its handler answers errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answers {
    /// An OAuth endpoint: RFC 6749 JSON (`invalid_request`, with the status).
    Json,
    /// A page a person sees: the error page.
    Page,
}

#[derive(Clone, Copy, Debug)]
pub struct RoutePolicy {
    pub limit: Option<LimitClass>,
    pub cors: Cors,
    pub answers: Answers,
}

impl RoutePolicy {
    /// A public document: no budget, JSON answers.
    pub const DOCUMENT: RoutePolicy = RoutePolicy { limit: None, cors: Cors::Off, answers: Answers::Json };

    /// An OAuth endpoint that spends `class`.
    pub const fn json(class: LimitClass) -> RoutePolicy {
        RoutePolicy { limit: Some(class), cors: Cors::Off, answers: Answers::Json }
    }

    /// A page (or a form a page posts) that spends `class`.
    pub const fn page(class: LimitClass) -> RoutePolicy {
        RoutePolicy { limit: Some(class), cors: Cors::Off, answers: Answers::Page }
    }

    pub const fn with_cors(self, cors: Cors) -> RoutePolicy {
        RoutePolicy { cors, ..self }
    }
}

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The request's `Origin`, when this route lets it read responses.
fn allowed_origin(req: &ServiceRequest, state: &AppState, cors: Cors) -> Option<String> {
    if cors == Cors::Off {
        return None;
    }
    let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
    let published = state.published();
    let allowed = match cors {
        Cors::Off => false,
        Cors::RegisteredOrigins => published.is_registered_origin(origin),
        Cors::AppOrigins => req
            .match_info()
            .get("slug")
            .and_then(|slug| published.by_slug(slug))
            .is_some_and(|app| app.origins.iter().any(|o| o == origin)),
    };
    allowed.then(|| origin.to_owned())
}

fn add_cors_headers(headers: &mut header::HeaderMap, origin: Option<&str>) {
    // Vary whether or not this origin was allowed: the answer depends on it.
    headers.append(header::VARY, header::HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| header::HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, header::HeaderValue::from_static("WWW-Authenticate"));
    }
}

/// A refusal in the route's own form, with no store or handler involved.
fn refusal(answers: Answers, state: Option<&AppState>, status: StatusCode, why: &str) -> HttpResponse {
    match (answers, state) {
        (Answers::Page, Some(state)) => {
            let message = format!("{why} Please wait a moment and try again.");
            PageError::new(status, status.canonical_reason().unwrap_or("Refused"), message).render(&state.ui)
        }
        _ => OAuthError::invalid_request(why.to_owned()).with_status(status.as_u16()).error_response(),
    }
}

fn over_budget(answers: Answers, state: &AppState, wait: Duration) -> HttpResponse {
    let seconds = retry_after_seconds(wait);
    let why = format!("Too many requests from this address; retry in {seconds} s.");
    let mut response = refusal(answers, Some(state), StatusCode::TOO_MANY_REQUESTS, &why);
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// The origin allowed to read the answer (if any), and the answer itself
/// when the policy gives it without the handler: a preflight, or a 429.
fn decide(policy: RoutePolicy, req: &ServiceRequest, state: &AppState) -> (Option<String>, Option<HttpResponse>) {
    let origin = allowed_origin(req, state, policy.cors);
    let preflight = policy.cors != Cors::Off
        && req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        // Answered here: a preflight carries no credentials and spends no budget.
        let mut response = HttpResponse::NoContent();
        if origin.is_some() {
            response
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type"))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
        }
        return (origin, Some(response.finish()));
    }
    let wait = policy.limit.and_then(|class| {
        let ip = super::client_ip::client_ip(req.peer_addr(), req.headers(), &state.config.trusted_proxies)?;
        state.rate_limits.check(class, ip).err()
    });
    (origin, wait.map(|wait| over_budget(policy.answers, state, wait)))
}

pub fn apply<S, B>(
    policy: RoutePolicy,
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let state = req.app_data::<web::Data<AppState>>();
    let (origin, answer) = match state {
        Some(state) => decide(policy, &req, state),
        None => (None, None),
    };
    // Only pages need the state after the handler (to render a 413 page).
    let page_state = state.filter(|_| policy.answers == Answers::Page).cloned();
    let next = match answer {
        Some(response) => Err(req.into_response(response).map_into_right_body()),
        None => Ok(srv.call(req)),
    };
    async move {
        let mut response = match next {
            Err(answered) => answered,
            Ok(fut) => fut.await?.map_into_left_body(),
        };
        // A body over the limit fails the handler's extractor, which answers
        // in plain text: answer in the route's own form instead.
        if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let why = "The request body is larger than this server accepts.";
            let refused =
                refusal(policy.answers, page_state.as_ref().map(|s| s.get_ref()), StatusCode::PAYLOAD_TOO_LARGE, why);
            response = response.into_response(refused).map_into_right_body();
        }
        if policy.cors != Cors::Off {
            add_cors_headers(response.headers_mut(), origin.as_deref());
        }
        Ok(response)
    }
}

/// A resource in the route table with its policy.
pub fn resource(
    path: &str,
    policy: RoutePolicy,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<EitherBody<actix_web::body::BoxBody>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    web::resource(path).wrap_fn(move |req, srv| apply(policy, req, srv))
}
