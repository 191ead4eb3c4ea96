//! Changes to users, groups and applications that reach into other records,
//! each made in one atomic, durable write: removing a user takes their
//! remembered consents and second factors with them; renaming a group
//! rewrites its members and the applications that name it; removing an
//! application takes back what it was given, so an application made later
//! with the same client id inherits nothing.

use super::backend::{Channel, Op, Tree};
use super::factors::factor_key;
use super::sessions::consent_key;
use super::{Application, Consent, Group, RefreshFamily, Result, Store, StoreError, User, decode, encode};
use crate::domain::GroupName;

/// Keeps `Store::on_catalog_change` listening until dropped.
pub struct Listening(#[allow(dead_code)] Box<dyn Send>);

/// What removing an application took back.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AppRemoval {
    pub consents: usize,
    pub refresh_families: usize,
    pub tokens: usize,
}

/// The Meta key whose value changes with every administrative change to
/// what servers publish (applications, keys): other instances on the same
/// database look at it when told of a change (`on_catalog_change`) and
/// every second, and rebuild their snapshot when it moved.
pub(super) const CATALOG_STAMP: &[u8] = b"catalog_stamp";

impl Store {
    /// Marks the published catalog as changed, durably, after the change
    /// itself was written, and tells the other instances listening (on
    /// PostgreSQL, a NOTIFY in the stamp's transaction: it reaches them
    /// when, and only if, the new stamp is committed).
    pub fn touch_catalog(&self) -> Result<()> {
        self.kv.apply(vec![
            Op::Put(Tree::Meta, CATALOG_STAMP.to_vec(), uuid::Uuid::new_v4().as_bytes().to_vec()),
            Op::Announce(Channel::Catalog),
        ])?;
        self.kv.make_durable()?;
        Ok(())
    }

    /// Calls `heard` (on a thread of the store's: it should only wake
    /// something up) whenever a process on this database touches the
    /// catalog (this one too), and whenever listening (re)starts, until
    /// the returned guard is dropped. None when this store cannot tell
    /// (sled: no other process shares it). Polling `catalog_stamp` stays
    /// the fallback either way: for notices lost with a connection, or
    /// never passed on by a pooler.
    pub fn on_catalog_change(&self, heard: impl Fn() + Send + Sync + 'static) -> Option<Listening> {
        self.kv.listen(Channel::Catalog, Box::new(heard)).map(Listening)
    }

    /// The catalog's current stamp (None before the first change).
    pub fn catalog_stamp(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.kv.get(Tree::Meta, CATALOG_STAMP)?)
    }

    /// Removes the user, their name, remembered consents and second
    /// factors, durably.
    /// Their tokens stop working: every use looks the user up.
    pub fn delete_user(&self, user: &User) -> Result<()> {
        let mut ops = vec![
            Op::Remove(Tree::Users, user.sub.as_bytes().to_vec()),
            Op::Remove(Tree::Usernames, user.username.as_str().as_bytes().to_vec()),
        ];
        for consent in self.consents_of(&user.sub)? {
            ops.push(Op::Remove(Tree::Consents, consent_key(&user.sub, &consent.client_id)));
        }
        for factor in self.factors_of(&user.sub)? {
            ops.push(Op::Remove(Tree::Factors, factor_key(&user.sub, &factor.id)));
        }
        ops.extend(self.remove_links_ops(&user.sub, None)?);
        ops.extend(Store::identity_removals(user));
        self.kv.apply(ops)?;
        self.kv.make_durable()?;
        Ok(())
    }

    /// Renames a group made at run time. Returns how many users and
    /// applications were rewritten.
    pub fn rename_group(&self, old: &GroupName, new: &GroupName) -> Result<(usize, usize)> {
        let old_key = old.as_str().as_bytes().to_vec();
        let new_key = new.as_str().as_bytes().to_vec();
        let Some(mut group): Option<Group> = self.get(Tree::Groups, &old_key)? else {
            return Err(StoreError::NotFound(format!("group {old}")));
        };
        group.name = new.clone();
        let mut ops = vec![
            Op::Expect(Tree::Groups, new_key.clone(), None),
            Op::Remove(Tree::Groups, old_key),
            Op::Put(Tree::Groups, new_key, encode(&group)),
        ];
        let rename = |g: &mut GroupName| {
            if g == old {
                *g = new.clone();
            }
        };
        let mut users = 0;
        for mut user in self.all::<User>(Tree::Users)? {
            if user.groups.contains(old) {
                user.groups.iter_mut().for_each(rename);
                ops.push(Op::Put(Tree::Users, user.sub.as_bytes().to_vec(), encode(&user)));
                users += 1;
            }
        }
        let mut apps = 0;
        for mut app in self.all::<Application>(Tree::Apps)? {
            let named = app.access.allowed_groups.contains(old)
                || app.claims.iter().any(|c| c.from_groups.iter().any(|(g, _)| g == old));
            if named {
                app.access.allowed_groups.iter_mut().for_each(rename);
                for claim in &mut app.claims {
                    claim.from_groups.iter_mut().for_each(|(g, _)| rename(g));
                }
                ops.push(Op::Put(Tree::Apps, app.slug.as_str().as_bytes().to_vec(), encode(&app)));
                apps += 1;
            }
        }
        if !self.kv.apply(ops)? {
            return Err(StoreError::AlreadyExists(format!("group {new}")));
        }
        self.kv.make_durable()?;
        Ok((users, apps))
    }

    /// Removes the application; its consents go, its refresh families and
    /// personal access tokens are revoked (and stay listed as revoked).
    pub fn delete_app(&self, app: &Application) -> Result<AppRemoval> {
        let mut removal = AppRemoval::default();
        let mut ops = vec![
            Op::Remove(Tree::Apps, app.slug.as_str().as_bytes().to_vec()),
            Op::Remove(Tree::ClientIds, app.client_id.as_str().as_bytes().to_vec()),
        ];
        for (key, value) in self.kv.scan(Tree::Consents)? {
            let consent: Consent = decode(&value)?;
            if consent.client_id == app.client_id {
                ops.push(Op::Remove(Tree::Consents, key));
                removal.consents += 1;
            }
        }
        for (key, value) in self.kv.scan(Tree::Families)? {
            let mut family: RefreshFamily = decode(&value)?;
            if family.client_id == app.client_id && !family.revoked {
                family.revoked = true;
                family.current = None;
                ops.push(Op::Put(Tree::Families, key, encode(&family)));
                removal.refresh_families += 1;
            }
        }
        for (key, value) in self.kv.scan(Tree::Pats)? {
            let mut pat: super::Pat = decode(&value)?;
            if pat.client_id == app.client_id && !pat.revoked {
                pat.revoked = true;
                ops.push(Op::Put(Tree::Pats, key, encode(&pat)));
                removal.tokens += 1;
            }
        }
        self.kv.apply(ops)?;
        self.kv.make_durable()?;
        Ok(removal)
    }
}
