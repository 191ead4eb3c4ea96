//! Checking a password at sign-in, without HTTP: the throttle's locks, the
//! bcrypt check in constant time (see `password`), a rehash at the
//! configured cost, and the audit trail of failures and locks. The handler
//! (`oidc::login`) parses the form, checks CSRF, says which browser this
//! is (its device cookie), then acts on the outcome.

use crate::crypto::password::{self, DummyHash, Verified};
use crate::store::{AuditEvent, AuditKind, Factor, Store, StoreError, Stored, User};
use crate::throttle::{Client, Throttle};
use std::time::Duration;

/// What the sign-in needs; each borrowed from whoever owns it.
pub struct SignIn<'a> {
    pub store: &'a Store,
    pub throttle: &'a Throttle,
    pub dummy_hash: &'a DummyHash,
}

/// One attempt, as the form and the connection gave it.
pub struct Attempt<'a> {
    /// The user looked up by name (`SignIn::lookup`), if any.
    pub user: Option<User>,
    /// The name as typed (audited and throttled normalised, even if unknown).
    pub username: &'a str,
    pub password: String,
    /// The id of the browser's device cookie, if it is a known client of
    /// `user` (see `oidc::known_browser`).
    pub device: Option<&'a str>,
    pub address: &'a str,
    pub user_agent: Option<&'a str>,
    /// The client id the sign-in is for ("ferrid" for the account page), for the audit.
    pub app: &'a str,
    pub now: i64,
}

pub enum Outcome {
    SignedIn(User),
    /// Wrong, unknown or locked: one answer for all, after `delay`.
    Refused {
        delay: Duration,
    },
    /// The right password of a disabled account. Saying so tells nothing
    /// to someone who does not know the password, and tells its owner why
    /// (and whom to ask) instead of "wrong password".
    Disabled,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] crate::crypto::password::PasswordError),
}

/// The name the throttle and the audit use: trimmed, lower-cased, at most
/// 64 characters (unknown names are counted like real ones).
fn normalised(username: &str) -> String {
    username.trim().to_lowercase().chars().take(64).collect()
}

impl SignIn<'_> {
    /// The user with this name, if the name is valid and known.
    pub fn lookup(&self, username: &str) -> Result<Option<User>, StoreError> {
        match crate::domain::Username::parse(username) {
            Ok(name) => self.store.user_by_name(&name),
            Err(_) => Ok(None),
        }
    }

    pub fn check(&self, attempt: Attempt<'_>) -> Result<Outcome, SignInError> {
        let attempted = normalised(attempt.username);
        let client = match attempt.device {
            Some(device) => Client::Known(device),
            None => Client::Unknown(attempt.address),
        };
        let locked = self.throttle.is_locked(&attempted, client, attempt.now);
        // A locked account is checked against the dummy hash: same time, same answer.
        let stored =
            attempt.user.as_ref().filter(|_| !locked).map(|u| u.password_hash.clone()).filter(|h| !h.is_empty());
        let verified = password::verify(&attempt.password, stored.as_deref(), self.dummy_hash);
        match (attempt.user, verified) {
            (Some(user), Verified::Yes { rehashed }) if !user.disabled => {
                if let Some(new_hash) = rehashed {
                    // Same password, new cost: nothing ends (the epoch stays).
                    if let Err(e) = self.store.rehash_password(&user, &new_hash) {
                        tracing::warn!(error = %e, "cannot store the rehashed password");
                    }
                }
                self.throttle.record_success(&attempted, client);
                Ok(Outcome::SignedIn(user))
            }
            (Some(user), Verified::Yes { .. }) => {
                tracing::info!(username = %user.username, "sign-in refused: the account is disabled");
                self.store.record(
                    &AuditEvent::new(AuditKind::SignInFailed, attempt.now)
                        .user(&user.username)
                        .app(attempt.app)
                        .detail("account disabled"),
                );
                Ok(Outcome::Disabled)
            }
            _ => {
                tracing::warn!(username = %attempted, locked, "sign-in failed");
                let verdict = self.throttle.record_failure(&attempted, client, attempt.now);
                let event = |kind, detail: &str| {
                    AuditEvent::new(kind, attempt.now)
                        .user(&attempted)
                        .app(attempt.app)
                        .from_client(
                            Some(attempt.address.to_owned()).filter(|a| !a.is_empty()),
                            attempt.user_agent.map(str::to_owned),
                        )
                        .detail(detail)
                };
                self.store
                    .record(&event(AuditKind::SignInFailed, if locked { "while locked" } else { "wrong credentials" }));
                for scope in &verdict.newly_locked {
                    self.store.record(&event(AuditKind::SignInLocked, scope.describe()));
                }
                Ok(Outcome::Refused { delay: verdict.delay })
            }
        }
    }
}

/// Why a user's own password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeRefused {
    #[error("The current password is wrong.")]
    WrongPassword,
    #[error("The new password must be 8 to 72 bytes long.")]
    Policy,
    #[error("The two new passwords differ.")]
    Mismatch,
}

/// The new password a user typed twice: the same both times, and within
/// the policy. Checked before the current password, so a typo costs no
/// attempt against the throttle.
pub fn check_new_password(new: &str, repeated: &str) -> Result<(), ChangeRefused> {
    if new != repeated {
        return Err(ChangeRefused::Mismatch);
    }
    password::check_policy(new).map_err(|_| ChangeRefused::Policy)
}

impl SignIn<'_> {
    /// Stores a signed-in user's new password, once the current one was
    /// checked as at sign-in (the account page's `password_confirms`), with a
    /// new epoch: every refresh family and session made before ends (the
    /// caller keeps the current session, `Sessions::keep_only`).
    pub fn set_own_password(&self, user: &User, new: &str, cost: u32, now: i64) -> Result<User, SignInError> {
        let hash = password::hash(new, cost)?;
        // Read again: the check may have rehashed it meanwhile.
        let mut user = self.store.user_by_sub(&user.sub)?.unwrap_or_else(|| user.clone());
        user.password_hash = hash;
        user.end_sessions_and_grants();
        self.store.update_user(&user)?;
        self.store.record(
            &AuditEvent::new(AuditKind::UserChanged, now).user(&user.username).detail("password changed by the user"),
        );
        Ok(user)
    }
}

impl SignIn<'_> {
    /// Removes a signed-in user's password: from now on they sign in with
    /// a passkey alone, `keeps` (the caller found it signs in on its own;
    /// it must be unchanged when the password goes, so that its removal
    /// at the same moment cannot leave the account with neither), and a
    /// password typed for them fails as a wrong one does. A new epoch, as
    /// a password change: every refresh family and session made before
    /// ends (the caller keeps the current session). None if the account
    /// or the key changed meanwhile: nothing was changed.
    pub fn remove_own_password(
        &self,
        user: &User,
        keeps: &Stored<Factor>,
        now: i64,
    ) -> Result<Option<User>, SignInError> {
        let Some(seen) = self.store.user_as_read(&user.sub)? else { return Ok(None) };
        let mut next = seen.record.clone();
        next.password_hash = String::new();
        next.end_sessions_and_grants();
        if keeps.sub != next.sub || !self.store.replace_user_keeping(&seen, &next, keeps)? {
            return Ok(None);
        }
        self.store.record(
            &AuditEvent::new(AuditKind::UserChanged, now).user(&next.username).detail("password removed by the user"),
        );
        Ok(Some(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SignInPolicy;

    fn user(store: &Store, name: &str, password: &str) -> User {
        let user = User::for_test(name, bcrypt::hash(password, 4).unwrap());
        store.create_user(&user).unwrap();
        user
    }

    fn attempt<'a>(sign_in: &SignIn<'_>, username: &'a str, password: &str, device: Option<&'a str>) -> Attempt<'a> {
        Attempt {
            user: sign_in.lookup(username).unwrap(),
            username,
            password: password.to_owned(),
            device,
            address: "10.0.0.1",
            user_agent: None,
            app: "web",
            now: 1_000,
        }
    }

    #[test]
    fn the_right_password_signs_in_and_three_wrong_ones_lock_unknown_clients_but_not_a_known_browser() {
        let (_dir, store) = crate::store::testing::temp_store();
        user(&store, "alice", "alice-password");
        let policy =
            SignInPolicy { max_failures: 3, ip_max_failures: 50, account_max_failures: 50, lock_for: 900, delay_ms: 0 };
        let throttle = Throttle::new(policy);
        let dummy_hash = DummyHash::new(4, []);
        let sign_in = SignIn { store: &store, throttle: &throttle, dummy_hash: &dummy_hash };

        let ok = sign_in.check(attempt(&sign_in, "alice", "alice-password", None)).unwrap();
        assert!(matches!(ok, Outcome::SignedIn(u) if u.username.as_str() == "alice"));
        for _ in 0..3 {
            let refused = sign_in.check(attempt(&sign_in, "Alice ", "wrong-password", None)).unwrap();
            assert!(matches!(refused, Outcome::Refused { .. }), "names are normalised for the throttle");
        }
        let locked = sign_in.check(attempt(&sign_in, "alice", "alice-password", None)).unwrap();
        assert!(matches!(locked, Outcome::Refused { .. }), "locked from this address");
        let known = sign_in.check(attempt(&sign_in, "alice", "alice-password", Some("device-1"))).unwrap();
        assert!(matches!(known, Outcome::SignedIn(_)), "her own browser is not locked");
        let unknown = sign_in.check(attempt(&sign_in, "nobody", "whatever-password", None)).unwrap();
        assert!(matches!(unknown, Outcome::Refused { .. }));

        let trail = store.audit_since(0).unwrap();
        let failed = trail.iter().filter(|e| e.kind == Some(AuditKind::SignInFailed)).count();
        let locks = trail.iter().filter(|e| e.kind == Some(AuditKind::SignInLocked)).count();
        assert_eq!((failed, locks), (5, 1), "3 wrong, 1 while locked, 1 unknown; one lock");
    }

    /// An account without a password (it signs in with a passkey) is
    /// refused whatever is typed, after as much bcrypt work as a wrong
    /// password: an empty stored hash would otherwise fail at once, and the
    /// time would tell that the account exists and has no password.
    #[test]
    fn an_account_without_a_password_is_refused_after_the_work_of_a_wrong_password() {
        let (_dir, store) = crate::store::testing::temp_store();
        user(&store, "alice", "alice-password");
        store.create_user(&User::for_test("pia", String::new())).unwrap();
        let policy = SignInPolicy {
            max_failures: 100,
            ip_max_failures: 100,
            account_max_failures: 100,
            lock_for: 900,
            delay_ms: 0,
        };
        let throttle = Throttle::new(policy);
        let dummy_hash = DummyHash::new(4, []);
        let sign_in = SignIn { store: &store, throttle: &throttle, dummy_hash: &dummy_hash };
        let fastest = |username: &'static str, password: &'static str| {
            let mut fastest = std::time::Duration::MAX;
            for _ in 0..5 {
                let started = std::time::Instant::now();
                let outcome = sign_in.check(attempt(&sign_in, username, password, None)).unwrap();
                assert!(matches!(outcome, Outcome::Refused { .. }), "{username} with {password:?}");
                fastest = fastest.min(started.elapsed());
            }
            fastest
        };
        let wrong = fastest("alice", "not-her-password");
        for typed in ["", "anything-at-all"] {
            let passwordless = fastest("pia", typed);
            assert!(passwordless * 3 > wrong, "{passwordless:?} against {wrong:?} for a wrong password");
        }
    }
}
