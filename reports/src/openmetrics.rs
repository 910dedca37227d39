//! `verdicts.prom`: a run's verdicts and integrity as OpenMetrics text, for a
//! Pushgateway or a node exporter's textfile collector, so dashboards can show load
//! test results next to the services' own metrics.
//!
//! Every series carries `scenario` and `run` (the run id). Verdicts are a state set:
//! `loadgen_slo_status{slo, window, status}` is 1 for the verdict's status and 0 for
//! the two others, so `loadgen_slo_status{status="fail"} == 1` selects the failures.
//! Run totals are gauges (a run's snapshot, not counters that grow).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use slo::verdict::{Status, Verdict, WindowKind};

use crate::summary::RunSummary;

/// The file's name in the run directory.
pub const FILE: &str = "verdicts.prom";

/// The Pushgateway job every push is grouped under (beside the scenario).
pub const PUSH_JOB: &str = "loadgen";

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    scenario: String,
    run: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    scenario: String,
    run: String,
    slo_set: String,
    target: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SloLabels {
    scenario: String,
    run: String,
    slo: String,
    window: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    scenario: String,
    run: String,
    slo: String,
    window: String,
    status: String,
}

/// A family registered under `name`.
fn family<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, FloatGauge>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let f = Family::<L, FloatGauge>::default();
    registry.register(name, help, f.clone());
    f
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// The run's own series: what ran, whether it was valid, how it exited.
fn run_series(registry: &mut Registry, s: &RunSummary, run: &RunLabels) {
    let info = family::<InfoLabels>(
        registry,
        "loadgen_run_info",
        "The run: scenario, SLO set, target and loadgen version (always 1)",
    );
    info.get_or_create(&InfoLabels {
        scenario: run.scenario.clone(),
        run: run.run.clone(),
        slo_set: s
            .verdicts
            .as_ref()
            .map(|v| v.slo_set.clone())
            .unwrap_or_default(),
        target: s.target.kind.clone(),
        version: s.environment.version.clone(),
    })
    .set(1.0);
    let mut gauge = |name: &str, help: &str, value: f64| {
        family::<RunLabels>(registry, name, help)
            .get_or_create(run)
            .set(value);
    };
    gauge(
        "loadgen_run_exit_code",
        "The exit code the run produced (0 pass, 1 fail, 2 usage, 3 inconclusive)",
        s.exit_code as f64,
    );
    gauge(
        "loadgen_run_start_timestamp_seconds",
        "When the run started (unix seconds)",
        s.start_ms as f64 / 1000.0,
    );
    gauge(
        "loadgen_run_end_timestamp_seconds",
        "When the run ended (unix seconds)",
        s.end_ms as f64 / 1000.0,
    );
    gauge(
        "loadgen_run_interrupted",
        "1 when the run was stopped before its planned end",
        flag(s.interrupted),
    );
    gauge(
        "loadgen_run_requests",
        "Requests the run sent",
        s.total_requests as f64,
    );
    gauge(
        "loadgen_run_errors",
        "Requests that failed",
        s.total_errors as f64,
    );
    gauge(
        "loadgen_run_dropped_iterations",
        "Iterations due that never started (arrival-rate flows)",
        s.dropped_iterations as f64,
    );
    if let Some(i) = &s.integrity {
        gauge(
            "loadgen_run_valid",
            "1 when the load happened as planned; an invalid run never passes",
            flag(i.valid),
        );
    }
}

/// The verdicts' series, both windows.
fn verdict_series(registry: &mut Registry, verdicts: &[&Verdict], run: &RunLabels) {
    let status = family::<StatusLabels>(
        registry,
        "loadgen_slo_status",
        "An SLO's verdict: 1 for its status, 0 for the others",
    );
    let value = family::<SloLabels>(
        registry,
        "loadgen_slo_value",
        "The SLO's measured value (a ratio, or seconds for latencies)",
    );
    let samples = family::<SloLabels>(
        registry,
        "loadgen_slo_samples",
        "Events the verdict is based on",
    );
    let burn = family::<SloLabels>(
        registry,
        "loadgen_slo_error_budget_burn_rate",
        "How many times faster than allowed the run spent the error budget",
    );
    for v in verdicts {
        let labels = SloLabels {
            scenario: run.scenario.clone(),
            run: run.run.clone(),
            slo: v.slo.clone(),
            window: match v.window {
                WindowKind::Whole => "whole",
                WindowKind::Steady => "steady",
            }
            .to_string(),
        };
        for s in [Status::Pass, Status::Fail, Status::Inconclusive] {
            status
                .get_or_create(&StatusLabels {
                    scenario: labels.scenario.clone(),
                    run: labels.run.clone(),
                    slo: labels.slo.clone(),
                    window: labels.window.clone(),
                    status: s.as_str().to_string(),
                })
                .set(flag(v.status == s));
        }
        if let Some(x) = v.value.filter(|x| x.is_finite()) {
            value.get_or_create(&labels).set(x);
        }
        samples.get_or_create(&labels).set(v.samples as f64);
        if let Some(b) = v.burn_rate.or(v.budget_consumed).filter(|b| b.is_finite()) {
            burn.get_or_create(&labels).set(b);
        }
    }
}

/// The OpenMetrics text of a run.
pub fn render(s: &RunSummary) -> String {
    let mut registry = Registry::default();
    let run = RunLabels {
        scenario: s.scenario.clone(),
        run: s.run_id.clone(),
    };
    run_series(&mut registry, s, &run);
    if let Some(v) = &s.verdicts {
        let all: Vec<&Verdict> = v.whole.iter().chain(v.steady.iter().flatten()).collect();
        verdict_series(&mut registry, &all, &run);
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// The Pushgateway path of a run's group: `/metrics/job/loadgen/scenario/<name>`, the
/// name base64url-encoded (`scenario@base64/...`) when it holds other than
/// letters, digits, `-`, `_` and `.`. Each push replaces the scenario's previous run.
pub fn push_path(scenario: &str) -> String {
    let plain = !scenario.is_empty()
        && scenario
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        format!("/metrics/job/{PUSH_JOB}/scenario/{scenario}")
    } else {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(scenario);
        format!("/metrics/job/{PUSH_JOB}/scenario@base64/{encoded}")
    }
}
