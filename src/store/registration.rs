//! Dynamic Client Registration's records: the initial access tokens an
//! administrator hands out (stored by the digest of the token, never the
//! token; a public id indexes them for listing and revoking), and the one
//! batch that spends a use of one and writes the client it registers.

use super::audit::audit_op;
use super::backend::{Channel, Op, Tree};
use super::catalog::CATALOG_STAMP;
use super::{Application, AuditEvent, Result, Store, StoreError, Stored, decode, encode};
use crate::crypto::secrets::Digest;
use serde::{Deserialize, Serialize};

/// An initial access token (RFC 7591 §3): lets its holder register up to
/// `allowed` clients before `expires_at`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InitialToken {
    /// Public handle (not secret): what lists show, `revoke` takes and the
    /// audit trail names.
    pub id: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// How many registrations it allows in all.
    pub allowed: u32,
    /// How many it has made.
    pub used: u32,
    /// Who made it ("command line", "NAME (console)").
    pub created_by: String,
    /// What it is for, as the administrator said.
    #[serde(default)]
    pub description: String,
}

impl InitialToken {
    /// Unexpired, with a registration left.
    pub fn is_usable(&self, now: i64) -> bool {
        self.expires_at > now && self.used < self.allowed
    }
}

impl Store {
    /// Durable before it returns: the token is handed out next.
    pub fn create_initial_token(&self, digest: &Digest, token: &InitialToken) -> Result<()> {
        let id = token.id.as_bytes().to_vec();
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::RegistrationTokenIds, id.clone(), None),
            Op::Expect(Tree::RegistrationTokens, digest.as_bytes().to_vec(), None),
            Op::Put(Tree::RegistrationTokenIds, id, digest.as_bytes().to_vec()),
            Op::Put(Tree::RegistrationTokens, digest.as_bytes().to_vec(), encode(token)),
        ])?;
        if !ok {
            return Err(StoreError::AlreadyExists(format!("registration token {}", token.id)));
        }
        self.kv.make_durable()?;
        Ok(())
    }

    pub fn initial_token(&self, digest: &Digest) -> Result<Option<Stored<InitialToken>>> {
        self.get_stored(Tree::RegistrationTokens, digest.as_bytes())
    }

    /// Every initial access token, oldest first.
    pub fn initial_tokens(&self) -> Result<Vec<InitialToken>> {
        let mut tokens: Vec<InitialToken> = self.all(Tree::RegistrationTokens)?;
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    /// Removes a token by its id, durably; None if there is none. The
    /// clients it registered stay.
    pub fn revoke_initial_token(&self, id: &str) -> Result<Option<InitialToken>> {
        let Some(digest) = self.kv.get(Tree::RegistrationTokenIds, id.as_bytes())? else { return Ok(None) };
        let token = self.get::<InitialToken>(Tree::RegistrationTokens, &digest)?;
        self.kv.apply(vec![
            Op::Remove(Tree::RegistrationTokenIds, id.as_bytes().to_vec()),
            Op::Remove(Tree::RegistrationTokens, digest),
        ])?;
        self.kv.make_durable()?;
        Ok(token)
    }

    /// Spends one use of the initial access token `digest` and writes `app`
    /// (a new client), its audit event and a new catalog stamp, in one
    /// atomic, durable batch. False, and nothing written, when the token is
    /// unknown, expired or used up (also when others spent its last use
    /// first: each attempt is a compare-and-swap, so however many race, at
    /// most `allowed` registrations succeed).
    pub fn register_app(&self, digest: &Digest, app: &Application, event: &AuditEvent, now: i64) -> Result<bool> {
        loop {
            let Some(seen) = self.initial_token(digest)? else { return Ok(false) };
            if !seen.is_usable(now) {
                return Ok(false);
            }
            if self.register_app_as_read(digest, &seen, app, event)? {
                return Ok(true);
            }
            // Someone else spent a use (or revoked it) meanwhile: look again.
        }
    }

    /// One attempt of `register_app`: spends a use of the token as `seen`
    /// (read before), if it is still exactly that; false otherwise.
    fn register_app_as_read(
        &self,
        digest: &Digest,
        seen: &Stored<InitialToken>,
        app: &Application,
        event: &AuditEvent,
    ) -> Result<bool> {
        let slug = app.slug.as_str().as_bytes().to_vec();
        let client_key = app.client_id.as_str().as_bytes().to_vec();
        if self.kv.get(Tree::Apps, &slug)?.is_some() || self.kv.get(Tree::ClientIds, &client_key)?.is_some() {
            return Err(StoreError::AlreadyExists(format!("client_id {}", app.client_id)));
        }
        let mut spent = seen.record.clone();
        spent.used = spent.used.saturating_add(1);
        let key = digest.as_bytes().to_vec();
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::RegistrationTokens, key.clone(), Some(seen.raw.clone())),
            Op::Expect(Tree::Apps, slug.clone(), None),
            Op::Expect(Tree::ClientIds, client_key.clone(), None),
            Op::Put(Tree::RegistrationTokens, key, encode(&spent)),
            Op::Put(Tree::ClientIds, client_key, slug.clone()),
            Op::Put(Tree::Apps, slug, encode(app)),
            audit_op(event),
            Op::Put(Tree::Meta, CATALOG_STAMP.to_vec(), uuid::Uuid::new_v4().as_bytes().to_vec()),
            Op::Announce(Channel::Catalog),
        ])?;
        if ok {
            self.kv.make_durable()?;
        }
        Ok(ok)
    }

    /// The registered client whose client id is `client_id`, if any.
    pub fn registered_app(&self, client_id: &crate::domain::ClientId) -> Result<Option<Application>> {
        Ok(self.app_by_client_id(client_id)?.filter(|app| app.registration.is_some()))
    }

    /// Every client that registered itself.
    pub fn registered_apps(&self) -> Result<Vec<Application>> {
        let mut apps = Vec::new();
        for (_, raw) in self.kv.scan(Tree::Apps)? {
            let app: Application = decode(&raw)?;
            if app.registration.is_some() {
                apps.push(app);
            }
        }
        Ok(apps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditKind, Registration};

    fn token(allowed: u32, expires_at: i64) -> InitialToken {
        InitialToken {
            id: "iat_1".into(),
            created_at: 0,
            expires_at,
            allowed,
            used: 0,
            created_by: "test".into(),
            description: String::new(),
        }
    }

    fn registered(n: usize) -> Application {
        let mut app = Application::for_test(&format!("reg-{n}"), None);
        app.registration = Some(Registration {
            issuer: crate::domain::Slug::parse("web").unwrap(),
            access_token: Digest::of(&format!("rat-{n}")),
            initial_token: "iat_1".into(),
            auth_method: "none".into(),
            grant_types: vec!["authorization_code".into()],
            scope: None,
        });
        app
    }

    #[test]
    fn a_registration_from_a_stale_copy_of_the_token_spends_nothing_and_writes_nothing() {
        let (_dir, store) = crate::store::testing::temp_store();
        let digest = Digest::of("ferrid_iat_w");
        store.create_initial_token(&digest, &token(1, 1_000)).unwrap();
        let event = AuditEvent::new(AuditKind::AppRegistered, 10);
        // A request reads the token; another spends its one use first.
        let seen = store.initial_token(&digest).unwrap().unwrap();
        assert!(store.register_app(&digest, &registered(1), &event, 10).unwrap());
        assert!(!store.register_app_as_read(&digest, &seen, &registered(2), &event).unwrap(), "stale: no swap");
        assert_eq!(store.registered_apps().unwrap().len(), 1);
        assert_eq!(store.initial_token(&digest).unwrap().unwrap().used, 1);
        assert_eq!(store.audit_since(0).unwrap().len(), 1, "no event without its client");
    }

    #[test]
    fn threads_racing_on_one_token_register_exactly_as_many_clients_as_it_allows() {
        let (_dir, store) = crate::store::testing::temp_store();
        let digest = Digest::of("ferrid_iat_x");
        store.create_initial_token(&digest, &token(3, 1_000)).unwrap();
        let start = std::sync::Arc::new(std::sync::Barrier::new(12));
        let racers: Vec<_> = (0..12)
            .map(|n| {
                let (store, start) = (store.clone(), start.clone());
                std::thread::spawn(move || {
                    let event = AuditEvent::new(AuditKind::AppRegistered, 10);
                    start.wait();
                    store.register_app(&digest, &registered(n), &event, 10).unwrap()
                })
            })
            .collect();
        let won = racers.into_iter().map(|r| r.join().unwrap()).filter(|w| *w).count();
        assert_eq!(won, 3);
        assert_eq!(store.registered_apps().unwrap().len(), 3);
        assert_eq!(store.initial_token(&digest).unwrap().unwrap().used, 3);
        assert_eq!(store.audit_since(0).unwrap().len(), 3, "an event with each client, none without");
    }

    #[test]
    fn an_expired_or_revoked_token_registers_nothing() {
        let (_dir, store) = crate::store::testing::temp_store();
        let digest = Digest::of("ferrid_iat_y");
        store.create_initial_token(&digest, &token(5, 100)).unwrap();
        let event = AuditEvent::new(AuditKind::AppRegistered, 100);
        assert!(!store.register_app(&digest, &registered(1), &event, 100).unwrap(), "expired at 100");
        assert!(store.register_app(&digest, &registered(2), &event, 99).unwrap());
        assert_eq!(store.revoke_initial_token("iat_1").unwrap().unwrap().used, 1);
        assert!(!store.register_app(&digest, &registered(3), &event, 99).unwrap(), "revoked");
        assert!(store.initial_tokens().unwrap().is_empty());
        assert_eq!(store.registered_apps().unwrap().len(), 1, "what it registered stays");
    }
}
