//! Probes for supervisors and load balancers: `/healthz` says the process
//! answers; `/readyz` says it can do its job (the store reads, and every
//! application has a signing key). `/metrics` is the Prometheus scrape.

use super::AppState;
use actix_web::{HttpResponse, web};

/// Prometheus scrape. Only for `metrics_allow` (loopback unless configured):
/// the counts say who signs in how often. Others get a plain 404.
pub async fn metrics(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let trusted = &state.config.trusted_proxies;
    let allowed = super::client_ip::client_ip(req.peer_addr(), req.headers(), trusted)
        .is_some_and(|ip| state.config.metrics_allow.iter().any(|net| net.contains(ip)));
    if !allowed {
        return HttpResponse::NotFound().finish();
    }
    let state = state.clone();
    let rendered = web::block(move || state.metrics.render(state.store.session_count())).await;
    match rendered {
        Ok(Ok(text)) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .body(text),
        _ => HttpResponse::InternalServerError().finish(),
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut problems = Vec::new();
    let store = state.store.clone();
    let readable = super::off_thread(move || store.check_readable()).await;
    if readable.is_err() {
        problems.push("shutting down".to_owned());
    }
    if let Ok(Err(e)) = readable {
        tracing::error!(error = %e, "readiness: store");
        // Why, for whoever takes this instance out of the pool; the cause's
        // details (hosts, users) stay in the log.
        let why = if e.to_string().contains(crate::store::UNAVAILABLE) {
            "the database is not reachable"
        } else {
            "see the log"
        };
        problems.push(format!("store unreadable: {why}"));
    }
    let published = state.published();
    for slug in published.apps_without_key() {
        problems.push(format!("no signing key for application {slug}"));
    }
    if problems.is_empty() {
        HttpResponse::Ok().content_type("text/plain").body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable().content_type("text/plain").body(problems.join("\n") + "\n")
    }
}
