//! Per-client-address rate limits on the endpoints worth flooding:
//! authorize, sign-in, token, introspection/revocation, userinfo. Each
//! route names its class in the route table (`route_policy`), so a limit
//! follows the route actix matched, never the spelling of the raw path
//! (`/l%6fgin` is `/login`). Over the limit: 429 with Retry-After (as the
//! route's kind of error), and the handler never runs. (Oversized request
//! heads are refused App-wide, by `http::header_limit`.)

use crate::config::RateLimitsPerMinute;
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
