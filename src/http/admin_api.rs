//! The admin API: a second listener on 127.0.0.1 (random port), never on
//! the public address, for the CLI while `serve` holds the database. Its
//! address and token are in `admin.json` (see `admin::endpoint`).

use super::AppState;
use crate::admin::{AdminCommand, AdminError};
use crate::crypto::secrets::constant_time_eq;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

/// The bearer token the CLI must present (made at each start).
pub struct AdminToken(pub String);

/// The token is checked before the body is even parsed: a local user without
/// it learns nothing, not even the command list a parse error would name.
pub async fn exec(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    token: web::Data<AdminToken>,
) -> HttpResponse {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), token.0.as_bytes()) {
        return HttpResponse::Unauthorized().json(serde_json::json!({ "error": "bad admin token" }));
    }
    let command: AdminCommand = match serde_json::from_slice(&body) {
        Ok(command) => command,
        Err(e) => {
            return HttpResponse::BadRequest()
                .json(serde_json::json!({ "error": format!("not an admin command: {e}") }));
        }
    };
    let name = serde_json::to_value(&command).ok().and_then(|v| v["command"].as_str().map(str::to_owned));
    tracing::info!(command = %name.as_deref().unwrap_or("?"), "admin command");
    let state = state.into_inner();
    // Key generation and store fsyncs block: keep them off the executor.
    let result = super::off_thread(move || state.administer(command, "command line")).await;
    match result {
        Ok(Ok(value)) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(value),
        Ok(Err(e)) => HttpResponse::build(status_of(&e)).json(serde_json::json!({ "error": e.to_string() })),
        Err(_) => HttpResponse::InternalServerError().json(serde_json::json!({ "error": "the worker pool is gone" })),
    }
}

/// The status an administrative command's error is answered with, by this
/// API and by the admin console.
pub fn status_of(e: &AdminError) -> actix_web::http::StatusCode {
    use actix_web::http::StatusCode;
    match e {
        AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Conflict(_) => StatusCode::CONFLICT,
        // The database is away (it may come back): try again, as the
        // OAuth endpoints and pages say.
        e if e.to_string().contains(crate::store::UNAVAILABLE) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
