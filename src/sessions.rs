//! Single sign-on sessions, without HTTP: what a session token (the value
//! of the browser's cookie) stands for, starting one, and the one rule for
//! ending one. The cookie itself is `oidc::session`'s business.
//!
//! A session is good while it is unexpired and its user exists, is enabled,
//! and has not changed password or been disabled since it began (the
//! user's epoch). It ends, and every application it signed in to that
//! registered a `backchannel_logout_uri` is owed a logout token, when:
//! - the user signs out (an application's end-session request, confirmed,
//!   or the account page), or signs in again in the same browser;
//! - the user signs out one of their other sessions, or all of them, or
//!   changes their password on the account page (the others end);
//! - an administrator sets the password, disables or deletes the account,
//!   or runs `ferrid user logout`;
//! - it expires (housekeeping ends it within a minute).
//!
//! Refresh tokens: ferrid issues them only for `offline_access`, and OIDC
//! Core §11 makes those outlive the session: they survive a sign-out. They
//! end with the account's epoch (password set, disabled, deleted), with
//! revocation (RFC 7009) and with their own lifetime.

use crate::clock::Clock;
use crate::crypto::secrets::{Digest, RandomError, b64url, random_token, sha256};
use crate::domain::ClientId;
use crate::store::{AuditEvent, AuditKind, LogoutNotice, Session, Store, StoreError, User};
use uuid::Uuid;

pub struct ActiveSession {
    /// The store's key for it: the digest of the cookie's value.
    pub key: Digest,
    pub session: Session,
    pub user: User,
}

impl ActiveSession {
    pub fn sid(&self) -> String {
        sid_of(&self.key)
    }

    /// May this session take privileged actions now? Its user signed in,
    /// or re-authenticated, within `window` seconds, with their second
    /// factor if they have one.
    pub fn is_fresh(&self, has_second_factor: bool, now: i64, window: i64) -> bool {
        now - self.session.auth_time <= window
            && (!has_second_factor
                || self.session.amr.iter().any(|m| m == crate::mfa::AMR_MFA || m == crate::mfa::AMR_LINK))
    }
}

/// The session's public id (`sid` in id_tokens and logout tokens, and on
/// the account page): derived one-way from the store key, so it reveals
/// nothing of the cookie and needs no index.
pub fn sid_of(key: &Digest) -> String {
    let mut input = b"ferrid sid\0".to_vec();
    input.extend_from_slice(key.as_bytes());
    b64url(&sha256(&input)[..16])
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Why a session ended, for the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    SignedOut,
    /// Ended from another of the user's sessions (the account page).
    SignedOutElsewhere,
    /// The browser signed in again, perhaps as someone else.
    Replaced,
    PasswordSet,
    Disabled,
    Deleted,
    /// `ferrid user logout`.
    Administrator,
    /// A recovery link was used: whoever else was signed in is out.
    RecoveryLink,
    Expired,
}

impl EndReason {
    pub fn describe(self) -> &'static str {
        match self {
            EndReason::SignedOut => "signed out",
            EndReason::SignedOutElsewhere => "signed out from another session",
            EndReason::Replaced => "signed in again in the same browser",
            EndReason::PasswordSet => "password changed",
            EndReason::Disabled => "account disabled",
            EndReason::Deleted => "account deleted",
            EndReason::Administrator => "ended by an administrator",
            EndReason::RecoveryLink => "a recovery link was used",
            EndReason::Expired => "expired",
        }
    }
}

/// Where a sign-in came from, for the account page's list of sessions.
#[derive(Default)]
pub struct Origin {
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// The sign-in source the session began through, if any.
    pub source: Option<String>,
}

/// A session as the account page and `ferrid user sessions` show it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SessionView {
    pub sid: String,
    pub started: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub applications: Vec<String>,
}

/// How stale a session's `last_seen` may get before a use updates it.
pub const LAST_SEEN_GRANULARITY: i64 = 60;

/// What sessions need, borrowed from whoever owns it.
pub struct Sessions<'a> {
    pub store: &'a Store,
    pub clock: &'a Clock,
    /// How long a session lasts, in seconds.
    pub lifetime: i64,
}

impl Sessions<'_> {
    /// The session `token` stands for, if it is still good.
    pub fn find(&self, token: &str) -> Result<Option<ActiveSession>, StoreError> {
        let key = Digest::of(token);
        let Some(session) = self.store.session(&key)? else { return Ok(None) };
        if session.expires_at <= self.clock.now() {
            return Ok(None);
        }
        match self.store.user_by_sub(&session.sub)? {
            Some(user) if !user.disabled && user.epoch == session.epoch => {
                Ok(Some(ActiveSession { key, session, user }))
            }
            _ => Ok(None),
        }
    }

    /// Starts a session for `user` with a fresh token (never one the browser
    /// brought along, which would allow session fixation); `replacing` is
    /// that old token, whose session ends. `client` is the application the
    /// sign-in is for, if any. Returns the new token and the record.
    pub fn start(
        &self,
        user: &User,
        replacing: Option<&str>,
        origin: Origin,
        client: Option<&ClientId>,
        amr: Vec<String>,
    ) -> Result<(String, Session), SessionError> {
        if let Some(old) = replacing {
            self.end(&Digest::of(old), EndReason::Replaced)?;
        }
        let now = self.clock.now();
        let token = random_token()?;
        let session = Session {
            sub: user.sub,
            auth_time: now,
            expires_at: now + self.lifetime,
            epoch: user.epoch,
            last_seen: now,
            address: origin.address,
            user_agent: origin.user_agent.map(|ua| ua.chars().take(200).collect()),
            clients: client.into_iter().cloned().collect(),
            amr,
            source: origin.source,
        };
        self.store.put_session(&Digest::of(&token), &session)?;
        Ok((token, session))
    }

    /// The session (`seen` as last read) signed in to `client_id`: it will
    /// hear when the session ends. Written only when the application is new
    /// to it or `last_seen` is older than `LAST_SEEN_GRANULARITY`, so a
    /// sign-in costs no second write.
    pub fn signed_in_to(&self, key: &Digest, seen: &Session, client_id: &ClientId) -> Result<(), StoreError> {
        let now = self.clock.now();
        if seen.clients.contains(client_id) && now - seen.last_seen < LAST_SEEN_GRANULARITY {
            return Ok(());
        }
        self.store.update_session(key, |session| {
            session.last_seen = now;
            if !session.clients.contains(client_id) {
                session.clients.push(client_id.clone());
            }
        })?;
        Ok(())
    }

    /// The user proved who they are again in this session (a
    /// re-authentication): it counts as a fresh sign-in, for privileged
    /// actions and for `max_age`, without a new session.
    /// `source`: the re-authentication came through this sign-in source;
    /// the session then counts as one of that source's (an application
    /// that takes no source, or not this one, does not take its new
    /// `auth_time` and `amr` for ferrid's own).
    pub fn reauthenticated(&self, key: &Digest, amr: Vec<String>, source: Option<&str>) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.store.update_session(key, |session| {
            session.auth_time = now;
            session.last_seen = now;
            session.amr = amr.clone();
            if let Some(source) = source {
                session.source = Some(source.to_owned());
            }
        })?;
        Ok(())
    }

    /// The user's sessions that are still good, most recently used first.
    pub fn of_user(&self, user: &User) -> Result<Vec<(Digest, SessionView)>, StoreError> {
        let now = self.clock.now();
        let mut views: Vec<(Digest, SessionView)> = self
            .store
            .sessions()?
            .into_iter()
            .filter(|(_, s)| s.sub == user.sub && s.epoch == user.epoch && s.expires_at > now)
            .map(|(key, s)| {
                let view = SessionView {
                    sid: sid_of(&key),
                    started: s.auth_time,
                    last_seen: s.last_seen.max(s.auth_time),
                    expires_at: s.expires_at,
                    address: s.address,
                    user_agent: s.user_agent,
                    applications: s.clients.iter().map(ToString::to_string).collect(),
                };
                (key, view)
            })
            .collect();
        views.sort_by_key(|(_, view)| std::cmp::Reverse(view.last_seen));
        Ok(views)
    }

    /// Ends one session: removes it, queues the logout tokens its
    /// applications are owed (durably, in the same write) and audits it.
    /// Returns it, or None if it had already ended.
    pub fn end(&self, key: &Digest, reason: EndReason) -> Result<Option<Session>, StoreError> {
        let now = self.clock.now();
        let sid = sid_of(key);
        let notices = |session: &Session| self.notices_for(session, &sid, now);
        // An expired session that a crash brings back is still expired, and
        // is ended (and told) again: no sync per session at a mass expiry.
        let durable = reason != EndReason::Expired;
        let Some(ended) = self.store.end_session(key, durable, notices)? else { return Ok(None) };
        let username = self.store.user_by_sub(&ended.sub)?.map(|u| u.username.to_string());
        let mut event = AuditEvent::new(AuditKind::SessionEnded, now).detail(reason.describe());
        if let Some(name) = username {
            event = event.user(name);
        }
        self.store.record(&event);
        Ok(Some(ended))
    }

    /// Ends the user's session whose public id is `sid`. False if they have none by that id.
    pub fn end_by_sid(&self, user: &User, sid: &str, reason: EndReason) -> Result<bool, StoreError> {
        let found = self.store.sessions()?.into_iter().find(|(key, s)| s.sub == user.sub && sid_of(key) == sid);
        match found {
            Some((key, _)) => Ok(self.end(&key, reason)?.is_some()),
            None => Ok(false),
        }
    }

    /// Ends all of the user's sessions but `except`. Returns how many ended.
    pub fn end_all_of(&self, sub: &Uuid, except: Option<&Digest>, reason: EndReason) -> Result<usize, StoreError> {
        let mut ended = 0;
        for (key, session) in self.store.sessions()? {
            if session.sub == *sub && except != Some(&key) && self.end(&key, reason)?.is_some() {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// After the user changed their own password in session `key`: their
    /// other sessions end, and this one moves to the new epoch (same `sid`:
    /// its applications are not told, since nothing ended here).
    pub fn keep_only(&self, key: &Digest, user: &User, reason: EndReason) -> Result<usize, StoreError> {
        let ended = self.end_all_of(&user.sub, Some(key), reason)?;
        let epoch = user.epoch;
        self.store.update_session(key, |session| session.epoch = epoch)?;
        Ok(ended)
    }

    /// Ends every session whose lifetime has passed (housekeeping).
    pub fn end_expired(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut ended = 0;
        for key in self.store.expired_sessions(now)? {
            if self.end(&key, EndReason::Expired)?.is_some() {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// One logout token owed to each application the session signed in to
    /// that registered a back-channel logout URI.
    fn notices_for(&self, session: &Session, sid: &str, now: i64) -> Vec<LogoutNotice> {
        session
            .clients
            .iter()
            .filter(|client_id| {
                // An unreadable application record only costs its notice.
                matches!(self.store.app_by_client_id(client_id), Ok(Some(app)) if app.backchannel_logout_uri.is_some())
            })
            .map(|client_id| LogoutNotice {
                id: Uuid::new_v4(),
                client_id: client_id.clone(),
                sub: session.sub,
                sid: sid.to_owned(),
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_with_its_lifetime_and_with_a_new_epoch() {
        let (_dir, store) = crate::store::testing::temp_store();
        let clock = Clock::system();
        let mut user = User::for_test("alice", String::new());
        store.create_user(&user).unwrap();
        let sessions = Sessions { store: &store, clock: &clock, lifetime: 3_600 };
        let token = sessions.start(&user, None, Origin::default(), None, vec![]).unwrap().0;
        assert!(sessions.find(&token).unwrap().is_some());
        let second = sessions.start(&user, Some(&token), Origin::default(), None, vec![]).unwrap().0;
        assert!(sessions.find(&token).unwrap().is_none(), "the replaced session ended");
        clock.advance(3_601);
        assert!(sessions.find(&second).unwrap().is_none(), "expired");
        assert_eq!(sessions.end_expired().unwrap(), 1);
        assert_eq!(store.session_count(), 0);

        let fresh = sessions.start(&user, None, Origin::default(), None, vec![]).unwrap().0;
        user.end_sessions_and_grants();
        store.update_user(&user).unwrap();
        assert!(sessions.find(&fresh).unwrap().is_none(), "a new epoch ends it");
    }

    #[test]
    fn ending_a_session_owes_a_logout_token_to_each_application_that_asked_for_one() {
        let (_dir, store) = crate::store::testing::temp_store();
        let clock = Clock::system();
        let user = User::for_test("alice", String::new());
        store.create_user(&user).unwrap();
        let listening = crate::store::Application::for_test("listening", Some("https://rp.example/bcl"));
        let deaf = crate::store::Application::for_test("deaf", None);
        store.put_app(&listening).unwrap();
        store.put_app(&deaf).unwrap();
        let sessions = Sessions { store: &store, clock: &clock, lifetime: 3_600 };
        let token = sessions.start(&user, None, Origin::default(), Some(&listening.client_id), vec![]).unwrap().0;
        let key = Digest::of(&token);
        for app in [&deaf, &listening, &deaf] {
            let seen = store.session(&key).unwrap().unwrap();
            sessions.signed_in_to(&key, &seen, &app.client_id).unwrap();
        }
        assert_eq!(
            store.session(&key).unwrap().unwrap().clients,
            [listening.client_id.clone(), deaf.client_id.clone()]
        );

        assert!(sessions.end(&key, EndReason::SignedOut).unwrap().is_some());
        let owed = store.logout_notices().unwrap();
        assert_eq!(owed.len(), 1, "one for the application with a back-channel URI, once");
        assert_eq!((owed[0].client_id.as_str(), owed[0].sid.as_str()), ("listening", sid_of(&key).as_str()));
        assert!(sessions.end(&key, EndReason::SignedOut).unwrap().is_none(), "ends once");
        assert_eq!(store.logout_notices().unwrap().len(), 1);
    }
}
