//! What every command runs with and may fail with: the context (store,
//! config, clock, who acts), its look-ups, and `AdminError`. Shared by
//! `commands`, `catalog` and `guard`, so that none of them has to import
//! another for it.

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{GroupName, Slug, Username};
use crate::keys::KeyError;
use crate::store::{Application, Store, StoreError, User};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    KeyStore(#[from] crate::keystore::KeyStoreError),
    #[error(transparent)]
    Random(#[from] crate::crypto::secrets::RandomError),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
}

impl From<crate::pat::PatError> for AdminError {
    fn from(e: crate::pat::PatError) -> Self {
        use crate::pat::PatError;
        match e {
            PatError::Lifetime => AdminError::Invalid("--expires must be between 1m and 400d".into()),
            PatError::NotAllowed { .. } => AdminError::Invalid(e.to_string()),
            PatError::Store(e) => e.into(),
            PatError::Random(e) => e.into(),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => AdminError::Conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => AdminError::NotFound(format!("{what} does not exist")),
            other => AdminError::Store(other),
        }
    }
}

/// What changed, so a running server can republish its snapshot.
pub enum Change {
    Apps,
    Keys,
}

pub struct AdminContext<'a> {
    pub store: &'a Store,
    pub config: &'a Config,
    pub clock: &'a Clock,
    pub on_change: &'a dyn Fn(Change) -> Result<(), String>,
    /// Who acts, for the audit trail: "command line", or "NAME (console)".
    pub actor: &'a str,
}

pub(super) fn parse<T>(what: &str, result: Result<T, crate::domain::ParseError>) -> Result<T, AdminError> {
    result.map_err(|e| AdminError::Invalid(format!("{what}: {e}")))
}

/// An address as typed (trimmed; empty: none), if mail could go to it and
/// to it alone (`mail::is_address`): the `email` claim and the mailbox a
/// link goes to are then the same one.
pub(super) fn email(typed: Option<String>) -> Result<Option<String>, AdminError> {
    let Some(typed) = typed else { return Ok(None) };
    let email = typed.trim();
    if email.is_empty() {
        return Ok(None);
    }
    if !crate::mail::is_address(email) {
        return Err(AdminError::Invalid(format!("{email:?} is not an email address (give one, like alice@home.lan)")));
    }
    Ok(Some(email.to_owned()))
}

impl AdminContext<'_> {
    pub(super) fn user(&self, username: &str) -> Result<User, AdminError> {
        let name = parse("username", Username::parse(username))?;
        self.store.user_by_name(&name)?.ok_or_else(|| AdminError::NotFound(format!("no user named {name}")))
    }

    pub(super) fn groups(&self, raw: &[String]) -> Result<Vec<GroupName>, AdminError> {
        let mut groups = Vec::new();
        for g in raw.iter().flat_map(|g| g.split(',')).map(str::trim).filter(|g| !g.is_empty()) {
            let group = parse("group", GroupName::parse(g))?;
            if !self.store.group_exists(&group)? {
                return Err(AdminError::NotFound(format!(
                    "no group named {group}; declare it under `groups:` in config.yaml, or ferrid group add {group}"
                )));
            }
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        Ok(groups)
    }

    pub(super) fn group(&self, name: &GroupName) -> Result<crate::store::Group, AdminError> {
        self.store.group(name)?.ok_or_else(|| AdminError::NotFound(format!("no group named {name}")))
    }

    pub(super) fn keys(&self) -> Result<crate::keystore::KeyStore<'_>, AdminError> {
        Ok(crate::keystore::KeyStore::of(self.config, self.store)?)
    }

    pub(super) fn app(&self, slug: &str) -> Result<Application, AdminError> {
        let slug = parse("slug", Slug::parse(slug))?;
        self.store.app(&slug)?.ok_or_else(|| AdminError::NotFound(format!("no application with slug {slug}")))
    }

    pub(super) fn sessions(&self) -> crate::sessions::Sessions<'_> {
        crate::sessions::Sessions { store: self.store, clock: self.clock, lifetime: self.config.lifetimes.session }
    }

    /// Publishes a change: here at once, at other instances on the same
    /// database when they next look at the catalog stamp.
    pub(super) fn changed(&self, change: Change) -> Result<(), AdminError> {
        self.store.touch_catalog()?;
        (self.on_change)(change)
            .map_err(|e| AdminError::Invalid(format!("saved, but the server could not reload: {e}")))
    }
}
