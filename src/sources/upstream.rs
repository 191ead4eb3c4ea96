//! What every source gives back, what can go wrong, and how ferrid talks
//! to another provider: JSON over HTTPS, with a timeout and no redirects
//! followed (a token endpoint that redirects is misconfigured, and
//! following would send the code and secret wherever it points).

use std::time::Duration;

/// The largest answer read from a provider.
const MAX_ANSWER: usize = 1 << 20;

/// How long one call to a provider may take, all of it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The account at the provider, as it described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamAccount {
    /// The provider's stable id (OIDC `sub`, GitHub's numeric id).
    pub subject: String,
    /// The name the provider gives (`preferred_username`, GitHub's login).
    pub login: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The provider says the address is its owner's.
    pub email_verified: bool,
    /// Upstream groups (GitHub: `org` and `org/team`).
    pub groups: Vec<String>,
    /// The provider says it checked a second factor (`amr`/`acr`).
    pub mfa: bool,
}

/// Why a sign-in through a source did not come through.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The provider did not answer, or not sensibly: try later.
    #[error("the provider cannot be reached: {0}")]
    Unreachable(String),
    /// The provider said no (the user cancelled, or it refused the code).
    #[error("the provider refused: {0}")]
    Refused(String),
    /// What came back does not check out (signature, issuer, audience,
    /// nonce, state): a misconfiguration or an attack. Nothing is done.
    #[error("the provider's answer does not check out: {0}")]
    Invalid(String),
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .connect_timeout(CALL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ferrid/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Sends `request` and reads a JSON body of at most 1 MiB: the value and
/// the status. A transport failure or a body that is no JSON is
/// `Unreachable`; the caller judges the status.
pub async fn json(request: reqwest::RequestBuilder) -> Result<(u16, serde_json::Value), SourceError> {
    let mut response = request.send().await.map_err(|e| SourceError::Unreachable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let too_large = || SourceError::Unreachable(format!("a {status} answer too large to read"));
    if response.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(too_large());
    }
    // Read chunk by chunk: an answer without a length (chunked) is cut
    // off at the limit, not buffered whole first.
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| SourceError::Unreachable(e.without_url().to_string()))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let value = serde_json::from_slice(&body)
        .map_err(|_| SourceError::Unreachable(format!("a {status} answer that is not JSON")))?;
    Ok((status, value))
}

/// A JSON answer that must be a 2xx: otherwise the provider's own
/// `error` (OAuth's form) is what refused, and a 5xx is `Unreachable`.
pub async fn json_ok(request: reqwest::RequestBuilder, what: &str) -> Result<serde_json::Value, SourceError> {
    let (status, value) = json(request).await?;
    match status {
        200..=299 => Ok(value),
        500.. => Err(SourceError::Unreachable(format!("{what}: {status}"))),
        _ => {
            let error = value.get("error").and_then(|e| e.as_str()).unwrap_or("no error code");
            Err(SourceError::Refused(format!("{what}: {status} {error}")))
        }
    }
}

/// A string claim or field; None for absent, null or empty.
pub fn string(value: &serde_json::Value, name: &str) -> Option<String> {
    match value.get(name)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
