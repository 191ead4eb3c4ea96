//! Back-Channel Logout 1.0 delivery. Ending a session queues a logout
//! notice per application in the store's outbox (`sessions`), in the same
//! durable write; this worker POSTs each as a `logout_token` (§2.5) and
//! removes it once the application answers 2xx.
//!
//! A sign-out never waits for it. Each notice gets `ATTEMPTS` tries, each
//! at most `TIMEOUT`, spaced by `BACKOFF`; one that never gets through is
//! dropped, logged and audited (`logout_not_delivered`). Notices queued
//! while no server runs (by `ferrid user logout` on a stopped server) go
//! out when it starts. Delivery is at least once: the application keys on
//! `jti` or simply ends the session twice.

use crate::clock::Clock;
use crate::published::Published;
use crate::store::{AuditEvent, AuditKind, LogoutNotice, Store};
use std::sync::Arc;
use std::time::Duration;

pub const ATTEMPTS: u32 = 4;
/// How long one POST may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds to wait after the n-th failed attempt.
const BACKOFF: [i64; 3] = [5, 30, 120];
/// How often the outbox is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(1);

/// What the worker needs; `published` gives the current snapshot.
pub struct Deliverer {
    pub store: Store,
    pub clock: Clock,
    pub published: Arc<dyn Fn() -> Arc<Published> + Send + Sync>,
    /// Made at the first delivery: loading the system's CA certificates
    /// costs 2 MB of memory that a ferrid with no back-channel URIs never needs.
    client: std::sync::OnceLock<reqwest::Client>,
}

impl Deliverer {
    pub fn new(store: Store, clock: Clock, published: Arc<dyn Fn() -> Arc<Published> + Send + Sync>) -> Self {
        Deliverer { store, clock, published, client: std::sync::OnceLock::new() }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // §2.5: the RP answers; a redirect is not an answer to follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferrid/", env!("CARGO_PKG_VERSION"), " back-channel logout"))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(self.client.get_or_init(|| client))
    }

    /// Runs until the runtime stops: delivers what is due, then waits for
    /// `wake` or the next poll.
    pub async fn run(self: Arc<Self>, wake: Arc<tokio::sync::Notify>) {
        loop {
            if let Err(e) = self.deliver_due() {
                tracing::warn!(error = %e, "cannot read the logout outbox");
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Claims every due notice (its next attempt is moved past this one's
    /// timeout first, so a second pass cannot send it twice at once) and
    /// sends each on a task of its own: a receiver that hangs holds up no other.
    fn deliver_due(self: &Arc<Self>) -> Result<(), crate::store::StoreError> {
        let now = self.clock.now();
        for mut notice in self.store.logout_notices()? {
            if notice.next_attempt_at > now {
                continue;
            }
            notice.attempts += 1;
            let wait = BACKOFF.get(notice.attempts as usize - 1).copied().unwrap_or(0);
            notice.next_attempt_at = now + TIMEOUT.as_secs() as i64 + wait;
            self.store.reschedule_logout_notice(&notice)?;
            let worker = self.clone();
            tokio::spawn(async move { worker.attempt(notice).await });
        }
        Ok(())
    }

    async fn attempt(&self, notice: LogoutNotice) {
        let published = (self.published)();
        let app = published.by_client_id(notice.client_id.as_str());
        let Some((app, uri)) = app.and_then(|a| a.app.backchannel_logout_uri.clone().map(|uri| (a, uri))) else {
            // The application is gone or no longer listens: nothing is owed.
            let _ = self.store.remove_logout_notice(&notice.id);
            return;
        };
        let outcome = match crate::tokens::mint::logout_token(
            &published,
            app,
            &notice.sub.to_string(),
            &notice.sid,
            self.clock.now(),
        ) {
            Ok(token) => self.post(uri.as_str(), &token).await,
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => {
                tracing::info!(client_id = %notice.client_id, attempt = notice.attempts, "logout token delivered");
                if let Err(e) = self.store.remove_logout_notice(&notice.id) {
                    tracing::warn!(error = %e, "cannot remove a delivered logout notice");
                }
            }
            Err(why) if notice.attempts >= ATTEMPTS => {
                tracing::warn!(client_id = %notice.client_id, attempts = notice.attempts, error = %why, "logout token not delivered; giving up");
                let _ = self.store.remove_logout_notice(&notice.id);
                self.store.record(
                    &AuditEvent::new(AuditKind::LogoutNotDelivered, self.clock.now())
                        .app(&notice.client_id)
                        .detail(format!("{} attempts; last: {why}", notice.attempts)),
                );
            }
            Err(why) => {
                tracing::info!(client_id = %notice.client_id, attempt = notice.attempts, error = %why, "logout token not delivered; will retry");
            }
        }
    }

    async fn post(&self, uri: &str, token: &str) -> Result<(), String> {
        let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("logout_token", token).finish();
        let response = self
            .client()?
            .post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cache-control", "no-store")
            .body(body)
            .send()
            .await
            .map_err(|e| if e.is_timeout() { "timed out".to_owned() } else { format!("cannot reach it ({e})") })?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            status => Err(format!("it answered {status}")),
        }
    }
}
