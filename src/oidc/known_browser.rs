//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device
//! Cookies"): a browser that signed in as an account gets a random token,
//! stored by digest with the account. On its next sign-in as that account
//! it is a known client, which the throttle counts on its own (see
//! `throttle`), so strangers guessing the password cannot lock the owner out.

use super::session::{self, CookieName};
use crate::crypto::secrets::{Digest, random_token};
use crate::http::AppState;
use crate::http::RequestView;
use crate::store::{Device, StoreError, User};
use actix_web::cookie::Cookie;

/// How long a browser stays known without signing in again.
const LIFETIME: i64 = 180 * 86_400;

/// The id (digest, hex) of this browser's device cookie, if it is a known
/// client of `user`. Nothing is looked up for an unknown username.
pub fn known(req: &RequestView, state: &AppState, user: Option<&User>, now: i64) -> Result<Option<String>, StoreError> {
    let (Some(user), Some(value)) = (user, CookieName::Device.value(req, state)) else { return Ok(None) };
    let id = Digest::of(&value);
    let known = state.store.device(&id)?.is_some_and(|d| d.sub == user.sub && d.expires_at > now);
    Ok(known.then(|| id.to_hex()))
}

/// After a successful sign-in: a fresh device cookie for `user`, replacing
/// the one the browser brought (if any).
pub fn remember(req: &RequestView, state: &AppState, user: &User) -> Result<Cookie<'static>, crate::error::OAuthError> {
    if let Some(old) = CookieName::Device.value(req, state) {
        state.store.delete_device(&Digest::of(&old))?;
    }
    let value = random_token()?;
    let device = Device { sub: user.sub, expires_at: state.clock.now() + LIFETIME };
    state.store.put_device(&Digest::of(&value), &device)?;
    Ok(session::cookie(state, CookieName::Device, value, LIFETIME))
}
