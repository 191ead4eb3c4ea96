//! The optional plain-HTTP listener: every request is answered with a
//! permanent redirect to the same path under `public_url`. The target comes
//! from the configuration, never from the request's Host header, so it
//! cannot be turned into an open redirect.

use crate::config::PublicUrl;
use crate::startup::StartupError;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::net::{SocketAddr, TcpListener};

/// Binds `addr` and returns the real port and the (not yet awaited) server.
pub fn server(addr: SocketAddr, public_url: PublicUrl) -> Result<(u16, Server), StartupError> {
    let bind_error = |source| StartupError::Bind { addr: addr.to_string(), source };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    let target = web::Data::new(public_url);
    let server = HttpServer::new(move || App::new().app_data(target.clone()).default_service(web::to(redirect)))
        .workers(1)
        .disable_signals()
        .client_request_timeout(std::time::Duration::from_secs(5))
        .listen(listener)
        .map_err(bind_error)?
        .run();
    Ok((port, server))
}

async fn redirect(req: HttpRequest, public_url: web::Data<PublicUrl>) -> HttpResponse {
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    // A request target like "//evil.example" must stay a path under public_url.
    let path_and_query = if path_and_query.starts_with('/') { path_and_query } else { "/" };
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, public_url.endpoint(path_and_query)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
