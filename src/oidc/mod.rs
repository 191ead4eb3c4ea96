//! The OpenID Connect endpoints, in authentik's layout. One module per
//! endpoint, in the spirit of node-oidc-provider's `lib/actions/`; the
//! route table that binds them to paths is `routes`.

pub(crate) mod account;
pub(crate) mod authorize;
mod bearer;
mod client_auth;
mod complete;
pub(crate) mod consent;
pub(crate) mod device_approval;
pub(crate) mod device_authorization;
pub(crate) mod device_entry;
pub(crate) mod discovery;
pub(crate) mod end_session;
pub(crate) mod forgot;
pub(crate) mod forward_auth;
mod interaction;
pub(crate) mod introspect;
pub(crate) mod jwks;
mod known_browser;
pub(crate) mod links;
pub(crate) mod login;
mod params;
pub(crate) mod registration;
mod respond;
pub(crate) mod revoke;
pub(crate) mod second_factor;
pub(crate) mod session;
pub(crate) mod source;
pub(crate) mod token;
pub(crate) mod userinfo;

// Parsers of untrusted input, public for the fuzz targets in fuzz/.
pub use client_auth::parse_basic;
/// Every route that reads a parked sign-in (the state-table test walks it).
pub use interaction::SignInRoute;
pub use params::Params;
