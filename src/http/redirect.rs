//! The optional plain-HTTP listener (`startup` binds it, `routes` sends
//! it everything): every request is answered with a
//! permanent redirect to the same path under `public_url`. The target comes
//! from the configuration, never from the request's Host header, so it
//! cannot be turned into an open redirect.

use crate::config::PublicUrl;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn redirect(req: HttpRequest, public_url: web::Data<PublicUrl>) -> HttpResponse {
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    // A request target like "//evil.example" must stay a path under public_url.
    let path_and_query = if path_and_query.starts_with('/') { path_and_query } else { "/" };
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, public_url.endpoint(path_and_query)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
