//! `application/x-www-form-urlencoded` parameters, from a query string or a
//! body, with no HTTP types involved (services read them too). Bad UTF-8 is
//! replaced, and the endpoint decides what a repeat or a gap means. The only
//! failure is a request with more parameters than any OAuth request needs:
//! parsing stops there, so a 64 KiB body of 16,000 keys costs no more than a
//! normal request (every check here is linear).

pub struct Params {
    pairs: Vec<(String, String)>,
}

/// More than any OAuth or OIDC request sends (an authorization request with
/// every optional parameter has about 20).
pub const MAX_PARAMS: usize = 64;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request has more than {MAX_PARAMS} parameters")]
pub struct TooManyParams;

impl Params {
    /// Decodes at most `MAX_PARAMS` + 1 pairs: the rest is never looked at.
    pub fn parse(bytes: &[u8]) -> Result<Params, TooManyParams> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(bytes)
            .take(MAX_PARAMS + 1)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs.len() > MAX_PARAMS {
            return Err(TooManyParams);
        }
        Ok(Params { pairs })
    }

    /// The value of `name`. RFC 6749 §3.1: a parameter sent without a value
    /// is treated as if it were omitted.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// `name`'s value as sent, empty included: a form field someone cleared.
    pub fn given(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of `name`, in order (checkboxes that share a name).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str()).collect()
    }

    /// The first parameter that appears more than once (RFC 6749 §3.1, §3.2:
    /// request parameters must not be repeated).
    pub fn repeated(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::with_capacity(self.pairs.len());
        self.pairs.iter().map(|(k, _)| k.as_str()).find(|k| !seen.insert(*k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_max_params_is_refused_and_max_is_accepted() {
        let body = |n: usize| (0..n).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&");
        assert!(Params::parse(body(MAX_PARAMS).as_bytes()).is_ok());
        assert_eq!(Params::parse(body(MAX_PARAMS + 1).as_bytes()).err(), Some(TooManyParams));
        assert_eq!(Params::parse(body(16_000).as_bytes()).err(), Some(TooManyParams));
    }

    #[test]
    fn empty_values_are_absent_and_repeats_are_found() {
        let p = Params::parse(b"a=1&b=&c=x+y&a=2").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.repeated(), Some("a"));
        assert_eq!(Params::parse(b"a=1&b=2").unwrap().repeated(), None);
    }

    #[test]
    fn invalid_utf8_does_not_fail() {
        let p = Params::parse(b"a=%FF%FE&b=ok").unwrap();
        assert_eq!(p.get("b"), Some("ok"));
        assert!(p.get("a").is_some());
    }
}
