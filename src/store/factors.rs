//! Second factors (TOTP seeds, sealed; recovery codes, as digests), keyed
//! by the user then the factor. Every change is durable before the answer:
//! a used code must stay used after a crash, or it could be used again.

use super::backend::{Op, Tree};
use super::{Factor, Result, Store, Stored, User, encode};
use uuid::Uuid;

pub(super) fn factor_key(sub: &Uuid, id: &str) -> Vec<u8> {
    let mut key = sub.as_bytes().to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

impl Store {
    pub fn put_factor(&self, factor: &Factor) -> Result<()> {
        self.kv.put(Tree::Factors, &factor_key(&factor.sub, &factor.id), &encode(factor))?;
        self.kv.make_durable()?;
        Ok(())
    }

    pub fn factor(&self, sub: &Uuid, id: &str) -> Result<Option<Stored<Factor>>> {
        self.get_stored(Tree::Factors, &factor_key(sub, id))
    }

    pub fn factors_of(&self, sub: &Uuid) -> Result<Vec<Stored<Factor>>> {
        let prefix = sub.as_bytes();
        self.kv
            .scan_from(Tree::Factors, prefix)?
            .into_iter()
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, value)| super::decode_stored(value))
            .collect()
    }

    /// Every user's factors.
    pub fn all_factors(&self) -> Result<Vec<Stored<Factor>>> {
        self.kv.scan(Tree::Factors)?.into_iter().map(|(_, value)| super::decode_stored(value)).collect()
    }

    /// Replaces `seen` with `next` unless it changed since it was read (a
    /// code used twice at once: one of the two loses). Durable.
    pub fn replace_factor(&self, seen: &Stored<Factor>, next: &Factor) -> Result<bool> {
        let key = factor_key(&seen.sub, &seen.id);
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::Factors, key.clone(), Some(seen.raw.clone())),
            Op::Put(Tree::Factors, key, encode(next)),
        ])?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }

    /// False if there was none.
    pub fn delete_factor(&self, sub: &Uuid, id: &str) -> Result<bool> {
        let removed = self.kv.remove(Tree::Factors, &factor_key(sub, id))?.is_some();
        if removed {
            self.kv.make_durable()?;
        }
        Ok(removed)
    }

    /// Removes the factor `seen` if it, its user (as `user` was read) and
    /// `keeps` (another factor that stays) are all unchanged: false if any
    /// changed meanwhile. One step, so a check of what is left (a way in)
    /// holds when it is removed. Durable.
    pub fn delete_factor_if_unchanged(
        &self,
        user: &Stored<User>,
        seen: &Stored<Factor>,
        keeps: Option<&Stored<Factor>>,
    ) -> Result<bool> {
        let key = factor_key(&seen.sub, &seen.id);
        let mut ops = vec![
            Op::Expect(Tree::Users, user.sub.as_bytes().to_vec(), Some(user.raw.clone())),
            Op::Expect(Tree::Factors, key.clone(), Some(seen.raw.clone())),
        ];
        if let Some(keeps) = keeps {
            ops.push(Op::Expect(Tree::Factors, factor_key(&keeps.sub, &keeps.id), Some(keeps.raw.clone())));
        }
        ops.push(Op::Remove(Tree::Factors, key));
        let removed = self.kv.apply(ops)?;
        if removed {
            self.kv.make_durable()?;
        }
        Ok(removed)
    }

    /// Writes `next` over the user as `seen` was read if `keeps` (their
    /// factor that stays) is unchanged too: false if either changed
    /// meanwhile. Durable.
    pub fn replace_user_keeping(&self, seen: &Stored<User>, next: &User, keeps: &Stored<Factor>) -> Result<bool> {
        let key = seen.sub.as_bytes().to_vec();
        let written = self.kv.apply(vec![
            Op::Expect(Tree::Users, key.clone(), Some(seen.raw.clone())),
            Op::Expect(Tree::Factors, factor_key(&keeps.sub, &keeps.id), Some(keeps.raw.clone())),
            Op::Put(Tree::Users, key, encode(next)),
        ])?;
        if written {
            self.kv.make_durable()?;
        }
        Ok(written)
    }

    pub fn put_ceremony(&self, id: &str, ceremony: &super::Ceremony) -> Result<()> {
        self.kv.put(Tree::Ceremonies, id.as_bytes(), &encode(ceremony))?;
        Ok(())
    }

    /// Removes and returns it: a ceremony is answered once.
    pub fn take_ceremony(&self, id: &str) -> Result<Option<super::Ceremony>> {
        self.kv.remove(Tree::Ceremonies, id.as_bytes())?.map(|b| super::decode(&b)).transpose()
    }

    /// Removes all of the user's factors; returns how many.
    pub fn delete_factors_of(&self, sub: &Uuid) -> Result<usize> {
        let factors = self.factors_of(sub)?;
        let ops = factors.iter().map(|f| Op::Remove(Tree::Factors, factor_key(sub, &f.id))).collect::<Vec<_>>();
        let count = ops.len();
        if count > 0 {
            self.kv.apply(ops)?;
            self.kv.make_durable()?;
        }
        Ok(count)
    }
}
