//! Invitations and recovery links, as administrative commands: make a user
//! without a password and the link that sets the account up, make a
//! recovery link for a user, list and revoke them.

use super::context::{AdminContext, AdminError, parse};
use super::views::{AdminAnswer, LinkView};
use crate::domain::Username;
use crate::links::LinkError;
use crate::store::{LinkKind, User};

impl From<LinkError> for AdminError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Store(e) => e.into(),
            LinkError::Random(e) => e.into(),
        }
    }
}

/// A new user with no password, and the invitation that lets them choose
/// one (or a passkey): the administrator never knows their password.
pub(super) fn invite(
    ctx: &AdminContext<'_>,
    username: &str,
    email: Option<String>,
    name: Option<String>,
    groups: &[String],
) -> Result<AdminAnswer, AdminError> {
    let now = ctx.clock.now();
    let user = User {
        sub: uuid::Uuid::new_v4(),
        username: parse("username", Username::parse(username))?,
        email: super::context::email(email)?,
        email_verified: false,
        name: name.filter(|n| !n.is_empty()),
        password_hash: String::new(),
        groups: ctx.groups(groups)?,
        disabled: false,
        created_at: now,
        epoch: 0,
        identities: vec![],
    };
    ctx.store.create_user(&user)?;
    let lifetime = ctx.config.lifetimes.invitation;
    let made = crate::links::make(ctx.store, &user, LinkKind::Invitation, now, lifetime, ctx.actor)?;
    Ok(AdminAnswer::NewLink(LinkView::made(&made, &user, ctx.config)))
}

/// A recovery link for an enabled user.
pub(super) fn recovery(ctx: &AdminContext<'_>, username: &str) -> Result<AdminAnswer, AdminError> {
    let user = ctx.user(username)?;
    if user.disabled {
        return Err(AdminError::Invalid(format!("{} is disabled: enable the account first", user.username)));
    }
    let (now, lifetime) = (ctx.clock.now(), ctx.config.lifetimes.recovery_link);
    let made = crate::links::make(ctx.store, &user, LinkKind::Recovery, now, lifetime, ctx.actor)?;
    Ok(AdminAnswer::NewLink(LinkView::made(&made, &user, ctx.config)))
}

pub(super) fn list(ctx: &AdminContext<'_>, username: &str) -> Result<AdminAnswer, AdminError> {
    let user = ctx.user(username)?;
    let now = ctx.clock.now();
    let links = ctx.store.links_of(&user.sub)?;
    Ok(AdminAnswer::Links(links.iter().map(|l| LinkView::of(l, Some(&user), now)).collect()))
}

pub(super) fn revoke(ctx: &AdminContext<'_>, id: &str) -> Result<AdminAnswer, AdminError> {
    match ctx.store.revoke_link(id)? {
        Some(link) => {
            let owner = ctx.store.user_by_sub(&link.sub)?;
            let view = LinkView::of(&link, owner.as_ref(), ctx.clock.now());
            Ok(AdminAnswer::Links(vec![view]))
        }
        None => Err(AdminError::NotFound(format!("no link with id {id}"))),
    }
}
