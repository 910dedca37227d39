//! Prometheus recording and alerting rules derived from an SLO set, so the alerts
//! operators see and the verdicts this tool gives come from one definition.
//!
//! The parts: [`threshold`] is the operations guide's thresholds as alerts
//! (`<Name>SloBreach`, over the SLO's alert window, with a minimum event count);
//! [`burn`] the multiwindow, multi-burn-rate alerts on each event SLO's error budget
//! (`<Name>BudgetBurnPage`, `<Name>BudgetBurnTicket`); [`promtool`] writes promtool
//! unit tests for the burn-rate alerts and the minimum event counts. Recording rules:
//! `slo:<name>:<measure>_<window>` for the thresholds, `slo:<name>:error_ratio_<window>`
//! and `slo:<name>:events_<window>` for the budgets. `loadgen rules` writes them; a
//! test fails when the files in `monitoring/rules/` differ from the generated ones.

pub mod burn;
pub mod promtool;
pub mod replay;
pub mod threshold;

use std::fmt::Write;
use std::time::Duration;

use crate::definition::{Kind, Slo, SloSet};
use crate::duration::promql as window_text;
use crate::format::{quantile_name, trim_float};
use crate::promql::{self, le_matcher};
use crate::selector::Selector;

pub use threshold::{alert_expr, alert_name, recording};

/// The alert expression of an SLO's threshold alert, with the quantities as `refs` says.
pub use threshold::alert_expr_with;

fn sum_increase(selectors: &[Selector], window: &str) -> String {
    let range = format!("[{window}]");
    let parts: Vec<String> = selectors
        .iter()
        .map(|s| promql::sum_increase(s, &range))
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("({})", parts.join(" + "))
    }
}

fn camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn yaml_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How an alert expression refers to the quantities it compares: by their recording
/// rules' names (the rules file), or by the expressions themselves (replaying an
/// alert on a Prometheus that does not load the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refs {
    /// `slo:<name>:...` series the recording group writes.
    Recorded,
    /// The recording rules' expressions, in parentheses.
    Inline,
}

impl Refs {
    fn pick(self, name: String, expr: Option<String>) -> String {
        match (self, expr) {
            (Refs::Inline, Some(e)) => format!("({e})"),
            _ => name,
        }
    }

    /// An event SLO's event count over `window`.
    pub fn events(self, slo: &Slo, window: Duration) -> String {
        self.pick(events_record(slo, window), events_expr(slo, window))
    }

    /// An event SLO's error ratio over `window`.
    pub fn error_ratio(self, slo: &Slo, window: Duration) -> String {
        self.pick(
            burn::error_ratio_record(slo, window),
            error_ratio_expr(slo, window),
        )
    }
}

/// The name of the recording rule counting an event SLO's events over `window`.
pub fn events_record(slo: &Slo, window: Duration) -> String {
    format!("slo:{}:events_{}", slo.name, window_text(window))
}

/// An event SLO's events over `window` (`None` for gauges).
pub fn events_expr(slo: &Slo, window: Duration) -> Option<String> {
    let w = window_text(window);
    match &slo.kind {
        Kind::Ratio(r) => Some(sum_increase(&r.total, &w)),
        Kind::Latency(l) => Some(format!(
            "sum(increase({}[{w}]))",
            promql::count(&l.histogram)
        )),
        Kind::Query(q) => Some(q.total.events(&format!("[{w}]"), window.as_secs_f64())),
        Kind::Gauge(_) => None,
    }
}

/// An event SLO's share of bad events over `window` (`None` for gauges).
pub fn error_ratio_expr(slo: &Slo, window: Duration) -> Option<String> {
    let w = window_text(window);
    match &slo.kind {
        Kind::Ratio(r) if r.numerator_is_bad => Some(format!(
            "{} / {}",
            sum_increase(&r.numerator, &w),
            sum_increase(&r.total, &w)
        )),
        Kind::Ratio(r) => Some(format!(
            "1 - ({} / {})",
            sum_increase(&r.numerator, &w),
            sum_increase(&r.total, &w)
        )),
        Kind::Latency(l) => Some(format!(
            "1 - (sum(increase({}[{w}])) / sum(increase({}[{w}])))",
            promql::selector(
                &promql::bucket(&l.histogram),
                &[&le_matcher(l.threshold_seconds)]
            ),
            promql::count(&l.histogram)
        )),
        Kind::Query(q) => {
            let range = format!("[{w}]");
            let share = format!(
                "({}) / ({})",
                q.numerator.over(&range),
                q.total.over(&range)
            );
            Some(if q.numerator_is_bad {
                share
            } else {
                format!("1 - ({share})")
            })
        }
        Kind::Gauge(_) => None,
    }
}

/// The labels block of an alert.
fn labels(slo: &Slo, severity: &str, out: &mut String) {
    let _ = writeln!(out, "        labels:");
    let _ = writeln!(out, "          severity: {severity}");
    let _ = writeln!(out, "          slo: {}", slo.name);
    if !slo.area.is_empty() {
        let _ = writeln!(out, "          area: {}", slo.area);
    }
}

/// Where the SLO's runbook entry is.
fn runbook(slo: &Slo) -> String {
    slo.runbook
        .clone()
        .unwrap_or_else(|| format!("monitoring/README.md#{}", slo.name.replace('_', "-")))
}

fn record(out: &mut String, name: &str, expr: &str) {
    let _ = writeln!(out, "      - record: {name}");
    let _ = writeln!(out, "        expr: {}", yaml_string(expr));
}

/// The recording rules group.
fn recording_group(set: &SloSet, out: &mut String) {
    let _ = writeln!(out, "  - name: {}-slo-recording", set.name);
    let _ = writeln!(out, "    interval: 30s");
    let _ = writeln!(out, "    rules:");
    for slo in &set.slos {
        let (name, expr) = recording(set, slo);
        record(out, &name, &expr);
        if let Kind::Latency(l) = &slo.kind {
            let w = window_text(slo.alert_window);
            record(
                out,
                &format!(
                    "slo:{}:p{}_{w}",
                    slo.name,
                    quantile_name(l.quantile).replace('.', "_"),
                ),
                &format!(
                    "histogram_quantile({}, sum by (le) (rate({}[{w}])))",
                    trim_float(l.quantile),
                    promql::bucket(&l.histogram),
                ),
            );
        }
        budget_records(slo, out);
    }
}

/// An event SLO's event counts (alert window and the burn-rate long windows) and,
/// when it has an error budget, its error ratio over every burn-rate window.
fn budget_records(slo: &Slo, out: &mut String) {
    let mut counted = vec![slo.alert_window];
    let has_budget = burn::budget(slo).is_some();
    if has_budget {
        counted.extend(burn::long_windows(slo));
    }
    counted.sort();
    counted.dedup();
    for w in counted {
        if let Some(expr) = events_expr(slo, w) {
            record(out, &events_record(slo, w), &expr);
        }
    }
    if !has_budget {
        return;
    }
    for w in burn::windows(slo) {
        if let Some(expr) = error_ratio_expr(slo, w) {
            record(out, &burn::error_ratio_record(slo, w), &expr);
        }
    }
}

/// The rules file (YAML) of a set.
pub fn render(set: &SloSet) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated from {} by `loadgen rules`: do not edit by hand.",
        set.path.display()
    );
    let _ = writeln!(
        out,
        "# {}",
        if set.description.is_empty() {
            &set.name
        } else {
            &set.description
        }
    );
    let _ = writeln!(out, "groups:");
    recording_group(set, &mut out);
    let _ = writeln!(out, "  - name: {}-slo-alerts", set.name);
    let _ = writeln!(out, "    rules:");
    for slo in &set.slos {
        threshold::alert(set, slo, &mut out);
        burn::alerts(slo, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> SloSet {
        crate::definition::parse(
            std::path::Path::new("slo/athlete-ally.toml"),
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/athlete-ally.toml"))
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn every_slo_gets_a_recording_rule_and_an_alert() {
        let set = set();
        let yaml = render(&set);
        let budgets = set
            .slos
            .iter()
            .filter(|s| burn::budget(s).is_some())
            .count();
        // Each SLO's threshold alert, and one rule per reachable window pair of each
        // error budget's page and ticket: four per budget, but only the ticket's two
        // for the onboarding rate (an 80% objective burns at most 5x).
        assert_eq!(
            yaml.matches("- alert: ").count(),
            set.slos.len() + 4 * budgets - 2,
            "{yaml}"
        );
        assert!(
            yaml.contains("          long_window: 1h\n          short_window: 5m\n"),
            "{yaml}"
        );
        assert!(yaml.contains("        for: 150s\n"), "{yaml}");
        assert!(yaml.contains("- alert: ApiErrorRateSloBreach"));
        assert!(yaml.contains(r#"expr: 'sum(increase(api_errors_total{job="gateway-bff"}[5m])) / sum(increase(api_requests_total{job="gateway-bff"}[5m]))'"#), "{yaml}");
        assert!(
            yaml.contains(
                "expr: 'slo:api_error_rate:ratio_5m >= 0.01 and slo:api_error_rate:events_5m >= 20'"
            ),
            "{yaml}"
        );
    }

    #[test]
    fn latency_rules_read_the_bucket_at_the_threshold() {
        let set = set();
        let slo = set
            .slos
            .iter()
            .find(|s| s.name == "api_response_time_p95")
            .unwrap();
        let (name, expr) = recording(&set, slo);
        assert_eq!(name, "slo:api_response_time_p95:within_2s_ratio_5m");
        assert!(expr.contains(r#"le=~"2(\\.0+)?""#), "{expr}");
        assert_eq!(
            alert_expr(&set, slo),
            format!("{name} < 0.95 and slo:api_response_time_p95:events_5m >= 20")
        );
        assert_eq!(le_matcher(0.5), "le=\"0.5\"");
    }

    #[test]
    fn the_up_alert_also_fires_on_a_missing_target() {
        let set = set();
        let slo = set.slos.iter().find(|s| s.name == "service_up").unwrap();
        let e = alert_expr(&set, slo);
        assert!(
            e.starts_with(
                "slo:service_up:min_over_time_1m != 1 or absent(up{job=\"gateway-bff\"})"
            ),
            "{e}"
        );
    }

    #[test]
    fn burn_rate_alerts_follow_the_workbook_windows() {
        let set = set();
        let slo = set
            .slos
            .iter()
            .find(|s| s.name == "api_error_rate")
            .unwrap();
        assert_eq!(burn::budget(slo), Some(0.01));
        let page = burn::alert_expr(slo, burn::Urgency::Page, 0.01).unwrap();
        assert_eq!(
            page,
            "(slo:api_error_rate:error_ratio_1h > 14.4 * 0.01 and slo:api_error_rate:error_ratio_5m > 14.4 * 0.01 and slo:api_error_rate:events_1h >= 20) or (slo:api_error_rate:error_ratio_6h > 6 * 0.01 and slo:api_error_rate:error_ratio_30m > 6 * 0.01 and slo:api_error_rate:events_6h >= 20)"
        );
        let ticket = burn::alert_expr(slo, burn::Urgency::Ticket, 0.01).unwrap();
        assert!(
            ticket.contains(
                "error_ratio_1d > 3 * 0.01 and slo:api_error_rate:error_ratio_2h > 3 * 0.01"
            ),
            "{ticket}"
        );
        assert!(
            ticket.contains(
                "error_ratio_3d > 1 * 0.01 and slo:api_error_rate:error_ratio_6h > 1 * 0.01"
            ),
            "{ticket}"
        );
        // A 7-day period scales every window by 7/30.
        let w = burn::pairs(
            burn::Urgency::Page,
            std::time::Duration::from_secs(7 * 86_400),
        );
        assert_eq!(w[0].long.as_secs(), 840);
        assert_eq!(w[0].short.as_secs(), 70);
        // A good-events ratio burns its complement; an 80% objective cannot page.
        let onboarding = set
            .slos
            .iter()
            .find(|s| s.name == "onboarding_completion_rate")
            .unwrap();
        let b = burn::budget(onboarding).unwrap();
        assert!((b - 0.2).abs() < 1e-9);
        assert!(burn::alert_expr(onboarding, burn::Urgency::Page, b).is_none());
        assert!(render(&set).contains(
            "OnboardingCompletionRateBudgetBurnPage: no 14.4x over 1h and 5m, or 6x over 6h and 30m"
        ));
        // Gauges have no budget.
        let up = set.slos.iter().find(|s| s.name == "service_up").unwrap();
        assert_eq!(burn::budget(up), None);
    }

    #[test]
    fn every_burn_alert_gets_a_firing_case_per_pair_a_healthy_and_a_too_few_events_test() {
        let set = set();
        let tests = promtool::render(&set, "rules.yml");
        let cases: Vec<&str> = tests.split("\n  - name: ").skip(1).collect();
        let of = |alert: &str, firing: bool| {
            cases
                .iter()
                .filter(|c| c.contains(&format!("alertname: {alert}\n")))
                .filter(|c| c.contains("exp_labels") == firing)
                .count()
        };
        for slo in &set.slos {
            let Some(b) = burn::budget(slo) else { continue };
            for u in burn::Urgency::ALL {
                let pairs = burn::reachable(slo, u, b).len();
                let name = burn::alert_name(slo, u);
                assert_eq!(of(&name, true), pairs, "{name}");
                assert_eq!(of(&name, false), if pairs == 0 { 0 } else { 2 }, "{name}");
            }
            assert_eq!(of(&threshold::alert_name(slo), false), 1, "{}", slo.name);
        }
    }
}
