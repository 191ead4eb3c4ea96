//! The audit chart: sign-ins and failures per day, as bars of an inline
//! SVG drawn by the template (no script; the page's CSP allows none).

use crate::store::{AuditEvent, AuditKind};
use serde_json::{Value, json};

const DAY: i64 = 86_400;
/// The drawing's height in SVG units; bars are scaled to the busiest day.
const HEIGHT: f64 = 80.0;
/// Each day's slot: two bars side by side.
const SLOT: i64 = 24;

fn is_failure(kind: AuditKind) -> bool {
    matches!(kind, AuditKind::SignInFailed | AuditKind::SignInLocked | AuditKind::MfaFailed)
}

/// The last `days` days up to `now` (UTC), oldest first.
pub fn daily(events: &[AuditEvent], now: i64, days: i64) -> Value {
    let first_day = now.div_euclid(DAY) - (days - 1);
    let mut counts = vec![(0u32, 0u32); days as usize];
    for event in events {
        let Some(kind) = event.kind else { continue };
        let day = event.at.div_euclid(DAY) - first_day;
        let Some(slot) = usize::try_from(day).ok().and_then(|d| counts.get_mut(d)) else { continue };
        if kind == AuditKind::SignIn {
            slot.0 += 1;
        } else if is_failure(kind) {
            slot.1 += 1;
        }
    }
    let busiest = counts.iter().map(|(a, b)| (*a).max(*b)).max().unwrap_or(0).max(1);
    let height = |n: u32| (f64::from(n) / f64::from(busiest) * HEIGHT).round();
    let bars: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, (ok, failed))| {
            let day = (first_day + i as i64) * DAY;
            let date = crate::clock::rfc3339(day).chars().take(10).collect::<String>();
            let x = i as i64 * SLOT;
            json!({
                "date": date,
                "label": &date[8..],
                "x": x + 3,
                "x2": x + 12,
                "label_x": x + 12,
                "sign_ins": ok,
                "failures": failed,
                "ok_height": height(*ok),
                "ok_y": HEIGHT - height(*ok),
                "failed_height": height(*failed),
                "failed_y": HEIGHT - height(*failed),
            })
        })
        .collect();
    let total_ok: u32 = counts.iter().map(|c| c.0).sum();
    let total_failed: u32 = counts.iter().map(|c| c.1).sum();
    json!({
        "width": days * SLOT,
        "busiest": busiest,
        "bars": bars,
        "sign_ins": total_ok,
        "failures": total_failed,
        "days": days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: AuditKind, at: i64) -> AuditEvent {
        AuditEvent::new(kind, at)
    }

    #[test]
    fn days_are_counted_in_their_own_slot_and_scaled_to_the_busiest() {
        let now = 20 * DAY + 3600;
        let events = [
            event(AuditKind::SignIn, now),
            event(AuditKind::SignIn, now - 10),
            event(AuditKind::SignInFailed, now - DAY),
            event(AuditKind::TokenIssued, now),
            event(AuditKind::SignIn, now - 30 * DAY),
        ];
        let chart = daily(&events, now, 7);
        let bars = chart["bars"].as_array().unwrap();
        assert_eq!(bars.len(), 7);
        assert_eq!((bars[6]["sign_ins"].as_u64(), bars[6]["failures"].as_u64()), (Some(2), Some(0)));
        assert_eq!((bars[5]["sign_ins"].as_u64(), bars[5]["failures"].as_u64()), (Some(0), Some(1)));
        assert_eq!(bars[6]["ok_height"], 80.0, "the busiest day fills the height");
        assert_eq!(bars[5]["failed_height"], 40.0);
        assert_eq!((chart["sign_ins"].as_u64(), chart["failures"].as_u64()), (Some(2), Some(1)), "old events left out");
        assert_eq!(bars[6]["date"], "1970-01-21");
    }
}
