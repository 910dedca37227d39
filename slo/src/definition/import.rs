//! What OpenSLO and Sloth files share once read: event queries turned into our
//! SLO kinds (exact where the [`shape`] allows, PromQL judged through Prometheus
//! otherwise), and loadgen's own settings carried in their annotations or labels so
//! a conversion loses nothing.

use std::collections::BTreeMap;

use super::file::SloFile;
use super::shape::{self, Shape, histogram_of};
use super::{Objective, Op, SloKind, WINDOW_PLACEHOLDER};
use crate::duration::DurationField;
use crate::selector::Selector;

/// The events one query counts.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Events {
    /// Counters added and subtracted: exact.
    Exact {
        plus: Vec<Selector>,
        minus: Vec<Selector>,
    },
    /// PromQL with `[{{.window}}]` ranges, and why exact judging cannot read it.
    Template(String),
}

/// What to write instead of a query that counts no events over a known window.
pub(super) const EVENTS_FIX: &str = "write counters (counter: true with a selector such as errors_total{job=\"api\"}) or the events over a range: sum(rate(errors_total{job=\"api\"}[{{.window}}]))";

/// Reads a query's events. `counter`: the query is a counter read as it is (an
/// OpenSLO `counter: true` metric); else it must hold `[{{.window}}]` ranges.
pub(super) fn events(query: &str, counter: bool) -> Result<Events, String> {
    let windowed = query.contains(WINDOW_PLACEHOLDER);
    match shape::shape(query) {
        Shape::Sum { plus, minus } if windowed || counter => Ok(Events::Exact { plus, minus }),
        Shape::Other(_) if windowed => Ok(Events::Template(query.trim().to_string())),
        Shape::Other(why) if counter => counter_template(query).ok_or(why),
        _ => Err(format!(
            "{query:?} has no {WINDOW_PLACEHOLDER} range and is not a counter: the events it counts over a window are unknown"
        )),
    }
}

/// A counter selector loadgen cannot read exactly (a regular-expression matcher),
/// alone or in a plain `sum(...)`, as the events of a window.
fn counter_template(query: &str) -> Option<Events> {
    let q = query.trim();
    let inner = q
        .strip_prefix("sum")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(q)
        .trim();
    let name_end = inner.find('{')?;
    let name = &inner[..name_end];
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && inner.ends_with('}')
        && !inner[name_end..].contains(['(', '[']);
    plain.then(|| Events::Template(format!("sum(increase({inner}{WINDOW_PLACEHOLDER}))")))
}

/// Counters as PromQL events over the window, counted like `rate` or `increase`.
fn render(plus: &[Selector], minus: &[Selector], rate: bool) -> String {
    let f = if rate { "rate" } else { "increase" };
    let term = |s: &Selector| format!("sum({f}({s}{WINDOW_PLACEHOLDER}))");
    let mut out = plus.iter().map(term).collect::<Vec<_>>().join(" + ");
    for s in minus {
        out.push_str(" - ");
        out.push_str(&term(s));
    }
    out
}

/// Our keys of an event SLO that come from the other formats' indicator: where
/// the checker's errors about them point.
pub(super) const EVENT_KEYS: [&str; 8] = [
    "good",
    "bad",
    "total",
    "good_query",
    "bad_query",
    "total_query",
    "histogram",
    "threshold_seconds",
];

/// A share rounded to 12 significant digits: `1 - 0.99` is `0.01` again.
pub(crate) fn round(x: f64) -> f64 {
    format!("{x:.12e}").parse().unwrap_or(x)
}

/// Fills in `slo` from an event SLO: `numerator` (bad events when `bad`, else
/// good ones) over `total`, with `good_target` the share of good events required
/// and `objective` an exact objective carried by the file (our own annotation).
pub(super) fn event_slo(
    slo: &mut SloFile,
    numerator: Events,
    bad: bool,
    total: Events,
    good_target: f64,
    objective: Option<Objective>,
) {
    let good_objective = || {
        objective.unwrap_or(Objective {
            op: Op::Ge,
            value: good_target,
        })
    };
    let bad_objective = || {
        objective.unwrap_or(Objective {
            op: Op::Le,
            value: round(1.0 - good_target),
        })
    };
    if let Events::Exact { plus: t, minus } = &total
        && minus.is_empty()
    {
        // Bad events written as all events less the good ones: the good ones.
        let good = match (&numerator, bad) {
            (Events::Exact { plus, minus }, false) if minus.is_empty() => Some(plus.clone()),
            (Events::Exact { plus, minus }, true) if plus == t && !minus.is_empty() => {
                Some(minus.clone())
            }
            _ => None,
        };
        if let Some(good) = good {
            if let Some((histogram, le)) = latency_pair(&good, t) {
                slo.kind = SloKind::Latency;
                slo.histogram = Some(histogram);
                slo.quantile = Some(good_target);
                slo.threshold_seconds = Some(le);
                return;
            }
            slo.kind = SloKind::Ratio;
            slo.good = Some(good);
            slo.total = Some(t.clone());
            slo.objective = Some(good_objective());
            return;
        }
        if let (Events::Exact { plus, minus }, true) = (&numerator, bad)
            && minus.is_empty()
        {
            slo.kind = SloKind::Ratio;
            slo.bad = Some(plus.clone());
            slo.total = Some(t.clone());
            slo.objective = Some(bad_objective());
            return;
        }
    }
    let rate = [&numerator, &total]
        .iter()
        .any(|e| matches!(e, Events::Template(t) if !t.contains("increase(")));
    let text = |e: Events| match e {
        Events::Exact { plus, minus } => render(&plus, &minus, rate),
        Events::Template(t) => t,
    };
    slo.kind = SloKind::Query;
    slo.total_query = Some(text(total));
    if bad {
        slo.bad_query = Some(text(numerator));
        slo.objective = Some(bad_objective());
    } else {
        slo.good_query = Some(text(numerator));
        slo.objective = Some(good_objective());
    }
}

/// A histogram's bucket over its `_count`: the histogram and the bucket's bound.
fn latency_pair(good: &[Selector], total: &[Selector]) -> Option<(Selector, f64)> {
    let ([bucket], [count]) = (good, total) else {
        return None;
    };
    let h = histogram_of(count, "_count")?;
    let hb = histogram_of(bucket, "_bucket")?;
    let le = hb
        .matchers
        .iter()
        .find(|m| m.label == "le" && m.equal)?
        .value
        .parse::<f64>()
        .ok()?;
    let rest: Vec<_> = hb
        .matchers
        .iter()
        .filter(|m| m.label != "le")
        .cloned()
        .collect();
    (rest == h.matchers && h.name == hb.name).then_some((h, le))
}

crate::closed_set! {
    /// loadgen's settings of an SLO that OpenSLO and Sloth have no field for,
    /// carried as `loadgen/<name>` annotations (OpenSLO) or `loadgen_<name>` labels
    /// (Sloth).
    pub enum Extra ("a loadgen setting") {
        /// The SLO's name, where the other format's spelling differs.
        Name = "name",
        /// Its area (business, performance, resources).
        Area = "area",
        /// The client measurement shown beside it.
        Client = "client",
        /// The requests it counts, comma-separated.
        ClientRequests = "client_requests",
        /// The flow its client measurement reads.
        ClientFlow = "client_flow",
        /// The objective exactly (`< 0.01`), where the target alone says `<=`.
        Objective = "objective",
        /// Fewer events than this: inconclusive.
        MinSamples = "min_samples",
        /// The confidence of the bounds.
        Confidence = "confidence",
        /// The alert's severity.
        Severity = "severity",
        /// The threshold alert's window.
        AlertWindow = "alert_window",
        /// How long the threshold alert's condition must hold.
        AlertFor = "alert_for",
        /// The SLO period (Sloth has none).
        Period = "period",
        /// The runbook entry.
        Runbook = "runbook",
        /// A gauge's aggregation.
        Aggregation = "aggregation",
        /// A gauge's unit.
        Unit = "unit",
    }
}

/// Sets one loadgen setting read from the other format; the error is the message
/// and the fix.
pub(super) fn apply_extra(
    slo: &mut SloFile,
    extra: Extra,
    value: &str,
) -> Result<(), (String, String)> {
    fn parsed<T>(
        value: &str,
        parse: impl Fn(&str) -> Option<T>,
        fix: String,
    ) -> Result<T, (String, String)> {
        parse(value).ok_or_else(|| (format!("{value:?} is not valid here"), fix))
    }
    let duration = |v: &str| -> Result<DurationField, (String, String)> {
        crate::duration::parse(v)
            .map(DurationField)
            .map_err(|e| (e, "write a duration such as 5m, 2h or 30d".to_string()))
    };
    match extra {
        Extra::Name => slo.name = value.to_string(),
        Extra::Area => slo.area = value.to_string(),
        Extra::Runbook => slo.runbook = Some(value.to_string()),
        Extra::Unit => slo.unit = Some(value.to_string()),
        Extra::ClientFlow => slo.client_flow = Some(value.to_string()),
        Extra::ClientRequests => {
            slo.client_requests = Some(value.split(',').map(|r| r.trim().to_string()).collect())
        }
        Extra::Client => {
            slo.client = Some(parsed(
                value,
                super::ClientMeasure::parse,
                format!("use {}", super::ClientMeasure::choices()),
            )?)
        }
        Extra::Severity => {
            slo.severity = Some(parsed(
                value,
                super::Severity::parse,
                format!("use {}", super::Severity::choices()),
            )?)
        }
        Extra::Aggregation => {
            slo.aggregation = Some(parsed(
                value,
                super::Aggregation::parse,
                format!("use {}", super::Aggregation::choices()),
            )?)
        }
        Extra::Objective => {
            slo.objective = Some(Objective::parse(value).map_err(|e| {
                (
                    e.to_string(),
                    "write \">= 0.80\", \"< 0.05\" or \"== 1\"".to_string(),
                )
            })?)
        }
        Extra::MinSamples => {
            slo.min_samples = Some(parsed(
                value,
                |v| v.parse().ok(),
                "write a whole number, such as 20".into(),
            )?)
        }
        Extra::Confidence => {
            slo.confidence = Some(parsed(
                value,
                |v| v.parse().ok(),
                "write a level such as 0.95".into(),
            )?)
        }
        Extra::AlertWindow => slo.alert_window = Some(duration(value)?),
        Extra::AlertFor => slo.alert_for = Some(duration(value)?),
        Extra::Period => slo.period = Some(duration(value)?),
    }
    Ok(())
}

/// The loadgen settings among a map of annotations or labels: `prefix` then the
/// setting's name (`-` read as `_`). An unknown name under the prefix is an error
/// (the key), so a typo does not pass unnoticed.
pub(super) fn extras<'m>(
    map: &'m BTreeMap<String, String>,
    prefix: &str,
) -> Result<Vec<(Extra, &'m str)>, String> {
    let mut out = Vec::new();
    for (key, value) in map {
        if let Some(name) = key.strip_prefix(prefix) {
            let extra = Extra::parse(&name.replace('-', "_")).ok_or_else(|| key.clone())?;
            out.push((extra, value.as_str()));
        }
    }
    Ok(out)
}

/// The fix for an unknown loadgen setting.
pub(super) fn extras_fix(prefix: &str) -> String {
    let names: Vec<String> = Extra::ALL
        .iter()
        .map(|e| format!("{prefix}{}", e.as_str()))
        .collect();
    format!(
        "use one of {}",
        crate::schema::choices(&names.iter().map(String::as_str).collect::<Vec<_>>())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap()
    }

    fn import(numerator: &str, bad: bool, total: &str, target: f64) -> SloFile {
        let mut slo = SloFile::new("x".into(), SloKind::Ratio);
        let (n, t) = (
            events(numerator, false).unwrap(),
            events(total, false).unwrap(),
        );
        event_slo(&mut slo, n, bad, t, target, None);
        slo
    }

    #[test]
    fn exact_queries_become_ratios_and_latencies() {
        let s = import(
            "sum(rate(errors_total[{{.window}}]))",
            true,
            "sum(rate(requests_total[{{.window}}]))",
            0.99,
        );
        assert_eq!(s.kind, SloKind::Ratio);
        assert_eq!(s.bad, Some(vec![sel("errors_total")]));
        assert_eq!(s.objective.unwrap().value, 0.01);
        assert_eq!(s.objective.unwrap().op, Op::Le);
        let s = import(
            "sum(rate(requests_total[{{.window}}])) - sum(rate(ok_total[{{.window}}]))",
            true,
            "sum(rate(requests_total[{{.window}}]))",
            0.8,
        );
        assert_eq!(
            (s.kind, s.good),
            (SloKind::Ratio, Some(vec![sel("ok_total")]))
        );
        let s = import(
            r#"sum(rate(h_count{job="g"}[{{.window}}])) - sum(rate(h_bucket{job="g",le="0.5"}[{{.window}}]))"#,
            true,
            r#"sum(rate(h_count{job="g"}[{{.window}}]))"#,
            0.95,
        );
        assert_eq!(s.kind, SloKind::Latency);
        assert_eq!(s.histogram, Some(sel(r#"h{job="g"}"#)));
        assert_eq!((s.quantile, s.threshold_seconds), (Some(0.95), Some(0.5)));
    }

    #[test]
    fn other_queries_are_judged_as_promql() {
        let s = import(
            r#"sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))"#,
            true,
            "sum(rate(http_requests_total[{{.window}}]))",
            0.999,
        );
        assert_eq!(s.kind, SloKind::Query);
        assert_eq!(
            s.total_query.as_deref(),
            Some("sum(rate(http_requests_total[{{.window}}]))")
        );
        assert_eq!(s.objective.unwrap().value, 0.001);
        assert_eq!(
            events(r#"sum(http_requests_total{code=~"5.."})"#, true).unwrap(),
            Events::Template(
                r#"sum(increase(http_requests_total{code=~"5.."}[{{.window}}]))"#.into()
            )
        );
        assert!(events("sum(rate(x_total[5m]))", false).is_err());
        assert!(events("max_over_time(x[5m])", true).is_err());
    }

    #[test]
    fn settings_are_read_and_unknown_ones_refused() {
        let map: BTreeMap<String, String> = [
            ("loadgen/min-samples".to_string(), "10".to_string()),
            ("owner".to_string(), "me".to_string()),
        ]
        .into();
        let mut slo = SloFile::new("x".into(), SloKind::Ratio);
        for (e, v) in extras(&map, "loadgen/").unwrap() {
            apply_extra(&mut slo, e, v).unwrap();
        }
        assert_eq!(slo.min_samples, Some(10));
        let bad: BTreeMap<String, String> =
            [("loadgen/min-sample".to_string(), "1".to_string())].into();
        assert_eq!(extras(&bad, "loadgen/").unwrap_err(), "loadgen/min-sample");
        assert!(
            apply_extra(&mut slo, Extra::Severity, "loud")
                .unwrap_err()
                .1
                .contains("critical")
        );
    }
}
