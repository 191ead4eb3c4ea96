use super::{ClientId, CodeChallenge, RedirectUri, ScopeSet};
use serde::{Deserialize, Serialize};

/// How the authorization response travels back to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    /// OAuth 2.0 Form Post Response Mode: an auto-submitting HTML form.
    FormPost,
}

impl ResponseMode {
    pub fn parse(raw: Option<&str>) -> Option<ResponseMode> {
        match raw {
            None | Some("query") => Some(ResponseMode::Query),
            Some("form_post") => Some(ResponseMode::FormPost),
            Some(_) => None,
        }
    }
}

/// A validated authorization request: what the code will be bound to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub response_mode: ResponseMode,
    pub max_age: Option<i64>,
    pub force_login: bool,
    /// `prompt=consent`: ask even if the user agreed before.
    #[serde(default)]
    pub force_consent: bool,
    /// `acr_values` asked for `mfa`: a second factor is needed.
    #[serde(default)]
    pub acr_mfa: bool,
}
