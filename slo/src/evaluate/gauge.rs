//! Gauge SLOs: a metric aggregated over the window, judged per service; the
//! verdict is the worst service's.
//!
//! `up` is judged down for a service whose process restarted inside the window
//! (its start time after the window's start, or its counters reset), however
//! short the restart: an outage between two scrapes leaves every scrape up.
//!
//! A `rate` (CPU) is judged over time, not averaged over the window: the worst
//! stretch of the SLO's `alert_window` (or, in a window shorter than that, of
//! five scrape intervals) counts. A gateway burning a full core for 16 s of a
//! 40 s run averaged 42% and passed "< 80%", while the alert it feeds would
//! have opened.

use std::time::Duration;

use super::{GaugeValue, Reader, inconclusive};
use crate::definition::{Gauge, Slo, SloSet};
use crate::error::Error;
use crate::format::with_unit;
use crate::verdict::{Detail, Status, Verdict, Window, WindowKind};

/// Share of the window's scrapes a gauge must have: a gap longer than a tenth of
/// the window could hide what the gauge is there to catch (a restart, a spike).
pub const MIN_COVERAGE: f64 = 0.9;

/// Scrape intervals in a stretch of a `rate` gauge when the window is shorter
/// than the SLO's alert window: enough samples that one late scrape does not
/// make a spike.
pub const RATE_SPAN_SCRAPES: u32 = 5;

/// The stretch a `rate` gauge is judged over in `window`: the SLO's
/// `alert_window` when the window holds it, else [`RATE_SPAN_SCRAPES`] scrape
/// intervals (at least 5 s), never longer than the window.
pub fn rate_span(alert_window: Duration, window: Window, interval: Duration) -> Duration {
    let length = Duration::from_millis(window.end_ms.saturating_sub(window.start_ms));
    if length >= alert_window {
        return alert_window;
    }
    (interval * RATE_SPAN_SCRAPES)
        .max(Duration::from_secs(5))
        .min(length)
}

/// Whether a service's samples cover the window: at least two, and nearly every
/// scrape the window should hold.
fn covered(v: &GaugeValue) -> bool {
    v.samples >= 2 && v.samples as f64 >= MIN_COVERAGE * v.expected as f64
}

/// One service's part of the verdict.
fn detail(g: &Gauge, service: &str, value: Option<&GaugeValue>) -> Detail {
    match value {
        Some(v) if covered(v) => Detail {
            target: service.to_string(),
            status: if g.objective.holds(v.value) {
                Status::Pass
            } else {
                Status::Fail
            },
            value: Some(v.value),
            display: with_unit(v.value, &g.unit),
            samples: v.samples,
        },
        Some(v) => Detail {
            target: service.to_string(),
            status: Status::Inconclusive,
            value: None,
            display: format!(
                "{} of about {} scrapes: not enough to cover the window",
                v.samples, v.expected
            ),
            samples: v.samples,
        },
        None => Detail {
            target: service.to_string(),
            status: Status::Inconclusive,
            value: None,
            display: format!("no {} series", g.metric.name),
            samples: 0,
        },
    }
}

/// The worst service's value: the largest when larger is worse, else the smallest.
fn worst<'a>(g: &Gauge, details: &'a [Detail]) -> Option<(f64, &'a Detail)> {
    details
        .iter()
        .filter_map(|d| d.value.map(|x| (x, d)))
        .reduce(|a, b| {
            let b_worse = if g.objective.op.larger_is_worse() {
                b.0 > a.0
            } else {
                b.0 < a.0
            };
            if b_worse { b } else { a }
        })
}

/// Judges a gauge SLO over one window.
pub async fn judge<R: Reader>(
    set: &SloSet,
    slo: &Slo,
    g: &Gauge,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
) -> Result<Verdict, Error> {
    let span = rate_span(slo.alert_window, window, reader.interval());
    let values = reader
        .gauge(&g.metric, g.aggregation, window, span, &set.services)
        .await?;
    // A restarted process was down, whether or not a scrape saw it.
    let restarted = match g.metric.name.as_str() {
        "up" => reader.restarted(window).await?,
        _ => Default::default(),
    };
    let details: Vec<Detail> = set
        .services
        .iter()
        .map(|service| match restarted.contains(service) {
            true => Detail {
                target: service.clone(),
                status: Status::Fail,
                value: Some(0.0),
                display: "restarted inside the window".to_string(),
                samples: values.get(service).map_or(0, |v| v.samples),
            },
            false => detail(g, service, values.get(service)),
        })
        .collect();
    let mut v = inconclusive(slo, window_kind, reader.source(), String::new());
    let status = crate::verdict::overall(details.iter().map(|d| d.status));
    v.status = status;
    v.samples = details.iter().map(|d| d.samples).sum();
    if let Some((value, d)) = worst(g, &details) {
        v.value = Some(value);
        v.display = format!("{} ({})", with_unit(value, &g.unit), d.target);
    }
    let failing: Vec<&str> = details
        .iter()
        .filter(|d| d.status != Status::Pass)
        .map(|d| d.target.as_str())
        .collect();
    if !failing.is_empty() {
        let what = if status == Status::Fail {
            "breached"
        } else {
            "no data"
        };
        v.note = Some(format!("{what} for {}", failing.join(", ")));
    }
    v.details = details;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_judged_over_the_alert_window_or_a_few_scrapes() {
        let w = |s: u64| Window {
            start_ms: 0,
            end_ms: s * 1000,
        };
        let five_m = Duration::from_secs(300);
        assert_eq!(rate_span(five_m, w(3600), Duration::from_secs(15)), five_m);
        assert_eq!(
            rate_span(five_m, w(40), Duration::from_secs(1)),
            Duration::from_secs(5)
        );
        assert_eq!(
            rate_span(five_m, w(120), Duration::from_secs(15)),
            Duration::from_secs(75)
        );
        assert_eq!(
            rate_span(five_m, w(3), Duration::from_secs(1)),
            Duration::from_secs(3)
        );
    }
}
