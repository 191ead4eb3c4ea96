//! Accounts at sign-in sources linked to ferrid users: the index
//! (`Tree::Identities`, source and subject → user) and the user's own list
//! change together, in one batch that expects both as read, so an
//! identity is linked to one user at most, and a user has one identity
//! per source at most.

use super::backend::{Op, Tree};
use super::{LinkedIdentity, Result, Store, StoreError, User, encode};

/// What `link_identity` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Linked {
    Linked,
    /// The identity is linked to another user (or to this one already).
    Taken,
    /// The user has an identity at this source already.
    SourceInUse,
    /// The user is gone.
    NoUser,
}

fn identity_key(source: &str, subject: &str) -> Vec<u8> {
    format!("{source}\0{subject}").into_bytes()
}

impl Store {
    /// The user `subject` at `source` is linked to.
    pub fn user_by_identity(&self, source: &str, subject: &str) -> Result<Option<User>> {
        match self.kv.get(Tree::Identities, &identity_key(source, subject))? {
            Some(sub) => {
                let sub = uuid::Uuid::from_slice(&sub).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                self.user_by_sub(&sub)
            }
            None => Ok(None),
        }
    }

    /// Links `identity` to the user `sub`, durably.
    pub fn link_identity(&self, sub: &uuid::Uuid, identity: LinkedIdentity) -> Result<Linked> {
        let key = identity_key(&identity.source, &identity.subject);
        let user_key = sub.as_bytes().to_vec();
        loop {
            if self.kv.get(Tree::Identities, &key)?.is_some() {
                return Ok(Linked::Taken);
            }
            let Some(current) = self.get_stored::<User>(Tree::Users, &user_key)? else { return Ok(Linked::NoUser) };
            if current.identities.iter().any(|i| i.source == identity.source) {
                return Ok(Linked::SourceInUse);
            }
            let mut next = current.record.clone();
            next.identities.push(identity.clone());
            let ops = vec![
                Op::Expect(Tree::Identities, key.clone(), None),
                Op::Expect(Tree::Users, user_key.clone(), Some(current.raw.clone())),
                Op::Put(Tree::Identities, key.clone(), user_key.clone()),
                Op::Put(Tree::Users, user_key.clone(), encode(&next)),
            ];
            if self.kv.apply(ops)? {
                self.kv.make_durable()?;
                return Ok(Linked::Linked);
            }
        }
    }

    /// Makes `user` (as `create_user`) with `identity` linked to it, in one
    /// batch: AlreadyExists if the name is taken or the identity linked.
    pub fn create_user_with_identity(&self, user: &User, identity: LinkedIdentity) -> Result<()> {
        let key = identity_key(&identity.source, &identity.subject);
        let mut user = user.clone();
        user.identities = vec![identity];
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::Identities, key.clone(), None),
            Op::Expect(Tree::Usernames, user.username.as_str().into(), None),
            Op::Put(Tree::Identities, key, user.sub.as_bytes().to_vec()),
            Op::Put(Tree::Usernames, user.username.as_str().into(), user.sub.as_bytes().to_vec()),
            Op::Put(Tree::Users, user.sub.as_bytes().to_vec(), encode(&user)),
        ])?;
        if !ok {
            return Err(StoreError::AlreadyExists(format!("user {} or its identity", user.username)));
        }
        self.kv.make_durable()?;
        Ok(())
    }

    /// Unlinks the user's identity at `source`, durably, unless `keep`
    /// says the user (as it would be after) must keep it. False when there
    /// was none, or `keep` refused.
    pub fn unlink_identity(&self, sub: &uuid::Uuid, source: &str, keep: impl Fn(&User) -> bool) -> Result<bool> {
        let user_key = sub.as_bytes().to_vec();
        loop {
            let Some(current) = self.get_stored::<User>(Tree::Users, &user_key)? else { return Ok(false) };
            let Some(identity) = current.identities.iter().find(|i| i.source == source).cloned() else {
                return Ok(false);
            };
            let mut next = current.record.clone();
            next.identities.retain(|i| i.source != source);
            if keep(&next) {
                return Ok(false);
            }
            let ops = vec![
                Op::Expect(Tree::Users, user_key.clone(), Some(current.raw.clone())),
                Op::Remove(Tree::Identities, identity_key(&identity.source, &identity.subject)),
                Op::Put(Tree::Users, user_key.clone(), encode(&next)),
            ];
            if self.kv.apply(ops)? {
                self.kv.make_durable()?;
                return Ok(true);
            }
        }
    }

    /// The removals that go with deleting `user` (see `delete_user`).
    pub(super) fn identity_removals(user: &User) -> impl Iterator<Item = Op> + '_ {
        user.identities.iter().map(|i| Op::Remove(Tree::Identities, identity_key(&i.source, &i.subject)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(source: &str, subject: &str) -> LinkedIdentity {
        LinkedIdentity { source: source.into(), subject: subject.into(), login: subject.into(), linked_at: 1 }
    }

    #[test]
    fn an_identity_links_to_one_user_and_a_user_to_one_identity_per_source() {
        let (_dir, store) = crate::store::testing::temp_store();
        let alice = User::for_test("alice", String::new());
        let bob = User::for_test("bob", String::new());
        store.create_user(&alice).unwrap();
        store.create_user(&bob).unwrap();
        assert_eq!(store.link_identity(&alice.sub, identity("gh", "1")).unwrap(), Linked::Linked);
        assert_eq!(store.link_identity(&bob.sub, identity("gh", "1")).unwrap(), Linked::Taken);
        assert_eq!(store.link_identity(&alice.sub, identity("gh", "2")).unwrap(), Linked::SourceInUse);
        assert_eq!(store.link_identity(&alice.sub, identity("corp", "1")).unwrap(), Linked::Linked);
        assert_eq!(store.user_by_identity("gh", "1").unwrap().unwrap().sub, alice.sub);
        assert!(store.user_by_identity("gh", "2").unwrap().is_none());

        assert!(!store.unlink_identity(&alice.sub, "gh", |_| true).unwrap(), "kept when asked to");
        assert!(store.unlink_identity(&alice.sub, "gh", |_| false).unwrap());
        assert!(store.user_by_identity("gh", "1").unwrap().is_none());
        assert_eq!(store.link_identity(&bob.sub, identity("gh", "1")).unwrap(), Linked::Linked, "free again");

        let carol = User::for_test("carol", String::new());
        assert!(store.create_user_with_identity(&carol, identity("gh", "1")).is_err(), "bob's");
        assert!(store.user_by_name(&carol.username).unwrap().is_none(), "nothing made");
        store.create_user_with_identity(&carol, identity("gh", "3")).unwrap();
        assert_eq!(store.user_by_identity("gh", "3").unwrap().unwrap().identities.len(), 1);
        let carol = store.user_by_sub(&carol.sub).unwrap().unwrap();
        store.delete_user(&carol).unwrap();
        assert!(store.user_by_identity("gh", "3").unwrap().is_none(), "deleted with the user");
    }
}
