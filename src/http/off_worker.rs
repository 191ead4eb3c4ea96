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
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::{HttpRequest, HttpResponse};
use std::net::SocketAddr;
use std::time::Duration;

/// Threads of the blocking pool, per actix worker. Every request that
/// reads or writes the store runs there, and bcrypt, signing and fsync
/// waits with it. On sled that work is CPU or a shared fsync: a few threads
/// per worker, and no more (with actix's default, 512 / workers, a burst of
/// sign-ins grew a glibc malloc arena per thread: bench/memory.sh, 10,000
/// sign-ins: 42.6 MB; 4 per worker 39.2; 2: 38.1). On PostgreSQL a thread
/// mostly waits for an answer over the network: as many as the connection
/// pool has connections.
pub fn pool_threads_per_worker(store: &crate::config::StoreChoice, workers: usize) -> usize {
    match store {
        crate::config::StoreChoice::Sled { .. } => 4,
        crate::config::StoreChoice::Postgres(_) => crate::store::POSTGRES_CONNECTIONS.div_ceil(workers.max(1)).max(4),
    }
}

/// Turns for the password check of `/login`, taken on the worker before
/// the request goes to the pool. bcrypt holds a pool thread for its whole
/// work cost (55 ms at cost 10 here, 300 ms on a Raspberry Pi): at most
/// half the pool's threads run it, so a flood of sign-in attempts (from
/// many addresses, each within its rate limit) cannot queue the pages,
/// grants and forward-auth checks behind it. The others wait here, holding
/// no thread; past `max_waiting` the answer is "busy, try again".
pub struct PasswordTurns {
    running: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

impl PasswordTurns {
    pub fn new(pool_threads: usize) -> PasswordTurns {
        let running = (pool_threads / 2).max(1);
        PasswordTurns {
            running: tokio::sync::Semaphore::new(running),
            waiting: Default::default(),
            max_waiting: running * 4,
        }
    }

    /// A turn, once one is free; None when too many wait already.
    pub async fn take(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if self.waiting.fetch_add(1, std::sync::atomic::Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            return None;
        }
        // Counted out however the wait ends: a client that goes away drops
        // this future half-way, and must not leave a place taken for ever.
        let _waiting = Waiting(&self.waiting);
        self.running.acquire().await.ok()
    }
}

struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

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

    /// The value of the first cookie of this name the browser sent, in any
    /// `Cookie` header. The name is compared as sent: percent-decoding it
    /// (as actix's `HttpRequest::cookie` does) would let a sibling host set
    /// `__Host%2Dferrid_csrf`, which browsers do not hold to the `__Host-`
    /// rules, and have it read as `__Host-ferrid_csrf`. The value is taken
    /// as sent too (ferrid's own cookies are base64url). A header is read
    /// as UTF-8, so another site's cookie with `é` in it hides nothing.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(raw_name, _)| raw_name.trim() == name)
            .map(|(_, value)| value.trim().trim_matches('"').to_owned())
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

    /// Sends it, after its wait.
    pub async fn send(self) -> HttpResponse {
        if !self.wait.is_zero() {
            actix_web::rt::time::sleep(self.wait).await;
        }
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
    answer_on_pool(RequestView::of(req), work).await.send().await
}

/// `on_pool`'s first half, for a handler that read the request's view
/// already: the answer built on the pool, not yet sent.
pub async fn answer_on_pool<F, A>(view: RequestView, work: F) -> Answer
where
    F: FnOnce(&RequestView) -> A + Send + 'static,
    A: Into<Answer>,
{
    match off_thread(move || work(&view).into()).await {
        Ok(answer) => answer,
        // The pool is gone: the server is shutting down.
        Err(_) => {
            HttpResponse::ServiceUnavailable().content_type("text/plain; charset=utf-8").body("Shutting down.").into()
        }
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
    actix_web::web::block(move || {
        crate::store::lower_this_thread();
        span.in_scope(f)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookies(headers: &[&str]) -> RequestView {
        let mut request = actix_web::test::TestRequest::default();
        for value in headers {
            request = request.append_header((header::COOKIE, *value));
        }
        RequestView::of(&request.to_http_request())
    }

    #[tokio::test]
    async fn a_sign_in_that_gives_up_waiting_leaves_no_place_taken() {
        let turns = PasswordTurns::new(2); // one running, four waiting
        let held = turns.take().await.expect("the free turn");
        for _ in 0..10 {
            // Waits, and is dropped half-way (as when the client goes away).
            let gave_up = tokio::time::timeout(std::time::Duration::from_millis(5), turns.take()).await;
            assert!(gave_up.is_err(), "no turn while one is held");
        }
        drop(held);
        assert!(turns.take().await.is_some(), "the places of those who left are free again");
        let held = turns.take().await.unwrap();
        let mut waiters: Vec<_> = (0..4).map(|_| Box::pin(turns.take())).collect();
        for waiter in &mut waiters {
            let pending = std::future::poll_fn(|cx| std::task::Poll::Ready(waiter.as_mut().poll(cx).is_pending()));
            assert!(pending.await, "waits for a turn");
        }
        assert!(turns.take().await.is_none(), "a fifth waiter is told to try again");
        drop(waiters);
        drop(held);
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn the_pool_runs_below_the_workers_priority() {
        // SAFETY: getpriority on the calling thread.
        let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let pool = off_thread(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }).await.unwrap();
        assert_eq!(pool, (own + crate::store::STORE_WORK_NICENESS).min(19));
        let again = off_thread(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }).await.unwrap();
        assert_eq!(again, pool, "lowered once, not once more per task");
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, own, "the worker keeps its own");
    }

    #[test]
    fn a_cookie_is_found_by_its_name_as_sent_in_any_cookie_header() {
        let view = with_cookies(&["a=1; ferrid_session=abc; b=2", "ferrid_csrf=xyz"]);
        assert_eq!(view.cookie("ferrid_session").as_deref(), Some("abc"));
        assert_eq!(view.cookie("ferrid_csrf").as_deref(), Some("xyz"));
        assert_eq!(view.cookie("missing"), None);
        // The first of two with one name, as the browser orders them (longer paths first).
        assert_eq!(with_cookies(&["s=first; s=second"]).cookie("s").as_deref(), Some("first"));
        // Another site's cookie with non-ASCII text hides none of ours.
        assert_eq!(with_cookies(&["lang=\u{e9}; ferrid_session=abc"]).cookie("ferrid_session").as_deref(), Some("abc"));
        // A percent-encoded name is not the name it decodes to.
        let forged = with_cookies(&["__Host%2Dferrid_csrf=evil; __Host-ferrid_csrf=good"]);
        assert_eq!(forged.cookie("__Host-ferrid_csrf").as_deref(), Some("good"));
        assert_eq!(with_cookies(&["__Host%2Dferrid_csrf=evil"]).cookie("__Host-ferrid_csrf"), None);
        // Malformed pairs are skipped.
        assert_eq!(with_cookies(&["junk; =x; ferrid_session=abc"]).cookie("ferrid_session").as_deref(), Some("abc"));
    }
}
