//! Second factors, without HTTP: TOTP enrollment and checks, recovery
//! codes, and what a user has. Codes are throttled like passwords (the same
//! `Throttle`, counted under `mfa:` + the username), each accepted code is
//! written as used before it counts (compare-and-swap, durable), and every
//! use and failure is audited.

use crate::crypto::seal::SealKey;
use crate::crypto::secrets::{Digest, RandomError, b64url, b64url_decode, random_bytes};
use crate::crypto::totp;
use crate::store::{AuditEvent, AuditKind, Factor, FactorKind, Store, StoreError, Stored, User};
use crate::throttle::{Client, CodeRefusal, Throttle};
use serde::Serialize;
use std::time::Duration;

/// The `acr` of a sign-in with a second factor, and of one with a password
/// alone (`acr_values_supported`).
pub const ACR_MFA: &str = "mfa";
pub const ACR_PASSWORD: &str = "pwd";

/// RFC 8176 methods: a password; a one-time code (TOTP or recovery code);
/// more than one factor.
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_OTP: &str = "otp";
pub const AMR_MFA: &str = "mfa";
/// ferrid's own `amr` value (RFC 8176 registers none for it): signed in by
/// a one-time link an administrator handed out (`links`). Such a session
/// may act on the account page for `lifetimes.reauthentication`, so a user
/// who lost every factor can set a new password or add a passkey.
pub const AMR_LINK: &str = "link";
/// A passkey kept on its device (a security key, a platform
/// authenticator's TPM or secure enclave), and one that may leave it (a
/// synced passkey: backup-eligible); see `passkeys::methods_of`.
pub const AMR_HARDWARE_KEY: &str = "hwk";
pub const AMR_SOFTWARE_KEY: &str = "swk";
/// A user-presence test (the authenticator's touch).
pub const AMR_USER_PRESENCE: &str = "user";
/// Signed in at another identity provider (a source): not registered by
/// RFC 8176; Microsoft Entra ID sends `fed` for the same.
pub const AMR_FEDERATED: &str = "fed";

/// The `acr` a session's `amr` gives.
pub fn acr_of(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == AMR_MFA) { ACR_MFA } else { ACR_PASSWORD }
}

/// Must this sign-in have a second factor? Besides users who have one
/// (always asked): the global policy, the application's, any of the
/// user's groups', or the request's `acr_values`.
pub fn required(
    policy: &crate::config::MfaPolicy,
    store: &Store,
    app: Option<&crate::store::Application>,
    user: &User,
    requested: bool,
) -> Result<bool, StoreError> {
    if policy.required || requested || app.is_some_and(|a| a.require_mfa) {
        return Ok(true);
    }
    // Every single sign-on of a password-only session asks: no scan for
    // a user in no group.
    if user.groups.is_empty() {
        return Ok(false);
    }
    Ok(store.groups()?.iter().any(|g| g.require_mfa && user.groups.contains(&g.name)))
}

/// How many recovery codes a set has.
pub const RECOVERY_CODES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Seal(#[from] crate::crypto::seal::SealError),
    #[error("TOTP: {0}")]
    Totp(#[from] openssl::error::ErrorStack),
}

/// What a check of a code found.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// A TOTP code: `amr` "otp".
    Totp,
    /// A recovery code, now used; `left` remain.
    Recovery { left: usize },
    /// Wrong, used, expired, or locked: one answer for all, after `delay`.
    Refused { delay: Duration },
}

/// A factor as the account page and `ferrid user mfa` list it (no secret).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct FactorView {
    pub id: String,
    /// `totp` or `recovery_codes`.
    pub kind: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// For recovery codes: how many are unused.
    pub left: Option<usize>,
    /// For passkeys: known to sign in on its own, without a password.
    #[serde(default)]
    pub discoverable: bool,
}

/// The user's factors (no secret), for `ferrid user mfa`.
pub fn factors_of(store: &Store, user: &User) -> Result<Vec<FactorView>, StoreError> {
    let mut views: Vec<FactorView> = store.factors_of(&user.sub)?.iter().map(|f| FactorView::of(f)).collect();
    views.sort_by(|a, b| b.kind.cmp(&a.kind).then(a.created_at.cmp(&b.created_at)));
    Ok(views)
}

/// Removes every factor of the user's (a lost phone): their next sign-in
/// asks only for the password, or to set up a factor where one is needed.
pub fn reset(store: &Store, user: &User, now: i64) -> Result<usize, StoreError> {
    let removed = store.delete_factors_of(&user.sub)?;
    store.record(
        &AuditEvent::new(AuditKind::MfaChanged, now)
            .user(&user.username)
            .detail(format!("{removed} factor(s) removed by an administrator")),
    );
    Ok(removed)
}

impl FactorView {
    fn of(factor: &Factor) -> FactorView {
        let (kind, left, discoverable) = match &factor.kind {
            FactorKind::Totp { .. } => ("totp", None, false),
            FactorKind::RecoveryCodes { codes } => ("recovery_codes", Some(codes.iter().flatten().count()), false),
            FactorKind::Passkey { discoverable, .. } => ("passkey", None, *discoverable),
        };
        FactorView {
            id: factor.id.clone(),
            kind: kind.to_owned(),
            name: factor.name.clone(),
            created_at: factor.created_at,
            last_used_at: factor.last_used_at,
            left,
            discoverable,
        }
    }
}

/// A TOTP enrollment waiting for its first code.
pub struct Enrollment {
    pub id: String,
    pub seed: Vec<u8>,
}

/// What the second-factor checks need, borrowed from whoever owns it.
pub struct Mfa<'a> {
    pub store: &'a Store,
    pub seal: &'a SealKey,
    pub throttle: &'a Throttle,
}

pub fn new_factor_id() -> Result<String, RandomError> {
    Ok(random_bytes::<8>()?.iter().map(|b| format!("{b:02x}")).collect())
}

/// The seal's context: the factor's identity, so a seed moved to another
/// user's record does not open.
/// What a seal-key rotation did to the TOTP seeds.
#[derive(Debug, Default)]
pub struct Resealed {
    pub moved: usize,
    /// Seeds that open with neither key (left as they are, and logged).
    pub unreadable: usize,
    /// Seeds changed by a sign-in each time they were about to move.
    pub busy: usize,
}

/// During a seal-key rotation: every TOTP seed that only the previous key
/// opens, sealed again with the current one.
pub fn reseal_seeds(store: &Store, seal: &SealKey) -> Result<Resealed, MfaError> {
    let mut done = Resealed::default();
    for mut seen in store.all_factors()? {
        // A code used meanwhile changes the record: read it again and retry.
        let mut tries = 0;
        loop {
            tries += 1;
            if tries > 3 {
                tracing::warn!(user = %seen.sub, factor = %seen.id, "a TOTP seed kept changing: not sealed again");
                done.busy += 1;
                break;
            }
            let FactorKind::Totp { sealed_seed, .. } = &seen.kind else { break };
            let resealed = b64url_decode(sealed_seed)
                .ok_or(crate::crypto::seal::SealError::Open)
                .and_then(|sealed| seal.reseal(&sealed, &context(&seen.sub, &seen.id)));
            let next_seed = match resealed {
                Ok(Some(next)) => b64url(&next),
                Ok(None) => break,
                Err(_) => {
                    tracing::error!(user = %seen.sub, factor = %seen.id, "a TOTP seed opens with neither seal key");
                    done.unreadable += 1;
                    break;
                }
            };
            let mut next = seen.record.clone();
            if let FactorKind::Totp { sealed_seed, .. } = &mut next.kind {
                *sealed_seed = next_seed;
            }
            if store.replace_factor(&seen, &next)? {
                done.moved += 1;
                break;
            }
            match store.factor(&seen.sub, &seen.id)? {
                Some(again) => seen = again,
                None => break,
            }
        }
    }
    Ok(done)
}

fn context(factor_sub: &uuid::Uuid, id: &str) -> Vec<u8> {
    [factor_sub.as_bytes().as_slice(), id.as_bytes()].concat()
}

impl Mfa<'_> {
    /// The user's factors, TOTP first.
    pub fn list(&self, user: &User) -> Result<Vec<FactorView>, StoreError> {
        factors_of(self.store, user)
    }

    /// Has the user a confirmed second factor?
    pub fn has_second_factor(&self, user: &User) -> Result<bool, StoreError> {
        Ok(self.store.factors_of(&user.sub)?.iter().any(|f| f.is_second_factor()))
    }

    /// Starts a TOTP enrollment: a fresh seed, stored sealed and
    /// unconfirmed (it counts once `confirm_totp` sees its first code).
    pub fn start_totp(&self, user: &User, name: &str, now: i64) -> Result<Enrollment, MfaError> {
        let seed = random_bytes::<{ totp::SEED_BYTES }>()?.to_vec();
        let id = new_factor_id()?;
        let sealed = self.seal.seal(&seed, &context(&user.sub, &id))?;
        let name = name.trim();
        let factor = Factor {
            id: id.clone(),
            sub: user.sub,
            name: if name.is_empty() { "Authenticator app".into() } else { name.chars().take(60).collect() },
            created_at: now,
            last_used_at: None,
            kind: FactorKind::Totp { sealed_seed: b64url(&sealed), confirmed: false, last_step: None },
        };
        self.store.put_factor(&factor)?;
        Ok(Enrollment { id, seed })
    }

    /// The seed of an enrollment not yet confirmed (to show it again).
    pub fn pending_seed(&self, user: &User, id: &str) -> Result<Option<Vec<u8>>, MfaError> {
        match self.store.factor(&user.sub, id)? {
            Some(f) if matches!(f.kind, FactorKind::Totp { confirmed: false, .. }) => Ok(Some(self.seed_of(&f)?)),
            _ => Ok(None),
        }
    }

    fn seed_of(&self, factor: &Factor) -> Result<Vec<u8>, MfaError> {
        let FactorKind::Totp { sealed_seed, .. } = &factor.kind else {
            return Err(crate::crypto::seal::SealError::Open.into());
        };
        let sealed = b64url_decode(sealed_seed).ok_or(crate::crypto::seal::SealError::Open)?;
        Ok(self.seal.open(&sealed, &context(&factor.sub, &factor.id))?)
    }

    /// The first code from the app: proves it has the seed. True if the
    /// enrollment is now confirmed.
    pub fn confirm_totp(&self, user: &User, id: &str, code: &str, now: i64) -> Result<bool, MfaError> {
        let Some(seen) = self.store.factor(&user.sub, id)? else { return Ok(false) };
        if !matches!(seen.kind, FactorKind::Totp { confirmed: false, .. }) {
            return Ok(false);
        }
        let seed = self.seed_of(&seen)?;
        let Some(step) = totp::accepted_step(&seed, code, now, None) else { return Ok(false) };
        let mut next = seen.record.clone();
        if let FactorKind::Totp { confirmed, last_step, .. } = &mut next.kind {
            *confirmed = true;
            *last_step = Some(step);
        }
        next.last_used_at = Some(now);
        let confirmed = self.store.replace_factor(&seen, &next)?;
        if confirmed {
            self.store.record(
                &AuditEvent::new(AuditKind::MfaChanged, now).user(&user.username).detail("authenticator app added"),
            );
        }
        Ok(confirmed)
    }

    /// A new set of recovery codes, replacing any earlier set. The codes
    /// are returned once (16 base32 characters, 80 bits each: their SHA-256
    /// digests cannot be searched back) and stored only as digests.
    pub fn new_recovery_codes(&self, user: &User, now: i64) -> Result<Vec<String>, MfaError> {
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let raw = totp::base32(&random_bytes::<10>()?).to_lowercase();
            codes.push(format!("{}-{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12], &raw[12..16]));
        }
        for old in self.store.factors_of(&user.sub)? {
            if matches!(old.kind, FactorKind::RecoveryCodes { .. }) {
                self.store.delete_factor(&user.sub, &old.id)?;
            }
        }
        let factor = Factor {
            id: new_factor_id()?,
            sub: user.sub,
            name: "Recovery codes".into(),
            created_at: now,
            last_used_at: None,
            kind: FactorKind::RecoveryCodes { codes: codes.iter().map(|c| Some(Digest::of(c))).collect() },
        };
        self.store.put_factor(&factor)?;
        self.store
            .record(&AuditEvent::new(AuditKind::MfaChanged, now).user(&user.username).detail("recovery codes made"));
        Ok(codes)
    }

    /// Checks a code typed at the second step: a TOTP code of any confirmed
    /// app, or a recovery code. Throttled and audited like a password.
    pub fn check(
        &self,
        user: &User,
        code: &str,
        client: Client<'_>,
        address: &str,
        now: i64,
    ) -> Result<Checked, MfaError> {
        let account = format!("mfa:{}", user.username);
        let event = |kind, what: &str| {
            AuditEvent::new(kind, now)
                .user(&user.username)
                .from_client(Some(address.to_owned()).filter(|a| !a.is_empty()), None)
                .detail(what)
        };
        // The attempt is counted before the code is looked at: guesses at
        // once, at one instance or several, cannot all slip under the cap.
        let attempt = match self.throttle.reserve_code(&account, client, now) {
            Ok(attempt) => attempt,
            Err(refusal) => {
                let why = match refusal {
                    CodeRefusal::Locked => "while locked",
                    CodeRefusal::DailyCap => "after the day's codes were spent",
                };
                self.store.record(&event(AuditKind::MfaFailed, why));
                return Ok(Checked::Refused { delay: self.throttle.longest_delay() });
            }
        };
        if let Some(scope) = attempt.newly_locked {
            self.store.record(&event(AuditKind::SignInLocked, &format!("second-factor codes: {}", scope.describe())));
        }
        let failed = |detail: &str| {
            self.store.record(&event(AuditKind::MfaFailed, detail));
            Ok(Checked::Refused { delay: attempt.delay })
        };
        let normalised: String = code.trim().to_lowercase();
        for seen in self.store.factors_of(&user.sub)? {
            let accepted = match &seen.kind {
                FactorKind::Totp { confirmed: true, last_step, .. } => {
                    // A seed that opens with no seal key (a key lost in a
                    // rotation) fails alone: the user's recovery codes and
                    // other factors are still tried.
                    let seed = match self.seed_of(&seen) {
                        Ok(seed) => seed,
                        Err(e) => {
                            tracing::error!(user = %user.username, factor = %seen.id, error = %e, "a TOTP seed does not open");
                            continue;
                        }
                    };
                    totp::accepted_step(&seed, &normalised, now, *last_step).map(|step| (Some(step), None))
                }
                FactorKind::RecoveryCodes { codes } => codes
                    .iter()
                    .position(|c| c.is_some_and(|digest| digest.matches(&normalised)))
                    .map(|index| (None, Some(index))),
                FactorKind::Totp { .. } | FactorKind::Passkey { .. } => None,
            };
            let Some((step, index)) = accepted else { continue };
            if self.consume(&seen, step, index, now)? {
                self.throttle.code_succeeded(&account, client, now);
                return Ok(match &seen.kind {
                    FactorKind::RecoveryCodes { codes } => {
                        let left = codes.iter().flatten().count() - 1;
                        self.store.record(
                            &AuditEvent::new(AuditKind::RecoveryCodeUsed, now)
                                .user(&user.username)
                                .detail(format!("{left} left")),
                        );
                        Checked::Recovery { left }
                    }
                    FactorKind::Totp { .. } | FactorKind::Passkey { .. } => Checked::Totp,
                });
            }
            // Someone used the same code at the same moment: not twice.
            return failed("code used concurrently");
        }
        failed("wrong code")
    }

    /// Marks the step or recovery code used; false if another use won.
    fn consume(
        &self,
        seen: &Stored<Factor>,
        step: Option<i64>,
        index: Option<usize>,
        now: i64,
    ) -> Result<bool, MfaError> {
        let mut next = seen.record.clone();
        match &mut next.kind {
            FactorKind::Totp { last_step, .. } => *last_step = step,
            FactorKind::RecoveryCodes { codes } => {
                if let Some(slot) = index.and_then(|i| codes.get_mut(i)) {
                    *slot = None;
                }
            }
            FactorKind::Passkey { .. } => {}
        }
        next.last_used_at = Some(now);
        Ok(self.store.replace_factor(seen, &next)?)
    }

    /// What the user is told when someone has been entering wrong codes
    /// for their account from browsers that are not theirs (on the code
    /// page of their next sign-in, and on their account page).
    pub fn guessing_notice(&self, user: &User, now: i64) -> Option<String> {
        let (count, since) = self.throttle.code_failures_today(&format!("mfa:{}", user.username), now)?;
        Some(format!(
            "{count} wrong second-factor {} entered for this account from other browsers since {}. If that \
             was not you, someone knows your password: change it.",
            if count == 1 { "code was" } else { "codes were" },
            crate::clock::human(since)
        ))
    }

    /// Removes one of the user's factors. False if they have none by that id.
    pub fn remove(&self, user: &User, id: &str, now: i64) -> Result<bool, MfaError> {
        let removed = self.store.delete_factor(&user.sub, id)?;
        if removed {
            self.store
                .record(&AuditEvent::new(AuditKind::MfaChanged, now).user(&user.username).detail("factor removed"));
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SignInPolicy;

    fn setup() -> (tempfile::TempDir, Store, Throttle, SealKey, User) {
        let (dir, store) = crate::store::testing::temp_store();
        let user = User::for_test("alice", String::new());
        store.create_user(&user).unwrap();
        let policy =
            SignInPolicy { max_failures: 3, ip_max_failures: 50, account_max_failures: 50, lock_for: 900, delay_ms: 0 };
        (dir, store, Throttle::new(policy), SealKey::from_bytes([1; 32]), user)
    }

    #[test]
    fn a_totp_counts_once_confirmed_and_each_code_works_once() {
        let (_dir, store, throttle, seal, user) = setup();
        let mfa = Mfa { store: &store, seal: &seal, throttle: &throttle };
        let now = 1_700_000_000;
        let enrollment = mfa.start_totp(&user, "phone", now).unwrap();
        assert!(!mfa.has_second_factor(&user).unwrap(), "not before its first code");
        let code = |at: i64| format!("{:06}", totp::code_at(&enrollment.seed, totp::step_of(at)).unwrap());
        assert!(!mfa.confirm_totp(&user, &enrollment.id, &code(now - 120), now).unwrap(), "an expired code");
        assert!(mfa.confirm_totp(&user, &enrollment.id, &code(now), now).unwrap());
        assert!(mfa.has_second_factor(&user).unwrap());

        let client = Client::Unknown("10.0.0.1");
        let later = now + 30;
        assert_eq!(mfa.check(&user, &code(later), client, "10.0.0.1", later).unwrap(), Checked::Totp);
        assert!(matches!(mfa.check(&user, &code(later), client, "10.0.0.1", later).unwrap(), Checked::Refused { .. }));
        // The seed is sealed: the stored record does not hold it.
        let stored = serde_json::to_string(&store.factors_of(&user.sub).unwrap()[0].record).unwrap();
        assert!(!stored.contains(&totp::base32(&enrollment.seed)));
    }

    #[test]
    fn recovery_codes_work_once_each_and_guessing_locks() {
        let (_dir, store, throttle, seal, user) = setup();
        let mfa = Mfa { store: &store, seal: &seal, throttle: &throttle };
        let codes = mfa.new_recovery_codes(&user, 1).unwrap();
        assert_eq!(codes.len(), 10);
        let client = Client::Unknown("10.0.0.1");
        assert_eq!(mfa.check(&user, &codes[3], client, "", 2).unwrap(), Checked::Recovery { left: 9 });
        assert!(matches!(mfa.check(&user, &codes[3], client, "", 3).unwrap(), Checked::Refused { .. }), "used");
        for _ in 0..3 {
            assert!(matches!(mfa.check(&user, "wrong", client, "", 4).unwrap(), Checked::Refused { .. }));
        }
        assert!(
            matches!(mfa.check(&user, &codes[4], client, "", 5).unwrap(), Checked::Refused { .. }),
            "locked after 3 failures (1 reuse, 2 wrong) from this address"
        );
        assert_eq!(
            mfa.check(&user, &codes[4], Client::Known("her-browser"), "", 5).unwrap(),
            Checked::Recovery { left: 8 }
        );
    }
}
