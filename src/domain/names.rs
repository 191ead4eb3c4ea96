//! Identifiers made of a restricted alphabet.

use super::ParseError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Declares a string newtype whose only constructor is `parse`.
macro_rules! checked_string {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                let check: fn(&str) -> Result<String, ParseError> = $check;
                check(raw).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn restricted(raw: &str, what: &str, max: usize, allowed: fn(char) -> bool) -> Result<(), ParseError> {
    if raw.is_empty() {
        return Err(ParseError::new(format!("{what} must not be empty")));
    }
    if raw.len() > max {
        return Err(ParseError::new(format!("{what} is longer than {max} characters")));
    }
    if let Some(bad) = raw.chars().find(|c| !allowed(*c)) {
        return Err(ParseError::new(format!("{what} contains the character {bad:?}")));
    }
    Ok(())
}

/// Path segments under `/application/o/` that belong to shared endpoints.
const RESERVED_SLUGS: &[&str] = &["authorize", "token", "userinfo", "introspect", "revoke", "end-session", "login"];

checked_string!(
    /// An application's URL name: `/application/o/{slug}/`.
    Slug,
    |raw| {
        restricted(raw, "slug", 64, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')?;
        if RESERVED_SLUGS.contains(&raw) {
            return Err(ParseError::new(format!("slug {raw:?} is reserved for a shared endpoint")));
        }
        Ok(raw.to_owned())
    }
);

checked_string!(
    /// An OAuth client identifier: visible ASCII (RFC 6749 Appendix A.1), no spaces.
    ClientId,
    |raw| {
        restricted(raw, "client_id", 128, |c| c.is_ascii_graphic() && c != ':')?;
        Ok(raw.to_owned())
    }
);

checked_string!(
    /// A sign-in name, normalised to lower case at the boundary (as lldap does),
    /// so `Alice` and `alice` are the same account.
    Username,
    |raw| {
        let lower = raw.trim().to_ascii_lowercase();
        restricted(&lower, "username", 64, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
        })?;
        Ok(lower)
    }
);

checked_string!(
    /// A group name as it appears in the `groups` claim.
    GroupName,
    |raw| {
        restricted(raw, "group name", 64, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')
        })?;
        Ok(raw.to_owned())
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_cased_and_restricted() {
        assert_eq!(Username::parse(" Alice ").unwrap().as_str(), "alice");
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("").is_err());
    }

    #[test]
    fn slugs_refuse_reserved_names_and_upper_case() {
        assert!(Slug::parse("node-red").is_ok());
        assert!(Slug::parse("token").is_err());
        assert!(Slug::parse("Node").is_err());
    }

    #[test]
    fn client_ids_refuse_colon_and_space() {
        assert!(ClientId::parse("node-red").is_ok());
        assert!(ClientId::parse("a:b").is_err());
        assert!(ClientId::parse("a b").is_err());
    }
}
