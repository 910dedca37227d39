//! Judged by a real Prometheus (the managed one, Debian's `prometheus` binary): the
//! smoke run passes every SLO, and each breach scenario fails exactly its SLO, by
//! name, while every other SLO passes.

mod common;

use common::*;
use slo::verdict::{Source, Status, Verdict};

/// A scenario's exit code, summary, output and `summary.md`.
fn judged(scenario: &str) -> (i32, reports::summary::RunSummary, String, String) {
    let dir = TempDir::new("lg-breach");
    let results = dir.path().join("results");
    let (code, out, err) = run(&[
        "run",
        scenario,
        "--results",
        results.to_str().unwrap(),
        "--managed-prometheus",
        "--quiet",
    ]);
    let s = summary(&results);
    let md = std::fs::read_to_string(run_dir(&results).join("summary.md")).unwrap_or_default();
    (code, s, format!("{out}{err}"), md)
}

fn table(verdicts: &[Verdict]) -> String {
    verdicts
        .iter()
        .map(|v| {
            format!(
                "{:<13} {:<30} {} ({} samples) {}",
                v.status,
                v.slo,
                v.display,
                v.samples,
                v.note.clone().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn breach(scenario: &str, slo: &str) {
    let (code, s, output, md) = judged(&format!("scenarios/{scenario}.toml"));
    // The pull-request summary opens with the failure (passes collapsed below it).
    let failure = md
        .find(&format!("- ❌ fail **{slo}**: "))
        .unwrap_or_else(|| panic!("{slo}'s failure is listed: {md}"));
    assert!(failure < md.find("<details>").unwrap_or(md.len()), "{md}");
    let v = s
        .verdicts
        .as_ref()
        .unwrap_or_else(|| panic!("not judged: {output}"));
    assert_eq!(v.source, Source::Prometheus, "{output}");
    let failed: Vec<&str> = v
        .whole
        .iter()
        .filter(|x| x.status == Status::Fail)
        .map(|x| x.slo.as_str())
        .collect();
    assert_eq!(
        failed,
        vec![slo],
        "exactly {slo} fails:\n{}",
        table(&v.whole)
    );
    let not_passed: Vec<&str> = v
        .whole
        .iter()
        .filter(|x| x.status == Status::Inconclusive)
        .map(|x| x.slo.as_str())
        .collect();
    assert!(
        not_passed.is_empty(),
        "every other SLO passes:\n{}",
        table(&v.whole)
    );
    assert_eq!(code, 1, "{output}");
    assert_eq!(s.exit_code, 1);
    // An SLO the client measures carries its evidence in the summary's line.
    let measured = v
        .whole
        .iter()
        .any(|x| x.slo == slo && x.client_side.is_some());
    let line = md[failure..].lines().take(2).collect::<Vec<_>>().join("\n");
    assert_eq!(line.contains("evidence: "), measured, "{line}");
    // The generated alerts, replayed on the same Prometheus: an event SLO's breach
    // burns its budget fast enough for a page or ticket condition to hold (none can
    // fire in a run shorter than the rules' `for`, 2.5 minutes at the least).
    let replay = v.alerts.as_ref().expect("an alert replay with Prometheus");
    assert!(replay.errors.is_empty(), "{:?}", replay.errors);
    let burned = replay.alerts.iter().any(|a| {
        a.slo == slo && a.kind != slo::rules::replay::AlertKind::Threshold && a.pending_ms.is_some()
    });
    let has_budget = replay
        .alerts
        .iter()
        .any(|a| a.slo == slo && a.kind != slo::rules::replay::AlertKind::Threshold);
    assert_eq!(burned, has_budget, "{slo}: {:#?}", replay.alerts);
}

#[test]
fn smoke_passes_every_slo_and_the_two_sources_agree() {
    let (code, s, output, _) = judged("scenarios/smoke.toml");
    let v = s.verdicts.as_ref().unwrap();
    assert_eq!(v.source, Source::Prometheus, "{output}");
    assert!(
        v.whole.iter().all(|x| x.status == Status::Pass),
        "{}",
        table(&v.whole)
    );
    assert_eq!(code, 0, "{output}");
    assert!(
        v.evaluation_ms < 1000.0,
        "judging all SLOs took {} ms",
        v.evaluation_ms
    );
    // A healthy run would not have paged, and no alert fired.
    let replay = v.alerts.as_ref().expect("an alert replay with Prometheus");
    assert!(replay.errors.is_empty(), "{:?}", replay.errors);
    assert!(!replay.would_page(), "{:#?}", replay.alerts);
    assert_eq!(replay.fired().count(), 0, "{:#?}", replay.alerts);
    assert!(!replay.burn.is_empty());
    // The embedded source judged the same run: it agrees within the set's tolerance.
    let other = v
        .cross_check
        .as_ref()
        .expect("Prometheus is cross-checked against the services' metrics");
    for p in &v.whole {
        let e = other.iter().find(|o| o.slo == p.slo).unwrap();
        assert_eq!(
            p.status, e.status,
            "{}: prometheus {} vs scrape {}",
            p.slo, p.display, e.display
        );
        if p.kind != "gauge" {
            let (a, b) = (p.value.unwrap(), e.value.unwrap());
            assert!(
                (a - b).abs() <= 0.02,
                "{}: prometheus {a} vs scrape {b}",
                p.slo
            );
        }
    }
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn breach_onboarding_completion() {
    breach("breach-onboarding-completion", "onboarding_completion_rate");
}

#[test]
fn breach_plan_failure() {
    breach("breach-plan-failure", "plan_generation_failure_rate");
}

#[test]
fn breach_plan_duration() {
    breach("breach-plan-duration", "plan_generation_duration_p95");
}

#[test]
fn breach_api_error_rate() {
    breach("breach-api-error-rate", "api_error_rate");
}

#[test]
fn breach_api_response_time() {
    breach("breach-api-response-time", "api_response_time_p95");
}

#[test]
fn breach_llm_response_time() {
    breach("breach-llm-response-time", "llm_response_time_p95");
}

#[test]
fn breach_database_query_time() {
    breach("breach-database-query-time", "database_query_time_p95");
}

#[test]
fn breach_service_up() {
    breach("breach-service-up", "service_up");
}

#[test]
fn breach_memory() {
    breach("breach-memory", "memory_per_service");
}

#[test]
fn breach_cpu() {
    breach("breach-cpu", "cpu_per_service");
}
