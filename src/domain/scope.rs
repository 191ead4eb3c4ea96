use std::fmt;

/// The scopes ferrid understands. Others are ignored, as RFC 6749 §3.3 allows;
/// the token response says what was granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    OpenId,
    Profile,
    Email,
    Groups,
    OfflineAccess,
}

impl Scope {
    pub const ALL: [Scope; 5] = [Scope::OpenId, Scope::Profile, Scope::Email, Scope::Groups, Scope::OfflineAccess];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::Email => "email",
            Scope::Groups => "groups",
            Scope::OfflineAccess => "offline_access",
        }
    }

    /// What granting the scope hands the application, in words (the consent page).
    pub fn describe(self) -> &'static str {
        match self {
            Scope::OpenId => "Your account's identifier, so it can recognise you",
            Scope::Profile => "Your username, name and groups",
            Scope::Email => "Your email address",
            Scope::Groups => "The groups you belong to",
            Scope::OfflineAccess => "Access while you are away: it stays signed in after you sign out here",
        }
    }

    fn from_str(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// A set of known scopes. Repeats (`openid openid email`, as
/// passport-openidconnect sends) collapse; unknown names are dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub fn parse(raw: &str) -> ScopeSet {
        raw.split(' ').filter_map(Scope::from_str).fold(ScopeSet::default(), |set, scope| set.with(scope))
    }

    pub fn with(self, scope: Scope) -> ScopeSet {
        ScopeSet(self.0 | (1 << scope as u8))
    }

    pub fn without(self, scope: Scope) -> ScopeSet {
        ScopeSet(self.0 & !(1 << scope as u8))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & (1 << scope as u8) != 0
    }

    pub fn union(a: ScopeSet, b: ScopeSet) -> ScopeSet {
        ScopeSet(a.0 | b.0)
    }

    /// The scopes in both.
    pub fn intersection(a: ScopeSet, b: ScopeSet) -> ScopeSet {
        ScopeSet(a.0 & b.0)
    }

    pub fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ScopeSet::parse(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_unknown_scopes_collapse_to_the_known_set() {
        let set = ScopeSet::parse("openid openid email  custom:thing profile");
        assert_eq!(set.to_string(), "openid profile email");
        assert!(set.contains(Scope::Email));
        assert!(!set.contains(Scope::Groups));
        assert!(ScopeSet::parse("openid").is_subset_of(set));
        assert!(!ScopeSet::parse("groups").is_subset_of(set));
    }
}
