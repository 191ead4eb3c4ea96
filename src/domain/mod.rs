//! Domain types: raw strings stop at the wire; after parsing, these types
//! guarantee their invariants, so handlers never re-check them.

mod authorization;
mod grant_type;
mod ip_net;
mod names;
mod pkce;
mod policy;
mod proxy;
mod redirect_uri;
mod scope;
mod user_code;

pub use crate::crypto::SigningAlg;
pub use authorization::{AuthorizationRequest, ResponseMode};
pub use grant_type::{DEVICE_CODE, GrantType};
pub use ip_net::IpNet;
pub use names::{ClientId, GroupName, Slug, Username};
pub use pkce::{CodeChallenge, CodeVerifier};
pub use policy::{
    AccessPolicy, AuthMethod, ClaimMapping, Compatibility, ConsentMode, EmailVerified, REGISTERED_CLAIMS,
};
pub use proxy::{ProxyRule, ProxyTarget, canonical_host, is_host_and_port, normalise_path, parse_bypass};
pub use redirect_uri::RedirectUri;
pub use scope::{Scope, ScopeSet};
pub use user_code::UserCode;

/// Why a value did not parse; the caller adds which field it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError(message.into())
    }
}
