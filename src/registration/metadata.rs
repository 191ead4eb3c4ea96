//! The client metadata of a registration request (RFC 7591 §2), read from
//! its JSON into checked values, or refused with the RFC's error codes
//! (§3.2.2): `invalid_redirect_uri` for the redirect URIs, otherwise
//! `invalid_client_metadata`. Metadata ferrid does not understand is
//! ignored, as §2 says; what it understands but does not offer is refused.

use crate::domain::{AuthMethod, RedirectUri, ScopeSet, SigningAlg};
use crate::error::OAuthError;
use serde_json::Value;

/// At most this many redirect URIs (and as many post-logout ones).
pub const MAX_URIS: usize = 10;
/// The longest redirect URI taken.
pub const MAX_URI_BYTES: usize = 2000;
/// The longest `client_name` taken, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// How a registered client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A public client: no secret, PKCE required.
    None,
    /// A confidential client, with a secret ferrid makes.
    Secret(AuthMethod),
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Secret(method) => method.as_str(),
        }
    }
}

/// What a registration asked for, checked.
#[derive(Debug)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub client_name: Option<String>,
    pub method: Method,
    /// authorization_code, and refresh_token if asked for.
    pub grant_types: Vec<String>,
    pub scope: Option<ScopeSet>,
}

/// Reads the body of a registration request. `alg` is the issuer's: a
/// client that names another `id_token_signed_response_alg` is refused,
/// since its id_tokens would be signed with the issuer's.
pub fn parse(body: &[u8], alg: SigningAlg) -> Result<ClientMetadata, OAuthError> {
    fn bad(why: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
        OAuthError::invalid_client_metadata(why)
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| bad("the body must be a JSON object"))?;
    let Value::Object(fields) = value else { return Err(bad("the body must be a JSON object")) };
    let text = |name: &'static str| -> Result<Option<&str>, OAuthError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(bad(format!("{name} must be a string"))),
        }
    };
    let list = |name: &'static str, refuse: fn(String) -> OAuthError| -> Result<Option<Vec<&str>>, OAuthError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) if items.len() <= 2 * MAX_URIS => items
                .iter()
                .map(|item| item.as_str().ok_or_else(|| refuse(format!("{name} must be an array of strings"))))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(Value::Array(_)) => Err(refuse(format!("{name} has too many entries"))),
            Some(_) => Err(refuse(format!("{name} must be an array of strings"))),
        }
    };
    let uri_error: fn(String) -> OAuthError = OAuthError::invalid_redirect_uri;
    let meta_error: fn(String) -> OAuthError = OAuthError::invalid_client_metadata;

    let grant_types = match list("grant_types", meta_error)? {
        None => vec!["authorization_code".to_owned()],
        Some(asked) => {
            let mut granted: Vec<String> = Vec::new();
            for grant in asked {
                if !matches!(grant, "authorization_code" | "refresh_token") {
                    return Err(bad(format!(
                        "grant_type {} is not offered to registered clients (authorization_code, refresh_token)",
                        crate::escape::escaped(grant)
                    )));
                }
                if !granted.iter().any(|g| g == grant) {
                    granted.push(grant.to_owned());
                }
            }
            if !granted.iter().any(|g| g == "authorization_code") {
                return Err(bad("grant_types must include authorization_code"));
            }
            granted
        }
    };
    if let Some(types) = list("response_types", meta_error)?
        && (types.is_empty() || types.iter().any(|t| *t != "code"))
    {
        return Err(bad("response_types may only be [\"code\"]"));
    }
    let redirect_uris = match list("redirect_uris", uri_error)? {
        Some(raw) if !raw.is_empty() => uris("redirect_uris", &raw)?,
        _ => return Err(OAuthError::invalid_redirect_uri("redirect_uris is required (the code flow needs one)")),
    };
    let post_logout_redirect_uris = match list("post_logout_redirect_uris", uri_error)? {
        Some(raw) => uris("post_logout_redirect_uris", &raw)?,
        None => Vec::new(),
    };
    let method = match text("token_endpoint_auth_method")? {
        None | Some("client_secret_basic") => Method::Secret(AuthMethod::ClientSecretBasic),
        Some("client_secret_post") => Method::Secret(AuthMethod::ClientSecretPost),
        Some("none") => Method::None,
        Some(other) => {
            return Err(bad(format!(
                "token_endpoint_auth_method {} is not offered (none, client_secret_basic, client_secret_post)",
                crate::escape::escaped(other)
            )));
        }
    };
    let client_name = match text("client_name")? {
        None => None,
        Some(name) => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
                return Err(bad(format!("client_name must be 1 to {MAX_NAME_CHARS} characters, none of them control")));
            }
            Some(name.to_owned())
        }
    };
    let scope = match text("scope")? {
        None => None,
        Some(raw) if raw.len() > 1000 => return Err(bad("scope is too long")),
        Some(raw) => {
            let set = ScopeSet::parse(raw);
            if set == ScopeSet::default() {
                return Err(bad("scope names none of the scopes offered (openid profile email groups offline_access)"));
            }
            Some(set)
        }
    };
    if let Some(asked) = text("id_token_signed_response_alg")?
        && asked != alg.as_str()
    {
        return Err(bad(format!("this issuer signs id_tokens with {alg} only")));
    }
    Ok(ClientMetadata { redirect_uris, post_logout_redirect_uris, client_name, method, grant_types, scope })
}

fn uris(name: &str, raw: &[&str]) -> Result<Vec<RedirectUri>, OAuthError> {
    if raw.len() > MAX_URIS {
        return Err(OAuthError::invalid_redirect_uri(format!("{name}: at most {MAX_URIS}")));
    }
    let mut out: Vec<RedirectUri> = Vec::new();
    for uri in raw {
        let uri = redirect_uri(uri).map_err(|why| OAuthError::invalid_redirect_uri(format!("{name}: {why}")))?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    Ok(out)
}

/// A redirect URI a client may register for itself: what any application
/// may have (`RedirectUri`: absolute, no fragment, no credentials, no
/// script scheme), and beyond that, as a stranger's: visible ASCII only
/// (compared as exact strings, so no spaces or look-alikes), no wildcard,
/// `https`, or `http` on a loopback host (RFC 8252 §7.3), or a native
/// app's private-use scheme, which RFC 8252 §7.1 names after a domain
/// (`com.example.app:/cb`).
pub fn redirect_uri(raw: &str) -> Result<RedirectUri, String> {
    let shown = || crate::escape::escaped(&raw.chars().take(100).collect::<String>());
    if raw.len() > MAX_URI_BYTES {
        return Err(format!("a redirect URI is longer than {MAX_URI_BYTES} bytes"));
    }
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{} must be visible ASCII, without spaces", shown()));
    }
    if raw.contains('*') {
        return Err(format!("{} has a wildcard; redirect URIs match exactly", shown()));
    }
    let uri = RedirectUri::parse(raw).map_err(|e| e.0)?;
    let url = url::Url::parse(raw).map_err(|_| format!("{} is not an absolute URL", shown()))?;
    match url.scheme() {
        "https" => Ok(uri),
        "http" if is_loopback(&url) => Ok(uri),
        "http" => Err(format!("{} is plain http; only loopback addresses may use http", shown())),
        scheme if scheme.contains('.') => Ok(uri),
        _ => Err(format!(
            "{} uses a scheme that is neither https nor a native app's reverse-domain scheme (com.example.app:)",
            shown()
        )),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> (String, String) {
        let e = parse(body.as_bytes(), SigningAlg::RS256).unwrap_err();
        (e.code.as_str().to_owned(), e.description.into_owned())
    }

    #[test]
    fn a_stranger_may_register_https_loopback_http_and_native_schemes_only() {
        for good in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1:51004/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(redirect_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "http://app.example/cb",
            "http://192.168.1.5/cb",
            "https://*.example/cb",
            "https://app.example/*",
            "https://app.example/cb#frag",
            "https://app.example/c b",
            "https://app.example/cb\n",
            "https://usér.example/cb",
            "javascript:alert(1)",
            "myapp://cb",
            "data:text/html,hi",
            "/cb",
            "https://u:p@app.example/cb",
            "",
        ] {
            assert!(redirect_uri(bad).is_err(), "{bad:?}");
        }
        assert!(redirect_uri(&format!("https://app.example/{}", "a".repeat(MAX_URI_BYTES))).is_err());
    }

    #[test]
    fn metadata_is_read_with_the_rfc_defaults_and_unknown_fields_ignored() {
        let meta = parse(
            br#"{"redirect_uris":["https://a.example/cb","https://a.example/cb"],"logo_uri":"https://x","contacts":[1]}"#,
            SigningAlg::RS256,
        )
        .unwrap();
        assert_eq!(meta.redirect_uris.len(), 1, "repeats collapse");
        assert_eq!(meta.method, Method::Secret(AuthMethod::ClientSecretBasic), "RFC 7591 §2's default");
        assert_eq!(meta.grant_types, ["authorization_code"]);
        assert!(meta.scope.is_none() && meta.client_name.is_none());
    }

    #[test]
    fn bad_metadata_is_refused_with_the_rfc_codes() {
        let uri_error = "invalid_redirect_uri";
        let meta_error = "invalid_client_metadata";
        let cases = [
            ("[]", meta_error),
            ("not json", meta_error),
            ("{}", uri_error),
            (r#"{"redirect_uris":[]}"#, uri_error),
            (r#"{"redirect_uris":"https://a.example/cb"}"#, uri_error),
            (r#"{"redirect_uris":[7]}"#, uri_error),
            (r#"{"redirect_uris":["http://a.example/cb"]}"#, uri_error),
            (r#"{"redirect_uris":["https://a.example/cb"],"post_logout_redirect_uris":["x"]}"#, uri_error),
            (r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"]}"#, meta_error),
            (r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["refresh_token"]}"#, meta_error),
            (r#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#, meta_error),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#,
                meta_error,
            ),
            (r#"{"redirect_uris":["https://a.example/cb"],"client_name":""}"#, meta_error),
            (r#"{"redirect_uris":["https://a.example/cb"],"client_name":"a\u0007b"}"#, meta_error),
            (r#"{"redirect_uris":["https://a.example/cb"],"scope":"nothing known"}"#, meta_error),
            (r#"{"redirect_uris":["https://a.example/cb"],"id_token_signed_response_alg":"HS256"}"#, meta_error),
            (r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":5}"#, meta_error),
        ];
        for (body, code) in cases {
            assert_eq!(refused(body).0, code, "{body}");
        }
        let many: Vec<String> = (0..=MAX_URIS).map(|i| format!("\"https://a.example/{i}\"")).collect();
        assert_eq!(refused(&format!("{{\"redirect_uris\":[{}]}}", many.join(","))).0, uri_error);
    }
}
