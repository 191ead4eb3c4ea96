//! Running a request's work off the actix workers.
//!
//! An actix worker is one thread serving many connections; the store's API
//! is synchronous (sled is a library; PostgreSQL answers over the network).
//! A worker that waited for the database would stall every connection it
//! holds, discovery and JWKS included. So every handler that reads or
//! writes the store is a thin async shell around `on_pool`: its work runs
//! on the runtime's blocking pool with a `RequestView` (what it reads of
//! the request, which can cross threads where `HttpRequest` cannot), and
//! the response it built there comes back as an `Answer`. The worker only
//! parses, waits, and writes bytes. Debug builds check it
//! (`store::assert_off_worker`).

use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::{HttpRequest, HttpResponse};
use std::net::SocketAddr;
use std::time::Duration;

/// What a handler reads of its request, owned and `Send`. Its methods are
/// named as `HttpRequest`'s are.
#[derive(Clone, Debug)]
pub struct RequestView {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer_addr: Option<SocketAddr>,
}

impl RequestView {
    pub fn of(req: &HttpRequest) -> RequestView {
        RequestView {
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
            peer_addr: req.peer_addr(),
        }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    pub fn path(&self) -> &str {
        self.uri.path()
    }

    pub fn query_string(&self) -> &str {
        self.uri.query().unwrap_or_default()
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The first cookie of this name the browser sent (as
    /// `HttpRequest::cookie`: every `Cookie` header, percent-decoded).
    pub fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.headers
            .get_all(header::COOKIE)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| Cookie::parse_encoded(pair.trim().to_owned()).ok())
            .find(|cookie| cookie.name() == name)
    }
}

/// A response built on the blocking pool, in a form that can cross back to
/// the worker, and how long the worker waits before sending it (a refused
/// sign-in's delay: waited there, so it holds no pool thread).
pub struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: actix_web::web::Bytes,
    wait: Duration,
}

impl Answer {
    /// The same answer, sent after `wait`.
    pub fn after(mut self, wait: Duration) -> Answer {
        self.wait = wait;
        self
    }

    fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::with_body(self.status, self.body).map_into_boxed_body();
        *response.headers_mut() = self.headers;
        response
    }
}

impl From<HttpResponse> for Answer {
    fn from(response: HttpResponse) -> Answer {
        let (head, body) = response.into_parts();
        // Every body ferrid builds is bytes in memory (a page, JSON, nothing).
        match body.try_into_bytes() {
            Ok(body) => Answer { status: head.status(), headers: head.headers().clone(), body, wait: Duration::ZERO },
            Err(_) => Answer {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                headers: HeaderMap::new(),
                body: actix_web::web::Bytes::from_static(b"Internal server error."),
                wait: Duration::ZERO,
            },
        }
    }
}

/// Runs `work` on the blocking pool with a view of `req`, then (after the
/// answer's wait, on the worker) sends what it built.
pub async fn on_pool<F, A>(req: &HttpRequest, work: F) -> HttpResponse
where
    F: FnOnce(&RequestView) -> A + Send + 'static,
    A: Into<Answer>,
{
    let view = RequestView::of(req);
    match off_thread(move || work(&view).into()).await {
        Ok(answer) => {
            if !answer.wait.is_zero() {
                actix_web::rt::time::sleep(answer.wait).await;
            }
            answer.into_response()
        }
        // The pool is gone: the server is shutting down.
        Err(_) => HttpResponse::ServiceUnavailable().content_type("text/plain; charset=utf-8").body("Shutting down."),
    }
}

impl<E: actix_web::ResponseError> From<Result<HttpResponse, E>> for Answer {
    fn from(result: Result<HttpResponse, E>) -> Answer {
        result.unwrap_or_else(|e| e.error_response()).into()
    }
}

/// `web::block` that keeps the request's `tracing` span, so what the
/// blocking pool logs carries the request id too.
pub async fn off_thread<F, R>(f: F) -> Result<R, actix_web::error::BlockingError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    actix_web::web::block(move || span.in_scope(f)).await
}
