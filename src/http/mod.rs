//! The HTTP layer: shared state, middleware, per-route policy, and the
//! handlers that are not OIDC endpoints (probes, admin API, redirect).
//! The route table is `routes`.

pub mod admin_api;
pub mod client_ip;
pub mod health;
pub mod oauth_error;
pub mod off_worker;
pub mod rate_limit;
pub mod redirect;
pub mod route_policy;
pub mod state;

pub use off_worker::{Answer, RequestView, answer_on_pool, off_thread, on_pool};
pub use state::AppState;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Compress, DefaultHeaders};
use actix_web::{HttpResponse, web};
use std::time::Instant;
use tracing::Instrument;

/// Headers every response carries unless a handler sets its own (pages set a
/// CSP with their `form-action`).
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"));
    // Only when clients reach ferrid over https (directly or through a proxy):
    // HSTS over plain http would be ignored, and wrong for a plain-http homelab.
    if https { headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000")) } else { headers }
}

/// App-wide: request heads over `limits.header_bytes` get 431 before any
/// routing or handler work.
pub fn header_limit<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let too_large = req.app_data::<web::Data<AppState>>().is_some_and(|state| {
        let header_bytes: usize = req.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
        header_bytes > state.config.limits.header_bytes
    });
    let response = if too_large {
        let refused = HttpResponse::build(actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .content_type("text/plain; charset=utf-8")
            .body("Request headers too large.");
        Err(req.into_response(refused).map_into_right_body())
    } else {
        Ok(srv.call(req))
    };
    async move {
        match response {
            Err(refused) => Ok(refused),
            Ok(fut) => fut.await.map(ServiceResponse::map_into_left_body),
        }
    }
}

/// A per-process random prefix and a counter: unique across restarts, and
/// cheaper than a UUID per request.
fn next_request_id() -> String {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 4];
        let _ = openssl::rand::rand_bytes(&mut bytes);
        u32::from_be_bytes(bytes)
    });
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix:08x}-{n:x}")
}

/// The public server's outermost layer: a `tracing` span per request with a
/// request id (also sent back as `X-Request-Id`), method and path (never the
/// query, which can carry codes, nor a one-time link's secret); a line with status and duration (debug,
/// or error for a 5xx); and the request metrics.
pub fn observe<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let request_id = next_request_id();
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %crate::paths::loggable(req.path()));
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let fut = srv.call(req);
    async move {
        let mut res = fut.await?;
        let elapsed = started.elapsed();
        let status = res.status().as_u16();
        // One line per request is debug detail (metrics count them); a
        // server error is worth a line at any level.
        if status >= 500 {
            tracing::error!(status, micros = elapsed.as_micros() as u64, "handled");
        } else {
            tracing::debug!(status, micros = elapsed.as_micros() as u64, "handled");
        }
        if let Some(state) = state {
            let request = res.request();
            state.metrics.request(request.match_pattern(), request.method(), status, elapsed.as_secs_f64());
        }
        if let Ok(value) = header::HeaderValue::from_str(&request_id) {
            res.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
        }
        Ok(res)
    }
    .instrument(span)
}

/// A `tracing` span per request with method and path (never the query,
/// which can carry codes), and one line with status and duration.
pub fn request_span<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let span = tracing::info_span!("request", method = %req.method(), path = %crate::paths::loggable(req.path()));
    let started = Instant::now();
    let fut = srv.call(req);
    async move {
        let res = fut.await?;
        tracing::info!(status = res.status().as_u16(), micros = started.elapsed().as_micros() as u64, "handled");
        Ok(res)
    }
    .instrument(span)
}

/// gzip for the public documents only (see `oidc::configure`).
pub fn compress() -> Compress {
    Compress::default()
}

/// The client's address (see `client_ip`) and user agent, for the audit
/// trail and the sign-in throttle.
pub fn client_of(req: &RequestView, state: &AppState) -> (Option<String>, Option<String>) {
    let ip =
        client_ip::client_ip(req.peer_addr(), req.headers(), &state.config.trusted_proxies).map(|ip| ip.to_string());
    let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    (ip, ua)
}
