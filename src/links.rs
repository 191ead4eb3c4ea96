//! One-time links, without HTTP: an administrator makes an invitation (for
//! a user made without a password) or a recovery link (for a user who lost
//! theirs), hands it over by any channel, and the person it names uses it
//! once. The link is a 256-bit secret; the store keeps only its digest.
//! Used by the console, the admin API and CLI (`admin`), and the pages that
//! open a link (`oidc::links`).

use crate::crypto::secrets::{Digest, RandomError, b64url, random_bytes, random_token};
use crate::store::{Link, LinkKind, Store, StoreError, Stored, User};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// A link just made: the secret (shown once) and its record.
pub struct Made {
    pub secret: String,
    pub link: Link,
}

/// Who made the recovery links the forgot page mails (`created_by`; the
/// console lists it).
pub const BY_FORGOT_PAGE: &str = "forgot-password page";

/// May a recovery link the forgot page mails open `user`'s account? Not
/// if they have a second factor: the link's session passes for both
/// factors (it may remove one and set a new password), and a mailbox is
/// one, which whoever reads it holds. Such an account is recovered by an
/// administrator (`ferrid user link`), who knows whom they hand it to.
pub fn mail_may_recover(store: &Store, user: &User) -> Result<bool, StoreError> {
    Ok(!store.factors_of(&user.sub)?.iter().any(|f| f.is_second_factor()))
}

/// Makes a link for `user`, durable before it returns. An `EmailCheck`
/// link is for the address the user has now.
pub fn make(
    store: &Store,
    user: &User,
    kind: LinkKind,
    now: i64,
    lifetime: i64,
    created_by: &str,
) -> Result<Made, LinkError> {
    let secret = random_token()?;
    let link = Link {
        id: format!("link_{}", b64url(&random_bytes::<6>()?)),
        kind,
        sub: user.sub,
        created_at: now,
        expires_at: now + lifetime,
        created_by: created_by.to_owned(),
        used_at: None,
        email: (kind == LinkKind::EmailCheck).then(|| user.email.clone()).flatten(),
        epoch: user.epoch,
    };
    store.create_link(&Digest::of(&secret), &link)?;
    Ok(Made { secret, link })
}

/// A cap on the links mailed to a mailbox: at most `max` in `window`
/// seconds. `mailbox` names what is capped (a user's address checks, the
/// recovery links to one address whichever of its accounts is asked for).
pub struct Cap<'a> {
    pub max: usize,
    pub window: i64,
    pub mailbox: &'a str,
}

/// As `make`, within `cap`: None (and nothing made) if the cap is reached.
/// A place is taken first, as a compare-and-swap in the store, so a burst
/// of requests (on one instance or several) makes exactly the links that
/// were left: never more, and never none while one is left.
pub fn make_capped(
    store: &Store,
    user: &User,
    kind: LinkKind,
    now: i64,
    lifetime: i64,
    created_by: &str,
    cap: Cap<'_>,
) -> Result<Option<Made>, LinkError> {
    if !store.take_mail_place(cap.mailbox, now, cap.window, cap.max)? {
        return Ok(None);
    }
    Ok(Some(make(store, user, kind, now, lifetime, created_by)?))
}

/// Where a link of `kind` with `secret` is opened, on `public_url`.
pub fn path(kind: LinkKind, secret: &str) -> String {
    let base = match kind {
        LinkKind::Invitation => crate::paths::SETUP,
        LinkKind::Recovery => crate::paths::RECOVER,
        LinkKind::EmailCheck => crate::paths::VERIFY_EMAIL,
    };
    base.replace("{secret}", secret)
}

/// What opening a link finds. Every way a link can fail (unknown, used,
/// expired, revoked, of the other kind, for a disabled or deleted user,
/// made before the user's password changed or they were disabled) is one
/// answer: a person holding a dead link can do nothing with why.
pub enum Opened {
    Open(Box<OpenLink>),
    Closed,
}

pub struct OpenLink {
    pub link: Stored<Link>,
    /// As read: using the link expects it unchanged.
    pub user: Stored<User>,
}

/// Looks the link up, without using it.
pub fn open(store: &Store, secret: &str, kind: LinkKind, now: i64) -> Result<Opened, LinkError> {
    // Anything that is not a secret ferrid could have made is no link.
    if secret.len() != 43 || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Ok(Opened::Closed);
    }
    let Some(link) = store.link(&Digest::of(secret))? else { return Ok(Opened::Closed) };
    if link.kind != kind || !link.is_open(now) {
        return Ok(Opened::Closed);
    }
    // A link is of the epoch it was made in, as sessions are: a new
    // password or a disable since ends it for good. An address check is
    // for the address it went to, if still the user's. A mailed recovery
    // link is for an account without a second factor.
    match store.user_as_read(&link.sub)? {
        Some(user) if kind == LinkKind::EmailCheck && user.email != link.email => Ok(Opened::Closed),
        // A second factor added since the forgot page mailed it.
        Some(user) if link.created_by == BY_FORGOT_PAGE && !mail_may_recover(store, &user)? => Ok(Opened::Closed),
        Some(user) if !user.disabled && user.epoch == link.epoch => Ok(Opened::Open(Box::new(OpenLink { link, user }))),
        _ => Ok(Opened::Closed),
    }
}

/// Uses the link found by `open`, if neither it nor its user changed
/// since (an administrator disabling the account meanwhile wins), and
/// writes `next` as the user's record in the same step: true for the one
/// request that wins.
pub fn redeem(store: &Store, secret: &str, open: &OpenLink, next: Option<&User>, now: i64) -> Result<bool, LinkError> {
    Ok(store.use_link(&Digest::of(secret), &open.link, &open.user, next, now)?)
}

/// The mail that carries a link to `user` (plain text, no tracking, no
/// HTML: it reads the same in every client). None if they have no address.
pub fn mail(user: &User, kind: LinkKind, url: &str, site: &str) -> Option<crate::mail::Mail> {
    let to = user.email.as_deref()?;
    Some(mail_to(to, user.username.as_str(), user.name.as_deref(), kind, url, site))
}

/// The same, to `to`, for the user named `username` (`name`, if known).
pub fn mail_to(
    to: &str,
    username: &str,
    name: Option<&str>,
    kind: LinkKind,
    url: &str,
    site: &str,
) -> crate::mail::Mail {
    let to = to.to_owned();
    let name = name.unwrap_or(username).to_owned();
    let (subject, what) = match kind {
        LinkKind::Invitation => (
            format!("You are invited to sign in at {site}"),
            format!(
                "You were invited to sign in at {site} as {}. Open this link to choose a password or a passkey; \
                 it works once, within a day:",
                username
            ),
        ),
        LinkKind::Recovery => (
            format!("Your sign-in link for {site}"),
            format!(
                "Someone, hopefully you, asked to get back into the account {} at {site}. This link signs you in \
                 once, within the hour, to set a new password or add a passkey; it signs you out everywhere else:",
                username
            ),
        ),
        LinkKind::EmailCheck => (
            format!("Confirm your address for {site}"),
            format!(
                "Open this link to confirm that {to} is the address of the account {} at {site}; it works once, \
                 within a day:",
                username
            ),
        ),
    };
    let body = format!(
        "Hello {name},\n\n{what}\n\n{url}\n\nIf you did not expect this mail, ignore it: nothing changes until the \
         link is used.\n\n-- ferrid at {site}\n"
    );
    crate::mail::Mail { to, subject, body }
}
