//! Personal access tokens: long-lived, revocable, stored by digest. An id
//! index lets a token be listed and revoked without its secret.

use super::backend::{Op, Tree};
use super::{Result, Store, StoreError, Stored, decode, encode};
use crate::crypto::secrets::Digest;
use crate::domain::{ClientId, ScopeSet};
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
    /// How the session that made it signed in (RFC 8176 values). None:
    /// made by an administrator (CLI, console, admin API), or by a ferrid
    /// that did not record it.
    #[serde(default)]
    pub amr: Option<Vec<String>>,
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

    pub fn pat(&self, token: &Digest) -> Result<Option<Stored<Pat>>> {
        self.get_stored(Tree::Pats, token.as_bytes())
    }

    pub fn pat_by_id(&self, id: &str) -> Result<Option<Pat>> {
        match self.kv.get(Tree::PatIds, id.as_bytes())? {
            Some(digest) => self.get(Tree::Pats, &digest),
            None => Ok(None),
        }
    }

    pub fn pats(&self) -> Result<Vec<Pat>> {
        let mut pats: Vec<Pat> = self.all(Tree::Pats)?;
        pats.sort_by_key(|p| p.created_at);
        Ok(pats)
    }

    /// Marks the token revoked, durably. Returns it, or None for an unknown id.
    /// Compare-and-swap, retried: a concurrent last-used update cannot undo it.
    pub fn revoke_pat(&self, id: &str) -> Result<Option<Pat>> {
        let Some(digest) = self.kv.get(Tree::PatIds, id.as_bytes())? else { return Ok(None) };
        loop {
            let Some(seen) = self.kv.get(Tree::Pats, &digest)? else { return Ok(None) };
            let mut pat: Pat = decode(&seen)?;
            pat.revoked = true;
            let swapped = self.kv.apply(vec![
                Op::Expect(Tree::Pats, digest.clone(), Some(seen)),
                Op::Put(Tree::Pats, digest.clone(), encode(&pat)),
            ])?;
            if swapped {
                self.kv.make_durable()?;
                return Ok(Some(pat));
            }
        }
    }

    /// Records a use; true when this is the first use in the last minute.
    /// Compare-and-swap against the copy the caller read (`seen`): a
    /// revocation that lands in between is never overwritten by a stale copy.
    pub fn touch_pat(&self, token: &Digest, seen: &Stored<Pat>, now: i64) -> Result<bool> {
        if seen.last_used.is_some_and(|t| now - t < LAST_USED_GRANULARITY) {
            return Ok(false);
        }
        let mut used = seen.record.clone();
        used.last_used = Some(now);
        let key = token.as_bytes().to_vec();
        let ops =
            vec![Op::Expect(Tree::Pats, key.clone(), Some(seen.raw.clone())), Op::Put(Tree::Pats, key, encode(&used))];
        Ok(self.kv.apply(ops)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(id: &str) -> Pat {
        Pat {
            id: id.into(),
            sub: Uuid::new_v4(),
            client_id: ClientId::parse("web").unwrap(),
            scope: ScopeSet::default(),
            description: String::new(),
            created_at: 0,
            expires_at: 1_000_000,
            last_used: None,
            revoked: false,
            amr: None,
        }
    }

    #[test]
    fn a_last_used_update_from_a_stale_copy_never_undoes_a_revocation() {
        let (_dir, store) = crate::store::testing::temp_store();
        let digest = Digest::of("ferrid_pat_x");
        store.create_pat(&digest, &pat("p1")).unwrap();
        // A request reads the token, then a revocation lands before it records the use.
        let seen = store.pat(&digest).unwrap().unwrap();
        assert!(store.revoke_pat("p1").unwrap().unwrap().revoked);
        assert!(!store.touch_pat(&digest, &seen, 100).unwrap(), "the stale copy does not swap");
        assert!(store.pat(&digest).unwrap().unwrap().revoked, "still revoked");
    }

    #[test]
    fn revocation_wins_against_threads_recording_uses() {
        let (_dir, store) = crate::store::testing::temp_store();
        let digest = Digest::of("ferrid_pat_y");
        store.create_pat(&digest, &pat("p2")).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let users: Vec<_> = (0..4)
            .map(|t| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || {
                    // Each use a minute after the last, so every one writes.
                    let mut now = t;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        now += LAST_USED_GRANULARITY;
                        let seen = store.pat(&digest).unwrap().unwrap();
                        store.touch_pat(&digest, &seen, now).unwrap();
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        store.revoke_pat("p2").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        users.into_iter().for_each(|u| u.join().unwrap());
        assert!(store.pat(&digest).unwrap().unwrap().revoked);
    }

    #[test]
    fn a_record_written_before_a_field_was_added_still_swaps() {
        let (_dir, store) = crate::store::testing::temp_store();
        // A PAT as written today, then a refresh family as an older ferrid
        // wrote it: without `user_epoch`, which now decodes to its default.
        let digest = Digest::of("ferrid_pat_z");
        let old = serde_json::to_vec(&pat("p3")).unwrap();
        store.kv.put(Tree::Pats, digest.as_bytes(), &old).unwrap();
        let seen = store.pat(&digest).unwrap().unwrap();
        assert!(store.touch_pat(&digest, &seen, 100).unwrap());

        let family_id = Uuid::new_v4();
        let token = Digest::of("refresh");
        let family = serde_json::json!({
            "id": family_id, "client_id": "web", "sub": Uuid::new_v4(), "scope": "openid offline_access",
            "auth_time": 0, "current": token, "generation": 0, "revoked": false, "last_access": null,
            "created_at": 0, "expires_at": 1_000_000
        });
        store.kv.put(Tree::Families, family_id.as_bytes(), &serde_json::to_vec(&family).unwrap()).unwrap();
        let reference = super::super::RefreshTokenRef { family: family_id, expires_at: 1_000_000 };
        store.kv.put(Tree::RefreshTokens, token.as_bytes(), &encode(&reference)).unwrap();
        let super::super::RefreshOutcome::Valid(seen) = store.present_refresh_token(&token, 10).unwrap() else {
            panic!("the old family is valid");
        };
        let access = super::super::IssuedJwt { jti: Uuid::new_v4(), expires_at: 100 };
        let rotation = super::super::Rotation { new_token: Digest::of("next"), access, retry: None };
        let event = super::super::AuditEvent::new(super::super::AuditKind::TokenIssued, 10);
        assert!(store.rotate_family(&seen, &rotation, &event).unwrap(), "rotates though it re-encodes differently");
    }
}
