use super::ParseError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Origin, Url};

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

    /// The CSP source that lets a form on ferrid's pages end here (directly,
    /// or through the redirect after it: Chromium checks `form-action` on
    /// those too). For http(s), the origin, port included: redirect URIs
    /// match exactly, also on loopback (no RFC 8252 §7.3 port freedom), so
    /// the registered port is the one the browser goes to. For a native
    /// app's custom scheme (`myapp://cb`, `com.example.app:/cb`), whose
    /// origin is opaque and would serialise as `null`, the scheme source
    /// `myapp:` (CSP3): the operating system hands any such URL to the app.
    /// `None` where CSP has no way to name the place: a host it cannot spell
    /// (an IPv6 literal such as `[::1]`, an `_`), or a `blob:` URL. Never a
    /// wildcard host.
    pub fn csp_source(&self) -> Option<String> {
        let url = Url::parse(&self.0).ok()?;
        // A blob: URL names an object some page made, never an application.
        if url.scheme() == "blob" {
            return None;
        }
        match url.origin() {
            Origin::Opaque(_) => Some(format!("{}:", url.scheme())),
            origin => url.host_str().filter(|h| is_csp_host(h)).map(|_| origin.ascii_serialization()),
        }
    }
}

/// CSP3 `host-part`: labels of letters, digits and `-`, split by dots (a
/// trailing dot allowed). IPv6 literals, and whatever else a URL allows in
/// a host, have no spelling in a policy.
fn is_csp_host(host: &str) -> bool {
    let labels: Vec<&str> = host.strip_suffix('.').unwrap_or(host).split('.').collect();
    labels.iter().all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
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
    fn the_csp_source_is_the_origin_the_scheme_of_a_native_app_or_none_never_null() {
        let source = |raw: &str| RedirectUri::parse(raw).unwrap().csp_source();
        let cases = [
            ("https://app.example/cb?x=1", Some("https://app.example")),
            ("https://app.example:8443/cb", Some("https://app.example:8443")),
            ("https://app.example.:443/cb", Some("https://app.example.")),
            ("http://127.0.0.1:51004/cb", Some("http://127.0.0.1:51004")),
            ("http://localhost:51004/cb", Some("http://localhost:51004")),
            ("http://127.0.0.1/cb", Some("http://127.0.0.1")),
            ("myapp://cb", Some("myapp:")),
            ("com.example.app:/oauth2redirect", Some("com.example.app:")),
            ("MyApp+x://cb", Some("myapp+x:")),
            ("http://[::1]:51004/cb", None),
            ("https://my_app.example/cb", None),
            ("blob:https://app.example/5c3b", None),
        ];
        for (raw, want) in cases {
            assert_eq!(source(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn appends_to_an_existing_query_and_keeps_the_original_text() {
        let uri = RedirectUri::parse("https://app.example/cb?x=1").unwrap();
        assert_eq!(uri.as_str(), "https://app.example/cb?x=1");
        assert_eq!(uri.with_query(&[("code", "a b")]), "https://app.example/cb?x=1&code=a+b");
    }
}
