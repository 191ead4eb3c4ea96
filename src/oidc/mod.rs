//! The OpenID Connect endpoints, in authentik's layout. One module per
//! endpoint, in the spirit of node-oidc-provider's `lib/actions/`.

mod account;
mod authorize;
mod bearer;
mod claims;
mod client_auth;
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

/// The one route table. Only the public documents are compressed: a
/// response that carries a secret (tokens, CSRF fields, a new PAT) next to
/// anything a client chose is never compressed, so its length cannot leak
/// the secret (BREACH); and machine clients' token calls skip the layer.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let public_document = |path: &str, handler| web::resource(path).wrap(crate::http::compress()).route(handler);
    cfg.route("/application/o/authorize/", web::get().to(authorize::authorize))
        .route("/application/o/authorize/", web::post().to(authorize::authorize))
        .route("/application/o/token/", web::post().to(token::token))
        .route("/application/o/introspect/", web::post().to(introspect::introspect))
        .route("/application/o/revoke/", web::post().to(revoke::revoke))
        .route("/application/o/userinfo/", web::get().to(userinfo::userinfo))
        .route("/application/o/userinfo/", web::post().to(userinfo::userinfo))
        .service(public_document(
            "/application/o/{slug}/.well-known/openid-configuration",
            web::get().to(discovery::discovery),
        ))
        .service(public_document("/application/o/{slug}/jwks/", web::get().to(jwks::jwks)))
        .service(public_document("/application/o/{slug}/keys.pem", web::get().to(jwks::pem)))
        .route("/account/tokens", web::get().to(account::show))
        .route("/account/tokens", web::post().to(account::create))
        .route("/account/tokens/revoke", web::post().to(account::revoke))
        .route("/login", web::get().to(login::show))
        .route("/login", web::post().to(login::submit));
}
