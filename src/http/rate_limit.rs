//! Per-client-address rate limits on the endpoints worth flooding:
//! authorize, sign-in, token, introspection/revocation, userinfo. Each
//! route names its class in the route table (`route_policy`), so a limit
//! follows the route actix matched, never the spelling of the raw path
//! (`/l%6fgin` is `/login`). Over the limit: 429 with Retry-After (as the
//! route's kind of error), and the handler never runs. The App-wide layer here only refuses oversized
//! request heads (431).

use super::AppState;
use crate::config::RateLimitsPerMinute;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::{HttpResponse, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Which budget a route spends (named in the route table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitClass {
    Authorize,
    SignIn,
    Token,
    Introspect,
    Userinfo,
    /// Signed-in pages: the account pages and the admin console.
    Pages,
}

pub struct RateLimits {
    authorize: DefaultKeyedRateLimiter<IpAddr>,
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    token: DefaultKeyedRateLimiter<IpAddr>,
    introspect: DefaultKeyedRateLimiter<IpAddr>,
    userinfo: DefaultKeyedRateLimiter<IpAddr>,
    pages: DefaultKeyedRateLimiter<IpAddr>,
}

fn limiter(per_minute: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    // A full minute's worth may come in a burst; then one every 60/n seconds.
    DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))
}

impl RateLimits {
    pub fn new(limits: RateLimitsPerMinute) -> Self {
        RateLimits {
            authorize: limiter(limits.authorize),
            sign_in: limiter(limits.sign_in),
            token: limiter(limits.token),
            introspect: limiter(limits.introspect),
            userinfo: limiter(limits.userinfo),
            pages: limiter(limits.pages),
        }
    }

    fn of(&self, class: LimitClass) -> &DefaultKeyedRateLimiter<IpAddr> {
        match class {
            LimitClass::Authorize => &self.authorize,
            LimitClass::SignIn => &self.sign_in,
            LimitClass::Token => &self.token,
            LimitClass::Introspect => &self.introspect,
            LimitClass::Userinfo => &self.userinfo,
            LimitClass::Pages => &self.pages,
        }
    }

    /// Ok, or how long the client must wait.
    pub fn check(&self, class: LimitClass, ip: IpAddr) -> Result<(), Duration> {
        self.of(class).check_key(&ip).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets addresses whose buckets are full again (housekeeping).
    pub fn prune(&self) {
        for limiter in [&self.authorize, &self.sign_in, &self.token, &self.introspect, &self.userinfo, &self.pages] {
            limiter.retain_recent();
        }
    }
}

/// Whole seconds to wait, at least 1 (`Retry-After`).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
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
