//! The OpenID Connect endpoints, in authentik's layout. One module per
//! endpoint, in the spirit of node-oidc-provider's `lib/actions/`.

mod account;
mod authorize;
mod bearer;
mod claims;
mod client_auth;
mod device;
mod discovery;
mod grants;
mod introspect;
mod jwks;
mod login;
mod mint;
mod params;
mod respond;
mod revoke;
mod session;
mod token;
mod userinfo;

use actix_web::web;

// Parsers of untrusted input, public for the fuzz targets in fuzz/.
pub use client_auth::parse_basic;
pub use params::Params;

/// The one route table. Each resource carries its policy (rate-limit
/// budget, CORS), applied to the route actix matched.
///
/// Only the public documents are compressed: a response that carries a
/// secret (tokens, CSRF fields, a new PAT) next to anything a client chose
/// is never compressed, so its length cannot leak the secret (BREACH); and
/// machine clients' token calls skip the layer.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use crate::http::rate_limit::LimitClass as Limit;
    use crate::http::route_policy::{Cors, RoutePolicy, resource};
    let limited = |path: &str, class| resource(path, RoutePolicy::limited(class));
    let for_browsers =
        |path: &str, class| resource(path, RoutePolicy::limited(class).with_cors(Cors::RegisteredOrigins));
    let public_document = |path: &str, handler| {
        resource(path, RoutePolicy::OPEN.with_cors(Cors::AppOrigins)).wrap(crate::http::compress()).route(handler)
    };
    cfg.service(
        limited("/application/o/authorize/", Limit::Authorize)
            .route(web::get().to(authorize::authorize))
            .route(web::post().to(authorize::authorize)),
    )
    .service(for_browsers("/application/o/token/", Limit::Token).route(web::post().to(token::token)))
    .service(limited("/application/o/introspect/", Limit::Introspect).route(web::post().to(introspect::introspect)))
    .service(for_browsers("/application/o/revoke/", Limit::Introspect).route(web::post().to(revoke::revoke)))
    .service(
        for_browsers("/application/o/userinfo/", Limit::Userinfo)
            .route(web::get().to(userinfo::userinfo))
            .route(web::post().to(userinfo::userinfo)),
    )
    .service(public_document(
        "/application/o/{slug}/.well-known/openid-configuration",
        web::get().to(discovery::discovery),
    ))
    .service(public_document("/application/o/{slug}/jwks/", web::get().to(jwks::jwks)))
    .service(public_document("/application/o/{slug}/keys.pem", web::get().to(jwks::pem)))
    .service(
        limited("/account/tokens", Limit::SignIn)
            .route(web::get().to(account::show))
            .route(web::post().to(account::create)),
    )
    .service(limited("/account/tokens/revoke", Limit::SignIn).route(web::post().to(account::revoke)))
    .service(limited("/login", Limit::SignIn).route(web::get().to(login::show)).route(web::post().to(login::submit)));
}
