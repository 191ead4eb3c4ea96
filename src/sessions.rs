//! Single sign-on sessions, without HTTP: what a session token (the value
//! of the browser's cookie) stands for, and starting one. A session is
//! good while it is unexpired and its user exists, is enabled, and has not
//! changed password or been disabled since it began (the user's epoch).
//! The cookie itself is `oidc::session`'s business.

use crate::clock::Clock;
use crate::crypto::secrets::{Digest, RandomError, random_token};
use crate::store::{Session, Store, StoreError, User};

pub struct ActiveSession {
    pub session: Session,
    pub user: User,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

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
        let Some(session) = self.store.session(&Digest::of(token))? else { return Ok(None) };
        if session.expires_at <= self.clock.now() {
            return Ok(None);
        }
        match self.store.user_by_sub(&session.sub)? {
            Some(user) if !user.disabled && user.epoch == session.epoch => Ok(Some(ActiveSession { session, user })),
            _ => Ok(None),
        }
    }

    /// Starts a session for `user` with a fresh token (never one the browser
    /// brought along, which would allow session fixation); `replacing` is
    /// that old token, whose session ends. Returns the new token.
    pub fn start(&self, user: &User, replacing: Option<&str>) -> Result<String, SessionError> {
        if let Some(old) = replacing {
            self.store.delete_session(&Digest::of(old))?;
        }
        let now = self.clock.now();
        let token = random_token()?;
        let session = Session { sub: user.sub, auth_time: now, expires_at: now + self.lifetime, epoch: user.epoch };
        self.store.put_session(&Digest::of(&token), &session)?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_with_its_lifetime_and_with_a_new_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let clock = Clock::system();
        let mut user = User::for_test("alice", String::new());
        store.create_user(&user).unwrap();
        let sessions = Sessions { store: &store, clock: &clock, lifetime: 3_600 };
        let token = sessions.start(&user, None).unwrap();
        assert!(sessions.find(&token).unwrap().is_some());
        let second = sessions.start(&user, Some(&token)).unwrap();
        assert!(sessions.find(&token).unwrap().is_none(), "the replaced session ended");
        clock.advance(3_601);
        assert!(sessions.find(&second).unwrap().is_none(), "expired");

        let fresh = sessions.start(&user, None).unwrap();
        user.end_sessions_and_grants();
        store.update_user(&user).unwrap();
        assert!(sessions.find(&fresh).unwrap().is_none(), "a new epoch ends it");
    }
}
