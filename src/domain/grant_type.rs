/// RFC 8628 §3.4's grant type.
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The grants the token endpoint supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628 §3.4.
    DeviceCode,
}

impl GrantType {
    pub fn parse(raw: &str) -> Option<GrantType> {
        match raw {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            DEVICE_CODE => Some(GrantType::DeviceCode),
            _ => None,
        }
    }
}
