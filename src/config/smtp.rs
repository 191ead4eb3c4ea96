//! `smtp:`: the mail server ferrid sends links through, checked.

use super::raw::RawSmtp;
use super::{ConfigError, Env, SmtpConfig, SmtpSecurity, env_secret, invalid};

pub(super) fn validate_smtp(raw: RawSmtp, env: &dyn Env) -> Result<SmtpConfig, ConfigError> {
    let security = match raw.security.as_deref() {
        None | Some("starttls") => SmtpSecurity::StartTls,
        Some("tls") => SmtpSecurity::Tls,
        Some("none") => SmtpSecurity::None,
        Some(other) => return Err(invalid("smtp.security", format!("{other:?} is not one of starttls, tls, none"))),
    };
    let default_port = match security {
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::None => 25,
    };
    if raw.host.trim().is_empty() {
        return Err(invalid("smtp.host", "give the mail server's host name"));
    }
    let credentials = match (raw.user, raw.password_env) {
        (Some(user), Some(var)) => Some((user, env_secret(env, &var, "smtp.password_env")?)),
        (None, None) => None,
        _ => return Err(invalid("smtp.user", "give both user and password_env, or neither")),
    };
    if credentials.is_some() && security == SmtpSecurity::None {
        return Err(invalid("smtp.security", "a password is never sent without TLS: use starttls or tls"));
    }
    // `Name <address>` or a bare address; lettre checks the rest when ferrid starts.
    if !raw.from.contains('@') {
        return Err(invalid("smtp.from", format!("{:?} is not an address like ferrid <ferrid@home.lan>", raw.from)));
    }
    Ok(SmtpConfig {
        host: raw.host,
        port: raw.port.unwrap_or(default_port),
        security,
        credentials,
        from: raw.from,
        ca_file: raw.ca_file,
    })
}
