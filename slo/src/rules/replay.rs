//! Alert replay: which of the generated alerts would have fired during a run, and
//! when, and how fast each error budget burnt at worst. "Would this run have paged?"
//!
//! Each alert's expression, its recording rules inlined ([`Refs::Inline`]), is
//! evaluated as a subquery over the run's window at a fixed step on the Prometheus
//! that judged the run, so the rules need not be loaded there. An alert is pending
//! from the first step its condition holds and fires once it has held for its `for`
//! (for a burn-rate rule, half its short window). Like the real alerts, the replay reads every
//! series of the selectors, not only the run's (the alerts cannot tell them apart).

use std::time::Duration;

use super::burn::{self, Urgency};
use super::{Refs, threshold};
use crate::definition::{Slo, SloSet};
use crate::duration::promql as window_text;
use crate::prometheus::Prometheus;
use crate::promql;
use crate::verdict::Window;

pub use crate::alert_replay::{AlertKind, AlertOutcome, BurnPeak, Replay};

/// One alert to replay.
struct Replayed {
    alert: String,
    slo: String,
    kind: AlertKind,
    severity: String,
    expr: String,
    hold: Duration,
}

/// Every alert of the set with its inlined expression.
fn alerts(set: &SloSet) -> Vec<Replayed> {
    let mut out = Vec::new();
    for slo in &set.slos {
        out.push(Replayed {
            alert: threshold::alert_name(slo),
            slo: slo.name.clone(),
            kind: AlertKind::Threshold,
            severity: slo.severity.as_str().to_string(),
            expr: threshold::alert_expr_with(set, slo, Refs::Inline),
            hold: slo.alert_for,
        });
        let Some(budget) = burn::budget(slo) else {
            continue;
        };
        for (urgency, kind) in [
            (Urgency::Page, AlertKind::Page),
            (Urgency::Ticket, AlertKind::Ticket),
        ] {
            for pair in burn::reachable(slo, urgency, budget) {
                out.push(Replayed {
                    alert: format!("{} {}", burn::alert_name(slo, urgency), pair.label()),
                    slo: slo.name.clone(),
                    kind,
                    severity: urgency.severity().to_string(),
                    expr: burn::pair_expr(slo, &pair, budget, Refs::Inline),
                    hold: pair.hold(),
                });
            }
        }
    }
    out
}

/// Pending, firing and time firing, from the steps where the condition held
/// (any series), for an alert held `hold` before it fires.
fn outcome(mut times: Vec<u64>, step_ms: u64, hold: Duration) -> (Option<u64>, Option<u64>, u64) {
    times.sort_unstable();
    times.dedup();
    let (mut pending, mut firing, mut firing_for) = (None, None, 0);
    let mut run_start: Option<u64> = None;
    let mut last: Option<u64> = None;
    for t in times {
        // A gap of more than a step and a half ends the streak: the alert resolves.
        if last.is_none_or(|l| t - l > step_ms * 3 / 2) {
            run_start = Some(t);
        }
        pending.get_or_insert(t);
        let start = run_start.unwrap_or(t);
        if t - start >= hold.as_millis() as u64 {
            firing.get_or_insert(t);
            if last.is_some_and(|l| t - l <= step_ms * 3 / 2) && t - start > hold.as_millis() as u64
            {
                firing_for += t - last.unwrap_or(t);
            }
        }
        last = Some(t);
    }
    (pending, firing, firing_for)
}

/// The step: the scrape interval, but at most 600 steps over the window.
pub fn step_for(window: Window, interval: Duration) -> Duration {
    let span = window.end_ms.saturating_sub(window.start_ms);
    Duration::from_millis((span / 600).max(interval.as_millis() as u64).max(1000))
}

/// Replays every alert of `set` and each budget's peak burn over `window`.
pub async fn replay(
    set: &SloSet,
    prometheus: &Prometheus,
    window: Window,
    interval: Duration,
) -> Replay {
    let step = step_for(window, interval);
    let step_ms = step.as_millis() as u64;
    let mut replay = Replay {
        step_ms,
        ..Replay::default()
    };
    for a in alerts(set) {
        match prometheus
            .query_range_vector(&promql::subquery(&a.expr, window, step))
            .await
        {
            Ok(series) => {
                let times = series
                    .into_iter()
                    .flat_map(|(_, s)| s.into_iter().map(|(t, _)| t))
                    .collect();
                let (pending_ms, firing_ms, firing_for_ms) = outcome(times, step_ms, a.hold);
                replay.alerts.push(AlertOutcome {
                    alert: a.alert,
                    slo: a.slo,
                    kind: a.kind,
                    severity: a.severity,
                    pending_ms,
                    firing_ms,
                    firing_for_ms,
                });
            }
            Err(e) => replay.errors.push(format!("{}: {e}", a.alert)),
        }
    }
    for slo in &set.slos {
        peaks(slo, prometheus, window, step, &mut replay).await;
    }
    replay
}

/// The budget's peak burn over the page's two windows (5 m and 1 h at 30 days).
async fn peaks(
    slo: &Slo,
    prometheus: &Prometheus,
    window: Window,
    step: Duration,
    replay: &mut Replay,
) {
    let Some(budget) = burn::budget(slo) else {
        return;
    };
    let Some(pair) = burn::pairs(Urgency::Page, slo.period).first().copied() else {
        return;
    };
    for w in [pair.short, pair.long] {
        let expr = format!("{} / {budget}", Refs::Inline.error_ratio(slo, w));
        match prometheus
            .query_range_vector(&promql::subquery(&expr, window, step))
            .await
        {
            Ok(series) => {
                let best = series
                    .into_iter()
                    .flat_map(|(_, s)| s)
                    .filter(|(_, v)| v.is_finite())
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((at_ms, peak)) = best {
                    replay.burn.push(BurnPeak {
                        slo: slo.name.clone(),
                        window: window_text(w),
                        peak,
                        at_ms,
                    });
                }
            }
            Err(e) => replay
                .errors
                .push(format!("{} burn over {}: {e}", slo.name, window_text(w))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_fires_once_its_condition_held_for_its_for() {
        let s = 1000;
        // Held from 10 s to 200 s at 1 s steps, with a 2-minute `for`.
        let times: Vec<u64> = (10..=200).map(|t| t * s).collect();
        let (pending, firing, firing_for) = outcome(times, s, Duration::from_secs(120));
        assert_eq!(pending, Some(10_000));
        assert_eq!(firing, Some(130_000));
        assert_eq!(firing_for, 70_000);
        // A gap resets the streak: 60 s, a gap, 60 s never reaches 2 minutes.
        let times: Vec<u64> = (0..60).chain(70..130).map(|t| t * s).collect();
        let (pending, firing, _) = outcome(times, s, Duration::from_secs(120));
        assert_eq!((pending, firing), (Some(0), None));
        // No `for`: fires at the first step.
        let (_, firing, _) = outcome(vec![5_000, 6_000], s, Duration::ZERO);
        assert_eq!(firing, Some(5_000));
    }

    #[test]
    fn the_headline_says_whether_the_run_would_have_paged() {
        let alert = |name: &str, severity: &str, firing: Option<u64>| AlertOutcome {
            alert: name.into(),
            slo: "s".into(),
            kind: AlertKind::Page,
            severity: severity.into(),
            pending_ms: firing,
            firing_ms: firing,
            firing_for_ms: 0,
        };
        let mut r = Replay {
            step_ms: 1000,
            alerts: vec![
                alert("A", "critical", None),
                alert("B", "warning", Some(12_000)),
            ],
            ..Replay::default()
        };
        assert!(!r.would_page());
        assert_eq!(
            r.headline(2_000),
            "would not have paged, but opened tickets: B (warning) at +10s"
        );
        r.alerts[0].firing_ms = Some(4_000);
        assert!(r.would_page());
        assert!(
            r.headline(2_000)
                .starts_with("would have paged: A (critical) at +2s, B"),
            "{}",
            r.headline(2_000)
        );
    }
}
