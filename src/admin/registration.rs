//! Initial access tokens for Dynamic Client Registration, as
//! administrative commands: make one (its secret shown once), list them
//! with the clients each registered, revoke one.

use super::context::{AdminContext, AdminError};
use super::views::{AdminAnswer, RegistrationTokenView};
use crate::registration::TokenError;
use crate::store::{AuditEvent, AuditKind};

impl From<TokenError> for AdminError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Lifetime | TokenError::Uses => AdminError::Invalid(e.to_string()),
            TokenError::Store(e) => e.into(),
            TokenError::Random(e) => e.into(),
        }
    }
}

pub(super) fn create(
    ctx: &AdminContext<'_>,
    expires_in: Option<i64>,
    uses: Option<u32>,
    description: &str,
) -> Result<AdminAnswer, AdminError> {
    if ctx.config.registration.is_none() {
        return Err(AdminError::Invalid(
            "client registration is off: set `registration: { enabled: true, application: SLUG }` in config.yaml \
             (docs/registration.md)"
                .into(),
        ));
    }
    let now = ctx.clock.now();
    let lifetime = expires_in.unwrap_or(crate::registration::DEFAULT_LIFETIME);
    let made = crate::registration::make_token(ctx.store, now, lifetime, uses.unwrap_or(1), ctx.actor, description)?;
    let detail = format!(
        "initial access token {} made ({} registration(s), until {})",
        made.token.id,
        made.token.allowed,
        crate::clock::rfc3339(made.token.expires_at)
    );
    ctx.store.record(&AuditEvent::new(AuditKind::RegistrationTokenChanged, now).detail(detail).by(ctx.actor));
    let view = RegistrationTokenView::of(&made.token, Vec::new(), ctx.config, now);
    Ok(AdminAnswer::RegistrationToken(view.with_secret(made.secret)))
}

pub(super) fn list(ctx: &AdminContext<'_>) -> Result<AdminAnswer, AdminError> {
    let now = ctx.clock.now();
    let registered = ctx.store.registered_apps()?;
    let views = ctx
        .store
        .initial_tokens()?
        .iter()
        .map(|token| {
            let clients = registered
                .iter()
                .filter(|a| a.registration.as_ref().is_some_and(|r| r.initial_token == token.id))
                .map(|a| a.client_id.to_string())
                .collect();
            RegistrationTokenView::of(token, clients, ctx.config, now)
        })
        .collect();
    Ok(AdminAnswer::RegistrationTokens(views))
}

pub(super) fn revoke(ctx: &AdminContext<'_>, id: &str) -> Result<AdminAnswer, AdminError> {
    match ctx.store.revoke_initial_token(id)? {
        Some(token) => {
            let view = RegistrationTokenView::of(&token, Vec::new(), ctx.config, ctx.clock.now());
            Ok(AdminAnswer::RegistrationTokens(vec![RegistrationTokenView { status: "revoked", ..view }]))
        }
        None => Err(AdminError::NotFound(format!("no registration token with id {id}"))),
    }
}
