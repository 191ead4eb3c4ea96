//! The errors the OAuth endpoints answer: RFC 6749 §5.2 / RFC 6750 §3.1
//! codes (`OAuthError`, rendered as JSON by `http::oauth_error`) and the
//! authorization errors sent back to a client (`AuthorizeError`). Internal
//! causes go to the log; the client sees a generic `server_error`. No HTTP
//! here, so the services that decide these errors need none either.

use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidToken,
    InsufficientScope,
    /// RFC 7591 §3.2.2: a registration's metadata is refused.
    InvalidClientMetadata,
    InvalidRedirectUri,
    ServerError,
    /// RFC 6749 §4.1.2.1's code, answered with 503 by every endpoint when
    /// the database is out of reach for a moment.
    TemporarilyUnavailable,
    /// RFC 8628 §3.5: the device's user has not answered yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too often; the interval grew by 5 s.
    SlowDown,
    /// RFC 8628 §3.5: the user denied the device's request.
    AccessDenied,
    /// RFC 8628 §3.5: the device code expired before it was approved.
    ExpiredToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }
}

#[derive(Debug)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    /// A status the code alone does not imply (413, 429, 404).
    status: Option<u16>,
}

impl OAuthError {
    fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError { code, description: description.into(), status: None }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn unsupported_grant_type(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }
    pub fn insufficient_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InsufficientScope, d)
    }
    /// RFC 8628 §3.5's answers to a device's poll.
    pub fn authorization_pending(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::AuthorizationPending, d)
    }
    pub fn slow_down(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::SlowDown, d)
    }
    pub fn access_denied(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::AccessDenied, d)
    }
    pub fn expired_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::ExpiredToken, d)
    }
    pub fn invalid_client_metadata(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, d)
    }
    pub fn invalid_redirect_uri(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, d)
    }

    /// Answered with `status` instead of the code's own (e.g. 429 for
    /// `invalid_request` when a client is over its rate limit).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The HTTP status (RFC 6749 §5.2: 400, or 401 for a client or token
    /// that failed authentication; RFC 6750 §3.1: 403 for insufficient_scope).
    pub fn status(&self) -> u16 {
        if let Some(status) = self.status {
            return status;
        }
        match self.code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }

    /// The `WWW-Authenticate` challenge this error carries, if any.
    pub fn challenge(&self) -> Option<String> {
        match self.code {
            // §5.2: 401 with the schemes ferrid takes (a Basic challenge).
            ErrorCode::InvalidClient => Some(r#"Basic realm="ferrid""#.to_owned()),
            // RFC 6750 §3: quote-safe, since descriptions are our own ASCII text.
            ErrorCode::InvalidToken | ErrorCode::InsufficientScope => Some(format!(
                r#"Bearer realm="ferrid", error="{}", error_description="{}""#,
                self.code.as_str(),
                self.description.replace('"', "'")
            )),
            _ => None,
        }
    }

    /// Logs `cause` and returns an error that says nothing about it.
    pub fn server(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(ErrorCode::ServerError, "the server could not complete the request")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl From<crate::form::TooManyParams> for OAuthError {
    fn from(e: crate::form::TooManyParams) -> Self {
        OAuthError::invalid_request(e.to_string())
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::{BackendError, StoreError};
        match e {
            StoreError::Backend(BackendError::Unavailable(cause)) => {
                tracing::warn!(error = %cause, "the database is unavailable");
                Self::new(ErrorCode::TemporarilyUnavailable, "the service is unavailable for a moment; try again")
            }
            other => OAuthError::server(other),
        }
    }
}

impl From<crate::crypto::secrets::RandomError> for OAuthError {
    fn from(e: crate::crypto::secrets::RandomError) -> Self {
        OAuthError::server(e)
    }
}

/// An error the authorization endpoint sends back to the client's verified
/// redirect URI (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6), with `state` and
/// `iss`. Errors found before the client is verified are pages instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    InvalidRequest(String),
    UnsupportedResponseType,
    RequestNotSupported,
    RequestUriNotSupported,
    /// prompt=none, and nobody is signed in.
    LoginRequired,
    /// prompt=none, and the access policy refuses the signed-in user; or
    /// the user declined on the consent page.
    AccessDenied,
    /// prompt=none, and the application must ask for consent first.
    ConsentRequired,
    /// The cause is logged where it happened; the client learns nothing of it.
    ServerError,
}

impl AuthorizeError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthorizeError::InvalidRequest(_) => "invalid_request",
            AuthorizeError::UnsupportedResponseType => "unsupported_response_type",
            AuthorizeError::RequestNotSupported => "request_not_supported",
            AuthorizeError::RequestUriNotSupported => "request_uri_not_supported",
            AuthorizeError::LoginRequired => "login_required",
            AuthorizeError::AccessDenied => "access_denied",
            AuthorizeError::ConsentRequired => "consent_required",
            AuthorizeError::ServerError => "server_error",
        }
    }

    pub fn description(&self) -> &str {
        match self {
            AuthorizeError::InvalidRequest(why) => why,
            AuthorizeError::UnsupportedResponseType => "only response_type=code is supported",
            AuthorizeError::RequestNotSupported => "request objects are not supported",
            AuthorizeError::RequestUriNotSupported => "request_uri is not supported",
            AuthorizeError::LoginRequired => "the user is not signed in",
            AuthorizeError::AccessDenied => "the signed-in user may not use this application, or declined",
            AuthorizeError::ConsentRequired => "the user must consent before this application may sign them in",
            AuthorizeError::ServerError => "the server could not complete the request",
        }
    }
}
