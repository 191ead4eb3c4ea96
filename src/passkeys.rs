//! Passkeys and security keys (WebAuthn Level 2), without HTTP:
//! registration, the second factor after a password, and signing in with
//! a passkey alone (a discoverable credential: the browser offers the
//! user's keys, and the key's user handle names the account), with the
//! webauthn-rs crate. The relying party is `public_url`'s host (WebAuthn
//! takes no IP address), so passkeys are off when ferrid is served by
//! address. A ceremony's state waits in the store between its two
//! requests, used once; user verification (a PIN or biometric on the
//! authenticator) is required; an authenticator whose signature counter
//! goes backwards (a cloned key) is refused.

use crate::mfa::{AMR_HARDWARE_KEY, AMR_SOFTWARE_KEY, AMR_USER_PRESENCE};
use crate::store::{AuditEvent, AuditKind, Ceremony, Factor, FactorKind, Store, StoreError, Stored, User};
use serde_json::Value;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] crate::crypto::secrets::RandomError),
    #[error("a stored passkey or ceremony is unreadable: {0}")]
    Corrupt(String),
}

/// Why a ceremony's answer was not accepted (the browser's words, checked).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What a refused passkey sign-in says, whatever the reason: it names no
/// account, and tells no unknown key from another user's.
pub const SIGN_IN_REFUSED: &str =
    "That passkey was not accepted. Nothing was changed; try again, or use your password.";

pub struct Passkeys {
    webauthn: Webauthn,
}

fn corrupt(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Corrupt(e.to_string())
}

/// The user's passkeys, with their factor records.
fn stored(store: &Store, user: &User) -> Result<Vec<(Stored<Factor>, Passkey)>, PasskeyError> {
    let mut found = Vec::new();
    for factor in store.factors_of(&user.sub)? {
        if let FactorKind::Passkey { passkey, .. } = &factor.kind {
            let key: Passkey = serde_json::from_value(passkey.clone()).map_err(corrupt)?;
            found.push((factor, key));
        }
    }
    Ok(found)
}

/// The store key of the passkey sign-in offered by the sign-in page of
/// the parked sign-in `tx` (one per sign-in: a reload replaces it).
fn sign_in_ceremony(tx: &str) -> String {
    format!("sign-in.{tx}")
}

/// The RFC 8176 methods an accepted assertion shows (ferrid asks for no
/// attestation, so it knows only what the authenticator's flags say):
/// `swk` when the key may leave the device (backup-eligible or backed up:
/// a synced passkey, held in software by a password manager or a
/// platform's keychain), else `hwk` (a device-bound key: a security key,
/// or a platform authenticator's TPM or secure enclave); and `user`, the
/// user-presence test every assertion passed. User verification (a PIN
/// or a biometric, required) is what makes it a second factor; which of
/// the two it was, the browser does not say, so neither `pin` nor `fpt`
/// is claimed. See docs/security.md.
pub fn methods_of(result: &AuthenticationResult) -> Vec<String> {
    let key = if result.backup_eligible() || result.backup_state() { AMR_SOFTWARE_KEY } else { AMR_HARDWARE_KEY };
    vec![key.to_owned(), AMR_USER_PRESENCE.to_owned()]
}

fn signs_in_on_its_own(factor: &Factor) -> bool {
    matches!(factor.kind, FactorKind::Passkey { discoverable: true, .. })
}

/// Has the user a passkey known to sign in on its own, other than
/// `except` (a factor id)? Such a key is what an account without a
/// password signs in with.
pub fn signs_in_alone(store: &Store, user: &User, except: Option<&str>) -> Result<bool, StoreError> {
    Ok(one_that_signs_in_alone(store, user, except)?.is_some())
}

/// One of the user's passkeys known to sign in on its own, other than
/// `except`, as stored.
pub fn one_that_signs_in_alone(
    store: &Store,
    user: &User,
    except: Option<&str>,
) -> Result<Option<Stored<Factor>>, StoreError> {
    let factors = store.factors_of(&user.sub)?;
    Ok(factors.into_iter().find(|f| signs_in_on_its_own(f) && Some(f.id.as_str()) != except))
}

/// What removing a factor came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NoSuchFactor,
    /// The last passkey that signs in on its own, of an account without a
    /// password (recovery codes are typed after a password, so they
    /// cannot stand in for it): kept.
    LastWayIn,
    /// The account kept changing while this was tried (a key used each
    /// time, say): nothing was removed.
    Busy,
}

/// Removes the user's factor `id`, unless it is their last way in. The
/// check and the removal are one step against the user's record and the
/// passkey that stays, as read: removing the password (or another key) at
/// the same moment cannot leave an account with neither, whichever lands
/// first. A change meanwhile makes it look again.
pub fn remove_factor(store: &Store, sub: &uuid::Uuid, id: &str, now: i64) -> Result<Removal, StoreError> {
    for _ in 0..5 {
        let (Some(user), Some(factor)) = (store.user_as_read(sub)?, store.factor(sub, id)?) else {
            return Ok(Removal::NoSuchFactor);
        };
        let keeps = match user.has_password() || !signs_in_on_its_own(&factor) {
            true => None,
            false => match one_that_signs_in_alone(store, &user, Some(id))? {
                Some(other) => Some(other),
                None => return Ok(Removal::LastWayIn),
            },
        };
        if store.delete_factor_if_unchanged(&user, &factor, keeps.as_ref())? {
            store.record(&AuditEvent::new(AuditKind::MfaChanged, now).user(&user.username).detail("factor removed"));
            return Ok(Removal::Removed);
        }
    }
    Ok(Removal::Busy)
}

/// What a passkey sign-in came to.
pub enum SignInOutcome {
    /// The key signed its user in on its own; `methods`: RFC 8176
    /// (`methods_of`).
    SignedIn { user: User, methods: Vec<String> },
    /// The right key of a disabled account (nothing stored: as after the
    /// right password of one).
    Disabled(User),
    /// Refused, for the reason audited; the page says `SIGN_IN_REFUSED`.
    Refused,
}

/// Stores what an accepted assertion changed (the counter, the backup
/// flags), compare-and-swap and durable; false if another use of the key
/// won the race.
fn record_use(
    store: &Store,
    seen: &Stored<Factor>,
    mut key: Passkey,
    result: &AuthenticationResult,
    discovered: bool,
    now: i64,
) -> Result<bool, PasskeyError> {
    key.update_credential(result);
    let known = matches!(seen.kind, FactorKind::Passkey { discoverable: true, .. });
    let mut next = seen.record.clone();
    next.kind = FactorKind::Passkey {
        passkey: serde_json::to_value(&key).map_err(corrupt)?,
        discoverable: known || discovered,
    };
    next.last_used_at = Some(now);
    Ok(store.replace_factor(seen, &next)?)
}

impl Passkeys {
    /// None when `public_url` has no host name (an IP address).
    pub fn for_public_url(public_url: &str) -> Option<Passkeys> {
        let origin = Url::parse(public_url).ok()?;
        let rp_id = origin.domain()?.to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin).ok()?.rp_name("ferrid").build().ok()?;
        Some(Passkeys { webauthn })
    }

    /// Options for `navigator.credentials.create` and the state to keep.
    /// The user's existing keys are excluded (no key registered twice).
    /// The key is asked to be discoverable where the authenticator can
    /// (`residentKey: preferred`), so that it can sign in on its own;
    /// webauthn-rs asks for "discouraged" and does not check it at the
    /// finish, so an authenticator that makes one either way is accepted.
    pub fn start_registration(&self, store: &Store, user: &User) -> Result<(Value, Value), PasskeyError> {
        let existing = stored(store, user)?.iter().map(|(_, k)| k.cred_id().clone()).collect::<Vec<_>>();
        let display = user.name.clone().unwrap_or_else(|| user.username.to_string());
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user.sub, user.username.as_str(), &display, Some(existing))
            .map_err(corrupt)?;
        let mut options = serde_json::to_value(options).map_err(corrupt)?;
        let selection = &mut options["publicKey"]["authenticatorSelection"];
        if !selection.is_object() {
            return Err(corrupt("webauthn-rs's creation options have no authenticatorSelection"));
        }
        selection["residentKey"] = Value::from("preferred");
        selection["requireResidentKey"] = Value::from(false);
        Ok((options, serde_json::to_value(state).map_err(corrupt)?))
    }

    /// Checks the browser's answer against `state` and stores the new key.
    pub fn finish_registration(
        &self,
        store: &Store,
        user: &User,
        name: &str,
        state: &Value,
        answer: &str,
        now: i64,
    ) -> Result<Result<(), Refused>, PasskeyError> {
        let state: PasskeyRegistration = serde_json::from_value(state.clone()).map_err(corrupt)?;
        let Ok(answer) = serde_json::from_str::<RegisterPublicKeyCredential>(answer) else {
            return Ok(Err(Refused("The browser's answer is not a WebAuthn registration.".into())));
        };
        let passkey = match self.webauthn.finish_passkey_registration(&answer, &state) {
            Ok(passkey) => passkey,
            Err(e) => return Ok(Err(Refused(format!("The key was not accepted ({e}).")))),
        };
        // The browser's word (credProps, unsigned): enough to let its own
        // user go without a password, since a wrong "yes" only locks out
        // the account whose browser lied; a passkey sign-in proves it too.
        let discoverable = answer.extensions.cred_props.as_ref().and_then(|p| p.rk) == Some(true);
        let name = name.trim();
        let factor = Factor {
            id: crate::mfa::new_factor_id()?,
            sub: user.sub,
            name: if name.is_empty() { "Passkey".into() } else { name.chars().take(60).collect() },
            created_at: now,
            last_used_at: None,
            kind: FactorKind::Passkey { passkey: serde_json::to_value(&passkey).map_err(corrupt)?, discoverable },
        };
        store.put_factor(&factor)?;
        store.record(&AuditEvent::new(AuditKind::MfaChanged, now).user(&user.username).detail("passkey added"));
        Ok(Ok(()))
    }

    /// Options for `navigator.credentials.get` over the user's keys, and the
    /// state to keep; None if they have none.
    pub fn start_authentication(&self, store: &Store, user: &User) -> Result<Option<(Value, Value)>, PasskeyError> {
        let keys: Vec<Passkey> = stored(store, user)?.into_iter().map(|(_, k)| k).collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let (options, state) = self.webauthn.start_passkey_authentication(&keys).map_err(corrupt)?;
        Ok(Some((serde_json::to_value(options).map_err(corrupt)?, serde_json::to_value(state).map_err(corrupt)?)))
    }

    /// Checks an assertion against `state` (its challenge, origin, the
    /// key's signature and counter, user verification). On success the
    /// key's counter is stored (compare-and-swap, durable) before it
    /// counts; returns the methods it shows (`methods_of`).
    pub fn finish_authentication(
        &self,
        store: &Store,
        user: &User,
        state: &Value,
        answer: &str,
        now: i64,
    ) -> Result<Result<Vec<String>, Refused>, PasskeyError> {
        let state: PasskeyAuthentication = serde_json::from_value(state.clone()).map_err(corrupt)?;
        let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(answer) else {
            return Ok(Err(Refused("The browser's answer is not a WebAuthn assertion.".into())));
        };
        let result = match self.webauthn.finish_passkey_authentication(&answer, &state) {
            Ok(result) => result,
            Err(e) => {
                store.record(
                    &AuditEvent::new(AuditKind::MfaFailed, now).user(&user.username).detail(format!("passkey: {e}")),
                );
                return Ok(Err(Refused("That passkey was not accepted.".into())));
            }
        };
        for (seen, key) in stored(store, user)? {
            if key.cred_id() != result.cred_id() {
                continue;
            }
            if record_use(store, &seen, key, &result, false, now)? {
                return Ok(Ok(methods_of(&result)));
            }
            return Ok(Err(Refused("That passkey was used twice at once.".into())));
        }
        Ok(Err(Refused("That passkey is not one of this account's.".into())))
    }

    /// Offers a passkey sign-in on the sign-in page of the parked sign-in
    /// `tx`: options for `navigator.credentials.get` without a username
    /// (no allowed credentials: the browser offers the keys it holds for
    /// this site), whose state waits in the store under the sign-in until
    /// `expires_at` (a reload replaces it). No `mediation` in them: the
    /// page asks conditionally on load (the username field's autofill)
    /// and plainly from its button.
    pub fn offer_sign_in(&self, store: &Store, tx: &str, expires_at: i64) -> Result<Value, PasskeyError> {
        let (mut options, state) = self.webauthn.start_discoverable_authentication().map_err(corrupt)?;
        options.mediation = None;
        let state = serde_json::to_value(state).map_err(corrupt)?;
        let ceremony = Ceremony { sub: None, session: None, name: String::new(), state, expires_at };
        store.put_ceremony(&sign_in_ceremony(tx), &ceremony)?;
        serde_json::to_value(options).map_err(corrupt)
    }

    /// Checks a passkey sign-in: the key's user handle names the user
    /// (ferrid registers keys under the user's `sub`), the credential must
    /// be one of that user's keys, and the assertion must verify against
    /// `state` with user verification and a counter ahead of the stored
    /// one, which is then stored as the second-factor path does. `only`:
    /// a re-authentication, which only that user's key may answer. A
    /// refusal changes nothing (but the challenge, used) and its reason is
    /// audited.
    pub fn finish_sign_in(
        &self,
        store: &Store,
        tx: &str,
        answer: &str,
        only: Option<uuid::Uuid>,
        now: i64,
    ) -> Result<SignInOutcome, PasskeyError> {
        let refuse = |user: Option<&User>, why: &str| -> Result<SignInOutcome, PasskeyError> {
            let event = AuditEvent::new(AuditKind::SignInFailed, now).detail(format!("passkey: {why}"));
            store.record(&match user {
                Some(user) => event.user(&user.username),
                None => event,
            });
            Ok(SignInOutcome::Refused)
        };
        // The challenge this sign-in's page offered, used once.
        let state = match store.take_ceremony(&sign_in_ceremony(tx))? {
            Some(ceremony) if ceremony.sub.is_none() && ceremony.expires_at > now => ceremony.state,
            _ => return refuse(None, "no challenge offered, or it expired"),
        };
        let state: DiscoverableAuthentication = serde_json::from_value(state).map_err(corrupt)?;
        let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(answer) else {
            return refuse(None, "not a WebAuthn assertion");
        };
        let Ok((sub, credential)) = self.webauthn.identify_discoverable_authentication(&answer) else {
            return refuse(None, "no user handle");
        };
        if only.is_some_and(|only| only != sub) {
            return refuse(None, "another user's key at a re-authentication");
        }
        let Some(user) = store.user_by_sub(&sub)? else { return refuse(None, "a user handle of no user") };
        let mine = stored(store, &user)?.into_iter().find(|(_, key)| key.cred_id().as_ref() == credential);
        let Some((seen, key)) = mine else { return refuse(Some(&user), "a key that is not the user's") };
        let checked = self.webauthn.finish_discoverable_authentication(&answer, state, &[DiscoverableKey::from(&key)]);
        let result = match checked {
            Ok(result) => result,
            Err(e) => return refuse(Some(&user), &e.to_string()),
        };
        // webauthn-rs requires it too (the policy is "required"); checked
        // here as well, because a passkey alone is a sign-in only with it.
        if !result.user_verified() {
            return refuse(Some(&user), "no user verification");
        }
        if user.disabled {
            refuse(Some(&user), "the account is disabled")?;
            return Ok(SignInOutcome::Disabled(user));
        }
        if !record_use(store, &seen, key, &result, true, now)? {
            return refuse(Some(&user), "used twice at once");
        }
        Ok(SignInOutcome::SignedIn { methods: methods_of(&result), user })
    }
}
