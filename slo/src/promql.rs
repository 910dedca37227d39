//! Every PromQL text this crate sends to Prometheus or writes into rules, built in
//! one place with every label value escaped: job matchers, `le` matchers, windows,
//! and the query of each kind of SLO (a selector's own text is
//! [`Selector::promql`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::definition::{Aggregation, Kind, Slo};
use crate::format::trim_float;
use crate::selector::Selector;
use crate::verdict::Window;

pub use crate::selector::escape;

/// A literal text inside a PromQL regular expression (itself inside a string):
/// regex metacharacters get a backslash, written `\\` in the string.
pub fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        if c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `name{label="value",...,extra}`: a selector with extra matchers appended.
pub fn selector(s: &Selector, extra: &[&str]) -> String {
    s.promql(extra)
}

/// The matchers that keep a run's queries to its own series: its jobs, and any
/// extra label the scenario names (`instance`, `namespace`, `env`), so a shared
/// Prometheus with other traffic does not dilute the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The Prometheus jobs of the run's services.
    pub jobs: Vec<String>,
    /// Extra exact matchers, label to value.
    pub extra: BTreeMap<String, String>,
}

impl Scope {
    /// The jobs alone.
    pub fn jobs(jobs: &[String]) -> Scope {
        Scope {
            jobs: jobs.to_vec(),
            extra: BTreeMap::new(),
        }
    }

    /// The scope's matchers, as PromQL.
    pub fn matchers(&self) -> Vec<String> {
        let mut m = Vec::new();
        if !self.jobs.is_empty() {
            m.push(jobs_matcher(&self.jobs));
        }
        m.extend(
            self.extra
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v))),
        );
        m
    }

    /// A selector with the scope's matchers added.
    pub fn apply(&self, s: &Selector) -> String {
        let m = self.matchers();
        s.promql(&m.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// A PromQL query with the scope's matchers added to every selector in it.
    pub fn apply_query(&self, query: &str) -> Result<String, crate::error::Error> {
        crate::definition::scoped::with_matchers(query, &self.matchers()).map_err(|e| {
            crate::error::Error::Selector(format!(
                "{query}: cannot keep it to the run's scope: {e}"
            ))
        })
    }
}

/// `@ 1700000000.250`: evaluated at a time (unix ms).
pub fn at(t_ms: u64) -> String {
    format!("@ {}.{:03}", t_ms / 1000, t_ms % 1000)
}

/// `job=~"a|b"`: any of these jobs, exactly.
pub fn jobs_matcher(jobs: &[String]) -> String {
    let alternatives: Vec<String> = jobs.iter().map(|j| regex_escape(j)).collect();
    format!("job=~\"{}\"", alternatives.join("|"))
}

/// `job="a"`.
pub fn job_matcher(job: &str) -> String {
    format!("job=\"{}\"", escape(job))
}

/// `le` matcher accepting both spellings of a bound (`2` and `2.0`): Prometheus 2
/// keeps the exposition's text, and client libraries differ.
pub fn le_matcher(threshold: f64) -> String {
    let plain = trim_float(threshold);
    if plain.contains('.') {
        format!("le=\"{plain}\"")
    } else {
        format!("le=~\"{plain}(\\\\.0+)?\"")
    }
}

/// `[Nms] @ T` for a window: exactly the window, evaluated at its end.
pub fn range_at(window: Window) -> String {
    let length = window.end_ms.saturating_sub(window.start_ms).max(1);
    format!("[{length}ms] {}", at(window.end_ms))
}

/// `(expr)[Nms:Sms] @ T`: `expr` at every `step` over the window, as a subquery
/// evaluated at the window's end (the alert replay).
pub fn subquery(expr: &str, window: Window, step: Duration) -> String {
    let step_ms = step.as_millis().max(1) as u64;
    let length = window.end_ms.saturating_sub(window.start_ms).max(step_ms);
    format!("({expr})[{length}ms:{step_ms}ms] {}", at(window.end_ms))
}

/// `count by (__name__) ({__name__=~"a|b", <scope>})`: which of these metric names
/// have series in the scope (metric names need no regex escaping: letters, digits,
/// `_` and `:`).
pub fn names_present(names: &[&str], scope: &Scope) -> String {
    let mut matchers = scope.matchers();
    matchers.push(format!("__name__=~\"{}\"", names.join("|")));
    format!("count by (__name__) ({{{}}})", matchers.join(","))
}

/// `sum(increase(selector[range]))`.
pub fn sum_increase(s: &Selector, range: &str) -> String {
    format!("sum(increase({s}{range}))")
}

/// `sum by (le) (increase(histogram_bucket[range]))`.
pub fn bucket_increase(histogram: &Selector, range: &str) -> String {
    format!("sum by (le) (increase({}{range}))", bucket(histogram))
}

/// The `_bucket` series of a histogram.
pub fn bucket(histogram: &Selector) -> Selector {
    histogram.with_name(format!("{}_bucket", histogram.name))
}

/// The `_count` series of a histogram.
pub fn count(histogram: &Selector) -> Selector {
    histogram.with_name(format!("{}_count", histogram.name))
}

/// The outer aggregation over a job's instances: the worst one (max for a
/// resource, min for `up`).
fn worst_instance(aggregation: Aggregation) -> &'static str {
    if aggregation == Aggregation::MinOverTime {
        "min"
    } else {
        "max"
    }
}

/// A gauge aggregated over `range`, the worst instance of each job.
pub fn gauge(metric: &Selector, aggregation: Aggregation, range: &str, scope: &Scope) -> String {
    format!(
        "{} by (job) ({}({}{range}))",
        worst_instance(aggregation),
        aggregation.as_str(),
        scope.apply(metric)
    )
}

/// A gauge over `window`, the worst instance of each job; a `rate` is taken
/// over stretches of `span`, every `step`, and the worst stretch counts (a
/// subquery), unless the window holds only one.
pub fn gauge_over(
    metric: &Selector,
    aggregation: Aggregation,
    window: Window,
    (span, step): (Duration, Duration),
    scope: &Scope,
) -> String {
    let length = window.end_ms.saturating_sub(window.start_ms);
    let (span_ms, step_ms) = (span.as_millis() as u64, step.as_millis().max(1) as u64);
    if aggregation != Aggregation::Rate || length < span_ms + step_ms {
        return gauge(metric, aggregation, &range_at(window), scope);
    }
    format!(
        "max by (job) (max_over_time(rate({}[{span_ms}ms])[{}ms:{step_ms}ms] {}))",
        scope.apply(metric),
        length - span_ms,
        at(window.end_ms)
    )
}

/// How many samples of a gauge each job has in `range` (its worst instance:
/// every instance must cover the window).
pub fn gauge_samples(metric: &Selector, range: &str, scope: &Scope) -> String {
    format!(
        "min by (job) (count_over_time({}{range}))",
        scope.apply(metric)
    )
}

/// The `up` series of the scope.
pub fn up(scope: &Scope) -> String {
    scope.apply(&Selector {
        name: "up".to_string(),
        matchers: Vec::new(),
    })
}

/// `absent(up{job="..."})`: a job that is gone entirely.
pub fn absent_up(job: &str) -> String {
    format!("absent(up{{{}}})", job_matcher(job))
}

/// The series a verdict rests on, as PromQL (shown in the verdict): counters are
/// read at both edges (`@` start and end) and walked for resets, gauges aggregated
/// over the window (a `rate` over its worst stretch of `span`, one every
/// `interval`).
pub fn verdict_queries(
    slo: &Slo,
    window: Window,
    scope: &Scope,
    (span, interval): (Duration, Duration),
) -> Vec<String> {
    let edges = |s: String| format!("{s} {} .. {s} {}", at(window.start_ms), at(window.end_ms));
    match &slo.kind {
        Kind::Ratio(ratio) => ratio
            .numerator
            .iter()
            .chain(&ratio.total)
            .map(|s| edges(scope.apply(s)))
            .collect(),
        Kind::Latency(l) => vec![edges(scope.apply(&bucket(&l.histogram)))],
        Kind::Gauge(g) => {
            vec![gauge_over(
                &g.metric,
                g.aggregation,
                window,
                (span, interval),
                scope,
            )]
        }
        Kind::Query(q) => {
            let seconds = window.end_ms.saturating_sub(window.start_ms) as f64 / 1000.0;
            let range = range_at(window);
            [&q.numerator, &q.total]
                .iter()
                .map(|e| {
                    let text = e.events(&range, seconds);
                    scope.apply_query(&text).unwrap_or(text)
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_use_the_at_modifier_with_milliseconds() {
        let w = Window {
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_000_030_250,
        };
        assert_eq!(range_at(w), "[30250ms] @ 1700000030.250");
    }

    #[test]
    fn gauge_queries_take_the_worst_instance_per_job() {
        let q = gauge(
            &Selector::parse("process_resident_memory_bytes").unwrap(),
            Aggregation::MaxOverTime,
            "[60000ms] @ 100.000",
            &Scope::jobs(&["gateway-bff".into(), "planning-engine".into()]),
        );
        assert_eq!(
            q,
            r#"max by (job) (max_over_time(process_resident_memory_bytes{job=~"gateway-bff|planning-engine"}[60000ms] @ 100.000))"#
        );
    }

    #[test]
    fn the_scope_keeps_queries_to_the_run() {
        let mut scope = Scope::jobs(&["gateway-bff".into()]);
        scope.extra.insert("env".into(), "staging".into());
        let s = Selector::parse(r#"api_errors_total{route="/x"}"#).unwrap();
        assert_eq!(
            scope.apply(&s),
            r#"api_errors_total{route="/x",job=~"gateway-bff",env="staging"}"#
        );
        assert_eq!(at(1_700_000_000_250), "@ 1700000000.250");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(
            jobs_matcher(&["a.b".into(), "c\"d".into()]),
            r#"job=~"a\\.b|c\"d""#
        );
        assert_eq!(absent_up("x\"y"), r#"absent(up{job="x\"y"})"#);
        assert_eq!(le_matcher(0.5), "le=\"0.5\"");
        assert_eq!(le_matcher(2.0), r#"le=~"2(\\.0+)?""#);
    }

    #[test]
    fn replay_and_preflight_queries_keep_to_the_window_and_scope() {
        let w = Window {
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_000_060_250,
        };
        assert_eq!(
            subquery("up == 0", w, Duration::from_secs(1)),
            "(up == 0)[60250ms:1000ms] @ 1700000060.250"
        );
        let scope = Scope::jobs(&["gateway-bff".to_string()]);
        assert_eq!(
            names_present(&["a_total", "b_count"], &scope),
            "count by (__name__) ({job=~\"gateway-bff\",__name__=~\"a_total|b_count\"})"
        );
    }
}
