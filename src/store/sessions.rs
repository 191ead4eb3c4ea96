//! SSO sessions, what ending one owes its applications (the logout outbox),
//! remembered consents and pending logout confirmations.
//!
//! Starting or touching a session is not fsynced: losing one only means
//! signing in again. Ending one is: a sign-out must not come back after a
//! crash, and neither may the logout tokens it owes be forgotten. (Except
//! at expiry: a session that comes back expired is ended again.)

use super::backend::{Op, Tree};
use super::{
    Consent, LogoutNotice, Pat, PendingLogout, RefreshFamily, Result, RevokedJti, Session, Store, decode, encode,
};
use crate::crypto::secrets::Digest;
use crate::domain::ClientId;
use uuid::Uuid;

/// What withdrawing a consent took back.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Withdrawal {
    pub refresh_families: usize,
    pub tokens: usize,
}

/// A session as listed: its key (the cookie's digest) and record.
pub type SessionEntry = (Digest, Session);

pub(super) fn consent_key(sub: &Uuid, client_id: &ClientId) -> Vec<u8> {
    let mut key = sub.as_bytes().to_vec();
    key.extend_from_slice(client_id.as_str().as_bytes());
    key
}

impl Store {
    pub fn put_session(&self, id: &Digest, session: &Session) -> Result<()> {
        self.kv.put(Tree::Sessions, id.as_bytes(), &encode(session))?;
        Ok(())
    }

    pub fn session(&self, id: &Digest) -> Result<Option<Session>> {
        self.get(Tree::Sessions, id.as_bytes())
    }

    pub fn session_count(&self) -> usize {
        self.kv.len(Tree::Sessions)
    }

    /// Every session, with its key. (A scan: a homelab has a few hundred.)
    pub fn sessions(&self) -> Result<Vec<SessionEntry>> {
        let mut entries = Vec::new();
        for (key, value) in self.kv.scan(Tree::Sessions)? {
            let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else { continue };
            entries.push((Digest::from_bytes(key), decode(&value)?));
        }
        Ok(entries)
    }

    /// The keys of the sessions whose `expires_at` is `now` or before
    /// (without reading every session into memory at once).
    pub fn expired_sessions(&self, now: i64) -> Result<Vec<Digest>> {
        let keys = self.keys_expired_by(Tree::Sessions, now)?;
        Ok(keys
            .into_iter()
            .filter_map(|key| <[u8; 32]>::try_from(key.as_slice()).ok().map(Digest::from_bytes))
            .collect())
    }

    /// Changes a session in place (compare-and-swap, retried), so two
    /// applications signing in at once both end up in `clients`. None if it
    /// no longer exists.
    pub fn update_session(&self, id: &Digest, change: impl Fn(&mut Session)) -> Result<Option<Session>> {
        let key = id.as_bytes().to_vec();
        loop {
            let Some(raw) = self.kv.get(Tree::Sessions, &key)? else { return Ok(None) };
            let mut next: Session = decode(&raw)?;
            change(&mut next);
            let ops = vec![
                Op::Expect(Tree::Sessions, key.clone(), Some(raw)),
                Op::Put(Tree::Sessions, key.clone(), encode(&next)),
            ];
            // Sessions are not made durable (`put_session`): a crash signs people in again.
            if self.kv.apply_ephemeral(ops)? {
                return Ok(Some(next));
            }
        }
    }

    /// Removes the session and queues `notices` for it in one atomic write,
    /// synced if `durable`. `notices` is called with the record as removed.
    /// None if it was already gone (then nothing is queued).
    pub fn end_session(
        &self,
        id: &Digest,
        durable: bool,
        notices: impl Fn(&Session) -> Vec<LogoutNotice>,
    ) -> Result<Option<Session>> {
        let key = id.as_bytes().to_vec();
        loop {
            let Some(raw) = self.kv.get(Tree::Sessions, &key)? else { return Ok(None) };
            let session: Session = decode(&raw)?;
            let mut ops =
                vec![Op::Expect(Tree::Sessions, key.clone(), Some(raw)), Op::Remove(Tree::Sessions, key.clone())];
            for notice in notices(&session) {
                ops.push(Op::Put(Tree::LogoutOutbox, notice.id.as_bytes().to_vec(), encode(&notice)));
            }
            if self.kv.apply(ops)? {
                if durable {
                    self.kv.make_durable()?;
                }
                return Ok(Some(session));
            }
        }
    }

    // ----- the logout outbox -----

    pub fn logout_notices(&self) -> Result<Vec<LogoutNotice>> {
        self.all(Tree::LogoutOutbox)
    }

    /// Replaces a notice (after a failed attempt), unless it was removed.
    pub fn reschedule_logout_notice(&self, notice: &LogoutNotice) -> Result<()> {
        let key = notice.id.as_bytes().to_vec();
        if self.kv.get(Tree::LogoutOutbox, &key)?.is_some() {
            self.kv.put(Tree::LogoutOutbox, &key, &encode(notice))?;
        }
        Ok(())
    }

    /// Delivered, or given up on.
    pub fn remove_logout_notice(&self, id: &Uuid) -> Result<()> {
        self.kv.remove(Tree::LogoutOutbox, id.as_bytes())?;
        Ok(())
    }

    // ----- remembered consents -----

    pub fn put_consent(&self, consent: &Consent) -> Result<()> {
        self.kv.put(Tree::Consents, &consent_key(&consent.sub, &consent.client_id), &encode(consent))?;
        self.kv.make_durable()?;
        Ok(())
    }

    pub fn consent(&self, sub: &Uuid, client_id: &ClientId) -> Result<Option<Consent>> {
        self.get(Tree::Consents, &consent_key(sub, client_id))
    }

    pub fn consents_of(&self, sub: &Uuid) -> Result<Vec<Consent>> {
        let prefix = sub.as_bytes();
        self.kv
            .scan_from(Tree::Consents, prefix)?
            .iter()
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, value)| decode(value))
            .collect()
    }

    /// Forgets the answer, and takes back what it let the application keep
    /// while the user is away: the user's refresh families for it (and the
    /// last access token each minted) and their personal access tokens for
    /// it, in one atomic, durable write. None if there was no answer.
    ///
    /// Every record changed is expected as read: a rotation or a use that
    /// lands between the read and the write makes the batch start over, so
    /// the freshest access token is the one revoked.
    pub fn withdraw_consent(&self, sub: &Uuid, client_id: &ClientId) -> Result<Option<Withdrawal>> {
        let key = consent_key(sub, client_id);
        loop {
            let Some(raw) = self.kv.get(Tree::Consents, &key)? else { return Ok(None) };
            let mut ops =
                vec![Op::Expect(Tree::Consents, key.clone(), Some(raw)), Op::Remove(Tree::Consents, key.clone())];
            let withdrawal = Withdrawal {
                refresh_families: self.revoke_families_of(sub, client_id, &mut ops)?,
                tokens: self.revoke_pats_of(sub, client_id, &mut ops)?,
            };
            if self.kv.apply(ops)? {
                self.kv.make_durable()?;
                return Ok(Some(withdrawal));
            }
        }
    }

    /// Adds to `ops` the revocation of `sub`'s live refresh families at
    /// `client_id`, with their last access tokens. Returns how many.
    fn revoke_families_of(&self, sub: &Uuid, client_id: &ClientId, ops: &mut Vec<Op>) -> Result<usize> {
        let mut revoked = 0;
        for (key, raw) in self.kv.scan(Tree::Families)? {
            let mut family: RefreshFamily = decode(&raw)?;
            if family.sub != *sub || family.client_id != *client_id || family.revoked {
                continue;
            }
            if let Some(access) = &family.last_access {
                let jti = RevokedJti { expires_at: access.expires_at };
                ops.push(Op::Put(Tree::RevokedJtis, access.jti.as_bytes().to_vec(), encode(&jti)));
            }
            family.revoked = true;
            family.current = None;
            ops.push(Op::Expect(Tree::Families, key.clone(), Some(raw)));
            ops.push(Op::Put(Tree::Families, key, encode(&family)));
            revoked += 1;
        }
        Ok(revoked)
    }

    /// Adds to `ops` the revocation of `sub`'s active personal access tokens
    /// at `client_id` (which ends the access tokens exchanged for them).
    /// Returns how many.
    fn revoke_pats_of(&self, sub: &Uuid, client_id: &ClientId, ops: &mut Vec<Op>) -> Result<usize> {
        let mut revoked = 0;
        for (key, raw) in self.kv.scan(Tree::Pats)? {
            let mut pat: Pat = decode(&raw)?;
            if pat.sub != *sub || pat.client_id != *client_id || pat.revoked {
                continue;
            }
            pat.revoked = true;
            ops.push(Op::Expect(Tree::Pats, key.clone(), Some(raw)));
            ops.push(Op::Put(Tree::Pats, key, encode(&pat)));
            revoked += 1;
        }
        Ok(revoked)
    }

    // ----- logout confirmations waiting for the user -----

    pub fn put_pending_logout(&self, id: &str, pending: &PendingLogout) -> Result<()> {
        self.kv.put(Tree::PendingLogouts, id.as_bytes(), &encode(pending))?;
        Ok(())
    }

    pub fn pending_logout(&self, id: &str) -> Result<Option<PendingLogout>> {
        self.get(Tree::PendingLogouts, id.as_bytes())
    }

    /// Removes and returns it: a confirmation is used at most once.
    pub fn take_pending_logout(&self, id: &str) -> Result<Option<PendingLogout>> {
        self.kv.remove(Tree::PendingLogouts, id.as_bytes())?.map(|b| decode(&b)).transpose()
    }
}
