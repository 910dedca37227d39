//! Reports rendered from recorded run directories show why each SLO failed.
//!
//! The fixtures under `tests/fixtures/runs/` are real runs of the shipped breach
//! scenarios against the embedded services (`scripts/record-fixtures.sh` records
//! them again), cut to what the renderers read: `summary.json`, `timeline.json`
//! and the two interval logs.

use std::path::PathBuf;

use reports::evidence::{Evidence, lines};
use reports::run_data::RunData;
use slo::verdict::{Status, Verdict};

fn fixture(name: &str) -> RunData {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runs")
        .join(name);
    RunData::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn verdict<'a>(run: &'a RunData, slo: &str) -> &'a Verdict {
    run.summary
        .verdicts
        .as_ref()
        .expect("judged")
        .whole
        .iter()
        .find(|v| v.slo == slo)
        .unwrap_or_else(|| panic!("no verdict for {slo}"))
}

/// The evidence row under `slo`'s verdict in the report.
fn evidence_row<'a>(html: &'a str, slo: &str) -> &'a str {
    let row = html
        .split(&format!("id=\"evidence-{slo}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no evidence row under {slo}"));
    &row[..row.find("<!-- end of evidence -->").unwrap()]
}

/// The HTML report, the Markdown summary and the JUnit file of a run.
fn rendered(run: &RunData) -> (String, String, String) {
    let evidence = lines(run);
    let html = reports::html::render(run, None).unwrap();
    let md = reports::markdown::render(&run.summary, &evidence, None);
    let junit = reports::junit::render_run(
        run.summary.verdicts.as_ref().unwrap(),
        "fixture",
        None,
        &evidence,
    );
    (html, md, junit)
}

#[test]
fn an_error_rate_breach_shows_its_failing_requests_by_status_with_traces() {
    let run = fixture("breach-api-error-rate");
    let v = verdict(&run, "api_error_rate");
    assert_eq!(v.status, Status::Fail);
    let Some(Evidence::Errors { groups, bad, total }) =
        Evidence::of(v, &run.summary, &run.histograms)
    else {
        panic!("an error-rate SLO's evidence is its failing requests");
    };
    let top = &groups[0];
    assert_eq!(
        (top.request.as_str(), top.status.as_str()),
        ("plan_status", "503")
    );
    assert!(
        top.count * 10 >= bad * 9,
        "the injected 503s are most of the bad: {groups:?}"
    );
    assert!(bad > 0 && bad < total);
    assert!(!top.traces.is_empty(), "example trace ids");
    assert!(top.example.contains("503"), "{}", top.example);
    // No slowest onboarding request stands in for the evidence.
    assert!(groups.iter().all(|g| g.request != "complete"), "{groups:?}");

    let (html, md, junit) = rendered(&run);
    let row = evidence_row(&html, "api_error_rate");
    assert!(row.contains("<td>plan_status</td><td>503</td>"), "{row}");
    assert!(row.contains(&top.traces[0].trace_id[..16]), "{row}");
    let line = format!("plan_status 503 x{}", top.count);
    assert!(md.contains(&line), "the summary's evidence: {md}");
    assert!(
        junit.contains(&line),
        "the JUnit message's evidence: {junit}"
    );
    assert!(
        md.contains("first missed the objective"),
        "when it went bad: {md}"
    );
}

#[test]
fn a_completion_breach_shows_the_funnel_step_by_step() {
    let run = fixture("breach-onboarding-completion");
    let v = verdict(&run, "onboarding_completion_rate");
    assert_eq!(v.status, Status::Fail);
    let Some(Evidence::Funnel(f)) = Evidence::of(v, &run.summary, &run.histograms) else {
        panic!("the completion SLO's evidence is the funnel");
    };
    let names: Vec<&str> = f.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "auth_token",
            "purpose_selection",
            "proficiency",
            "equipment",
            "availability",
            "complete"
        ]
    );
    let complete = f.steps.last().unwrap();
    assert!(complete.failed > 0, "the refused completions: {f:?}");
    assert!(complete.reached < 0.8, "under the objective: {f:?}");
    let onboarding = run
        .summary
        .flows
        .iter()
        .find(|x| x.name == "onboarding")
        .unwrap();
    assert_eq!(f.completed, onboarding.iterations - onboarding.failed);
    assert_eq!(f.failed, onboarding.failed);
    assert!(f.server.is_some(), "judged from the server's counters too");
    // The services counted the same successes, step by step. The refusals are
    // injected by the fault layer, which answers before the step handler counts an
    // outcome: the server's funnel shows them as missing successes, not as 4xx.
    let (server_ok, server_refused) = complete.server.expect("the server's count of the step");
    assert_eq!(server_ok, complete.succeeded, "{f:?}");
    assert!(server_refused <= complete.failed, "{f:?}");
    let purpose = &f.steps[1];
    assert_eq!(purpose.server, Some((purpose.succeeded, 0)), "{f:?}");

    let (html, md, _) = rendered(&run);
    let row = evidence_row(&html, "onboarding_completion_rate");
    assert!(
        md.contains("first missed the objective"),
        "completion per slice, over the journeys that ended in it: {md}"
    );
    assert!(
        row.contains(&format!(
            "<td>complete</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            complete.sent, complete.succeeded, complete.failed
        )),
        "{row}"
    );
    assert!(
        md.contains(&format!(
            "complete {}; completed {}",
            complete.succeeded, f.completed
        )),
        "{md}"
    );
}

#[test]
fn a_latency_breach_shows_its_events_around_the_threshold() {
    let run = fixture("breach-api-response-time");
    let v = verdict(&run, "api_response_time_p95");
    assert_eq!(v.status, Status::Fail);
    let Some(Evidence::Latency(l)) = Evidence::of(v, &run.summary, &run.histograms) else {
        panic!("a latency SLO's evidence is its distribution");
    };
    assert_eq!(l.threshold_ms, 2000.0);
    let labels: Vec<&str> = l.bands.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "up to 1 s",
            "1 s to 2 s",
            "2 s to 4 s",
            "4 s to 8 s",
            "over 8 s"
        ]
    );
    let late: u64 = l.bands.iter().filter(|b| b.over).map(|b| b.count).sum();
    assert_eq!(late, l.total - l.within, "{l:?}");
    assert!(
        late as f64 > 0.05 * l.total as f64,
        "2.2 s added to every request puts more than 5% past 2 s: {l:?}"
    );
    assert_eq!(l.bands.iter().map(|b| b.count).sum::<u64>(), l.total);

    let (html, md, _) = rendered(&run);
    let row = evidence_row(&html, "api_response_time_p95");
    assert!(row.contains("2 s to 4 s <span class=\"warn\">(over the threshold)</span>"));
    assert!(row.contains("<svg"), "its timeline chart");
    assert!(md.contains(&format!("{} late", l.total - l.within)), "{md}");
}

#[test]
fn a_plan_failure_breach_shows_plans_by_outcome_and_cause() {
    let run = fixture("breach-plan-failure");
    let v = verdict(&run, "plan_generation_failure_rate");
    assert_eq!(v.status, Status::Fail);
    let Some(Evidence::Plans(p)) = Evidence::of(v, &run.summary, &run.histograms) else {
        panic!("a plan SLO's evidence is the plans by outcome");
    };
    assert!(p.failed > 0 && p.completed > 0, "{p:?}");
    assert_eq!(p.started, p.completed + p.failed + p.interrupted);
    assert_eq!(p.causes[0].kind, "plan_failed", "{p:?}");

    let (html, _, junit) = rendered(&run);
    assert!(html.contains("id=\"evidence-plan_generation_failure_rate\""));
    assert!(junit.contains("most failures: plan_failed"), "{junit}");
}

#[test]
fn passing_slos_show_no_evidence_block_and_no_unrelated_examples() {
    let run = fixture("breach-api-error-rate");
    let (html, _, _) = rendered(&run);
    assert!(!html.contains("id=\"evidence-onboarding_completion_rate\""));
    assert!(
        !html.contains("slowest examples"),
        "the old unrelated examples"
    );
}
