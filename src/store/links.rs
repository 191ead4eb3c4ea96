//! One-time links: an invitation (set up a new account) or a recovery link
//! (get back into an existing one). Stored by the digest of the link's
//! secret, never the secret; a public id indexes them for listing and
//! revoking. Using one is a compare-and-swap, so it works once.

use super::backend::{Op, Tree};
use super::{Result, Store, StoreError, Stored, User, encode};
use crate::crypto::secrets::Digest;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Sets up an account an administrator made: a password or a passkey.
    Invitation,
    /// Signs an existing user in, for a short while, to set a new password
    /// or register a new passkey.
    Recovery,
    /// Proves the user reads mail at `Link::email` (sent there): using it
    /// marks that address verified.
    EmailCheck,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Link {
    /// Public handle (not secret): what the console lists and revokes.
    pub id: String,
    pub kind: LinkKind,
    pub sub: Uuid,
    pub created_at: i64,
    pub expires_at: i64,
    /// Who made it ("root (console)", "command line").
    pub created_by: String,
    pub used_at: Option<i64>,
    /// For an `EmailCheck`: the address it was sent to.
    #[serde(default)]
    pub email: Option<String>,
    /// The user's epoch when it was made (`User::epoch`): a new password,
    /// a disable or a used recovery link raises it, and the link is over
    /// for good (re-enabling does not bring it back), as sessions are.
    #[serde(default)]
    pub epoch: u32,
}

impl Link {
    /// Neither used nor expired.
    pub fn is_open(&self, now: i64) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

impl Store {
    /// Durable before it returns: the link is handed out next.
    pub fn create_link(&self, secret: &Digest, link: &Link) -> Result<()> {
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::LinkIds, link.id.as_bytes().to_vec(), None),
            Op::Put(Tree::LinkIds, link.id.as_bytes().to_vec(), secret.as_bytes().to_vec()),
            Op::Put(Tree::Links, secret.as_bytes().to_vec(), encode(link)),
        ])?;
        if !ok {
            return Err(StoreError::AlreadyExists(format!("link id {}", link.id)));
        }
        self.kv.make_durable()?;
        Ok(())
    }

    pub fn link(&self, secret: &Digest) -> Result<Option<Stored<Link>>> {
        self.get_stored(Tree::Links, secret.as_bytes())
    }

    /// Marks the link used, if it is still as `seen` (unused) and its user
    /// as `user` was (not disabled, nor given a new password meanwhile),
    /// and in the same step writes `next` as the user's record, if given:
    /// true for the one caller that wins. Durable before it returns.
    pub fn use_link(
        &self,
        secret: &Digest,
        seen: &Stored<Link>,
        user: &Stored<User>,
        next: Option<&User>,
        now: i64,
    ) -> Result<bool> {
        let mut used = seen.record.clone();
        used.used_at = Some(now);
        let key = secret.as_bytes().to_vec();
        let user_key = user.sub.as_bytes().to_vec();
        let mut ops = vec![
            Op::Expect(Tree::Links, key.clone(), Some(seen.raw.clone())),
            Op::Expect(Tree::Users, user_key.clone(), Some(user.raw.clone())),
            Op::Put(Tree::Links, key, encode(&used)),
        ];
        if let Some(next) = next.filter(|n| n.sub == user.sub) {
            ops.push(Op::Put(Tree::Users, user_key, encode(next)));
        }
        let won = self.kv.apply(ops)?;
        if won {
            self.kv.make_durable()?;
        }
        Ok(won)
    }

    /// Every link of `sub`, newest first.
    pub fn links_of(&self, sub: &Uuid) -> Result<Vec<Link>> {
        let mut found: Vec<Link> = Vec::new();
        for (_, raw) in self.kv.scan(Tree::Links)? {
            let link: Link = super::decode(&raw)?;
            if link.sub == *sub {
                found.push(link);
            }
        }
        found.sort_by_key(|link| std::cmp::Reverse(link.created_at));
        Ok(found)
    }

    /// A user's record as read, for `use_link` to expect.
    pub fn user_as_read(&self, sub: &Uuid) -> Result<Option<Stored<User>>> {
        self.get_stored(Tree::Users, sub.as_bytes())
    }

    /// Removes a link by its id; None if there is none.
    pub fn revoke_link(&self, id: &str) -> Result<Option<Link>> {
        let Some(digest) = self.kv.get(Tree::LinkIds, id.as_bytes())? else { return Ok(None) };
        let link = self.get::<Link>(Tree::Links, &digest)?;
        self.kv.apply(vec![Op::Remove(Tree::LinkIds, id.as_bytes().to_vec()), Op::Remove(Tree::Links, digest)])?;
        self.kv.make_durable()?;
        Ok(link)
    }

    /// Writes `user`, whose address changed, and in the same step removes
    /// the address checks sent to them: a check is for the address they
    /// had when it went out, while they keep it (changing back to it does
    /// not revive one). Durable before it returns.
    pub fn update_user_ending_checks(&self, user: &User) -> Result<()> {
        let mut ops = self.remove_links_ops(&user.sub, Some(LinkKind::EmailCheck))?;
        ops.push(Op::Put(Tree::Users, user.sub.as_bytes().to_vec(), encode(user)));
        self.kv.apply(ops)?;
        self.kv.make_durable()?;
        Ok(())
    }

    /// The batch that removes every link of `sub` (with the user), or
    /// those of `kind`.
    pub(super) fn remove_links_ops(&self, sub: &Uuid, kind: Option<LinkKind>) -> Result<Vec<Op>> {
        let mut ops = Vec::new();
        for (key, raw) in self.kv.scan(Tree::Links)? {
            let link: Link = super::decode(&raw)?;
            if link.sub == *sub && kind.is_none_or(|k| k == link.kind) {
                ops.push(Op::Remove(Tree::LinkIds, link.id.as_bytes().to_vec()));
                ops.push(Op::Remove(Tree::Links, key));
            }
        }
        Ok(ops)
    }
}
