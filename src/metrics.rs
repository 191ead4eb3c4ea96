//! Prometheus metrics (OpenMetrics text at `/metrics`): requests and latency
//! per endpoint and status, sign-ins by outcome, tokens issued per grant,
//! and active sessions.
//!
//! Endpoints are labelled by their route pattern (`/application/o/{slug}/jwks/`),
//! never the raw path, so a scanner cannot grow the label set without bound.

use actix_web::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::borrow::Cow;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: Cow<'static, str>,
    method: Cow<'static, str>,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant: &'static str,
}

/// How a sign-in attempt ended.
#[derive(Clone, Copy, Debug)]
pub enum SignInOutcome {
    Ok,
    Failed,
}

type LatencyFamily = Family<EndpointLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    sign_ins: Family<OutcomeLabels, Counter>,
    tokens: Family<GrantLabels, Counter>,
    sessions: Gauge,
    tls_reloads: Family<OutcomeLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~3.3 s: from a cached JWKS to a slow bcrypt sign-in.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ferrid");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        let tokens = Family::<GrantLabels, Counter>::default();
        let sessions = Gauge::default();
        let tls_reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by endpoint, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer, by endpoint", latency.clone());
        registry.register("sign_ins", "Sign-in attempts by outcome", sign_ins.clone());
        registry.register("tokens_issued", "Token responses by grant type", tokens.clone());
        registry.register("active_sessions", "Unexpired single sign-on sessions", sessions.clone());
        registry.register(
            "tls_reloads",
            "Changed certificate files: reloaded, or refused (the previous one still served)",
            tls_reloads.clone(),
        );
        Metrics { registry, requests, latency, sign_ins, tokens, sessions, tls_reloads }
    }

    /// `endpoint` is the matched route pattern, or None for unrouted paths.
    pub fn request(&self, endpoint: Option<String>, method: &Method, status: u16, seconds: f64) {
        let endpoint: Cow<'static, str> = endpoint.map_or(Cow::Borrowed("unmatched"), Cow::Owned);
        let method = match *method {
            Method::GET => Cow::Borrowed("GET"),
            Method::POST => Cow::Borrowed("POST"),
            Method::HEAD => Cow::Borrowed("HEAD"),
            Method::OPTIONS => Cow::Borrowed("OPTIONS"),
            _ => Cow::Borrowed("other"),
        };
        self.requests.get_or_create(&RequestLabels { endpoint: endpoint.clone(), method, status }).inc();
        self.latency.get_or_create(&EndpointLabels { endpoint }).observe(seconds);
    }

    pub fn sign_in(&self, outcome: SignInOutcome) {
        let outcome = match outcome {
            SignInOutcome::Ok => "ok",
            SignInOutcome::Failed => "failed",
        };
        self.sign_ins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// `grant`: authorization_code, refresh_token, client_credentials, or
    /// personal_access_token (a PAT exchanged through client_credentials).
    pub fn token_issued(&self, grant: &'static str) {
        self.tokens.get_or_create(&GrantLabels { grant }).inc();
    }

    /// A change to the certificate files was taken up (`reloaded: true`) or refused.
    pub fn tls_reload(&self, reloaded: bool) {
        let outcome = if reloaded { "reloaded" } else { "refused" };
        self.tls_reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The text exposition, with the session gauge set to `active_sessions`.
    pub fn render(&self, active_sessions: usize) -> Result<String, std::fmt::Error> {
        self.sessions.set(active_sessions as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
