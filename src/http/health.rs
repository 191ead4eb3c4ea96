//! Probes for supervisors and load balancers: `/healthz` says the process
//! answers; `/readyz` says it can do its job (the store reads, and every
//! application has a signing key).

use super::AppState;
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut problems = Vec::new();
    if let Err(e) = state.store.check_readable() {
        tracing::error!(error = %e, "readiness: store");
        problems.push("store unreadable".to_owned());
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
