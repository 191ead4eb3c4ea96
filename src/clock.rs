//! The current time, passed in rather than read ad hoc, so tests can move a
//! clock forward to expire codes and tokens instead of sleeping (as kanidm does).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in whole seconds, plus an offset that only tests change.
#[derive(Clone, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> i64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        wall + self.offset.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::Relaxed);
    }
}

/// Formats a unix time as RFC 3339 for people (CLI output); never on a hot path.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Formats a unix time for a sentence: `5 Dec 2026, 08:30 UTC`, in the
/// server's local time zone when it is known (see `remember_local_offset`).
pub fn human(unix: i64) -> String {
    human_in(unix, *LOCAL_OFFSET.get().unwrap_or(&time::UtcOffset::UTC))
}

fn human_in(unix: i64, offset: time::UtcOffset) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(unix) else { return unix.to_string() };
    // `to_offset` panics past the last (or before the first) representable
    // date: a time at the edge of the range is shown in UTC instead.
    let (local, offset) = match at.checked_to_offset(offset) {
        Some(local) => (local, offset),
        None => (at, time::UtcOffset::UTC),
    };
    let format = time::macros::format_description!("[day padding:none] [month repr:short] [year], [hour]:[minute]");
    let zone = if offset.is_utc() {
        "UTC".to_owned()
    } else {
        let (h, m, _) = offset.as_hms();
        format!("UTC{}{:02}:{:02}", if offset.is_negative() { '-' } else { '+' }, h.abs(), m.abs())
    };
    local.format(&format).map(|t| format!("{t} {zone}")).unwrap_or_else(|_| unix.to_string())
}

/// How a page shows a time: "3 minutes ago" within a day of `now`, else
/// the date and time (`human`). Pages put the ISO time in a `title`.
pub fn relative(unix: i64, now: i64) -> String {
    // Saturating: a stored time far out of range is a date (`human`), not a panic.
    let delta = now.saturating_sub(unix);
    let plural = |n: i64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    let span = |seconds: i64| match seconds {
        0..60 => None,
        60..3600 => Some(plural(seconds / 60, "minute")),
        _ => Some(plural(seconds / 3600, "hour")),
    };
    match delta {
        -86_399..0 => span(-delta).map(|s| format!("in {s}")).unwrap_or_else(|| "in a moment".into()),
        0..86_400 => span(delta).map(|s| format!("{s} ago")).unwrap_or_else(|| "just now".into()),
        _ => human(unix),
    }
}

/// The server's UTC offset, read once while the process has one thread
/// (the `time` crate refuses to read it later: the C library's time zone
/// functions are not thread-safe). Unset, pages show UTC.
static LOCAL_OFFSET: std::sync::OnceLock<time::UtcOffset> = std::sync::OnceLock::new();

/// Called first thing in `main`, before any thread starts.
pub fn remember_local_offset() {
    if let Ok(offset) = time::UtcOffset::current_local_offset() {
        let _ = LOCAL_OFFSET.set(offset);
    }
}

/// Parses what admin views carry (RFC 3339), for pages that show it.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_within_a_day_read_as_relative_and_older_ones_as_dates() {
        let now = 1_796_441_774;
        assert_eq!(relative(now - 5, now), "just now");
        assert_eq!(relative(now - 60, now), "1 minute ago");
        assert_eq!(relative(now - 180, now), "3 minutes ago");
        assert_eq!(relative(now - 7_200, now), "2 hours ago");
        assert_eq!(relative(now + 1_800, now), "in 30 minutes");
        assert_eq!(relative(now - 86_400, now), human(now - 86_400));
        assert_eq!(human(now), "5 Dec 2026, 03:36 UTC");
        assert_eq!(parse_rfc3339("2026-12-05T03:36:14Z"), Some(now));
    }

    #[test]
    fn times_out_of_range_are_shown_as_numbers_or_in_utc_never_a_panic() {
        let now = 1_796_441_774;
        for unix in [i64::MIN, i64::MIN + 1, -1, i64::MAX] {
            let _ = relative(unix, now);
        }
        assert_eq!(relative(i64::MIN, now), i64::MIN.to_string());
        // The last second `time` represents, in a zone east of UTC (and the
        // first, west of it), is past its range: shown in UTC.
        let last = 253_402_300_799;
        let east = time::UtcOffset::from_hms(1, 0, 0).unwrap();
        assert_eq!(human_in(last, east), "31 Dec 9999, 23:59 UTC");
        let first = -377_705_116_800;
        let west = time::UtcOffset::from_hms(-1, 0, 0).unwrap();
        assert_eq!(human_in(first, west), "1 Jan -9999, 00:00 UTC");
        assert_eq!(human_in(now, east), "5 Dec 2026, 04:36 UTC+01:00");
    }
}
