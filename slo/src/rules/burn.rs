//! Multiwindow, multi-burn-rate alerts, the way the Google SRE workbook writes them
//! (and Sloth and Pyrra generate them): an alert fires when the error budget burns
//! `factor` times faster than the SLO period allows over a long window and a short
//! one alike. The long window proves the burn is significant, the short one that it
//! is still happening, so the alert resets within minutes of a recovery.
//!
//! Page (`critical`): 14.4x over 1 h and 5 m (2% of a 30-day budget in an hour), or
//! 6x over 6 h and 30 m (5% in six hours). Ticket (`warning`): 3x over 1 d and 2 h,
//! or 1x over 3 d and 6 h (10% in three days). The windows are written for a 30-day
//! period and scale with the SLO's period, so each alert spends the same share of
//! its budget. Only event SLOs (ratio, latency) have a budget; gauges keep their
//! threshold alerts. Every window pair also needs `min_samples` events in its long
//! window, and is its own rule (labels `long_window`, `short_window`) held for half
//! its short window.

use std::fmt::Write;
use std::time::Duration;

use super::{Refs, yaml_string};
use crate::definition::{Kind, Op, Slo};
use crate::duration::promql as window_text;
use crate::format::{percent, trim_float};

/// How loud a burn-rate alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Fast burn: someone must act now.
    Page,
    /// Slow burn: someone must act this week.
    Ticket,
}

impl Urgency {
    /// Both, loudest first.
    pub const ALL: [Urgency; 2] = [Urgency::Page, Urgency::Ticket];

    /// The alert's `severity` label.
    pub fn severity(self) -> &'static str {
        match self {
            Urgency::Page => "critical",
            Urgency::Ticket => "warning",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Urgency::Page => "Page",
            Urgency::Ticket => "Ticket",
        }
    }

    /// The window pairs at a 30-day period: (long, short, burn factor).
    fn pairs_at_30_days(self) -> [(u64, u64, f64); 2] {
        const MIN: u64 = 60;
        const HOUR: u64 = 3600;
        match self {
            Urgency::Page => [(HOUR, 5 * MIN, 14.4), (6 * HOUR, 30 * MIN, 6.0)],
            Urgency::Ticket => [(24 * HOUR, 2 * HOUR, 3.0), (72 * HOUR, 6 * HOUR, 1.0)],
        }
    }
}

/// The period the workbook's windows are written for.
const WORKBOOK_PERIOD: Duration = Duration::from_secs(30 * 86_400);

/// One long/short window pair and its burn factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowPair {
    /// The long window: the burn is significant.
    pub long: Duration,
    /// The short window: the burn is still going on.
    pub short: Duration,
    /// How many times faster than the period allows the budget burns.
    pub factor: f64,
}

impl WindowPair {
    /// The error ratio above which the pair fires.
    pub fn threshold(&self, budget: f64) -> f64 {
        self.factor * budget
    }

    /// How long the pair must burn before its alert fires: half its short window
    /// (2.5 m, 15 m, 1 h, 3 h at 30 days, as Pyrra holds them). Without it, the first
    /// minutes of traffic after a deploy, when journeys have started but none could
    /// finish yet, would burn a completion budget "at 5x" and open a ticket.
    pub fn hold(&self) -> Duration {
        self.short / 2
    }

    /// `1h/5m`.
    pub fn label(&self) -> String {
        format!("{}/{}", window_text(self.long), window_text(self.short))
    }
}

/// The window pairs of an alert for an SLO period, whole seconds.
pub fn pairs(urgency: Urgency, period: Duration) -> Vec<WindowPair> {
    let scale = period.as_secs_f64() / WORKBOOK_PERIOD.as_secs_f64();
    let at = |s: u64| Duration::from_secs(((s as f64 * scale).round() as u64).max(1));
    urgency
        .pairs_at_30_days()
        .iter()
        .map(|&(long, short, factor)| WindowPair {
            long: at(long),
            short: at(short),
            factor,
        })
        .collect()
}

/// The SLO's error budget: the share of events allowed to be bad. `None` for gauges
/// and for objectives that allow no bad share (`== 1`) or count the wrong way.
pub fn budget(slo: &Slo) -> Option<f64> {
    let b = match &slo.kind {
        Kind::Ratio(r) => match (r.numerator_is_bad, r.objective.op) {
            (true, Op::Lt | Op::Le) => r.objective.value,
            (false, Op::Gt | Op::Ge) => 1.0 - r.objective.value,
            _ => return None,
        },
        Kind::Query(q) => match (q.numerator_is_bad, q.objective.op) {
            (true, Op::Lt | Op::Le) => q.objective.value,
            (false, Op::Gt | Op::Ge) => 1.0 - q.objective.value,
            _ => return None,
        },
        Kind::Latency(l) => 1.0 - l.quantile,
        Kind::Gauge(_) => return None,
    };
    (b > 0.0 && b < 1.0).then_some(b)
}

/// Every window the SLO's burn-rate alerts read, shortest first.
pub fn windows(slo: &Slo) -> Vec<Duration> {
    let mut w: Vec<Duration> = Urgency::ALL
        .iter()
        .flat_map(|&u| pairs(u, slo.period))
        .flat_map(|p| [p.long, p.short])
        .collect();
    w.sort();
    w.dedup();
    w
}

/// The long windows, where the events are counted.
pub fn long_windows(slo: &Slo) -> Vec<Duration> {
    let mut w: Vec<Duration> = Urgency::ALL
        .iter()
        .flat_map(|&u| pairs(u, slo.period))
        .map(|p| p.long)
        .collect();
    w.sort();
    w.dedup();
    w
}

/// The name of the error-ratio recording rule over `window`.
pub fn error_ratio_record(slo: &Slo, window: Duration) -> String {
    format!("slo:{}:error_ratio_{}", slo.name, window_text(window))
}

/// The alert's name.
pub fn alert_name(slo: &Slo, urgency: Urgency) -> String {
    format!("{}BudgetBurn{}", super::camel(&slo.name), urgency.name())
}

/// The pairs of an alert that can fire at all: a factor times the budget at or above
/// 1 would need more bad events than events (an 80% objective burns at most 5x).
pub fn reachable(slo: &Slo, urgency: Urgency, budget: f64) -> Vec<WindowPair> {
    pairs(urgency, slo.period)
        .into_iter()
        .filter(|p| p.threshold(budget) < 1.0)
        .collect()
}

/// The alert expression: any reachable pair burning in both windows over enough events.
pub fn alert_expr(slo: &Slo, urgency: Urgency, budget: f64) -> Option<String> {
    let parts: Vec<String> = reachable(slo, urgency, budget)
        .iter()
        .map(|p| format!("({})", pair_expr(slo, p, budget, Refs::Recorded)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" or "))
}

/// One pair's rule: both windows burning over enough events, quantities as `refs` says.
pub fn pair_expr(slo: &Slo, p: &WindowPair, budget: f64, refs: Refs) -> String {
    let (b, f) = (trim_float(budget), trim_float(p.factor));
    format!(
        "{long} > {f} * {b} and {short} > {f} * {b} and {events} >= {n}",
        long = refs.error_ratio(slo, p.long),
        short = refs.error_ratio(slo, p.short),
        events = refs.events(slo, p.long),
        n = slo.min_samples,
    )
}

/// What the pairs of an alert are, in words.
fn pairs_text(pairs: &[WindowPair]) -> String {
    pairs
        .iter()
        .map(|p| {
            format!(
                "{}x over {} and {}",
                trim_float(p.factor),
                window_text(p.long),
                window_text(p.short)
            )
        })
        .collect::<Vec<_>>()
        .join(", or ")
}

/// One SLO's burn-rate alerts (or a comment where one cannot fire).
pub(super) fn alerts(slo: &Slo, out: &mut String) {
    let Some(budget) = budget(slo) else { return };
    for urgency in Urgency::ALL {
        let unreachable: Vec<WindowPair> = pairs(urgency, slo.period)
            .into_iter()
            .filter(|p| p.threshold(budget) >= 1.0)
            .collect();
        if !unreachable.is_empty() {
            let _ = writeln!(
                out,
                "      # {}: no {} on {}: an error budget of {} burns at most {}x",
                alert_name(slo, urgency),
                pairs_text(&unreachable),
                slo.name,
                percent(budget),
                trim_float((1.0 / budget * 10.0).floor() / 10.0),
            );
        }
        for pair in reachable(slo, urgency, budget) {
            rule(slo, urgency, &pair, budget, out);
        }
    }
}

/// One window pair's rule (an alert has one per pair, each with its own `for`).
fn rule(slo: &Slo, urgency: Urgency, pair: &WindowPair, budget: f64, out: &mut String) {
    let expr = pair_expr(slo, pair, budget, Refs::Recorded);
    let _ = writeln!(out, "      - alert: {}", alert_name(slo, urgency));
    let _ = writeln!(out, "        expr: {}", yaml_string(&expr));
    let _ = writeln!(out, "        for: {}", window_text(pair.hold()));
    super::labels(slo, urgency.severity(), out);
    let _ = writeln!(out, "          long_window: {}", window_text(pair.long));
    let _ = writeln!(out, "          short_window: {}", window_text(pair.short));
    let _ = writeln!(out, "        annotations:");
    for (key, value) in annotations(slo, pair, budget) {
        let _ = writeln!(out, "          {key}: {}", yaml_string(&value));
    }
}

/// A pair rule's annotations: fixed text, so promtool tests can expect them exactly.
pub fn annotations(slo: &Slo, pair: &WindowPair, budget: f64) -> [(&'static str, String); 3] {
    [
        (
            "summary",
            format!(
                "{} is burning its error budget: {}",
                slo.description,
                pairs_text(std::slice::from_ref(pair))
            ),
        ),
        (
            "description",
            format!(
                "objective {}: the error budget is {} of the events of {}; more than {} of the events bad over {} and over {}, for {}",
                slo.objective_text(),
                percent(budget),
                window_text(slo.period),
                percent(pair.threshold(budget)),
                window_text(pair.long),
                window_text(pair.short),
                window_text(pair.hold()),
            ),
        ),
        ("runbook", super::runbook(slo)),
    ]
}
