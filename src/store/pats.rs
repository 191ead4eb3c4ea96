//! Personal access tokens: long-lived, revocable, stored by digest. An id
//! index lets a token be listed and revoked without its secret.

use super::backend::{Op, Tree};
use super::{Result, Store, StoreError, encode};
use crate::domain::{ClientId, ScopeSet};
use crate::secrets::Digest;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pat {
    /// Public handle (not secret): what `token list` shows and `token revoke` takes.
    pub id: String,
    pub sub: Uuid,
    pub client_id: ClientId,
    pub scope: ScopeSet,
    pub description: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used: Option<i64>,
    pub revoked: bool,
}

impl Pat {
    pub fn is_active(&self, now: i64) -> bool {
        !self.revoked && self.expires_at > now
    }
}

/// How often `last_used` (and the `pat_used` audit event) is refreshed: a
/// script calling every second must not turn into a write per call.
pub const LAST_USED_GRANULARITY: i64 = 60;

impl Store {
    pub fn create_pat(&self, token: &Digest, pat: &Pat) -> Result<()> {
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::PatIds, pat.id.as_bytes().to_vec(), None),
            Op::Put(Tree::PatIds, pat.id.as_bytes().to_vec(), token.as_bytes().to_vec()),
            Op::Put(Tree::Pats, token.as_bytes().to_vec(), encode(pat)),
        ])?;
        if !ok {
            return Err(StoreError::AlreadyExists(format!("token id {}", pat.id)));
        }
        self.kv.make_durable()?;
        Ok(())
    }

    pub fn pat(&self, token: &Digest) -> Result<Option<Pat>> {
        self.get(Tree::Pats, token.as_bytes())
    }

    pub fn pats(&self) -> Result<Vec<Pat>> {
        let mut pats: Vec<Pat> = self.all(Tree::Pats)?;
        pats.sort_by_key(|p| p.created_at);
        Ok(pats)
    }

    /// Marks the token revoked, durably. Returns it, or None for an unknown id.
    pub fn revoke_pat(&self, id: &str) -> Result<Option<Pat>> {
        let Some(digest) = self.kv.get(Tree::PatIds, id.as_bytes())? else { return Ok(None) };
        let Some(mut pat) = self.get::<Pat>(Tree::Pats, &digest)? else { return Ok(None) };
        pat.revoked = true;
        self.kv.put(Tree::Pats, &digest, &encode(&pat))?;
        self.kv.make_durable()?;
        Ok(Some(pat))
    }

    /// Records a use; true when this is the first use in the last minute.
    pub fn touch_pat(&self, token: &Digest, pat: &Pat, now: i64) -> Result<bool> {
        if pat.last_used.is_some_and(|t| now - t < LAST_USED_GRANULARITY) {
            return Ok(false);
        }
        let mut used = pat.clone();
        used.last_used = Some(now);
        self.kv.put(Tree::Pats, token.as_bytes(), &encode(&used))?;
        Ok(true)
    }

    /// A refresh token's family, read only: no reuse detection, no rotation
    /// (for introspection, which must not change anything).
    pub fn inspect_refresh_token(&self, token: &Digest, now: i64) -> Result<Option<super::RefreshFamily>> {
        let Some(reference) = self.get::<super::RefreshTokenRef>(Tree::RefreshTokens, token.as_bytes())? else {
            return Ok(None);
        };
        let family: Option<super::RefreshFamily> = self.get(Tree::Families, reference.family.as_bytes())?;
        Ok(family.filter(|f| !f.revoked && f.expires_at > now && f.current.as_ref() == Some(token)))
    }

    /// The family a refresh token (current or rotated) belongs to.
    pub fn family_of_refresh_token(&self, token: &Digest) -> Result<Option<super::RefreshFamily>> {
        let Some(reference) = self.get::<super::RefreshTokenRef>(Tree::RefreshTokens, token.as_bytes())? else {
            return Ok(None);
        };
        self.get(Tree::Families, reference.family.as_bytes())
    }
}
