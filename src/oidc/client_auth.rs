//! Client authentication at the token endpoint (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients.

use super::params::Params;
use crate::domain::AuthMethod;
use crate::error::OAuthError;
use crate::http::RequestView;
use crate::published::{Published, PublishedApp};
use crate::store::ClientKind;
use actix_web::http::header;
use base64::Engine;
use std::sync::Arc;

pub struct AuthenticatedClient {
    pub app: Arc<PublishedApp>,
}

struct Credentials {
    client_id: String,
    secret: Option<String>,
    /// How the secret came, if one did.
    method: AuthMethod,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed Basic credentials")]
pub struct MalformedBasic;

/// An `Authorization` header value as Basic credentials (RFC 6749 §2.3.1):
/// None if it is another scheme, Err if it is Basic but malformed. Pure, so
/// it can be fuzzed (fuzz/fuzz_targets/basic_auth.rs).
pub fn parse_basic(value: &[u8]) -> Result<Option<(String, String)>, MalformedBasic> {
    let value = std::str::from_utf8(value).map_err(|_| MalformedBasic)?;
    let (scheme, encoded) = value.split_once(' ').ok_or(MalformedBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| MalformedBasic)?;
    let decoded = String::from_utf8(decoded).map_err(|_| MalformedBasic)?;
    let (id, secret) = decoded.split_once(':').ok_or(MalformedBasic)?;
    // §2.3.1: both parts are form-urlencoded before being joined.
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

fn from_basic(req: &RequestView) -> Result<Option<Credentials>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let parsed = parse_basic(value.as_bytes()).map_err(|_| bad())?;
    Ok(parsed.map(|(client_id, secret)| Credentials {
        client_id,
        secret: Some(secret),
        method: AuthMethod::ClientSecretBasic,
    }))
}

pub fn authenticate(
    req: &RequestView,
    params: &Params,
    published: &Published,
) -> Result<AuthenticatedClient, OAuthError> {
    let basic = from_basic(req)?;
    let credentials = match basic {
        Some(basic) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request("use one client authentication method, not two"));
            }
            if params.get("client_id").is_some_and(|id| id != basic.client_id) {
                return Err(OAuthError::invalid_request("client_id differs from the authenticated client"));
            }
            basic
        }
        None => Credentials {
            client_id: params
                .get("client_id")
                .map(str::to_owned)
                .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?,
            secret: params.get("client_secret").map(str::to_owned),
            method: AuthMethod::ClientSecretPost,
        },
    };
    // Always 401 with a Basic challenge (RFC 6749 §5.2), however the client tried.
    let fail = |msg: &'static str| OAuthError::invalid_client(msg);
    let Some(app) = published.by_client_id(&credentials.client_id) else {
        // The operator's mistake to see in the log (the client only hears 401).
        tracing::warn!(client_id = %credentials.client_id, "client authentication: no application has this client_id");
        return Err(fail("client authentication failed"));
    };
    let compat = &app.app.compat;
    if matches!(app.app.client, ClientKind::Confidential { .. })
        && credentials.secret.is_some()
        && !compat.allows_method(credentials.method)
    {
        tracing::warn!(
            client_id = %crate::escape::escaped(credentials.client_id.as_str()),
            sent = credentials.method.as_str(),
            allowed = %compat.method_names().join(", "),
            "client authentication: a method this application does not allow (token_endpoint_auth_methods)"
        );
        return Err(fail("client authentication failed"));
    }
    match (&app.app.client, credentials.secret.as_deref()) {
        (ClientKind::Confidential { secret_sha256 }, Some(secret)) if secret_sha256.matches(secret) => {}
        (ClientKind::Confidential { .. }, secret) => {
            let why = if secret.is_some() { "wrong client secret" } else { "no client secret sent" };
            tracing::warn!(
                client_id = %credentials.client_id,
                "client authentication: {why} (the client must send the secret ferrid printed for it, e.g. \
                 Node-RED's FERRID_CLIENT_SECRET; `ferrid app rotate-secret {}` makes a new one)",
                crate::escape::escaped(credentials.client_id.as_str())
            );
            return Err(fail("client authentication failed"));
        }
        (ClientKind::Public, None) => {}
        (ClientKind::Public, Some(_)) => {
            return Err(fail("this client is public and has no secret"));
        }
    }
    Ok(AuthenticatedClient { app: app.clone() })
}

/// The prologue every client-authenticated endpoint shares (token,
/// introspection, revocation): a form body, no repeated parameters, then
/// client authentication.
pub fn authenticate_form(
    req: &RequestView,
    body: &[u8],
    published: &Published,
) -> Result<(Params, AuthenticatedClient), OAuthError> {
    super::params::require_form(req)?;
    let params = Params::parse(body)?;
    if let Some(name) = params.repeated() {
        return Err(OAuthError::invalid_request(format!("parameter {name} is repeated")));
    }
    let client = authenticate(req, &params, published)?;
    Ok((params, client))
}

#[cfg(test)]
mod tests {
    use super::{MalformedBasic, parse_basic};

    #[test]
    fn basic_credentials_parse_with_form_decoding_and_refuse_malformed_values() {
        // "my%20app:s3cr%2Bt" → client "my app", secret "s3cr+t".
        assert_eq!(parse_basic(b"Basic bXklMjBhcHA6czNjciUyQnQ="), Ok(Some(("my app".into(), "s3cr+t".into()))));
        assert_eq!(parse_basic(b"Bearer abc"), Ok(None));
        assert_eq!(parse_basic(b"Basic !!!"), Err(MalformedBasic));
        assert_eq!(parse_basic(b"Basic QUFB"), Err(MalformedBasic), "no colon");
        assert_eq!(parse_basic(b"Basic"), Err(MalformedBasic));
        assert_eq!(parse_basic(&[0xff, 0xfe]), Err(MalformedBasic));
    }
}
