//! The audit trail: who did what, when, from where. Events are written
//! without an fsync (they are a record, not a promise to a client), keyed by
//! time so `--since` is a range scan and retention trims from the front.
//! A grant's event travels in the grant's own batch (`audit_op`): written
//! with it, durably, or not at all.

use super::backend::{Op, Tree};
use super::{Result, Store, decode, encode};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    SignIn,
    SignInFailed,
    SignInLocked,
    AccessDenied,
    TokenIssued,
    CodeReused,
    RefreshReused,
    TokenRevoked,
    PatCreated,
    PatUsed,
    PatRevoked,
    UserChanged,
    AppChanged,
    KeysRotated,
    SessionEnded,
    /// A logout token an application never accepted (Back-Channel Logout).
    LogoutNotDelivered,
    ConsentGiven,
    ConsentRevoked,
    /// A second factor added, removed or reset.
    MfaChanged,
    /// A wrong, used or throttled second-factor code.
    MfaFailed,
    RecoveryCodeUsed,
    /// A client registered itself (RFC 7591), with an initial access token.
    AppRegistered,
    /// A registered client deleted itself (RFC 7592).
    AppDeregistered,
    /// An initial access token made or revoked by an administrator.
    RegistrationTokenChanged,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: i64,
    pub kind: Option<AuditKind>,
    /// The user concerned (username), if any.
    pub user: Option<String>,
    /// The application concerned (client id), if any.
    pub app: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// What happened, in a few words (grant type, changed field…). Never a secret.
    pub detail: Option<String>,
    /// Who made an administrative change: "command line", or "NAME (console)".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, at: i64) -> Self {
        AuditEvent { at, kind: Some(kind), ..Default::default() }
    }
    pub fn user(mut self, user: impl ToString) -> Self {
        self.user = Some(user.to_string());
        self
    }
    pub fn app(mut self, app: impl ToString) -> Self {
        self.app = Some(app.to_string());
        self
    }
    pub fn by(mut self, actor: impl ToString) -> Self {
        self.by = Some(actor.to_string());
        self
    }
    pub fn detail(mut self, detail: impl ToString) -> Self {
        self.detail = Some(detail.to_string());
        self
    }
    pub fn from_client(mut self, ip: Option<String>, user_agent: Option<String>) -> Self {
        self.ip = ip;
        // Bounded: the header is attacker-controlled.
        self.user_agent = user_agent.map(|ua| ua.chars().take(256).collect());
        self
    }
}

fn time_key(at: i64) -> [u8; 8] {
    (at.max(0) as u64).to_be_bytes()
}

/// The batch step that records `event` together with the writes it
/// describes (`Op::Append`): the event exists if, and only if, they do.
pub(super) fn audit_op(event: &AuditEvent) -> Op {
    Op::Append(Tree::Audit, time_key(event.at).to_vec(), encode(event))
}

impl Store {
    /// Records an event. Errors are the caller's to log, never to fail a request on.
    pub fn audit(&self, event: &AuditEvent) -> Result<()> {
        self.kv.append(Tree::Audit, &time_key(event.at), &encode(event))?;
        Ok(())
    }

    /// Records an event; a failure is logged, never passed on: the change it
    /// describes happened all the same, and the client must not see a 500.
    pub fn record(&self, event: &AuditEvent) {
        if let Err(e) = self.audit(event) {
            tracing::error!(error = %e, "cannot write an audit event");
        }
    }

    pub fn audit_since(&self, since: i64) -> Result<Vec<AuditEvent>> {
        self.kv.scan_from(Tree::Audit, &time_key(since))?.iter().map(|(_, v)| decode(v)).collect()
    }

    /// Drops events older than `oldest` and beyond the newest `keep`.
    pub fn trim_audit(&self, oldest: i64, keep: usize) -> Result<usize> {
        Ok(self.kv.trim_front(Tree::Audit, &time_key(oldest), keep)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_in_time_order_and_retention_trims_by_age_and_count() {
        let (_dir, store) = crate::store::testing::temp_store();
        for at in [300, 100, 200, 400] {
            store.audit(&AuditEvent::new(AuditKind::SignIn, at).user(format!("u{at}"))).unwrap();
        }
        let all: Vec<i64> = store.audit_since(0).unwrap().iter().map(|e| e.at).collect();
        assert_eq!(all, [100, 200, 300, 400]);
        assert_eq!(store.audit_since(250).unwrap().len(), 2);
        assert_eq!(store.trim_audit(150, 10).unwrap(), 1, "older than 150");
        assert_eq!(store.trim_audit(0, 2).unwrap(), 1, "beyond the newest 2");
        let left: Vec<i64> = store.audit_since(0).unwrap().iter().map(|e| e.at).collect();
        assert_eq!(left, [300, 400]);
    }
}
