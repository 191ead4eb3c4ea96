//! Which ferrid user an account at a source is: the one it is linked to;
//! on a first sign-in, the user with the same address where the operator
//! allows linking by address and both sides verified it; else a new user
//! where the source makes them; else nobody, with the reason to show.
//! Then the groups the source maps follow the provider's.

use super::upstream::UpstreamAccount;
use crate::config::SourceDecl;
use crate::domain::{GroupName, Username};
use crate::store::{Linked, LinkedIdentity, Store, StoreError, User};

/// Why a sign-in through a source has no ferrid user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not linked, and this source neither links by address nor makes users.
    NotLinked,
    /// Linking by address is allowed, but the provider does not say the
    /// address is verified (or gives none).
    AddressNotVerified,
    /// The account with this address is linked to another account at
    /// this source already.
    AddressTaken,
    /// A user would be made, but the provider gives no usable name.
    NoUsableName,
}

impl Refusal {
    /// What the refusal page says, with `source` the source's name.
    pub fn explain(self, source: &str) -> String {
        match self {
            Refusal::NotLinked => format!(
                "No ferrid account is linked to this {source} account. Sign in with your password and link \
                 {source} on your account page, or ask your ferrid administrator."
            ),
            Refusal::AddressNotVerified => format!(
                "No ferrid account is linked to this {source} account, and {source} does not say its e-mail \
                 address is verified, so it cannot be matched to one. Verify the address at {source}, or sign \
                 in with your password and link {source} on your account page."
            ),
            Refusal::AddressTaken => format!(
                "The ferrid account with this e-mail address is linked to another {source} account already. \
                 Sign in with that one, or ask your ferrid administrator."
            ),
            Refusal::NoUsableName => format!(
                "{source} gives this account no name ferrid can use for a new account. Ask your ferrid \
                 administrator to make one."
            ),
        }
    }
}

pub enum Resolved {
    /// The user (maybe disabled: the caller says so, as after a password).
    User {
        user: User,
        how: How,
    },
    Refused(Refusal),
}

/// How the user was found, for the audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Linked,
    LinkedByAddress,
    Created,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Linked => "linked",
            How::LinkedByAddress => "linked by verified address",
            How::Created => "account made",
        }
    }
}

pub fn resolve(
    store: &Store,
    source: &SourceDecl,
    account: &UpstreamAccount,
    now: i64,
) -> Result<Resolved, StoreError> {
    let slug = source.slug.as_str();
    let identity = || LinkedIdentity {
        source: slug.to_owned(),
        subject: account.subject.clone(),
        login: account.login.clone().unwrap_or_else(|| account.subject.clone()),
        linked_at: now,
    };
    if let Some(user) = store.user_by_identity(slug, &account.subject)? {
        return Ok(Resolved::User { user: follow_groups(store, source, account, user)?, how: How::Linked });
    }
    if source.link_by_email {
        match (&account.email, account.email_verified) {
            (Some(address), true) => {
                if let Some(user) = only_user_with_address(store, address)? {
                    if user.disabled {
                        // Refused as disabled by the caller; not linked meanwhile.
                        return Ok(Resolved::User { user, how: How::Linked });
                    }
                    return match store.link_identity(&user.sub, identity())? {
                        Linked::Linked => {
                            let user = store.user_by_sub(&user.sub)?.unwrap_or(user);
                            let user = follow_groups(store, source, account, user)?;
                            Ok(Resolved::User { user, how: How::LinkedByAddress })
                        }
                        // Linked meanwhile, by a sign-in racing this one.
                        Linked::Taken => match store.user_by_identity(slug, &account.subject)? {
                            Some(user) => Ok(Resolved::User { user, how: How::Linked }),
                            None => Ok(Resolved::Refused(Refusal::NotLinked)),
                        },
                        Linked::SourceInUse => Ok(Resolved::Refused(Refusal::AddressTaken)),
                        Linked::NoUser => Ok(Resolved::Refused(Refusal::NotLinked)),
                    };
                }
            }
            _ if !source.create_users => return Ok(Resolved::Refused(Refusal::AddressNotVerified)),
            _ => {}
        }
    }
    if !source.create_users {
        return Ok(Resolved::Refused(Refusal::NotLinked));
    }
    create(store, source, account, identity(), now)
}

/// The one user whose address is `address` and verified on ferrid's side
/// too (an address nobody confirmed may be anyone's). Several: none.
fn only_user_with_address(store: &Store, address: &str) -> Result<Option<User>, StoreError> {
    let mut found = store
        .users()?
        .into_iter()
        .filter(|u| u.email_verified && u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(address)));
    match (found.next(), found.next()) {
        (Some(user), None) => Ok(Some(user)),
        _ => Ok(None),
    }
}

/// Makes the user, named as the provider names them; if the name is
/// taken, with the source's slug after it (`alice-github`, then
/// `alice-github-2`…). The address comes along if the provider says it
/// is verified, unless another account has it.
fn create(
    store: &Store,
    source: &SourceDecl,
    account: &UpstreamAccount,
    identity: LinkedIdentity,
    now: i64,
) -> Result<Resolved, StoreError> {
    let Some(login) = account.login.as_deref().map(|l| l.to_ascii_lowercase()) else {
        return Ok(Resolved::Refused(Refusal::NoUsableName));
    };
    let slug = source.slug.as_str();
    let candidates = std::iter::once(login.clone())
        .chain(std::iter::once(format!("{login}-{slug}")))
        .chain((2..10).map(|n| format!("{login}-{slug}-{n}")));
    let address_in_use = match &account.email {
        Some(address) => {
            store.users()?.iter().any(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(address)))
        }
        None => true,
    };
    let mut groups = source.default_groups.clone();
    for group in wanted_groups(source, account) {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    for name in candidates {
        let Ok(username) = Username::parse(&name) else { continue };
        let user = User {
            sub: uuid::Uuid::new_v4(),
            username,
            // Only an address the provider verified: ferrid would hand an
            // unverified one on (as verified, to `email_verified: always`
            // applications), and users cannot set their own.
            email: if address_in_use || !account.email_verified { None } else { account.email.clone() },
            email_verified: !address_in_use && account.email_verified,
            name: account.name.clone(),
            password_hash: String::new(),
            groups: groups.clone(),
            disabled: false,
            created_at: now,
            epoch: 0,
            identities: vec![],
        };
        match store.create_user_with_identity(&user, identity.clone()) {
            Ok(()) => {
                let user = store.user_by_sub(&user.sub)?.unwrap_or(user);
                return Ok(Resolved::User { user, how: How::Created });
            }
            Err(StoreError::AlreadyExists(_)) => {
                // The identity linked meanwhile (a racing sign-in), or the name taken.
                if let Some(user) = store.user_by_identity(slug, &account.subject)? {
                    return Ok(Resolved::User { user, how: How::Linked });
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Resolved::Refused(Refusal::NoUsableName))
}

/// The ferrid groups the provider's groups map to.
fn wanted_groups(source: &SourceDecl, account: &UpstreamAccount) -> Vec<GroupName> {
    let mut wanted: Vec<GroupName> = Vec::new();
    for (upstream, ours) in &source.group_map {
        if account.groups.iter().any(|g| g == upstream) && !wanted.contains(ours) {
            wanted.push(ours.clone());
        }
    }
    wanted
}

/// The groups the source maps, set as the provider says; the rest as they were.
fn follow_groups(
    store: &Store,
    source: &SourceDecl,
    account: &UpstreamAccount,
    user: User,
) -> Result<User, StoreError> {
    let wanted = wanted_groups(source, account);
    let mut next = user.clone();
    next.groups.retain(|g| !source.mapped_groups().any(|m| m == g) || wanted.contains(g));
    for group in wanted {
        if !next.groups.contains(&group) {
            next.groups.push(group);
        }
    }
    if next.groups == user.groups {
        return Ok(user);
    }
    store.update_user(&next)?;
    Ok(next)
}
