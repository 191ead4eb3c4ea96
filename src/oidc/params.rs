//! The form-encoding check of the OAuth endpoints; the parameters
//! themselves are parsed by `crate::form`.

use crate::error::OAuthError;
use crate::http::RequestView;
use actix_web::http::header;

pub use crate::form::Params;

/// POST bodies of the OAuth endpoints must be form-encoded (RFC 6749 §4.1.3).
pub fn require_form(req: &RequestView) -> Result<(), OAuthError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(())
    } else {
        Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"))
    }
}
