//! `application/x-www-form-urlencoded` parameters, from a query string or a
//! body, parsed by hand so that no input can fail the parse: bad UTF-8 is
//! replaced, and the endpoint decides what a repeat or a gap means.

use crate::error::OAuthError;
use actix_web::HttpRequest;
use actix_web::http::header;

pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn from_bytes(bytes: &[u8]) -> Params {
        let pairs = url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        Params { pairs }
    }

    /// The value of `name`. RFC 6749 §3.1: a parameter sent without a value
    /// is treated as if it were omitted.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// The first parameter that appears more than once (RFC 6749 §3.1, §3.2:
    /// request parameters must not be repeated).
    pub fn repeated(&self) -> Option<&str> {
        self.pairs
            .iter()
            .enumerate()
            .find(|(i, (k, _))| self.pairs[..*i].iter().any(|(seen, _)| seen == k))
            .map(|(_, (k, _))| k.as_str())
    }

    pub fn require_no_repeats(&self) -> Result<(), OAuthError> {
        match self.repeated() {
            Some(name) => Err(OAuthError::invalid_request(format!("parameter {name} is repeated"))),
            None => Ok(()),
        }
    }
}

/// POST bodies of the OAuth endpoints must be form-encoded (RFC 6749 §4.1.3).
pub fn require_form(req: &HttpRequest) -> Result<(), OAuthError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(())
    } else {
        Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_repeats_are_found() {
        let p = Params::from_bytes(b"a=1&b=&c=x+y&a=2");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.repeated(), Some("a"));
        assert_eq!(Params::from_bytes(b"a=1&b=2").repeated(), None);
    }

    #[test]
    fn invalid_utf8_does_not_fail() {
        let p = Params::from_bytes(b"a=%FF%FE&b=ok");
        assert_eq!(p.get("b"), Some("ok"));
        assert!(p.get("a").is_some());
    }
}
