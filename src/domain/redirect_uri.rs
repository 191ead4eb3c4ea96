use super::ParseError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// A registered redirect URI. Compared as an exact string (RFC 9700 §4.1.3):
/// the original text is kept, never a normalised form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let url = Url::parse(raw).map_err(|e| ParseError::new(format!("{raw:?} is not an absolute URL ({e})")))?;
        if url.fragment().is_some() || raw.contains('#') {
            return Err(ParseError::new(format!("{raw:?} has a fragment, which RFC 6749 §3.1.2 forbids")));
        }
        if matches!(url.scheme(), "http" | "https") && url.host().is_none() {
            return Err(ParseError::new(format!("{raw:?} has no host")));
        }
        if matches!(url.scheme(), "javascript" | "data" | "file" | "vbscript") {
            return Err(ParseError::new(format!("{raw:?} uses a forbidden scheme")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError::new(format!("{raw:?} carries credentials")));
        }
        Ok(RedirectUri(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI with response parameters appended to its query, keeping any
    /// query it already has (RFC 6749 §3.1.2).
    pub fn with_query(&self, params: &[(&str, &str)]) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) => {
                url.query_pairs_mut().extend_pairs(params);
                url.to_string()
            }
            // Unreachable for a parsed RedirectUri; keep the registered URI.
            Err(_) => self.0.clone(),
        }
    }

    /// The origin a browser sends in `Origin` for pages under this URI:
    /// http(s) only (a native app's custom scheme has no web origin).
    pub fn web_origin(&self) -> Option<String> {
        let url = Url::parse(&self.0).ok()?;
        matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
    }

    /// `scheme://host[:port]`, for the CSP `form-action` of pages that end at it.
    pub fn origin(&self) -> String {
        Url::parse(&self.0).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
    }
}

impl Serialize for RedirectUri {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RedirectUri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RedirectUri::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fragments_relative_and_script_uris() {
        assert!(RedirectUri::parse("http://127.0.0.1:1880/cb#x").is_err());
        assert!(RedirectUri::parse("/cb").is_err());
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
        assert!(RedirectUri::parse("https://u:p@host/cb").is_err());
    }

    #[test]
    fn appends_to_an_existing_query_and_keeps_the_original_text() {
        let uri = RedirectUri::parse("https://app.example/cb?x=1").unwrap();
        assert_eq!(uri.as_str(), "https://app.example/cb?x=1");
        assert_eq!(uri.with_query(&[("code", "a b")]), "https://app.example/cb?x=1&code=a+b");
    }
}
