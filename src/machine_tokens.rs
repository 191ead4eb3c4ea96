//! The audit trail for machine clients. A `client_credentials` client may
//! ask for thousands of tokens a second; one event each would spend more
//! than the signature on a database write, and would push sign-ins out of
//! retention (`audit.max_events`). So per client: the first token of a
//! minute is recorded as it is issued, and the rest of that minute as one
//! summary event with their count, written when the minute is over.

use crate::store::{AuditEvent, AuditKind};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long one client's tokens are summed before the summary is written.
pub const WINDOW_SECONDS: i64 = 60;

#[derive(Default)]
pub struct MachineTokenTally {
    open: Mutex<HashMap<String, Window>>,
}

struct Window {
    opened_at: i64,
    last_at: i64,
    more: u64,
}

fn first_event(client_id: &str, at: i64) -> AuditEvent {
    AuditEvent::new(AuditKind::TokenIssued, at).app(client_id).detail("client_credentials")
}

fn summary(client_id: &str, window: &Window) -> Option<AuditEvent> {
    (window.more > 0).then(|| {
        AuditEvent::new(AuditKind::TokenIssued, window.last_at)
            .app(client_id)
            .detail(format!("client_credentials: {} more in the {WINDOW_SECONDS} s after the first", window.more))
    })
}

impl MachineTokenTally {
    /// Counts a token issued to `client_id`; returns the events to write now
    /// (none for most tokens; no allocation then).
    pub fn issued(&self, client_id: &str, now: i64) -> Vec<AuditEvent> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.get_mut(client_id) {
            Some(window) if now < window.opened_at + WINDOW_SECONDS => {
                window.more += 1;
                window.last_at = now;
                Vec::new()
            }
            Some(window) => {
                let closed = summary(client_id, window);
                *window = Window { opened_at: now, last_at: now, more: 0 };
                closed.into_iter().chain([first_event(client_id, now)]).collect()
            }
            None => {
                open.insert(client_id.to_owned(), Window { opened_at: now, last_at: now, more: 0 });
                vec![first_event(client_id, now)]
            }
        }
    }

    /// Closes the windows that are over (`now` = None: all of them, at
    /// shutdown) and returns their summaries.
    pub fn close(&self, now: Option<i64>) -> Vec<AuditEvent> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut events = Vec::new();
        open.retain(|client_id, window| {
            let over = now.is_none_or(|now| now >= window.opened_at + WINDOW_SECONDS);
            if over {
                events.extend(summary(client_id, window));
            }
            !over
        });
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(events: &[AuditEvent]) -> Vec<(i64, &str, &str)> {
        events.iter().map(|e| (e.at, e.app.as_deref().unwrap(), e.detail.as_deref().unwrap())).collect()
    }

    #[test]
    fn the_first_token_of_a_window_is_recorded_at_once_and_the_rest_as_one_count() {
        let tally = MachineTokenTally::default();
        assert_eq!(details(&tally.issued("a", 100)), [(100, "a", "client_credentials")]);
        assert!(tally.issued("a", 110).is_empty());
        assert!(tally.issued("a", 159).is_empty());
        assert_eq!(details(&tally.issued("b", 159)), [(159, "b", "client_credentials")], "per client");
        assert!(tally.close(Some(159)).is_empty(), "no window is over yet");
        // The next token after the window closes it and opens another.
        assert_eq!(
            details(&tally.issued("a", 160)),
            [(159, "a", "client_credentials: 2 more in the 60 s after the first"), (160, "a", "client_credentials")]
        );
        assert!(tally.issued("b", 200).is_empty());
        assert!(tally.close(Some(218)).is_empty());
        assert_eq!(
            details(&tally.close(Some(219))),
            [(200, "b", "client_credentials: 1 more in the 60 s after the first")]
        );
        // A window with no further tokens closes silently; shutdown closes every window.
        assert!(tally.issued("a", 161).is_empty());
        assert_eq!(details(&tally.close(None)), [(161, "a", "client_credentials: 1 more in the 60 s after the first")]);
        assert!(tally.close(None).is_empty());
    }
}
