//! Consent, without HTTP: whether an application must ask the user before
//! it receives their data (OIDC Core §3.1.2.4), and the answers remembered
//! for applications that ask once.
//!
//! `implicit` applications never ask: the administrator who registered a
//! first-party application consented for its users, and that includes
//! `offline_access` (OIDC Core §11 allows "other conditions" than a prompt).
//! `once` asks until the user agrees, and again when the application asks
//! for a scope (such as `offline_access`) the remembered answer lacks.
//! `always` asks at every authorization; so does any request with
//! `prompt=consent`.

use crate::domain::{ClientId, ConsentMode, ScopeSet};
use crate::store::{Application, AuditEvent, AuditKind, Consent, Store, StoreError, User, Withdrawal};
use serde::Serialize;

/// Must `user` be asked before `app` gets `scope`?
pub fn needed(
    store: &Store,
    app: &Application,
    user: &User,
    scope: ScopeSet,
    forced: bool,
) -> Result<bool, StoreError> {
    if forced {
        return Ok(true);
    }
    match app.consent {
        ConsentMode::Implicit => Ok(false),
        ConsentMode::Always => Ok(true),
        ConsentMode::Once => {
            let remembered = store.consent(&user.sub, &app.client_id)?;
            Ok(!remembered.is_some_and(|c| scope.is_subset_of(c.scope)))
        }
    }
}

/// The user agreed. Remembered only where the application asks once.
pub fn given(store: &Store, app: &Application, user: &User, scope: ScopeSet, now: i64) -> Result<(), StoreError> {
    if app.consent == ConsentMode::Once {
        let scope = match store.consent(&user.sub, &app.client_id)? {
            Some(previous) => ScopeSet::union(previous.scope, scope),
            None => scope,
        };
        store.put_consent(&Consent { sub: user.sub, client_id: app.client_id.clone(), scope, granted_at: now })?;
    }
    store.record(&AuditEvent::new(AuditKind::ConsentGiven, now).user(&user.username).app(&app.client_id).detail(scope));
    Ok(())
}

/// What a remembered consent looks like on the account page.
#[derive(Serialize)]
pub struct ConsentView {
    pub client_id: String,
    pub app: String,
    pub scope: String,
    pub granted_at: i64,
}

pub fn of_user(store: &Store, user: &User) -> Result<Vec<ConsentView>, StoreError> {
    let mut views = Vec::new();
    for consent in store.consents_of(&user.sub)? {
        let app = store
            .app_by_client_id(&consent.client_id)?
            .map(|a| a.name)
            .unwrap_or_else(|| consent.client_id.to_string());
        views.push(ConsentView {
            client_id: consent.client_id.to_string(),
            app,
            scope: consent.scope.to_string(),
            granted_at: consent.granted_at,
        });
    }
    views.sort_by(|a, b| a.app.cmp(&b.app));
    Ok(views)
}

/// Forgets the answer: the application asks again next time, and loses
/// the offline access the answer gave it (see `Store::withdraw_consent`).
/// None if there was no answer.
pub fn revoke(store: &Store, user: &User, client_id: &ClientId, now: i64) -> Result<Option<Withdrawal>, StoreError> {
    let withdrawal = store.withdraw_consent(&user.sub, client_id)?;
    if let Some(taken) = &withdrawal {
        let detail =
            format!("{} refresh families, {} personal access tokens revoked", taken.refresh_families, taken.tokens);
        store.record(
            &AuditEvent::new(AuditKind::ConsentRevoked, now).user(&user.username).app(client_id).detail(detail),
        );
    }
    Ok(withdrawal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_asks_until_agreed_and_again_for_more_always_asks_every_time() {
        let (_dir, store) = crate::store::testing::temp_store();
        let user = User::for_test("alice", String::new());
        let mut app = Application::for_test("web", None);
        let basic = ScopeSet::parse("openid profile");
        let offline = ScopeSet::parse("openid profile offline_access");

        assert!(!needed(&store, &app, &user, offline, false).unwrap(), "implicit never asks");
        assert!(needed(&store, &app, &user, basic, true).unwrap(), "prompt=consent always does");

        app.consent = ConsentMode::Once;
        assert!(needed(&store, &app, &user, basic, false).unwrap());
        given(&store, &app, &user, basic, 1).unwrap();
        assert!(!needed(&store, &app, &user, basic, false).unwrap(), "remembered");
        assert!(needed(&store, &app, &user, offline, false).unwrap(), "offline_access was not agreed to");
        assert!(revoke(&store, &user, &app.client_id, 2).unwrap().is_some());
        assert!(needed(&store, &app, &user, basic, false).unwrap(), "revoked");

        app.consent = ConsentMode::Always;
        given(&store, &app, &user, basic, 3).unwrap();
        assert!(needed(&store, &app, &user, basic, false).unwrap(), "never remembered");
    }
}
