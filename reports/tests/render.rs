//! The rendered reports: structure, escaping of untrusted text, and the baseline
//! comparison's regression rule.

#[path = "fixtures/synthetic.rs"]
mod synthetic;

use reports::baseline::{Margins, compare};
use slo::verdict::Status;

#[test]
fn the_report_has_every_section_and_one_svg_per_chart() {
    let run = synthetic::run(600, 200, 1);
    let html = reports::html::render(&run, None).unwrap();
    for id in [
        "verdict",
        "slos",
        "charts",
        "distribution",
        "requests",
        "errors",
        "slowest",
        "scenario",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    let charts = html.matches("<div class=\"chart\"").count();
    assert_eq!(html.matches("<svg").count(), charts, "one SVG per chart");
    // Throughput, error rate, one latency chart per flow, users; two distributions.
    assert_eq!(charts, 3 + 2 + 2, "{charts} charts");
    assert!(
        html.contains("class=\"banner fail\""),
        "the exit code 1 run shows a fail banner"
    );
    assert!(html.contains("exit code <b>1</b>"));
    // minijinja escapes `/` in attributes as `&#x2f;`, which browsers read as `/`.
    assert!(
        html.replace("&#x2f;", "/")
            .contains("href=\"http://127.0.0.1:16686/trace/"),
        "trace ids link to Jaeger"
    );
    assert!(!html.contains("<script"), "no script at all");
    assert!(!html.contains(" src="), "nothing fetched from the network");
    for forbidden in ["<link", "<img", "@import", "url("] {
        assert!(
            !html.contains(forbidden),
            "{forbidden} would fetch from the network"
        );
    }
}

#[test]
fn text_from_responses_errors_and_scenarios_is_escaped() {
    let mut run = synthetic::run(120, 50, 1);
    let payload = "<script>alert('x')</script>";
    run.summary.errors[0].example = format!("HTTP 500: {payload}");
    run.summary.description = payload.to_string();
    run.summary.scenario = format!("evil{payload}");
    run.scenario_text = format!("description = \"{payload}\"");
    let v = run.summary.verdicts.as_mut().unwrap();
    v.whole[0].note = Some(payload.to_string());
    v.warnings.push(payload.to_string());
    let html = reports::html::render(&run, None).unwrap();
    assert!(
        !html.to_lowercase().contains("<script"),
        "an injected script survived"
    );
    assert!(
        html.contains("&lt;script&gt;"),
        "the payload is shown, escaped"
    );
    let md = reports::markdown::render(&run.summary, None);
    assert!(!md.contains("<script"), "{md}");
    let junit = reports::junit::render(
        run.summary.verdicts.as_ref().unwrap(),
        &run.summary.scenario,
    );
    assert!(!junit.contains("<script"), "{junit}");
}

#[test]
fn the_baseline_comparison_flags_a_real_regression_and_ignores_noise() {
    let baseline = synthetic::run(300, 100, 1).summary;
    // Noise: every percentile 3% worse, error rates the same.
    let mut noisy = baseline.clone();
    for r in &mut noisy.requests {
        r.latency_ms.p50 *= 1.03;
        r.latency_ms.p95 *= 1.03;
        r.latency_ms.p99 *= 1.03;
    }
    let c = compare(&noisy, &baseline, Margins::default());
    assert!(
        !c.has_regression(),
        "{:#?}",
        c.regressions().collect::<Vec<_>>()
    );
    // A small absolute change on a fast request is noise too (within 5 ms).
    let mut small = baseline.clone();
    small.requests[0].latency_ms.p95 += 2.0;
    assert!(!compare(&small, &baseline, Margins::default()).has_regression());

    // A real regression: plan_status p95 and p99 up by half and by more than 5 ms.
    let mut slower = baseline.clone();
    let status = slower
        .requests
        .iter_mut()
        .find(|r| r.name == "plan_status")
        .unwrap();
    status.latency_ms.p95 = status.latency_ms.p95 * 1.5 + 20.0;
    status.latency_ms.p99 = status.latency_ms.p99 * 1.5 + 20.0;
    let c = compare(&slower, &baseline, Margins::default());
    let flagged: Vec<(String, String)> = c
        .regressions()
        .map(|r| (r.item.clone(), r.metric.clone()))
        .collect();
    assert_eq!(
        flagged,
        vec![
            ("plan_status".to_string(), "p95".to_string()),
            ("plan_status".to_string(), "p99".to_string())
        ]
    );

    // An SLO that passed and now fails is a regression.
    let mut failing = baseline.clone();
    failing.verdicts.as_mut().unwrap().whole[0].status = Status::Fail;
    assert!(
        compare(&failing, &baseline, Margins::default())
            .regressions()
            .any(|r| r.metric == "SLO")
    );

    // The report shows the comparison.
    let mut run = synthetic::run(300, 100, 1);
    run.summary = slower.clone();
    let html = reports::html::render(&run, Some(&c)).unwrap();
    assert!(html.contains("id=\"baseline\""));
    assert!(html.contains("regression:"));
    let md = reports::markdown::render(&slower, Some(&c));
    assert!(md.contains("**2 regressions**"), "{md}");
}

#[test]
fn markdown_and_junit_summaries() {
    let run = synthetic::run(300, 100, 1);
    let md = reports::markdown::render(&run.summary, None);
    assert!(md.starts_with("## FAIL"), "{md}");
    assert!(
        md.contains("| plan_generation_failure_rate | ❌ fail |"),
        "{md}"
    );
    let xml = reports::junit::render(run.summary.verdicts.as_ref().unwrap(), "synthetic");
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert_eq!(xml.matches("<failure ").count(), 1);
}
