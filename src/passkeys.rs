//! Passkeys and security keys (WebAuthn Level 2) as a second factor,
//! without HTTP: registration and authentication ceremonies with the
//! webauthn-rs crate. The relying party is `public_url`'s host (WebAuthn
//! takes no IP address), so passkeys are off when ferrid is served by
//! address. A ceremony's state waits in the store between its two requests,
//! used once; an authenticator whose signature counter goes backwards (a
//! cloned key) is refused.

use crate::store::{AuditEvent, AuditKind, Factor, FactorKind, Store, StoreError, User};
use serde_json::Value;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url,
    Webauthn, WebauthnBuilder,
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

pub struct Passkeys {
    webauthn: Webauthn,
}

fn corrupt(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Corrupt(e.to_string())
}

/// The user's passkeys, with their factor records.
fn stored(store: &Store, user: &User) -> Result<Vec<(crate::store::Stored<Factor>, Passkey)>, PasskeyError> {
    let mut found = Vec::new();
    for factor in store.factors_of(&user.sub)? {
        if let FactorKind::Passkey { passkey } = &factor.kind {
            let key: Passkey = serde_json::from_value(passkey.clone()).map_err(corrupt)?;
            found.push((factor, key));
        }
    }
    Ok(found)
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
    pub fn start_registration(&self, store: &Store, user: &User) -> Result<(Value, Value), PasskeyError> {
        let existing = stored(store, user)?.iter().map(|(_, k)| k.cred_id().clone()).collect::<Vec<_>>();
        let display = user.name.clone().unwrap_or_else(|| user.username.to_string());
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user.sub, user.username.as_str(), &display, Some(existing))
            .map_err(corrupt)?;
        Ok((serde_json::to_value(options).map_err(corrupt)?, serde_json::to_value(state).map_err(corrupt)?))
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
        let name = name.trim();
        let factor = Factor {
            id: crate::mfa::new_factor_id()?,
            sub: user.sub,
            name: if name.is_empty() { "Passkey".into() } else { name.chars().take(60).collect() },
            created_at: now,
            last_used_at: None,
            kind: FactorKind::Passkey { passkey: serde_json::to_value(&passkey).map_err(corrupt)? },
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
    /// key's signature and counter). On success the key's counter is stored
    /// (compare-and-swap, durable) before it counts.
    pub fn finish_authentication(
        &self,
        store: &Store,
        user: &User,
        state: &Value,
        answer: &str,
        now: i64,
    ) -> Result<Result<(), Refused>, PasskeyError> {
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
        for (seen, mut key) in stored(store, user)? {
            if key.cred_id() != result.cred_id() {
                continue;
            }
            key.update_credential(&result);
            let mut next = seen.record.clone();
            next.kind = FactorKind::Passkey { passkey: serde_json::to_value(&key).map_err(corrupt)? };
            next.last_used_at = Some(now);
            if store.replace_factor(&seen, &next)? {
                return Ok(Ok(()));
            }
            return Ok(Err(Refused("That passkey was used twice at once.".into())));
        }
        Ok(Err(Refused("That passkey is not one of this account's.".into())))
    }
}
