//! Authorization codes, refresh-token families and revoked access tokens.
//! Single-use things are consumed with atomic compare-and-swap batches.

use super::backend::{Op, Tree};
use super::{
    AuthCode, IssuedJwt, Redemption, RefreshFamily, RefreshTokenRef, Result, RevokedJti, Store, Stored, decode, encode,
};
use crate::crypto::secrets::Digest;
use uuid::Uuid;

/// What presenting a refresh token found.
pub enum RefreshOutcome {
    Valid(Box<Stored<RefreshFamily>>),
    /// An already-rotated token: the family has now been revoked.
    Reused,
    Unknown,
}

/// The new state of a family after one rotation.
pub struct Rotation {
    pub new_token: Digest,
    pub access: IssuedJwt,
}

impl Store {
    pub fn put_code(&self, code: &Digest, record: &AuthCode) -> Result<()> {
        self.kv.put(Tree::Codes, code.as_bytes(), &encode(record))?;
        Ok(())
    }

    pub fn code(&self, code: &Digest) -> Result<Option<Stored<AuthCode>>> {
        self.get_stored(Tree::Codes, code.as_bytes())
    }

    /// Marks a code redeemed if, and only if, nobody redeemed it first, and
    /// starts the refresh family it yields (if any) in the same atomic write,
    /// durably: a code must stay used after a crash (RFC 6749 §4.1.2). A
    /// replay can only learn the family's id from the redeemed code, so it
    /// revokes an existing family; the `Expect` on the id is a second guard.
    pub fn redeem_code(
        &self,
        code: &Digest,
        seen: &Stored<AuthCode>,
        redemption: Redemption,
        family: Option<(&RefreshFamily, &Digest)>,
    ) -> Result<bool> {
        let mut redeemed = seen.record.clone();
        redeemed.redeemed = Some(redemption);
        let key = code.as_bytes().to_vec();
        let mut ops = vec![
            Op::Expect(Tree::Codes, key.clone(), Some(seen.raw.clone())),
            Op::Put(Tree::Codes, key, encode(&redeemed)),
        ];
        if let Some((family, token)) = family {
            let id = family.id.as_bytes().to_vec();
            ops.push(Op::Expect(Tree::Families, id.clone(), None));
            ops.push(Op::Put(Tree::Families, id, encode(family)));
            ops.push(Op::Put(
                Tree::RefreshTokens,
                token.as_bytes().to_vec(),
                encode(&RefreshTokenRef { family: family.id, expires_at: family.expires_at }),
            ));
        }
        let ok = self.kv.apply(ops)?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }

    /// Looks a presented refresh token up; a rotated one revokes its family.
    pub fn present_refresh_token(&self, token: &Digest, now: i64) -> Result<RefreshOutcome> {
        let Some(reference) = self.get::<RefreshTokenRef>(Tree::RefreshTokens, token.as_bytes())? else {
            return Ok(RefreshOutcome::Unknown);
        };
        let Some(family) = self.get_stored::<RefreshFamily>(Tree::Families, reference.family.as_bytes())? else {
            return Ok(RefreshOutcome::Unknown);
        };
        if family.revoked || family.expires_at <= now {
            return Ok(RefreshOutcome::Unknown);
        }
        if family.current.as_ref() != Some(token) {
            self.revoke_family(family.id, now)?;
            return Ok(RefreshOutcome::Reused);
        }
        Ok(RefreshOutcome::Valid(Box::new(family)))
    }

    /// Replaces the family's current token, unless someone else rotated it first.
    pub fn rotate_family(&self, seen: &Stored<RefreshFamily>, rotation: &Rotation) -> Result<bool> {
        let mut next = seen.record.clone();
        next.current = Some(rotation.new_token);
        next.generation += 1;
        next.last_access = Some(rotation.access.clone());
        let id = seen.id.as_bytes().to_vec();
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::Families, id.clone(), Some(seen.raw.clone())),
            Op::Put(Tree::Families, id, encode(&next)),
            Op::Put(
                Tree::RefreshTokens,
                rotation.new_token.as_bytes().to_vec(),
                encode(&RefreshTokenRef { family: seen.id, expires_at: seen.expires_at }),
            ),
        ])?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }

    /// Revokes a family and the last access token it produced. Leaves a
    /// tombstone if the family does not exist yet, so it can never be created.
    pub fn revoke_family(&self, id: Uuid, now: i64) -> Result<()> {
        let key = id.as_bytes();
        let existing: Option<RefreshFamily> = self.get(Tree::Families, key)?;
        let tombstone_until = now + 86_400;
        let revoked = match existing {
            Some(mut family) => {
                family.revoked = true;
                family.current = None;
                if let Some(access) = &family.last_access {
                    self.put_revoked_jti(access)?;
                }
                family
            }
            None => RefreshFamily {
                id,
                client_id: crate::domain::ClientId::parse("revoked").map_err(|e| super::StoreError::Corrupt(e.0))?,
                sub: Uuid::nil(),
                scope: Default::default(),
                auth_time: 0,
                current: None,
                generation: 0,
                revoked: true,
                last_access: None,
                created_at: now,
                expires_at: tombstone_until,
                user_epoch: 0,
                sid: None,
                amr: vec![],
            },
        };
        self.kv.put(Tree::Families, key, &encode(&revoked))?;
        self.kv.make_durable()?;
        Ok(())
    }

    /// Durably: a client told its token is revoked must not see it honoured
    /// again after a crash.
    pub fn revoke_access_token(&self, access: &IssuedJwt) -> Result<()> {
        self.put_revoked_jti(access)?;
        self.kv.make_durable()?;
        Ok(())
    }

    fn put_revoked_jti(&self, access: &IssuedJwt) -> Result<()> {
        self.kv.put(
            Tree::RevokedJtis,
            access.jti.as_bytes(),
            &encode(&RevokedJti { expires_at: access.expires_at }),
        )?;
        Ok(())
    }

    pub fn is_access_token_revoked(&self, jti: &Uuid) -> Result<bool> {
        Ok(self.kv.get(Tree::RevokedJtis, jti.as_bytes())?.is_some())
    }

    pub fn family(&self, id: &Uuid) -> Result<Option<RefreshFamily>> {
        self.kv.get(Tree::Families, id.as_bytes())?.map(|b| decode(&b)).transpose()
    }
}
