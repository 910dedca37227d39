//! The operations guide's thresholds as alerts: `<Name>SloBreach` fires when the
//! SLO's quantity over its alert window breaks the objective for `alert_for`, and
//! (for event SLOs) the window holds at least `min_samples` events, so one failure
//! in one request does not page.

use std::fmt::Write;

use super::{Refs, sum_increase, yaml_string};
use crate::definition::{Kind, Query, Ratio, Slo, SloSet};
use crate::duration::promql as window_text;
use crate::format::trim_float;
use crate::promql::{self, le_matcher};

/// The recording rule's name and expression: the judged quantity over the alert window.
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
        Kind::Query(q) => (
            format!("slo:{}:ratio_{w}", slo.name),
            format!(
                "({}) / ({})",
                q.numerator.over(&format!("[{w}]")),
                q.total.over(&format!("[{w}]"))
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

/// The alert expression: the recording rule breaching the objective, over enough events.
pub fn alert_expr(set: &SloSet, slo: &Slo) -> String {
    alert_expr_with(set, slo, Refs::Recorded)
}

/// The alert expression, its quantities referred to as `refs` says.
pub fn alert_expr_with(set: &SloSet, slo: &Slo, refs: Refs) -> String {
    let (name, expr) = recording(set, slo);
    let record = match refs {
        Refs::Recorded => name,
        Refs::Inline => format!("({expr})"),
    };
    let enough = || {
        format!(
            " and {} >= {}",
            refs.events(slo, slo.alert_window),
            slo.min_samples
        )
    };
    match &slo.kind {
        Kind::Ratio(Ratio { objective, .. }) | Kind::Query(Query { objective, .. }) => format!(
            "{record} {} {}{}",
            objective.op.negated(),
            trim_float(objective.value),
            enough()
        ),
        Kind::Latency(l) => format!("{record} < {}{}", trim_float(l.quantile), enough()),
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

/// The alert's name.
pub fn alert_name(slo: &Slo) -> String {
    format!("{}SloBreach", super::camel(&slo.name))
}

/// One alert rule.
pub(super) fn alert(set: &SloSet, slo: &Slo, out: &mut String) {
    let _ = writeln!(out, "      - alert: {}", alert_name(slo));
    let _ = writeln!(out, "        expr: {}", yaml_string(&alert_expr(set, slo)));
    let _ = writeln!(out, "        for: {}", window_text(slo.alert_for));
    super::labels(slo, slo.severity.as_str(), out);
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
    let _ = writeln!(
        out,
        "          runbook: {}",
        yaml_string(&super::runbook(slo))
    );
}
