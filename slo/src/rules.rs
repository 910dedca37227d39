//! Prometheus recording and alerting rules derived from an SLO set, so the alerts
//! operators see and the verdicts this tool gives come from one definition.
//!
//! For each SLO: a recording rule `slo:<name>:<measure>_<window>` computing the
//! judged quantity over the SLO's alert window (a ratio of counter increases, the
//! share of a histogram within the threshold read at the `le` bucket, or a gauge per
//! job), and an alert `<Name>SloBreach` firing when the objective does not hold for
//! the SLO's `alert_for`. `loadgen rules` writes them; a test fails when the file in
//! `monitoring/rules/` differs from the generated one.

use std::fmt::Write;

use crate::definition::{Kind, Slo, SloSet};
use crate::duration::promql as window_text;
use crate::format::{quantile_name, trim_float};
use crate::promql::{self, le_matcher};
use crate::selector::Selector;

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

/// The alert's name.
pub fn alert_name(slo: &Slo) -> String {
    format!("{}SloBreach", camel(&slo.name))
}

/// The recording rule's name and expression.
pub fn recording(set: &SloSet, slo: &Slo) -> (String, String) {
    let w = window_text(slo.alert_window);
    match &slo.kind {
        Kind::Ratio(r) => (
            format!("slo:{}:ratio_{w}", slo.name),
            format!(
                "{} / {}",
                sum_increase(&r.numerator, &w),
                sum_increase(&r.total, &w)
            ),
        ),
        Kind::Latency(l) => (
            format!(
                "slo:{}:within_{}s_ratio_{w}",
                slo.name,
                trim_float(l.threshold_seconds).replace('.', "_")
            ),
            format!(
                "sum(increase({}[{w}])) / sum(increase({}[{w}]))",
                promql::selector(
                    &promql::bucket(&l.histogram),
                    &[&le_matcher(l.threshold_seconds)]
                ),
                promql::count(&l.histogram)
            ),
        ),
        Kind::Gauge(g) => (
            format!("slo:{}:{}_{w}", slo.name, g.aggregation.as_str()),
            promql::gauge(
                &g.metric,
                g.aggregation,
                &format!("[{w}]"),
                &promql::Scope::jobs(&set.services),
            ),
        ),
    }
}

/// The alert expression: the recording rule breaching the objective.
pub fn alert_expr(set: &SloSet, slo: &Slo) -> String {
    let (record, _) = recording(set, slo);
    match &slo.kind {
        Kind::Ratio(r) => format!(
            "{record} {} {}",
            r.objective.op.negated(),
            trim_float(r.objective.value)
        ),
        Kind::Latency(l) => format!("{record} < {}", trim_float(l.quantile)),
        Kind::Gauge(g) => {
            let breach = format!(
                "{record} {} {}",
                g.objective.op.negated(),
                trim_float(g.objective.value)
            );
            if g.metric.name == "up" {
                // A target that is gone entirely is down too.
                let absent: Vec<String> =
                    set.services.iter().map(|j| promql::absent_up(j)).collect();
                format!("{breach} or {}", absent.join(" or "))
            } else {
                breach
            }
        }
    }
}

fn yaml_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The recording rules group.
fn recording_group(set: &SloSet, out: &mut String) {
    let _ = writeln!(out, "  - name: {}-slo-recording", set.name);
    let _ = writeln!(out, "    interval: 30s");
    let _ = writeln!(out, "    rules:");
    for slo in &set.slos {
        let (record, expr) = recording(set, slo);
        let _ = writeln!(out, "      - record: {record}");
        let _ = writeln!(out, "        expr: {}", yaml_string(&expr));
        if let Kind::Latency(l) = &slo.kind {
            let w = window_text(slo.alert_window);
            let _ = writeln!(
                out,
                "      - record: slo:{}:p{}_{w}",
                slo.name,
                quantile_name(l.quantile).replace('.', "_"),
            );
            let _ = writeln!(
                out,
                "        expr: {}",
                yaml_string(&format!(
                    "histogram_quantile({}, sum by (le) (rate({}[{w}])))",
                    trim_float(l.quantile),
                    promql::bucket(&l.histogram),
                ))
            );
        }
    }
}

/// One alert rule.
fn alert(set: &SloSet, slo: &Slo, out: &mut String) {
    let _ = writeln!(out, "      - alert: {}", alert_name(slo));
    let _ = writeln!(out, "        expr: {}", yaml_string(&alert_expr(set, slo)));
    let _ = writeln!(out, "        for: {}", window_text(slo.alert_for));
    let _ = writeln!(out, "        labels:");
    let _ = writeln!(out, "          severity: {}", slo.severity);
    let _ = writeln!(out, "          slo: {}", slo.name);
    if !slo.area.is_empty() {
        let _ = writeln!(out, "          area: {}", slo.area);
    }
    let _ = writeln!(out, "        annotations:");
    let on = if matches!(slo.kind, Kind::Gauge(_)) {
        " on {{ $labels.job }}"
    } else {
        ""
    };
    let summary = format!(
        "{} breached{on}: objective {}",
        slo.description,
        slo.objective_text()
    );
    let _ = writeln!(out, "          summary: {}", yaml_string(&summary));
    let _ = writeln!(
        out,
        "          description: {}",
        yaml_string(&format!(
            "{} over the last {} is {{{{ $value | humanize }}}}",
            recording(set, slo).0,
            window_text(slo.alert_window)
        ))
    );
    let runbook = slo
        .runbook
        .clone()
        .unwrap_or_else(|| format!("monitoring/README.md#{}", slo.name.replace('_', "-")));
    let _ = writeln!(out, "          runbook: {}", yaml_string(&runbook));
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
        alert(set, slo, &mut out);
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
        assert_eq!(yaml.matches("- alert: ").count(), set.slos.len());
        assert!(yaml.contains("- alert: ApiErrorRateSloBreach"));
        assert!(yaml.contains(r#"expr: 'sum(increase(api_errors_total{job="gateway-bff"}[5m])) / sum(increase(api_requests_total{job="gateway-bff"}[5m]))'"#), "{yaml}");
        assert!(
            yaml.contains("expr: 'slo:api_error_rate:ratio_5m >= 0.01'"),
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
        assert_eq!(alert_expr(&set, slo), format!("{name} < 0.95"));
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
}
