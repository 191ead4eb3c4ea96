//! Start-up: declared groups and applications are upserted into the store,
//! and a first administrator is created when there are no users.

use crate::clock::Clock;
use crate::config::{Config, SecretSource};
use crate::crypto::password;
use crate::crypto::secrets::{Digest, random_token};
use crate::domain::{GroupName, Username};
use crate::store::{Application, ClientKind, Group, Store, StoreError, User};

/// Secrets made at this start, to be shown once.
#[derive(Debug, Default)]
pub struct FirstStart {
    pub admin_password: Option<String>,
    /// (slug, client secret) of declared applications that had none.
    pub generated_secrets: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] crate::crypto::secrets::RandomError),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
}

pub fn run(store: &Store, config: &Config, clock: &Clock) -> Result<FirstStart, BootstrapError> {
    let mut first = FirstStart::default();
    let now = clock.now();
    for group in &config.groups {
        store.put_group(&Group {
            name: group.name.clone(),
            description: group.description.clone(),
            require_mfa: group.require_mfa,
            declared: true,
        })?;
    }
    let admins = GroupName::parse(super::ADMIN_GROUP).map_err(|e| StoreError::Corrupt(e.0))?;
    if !store.group_exists(&admins)? {
        store.put_group(&Group {
            name: admins.clone(),
            description: "May use the admin console (/admin/)".into(),
            require_mfa: false,
            declared: false,
        })?;
    }
    for decl in &config.applications {
        let existing = store.app(&decl.slug)?;
        let client = match (&decl.secret, existing.as_ref().map(|a| &a.client)) {
            (SecretSource::Public, _) => ClientKind::Public,
            (SecretSource::Digest(d), _) => ClientKind::Confidential { secret_sha256: *d },
            // Keep a secret generated at an earlier start (or by rotate-secret).
            (SecretSource::Generated, Some(kept @ ClientKind::Confidential { .. })) => kept.clone(),
            (SecretSource::Generated, _) => {
                let secret = random_token()?;
                first.generated_secrets.push((decl.slug.to_string(), secret.clone()));
                ClientKind::Confidential { secret_sha256: Digest::of(&secret) }
            }
        };
        store.put_app(&Application {
            slug: decl.slug.clone(),
            name: decl.name.clone(),
            client_id: decl.client_id.clone(),
            client,
            redirect_uris: decl.redirect_uris.clone(),
            signing_alg: decl.signing_alg,
            access: decl.access.clone(),
            claims: decl.claims.clone(),
            declared: true,
            created_at: existing.map(|a| a.created_at).unwrap_or(now),
            post_logout_redirect_uris: decl.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: decl.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: decl.backchannel_logout_session_required,
            consent: decl.consent,
            require_mfa: decl.require_mfa,
            proxy: decl.proxy.clone(),
            email_verified: decl.email_verified,
            compat: decl.compat.clone(),
            registration: None,
        })?;
    }
    if store.user_count() == 0 {
        let generated = password::generate()?;
        let user = User {
            sub: uuid::Uuid::new_v4(),
            username: Username::parse("admin").map_err(|e| StoreError::Corrupt(e.0))?,
            email: None,
            email_verified: false,
            name: Some("Administrator".into()),
            password_hash: password::hash(&generated, config.password_hash_cost)?,
            groups: vec![admins],
            disabled: false,
            created_at: now,
            epoch: 0,
            identities: vec![],
        };
        store.create_user(&user)?;
        first.admin_password = Some(generated);
    }
    Ok(first)
}
