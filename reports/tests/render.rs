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
    let md = reports::markdown::render(&run.summary, &reports::evidence::lines(&run), None);
    assert!(!md.contains("<script"), "{md}");
    let junit = reports::junit::render(
        run.summary.verdicts.as_ref().unwrap(),
        &run.summary.scenario,
    );
    assert!(!junit.contains("<script"), "{junit}");
}

#[test]
fn a_hostile_trace_url_links_nowhere_and_the_page_runs_no_script() {
    let mut run = synthetic::run(120, 50, 1);
    run.summary.target.jaeger_url = Some("javascript:alert(document.cookie)//".into());
    let html = reports::html::render(&run, None).unwrap();
    assert!(
        !html.to_lowercase().contains("javascript:"),
        "a javascript: link survived"
    );
    assert!(html.contains("Content-Security-Policy"), "no CSP");
    assert!(html.contains("default-src 'none'"));
    run.summary.target.jaeger_url = Some("http://127.0.0.1:16686".into());
    let html = reports::html::render(&run, None).unwrap();
    assert!(
        html.contains("<a href=\"http:&#x2f;&#x2f;127.0.0.1:16686&#x2f;trace&#x2f;"),
        "web URLs still link"
    );
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
    let md = reports::markdown::render(&slower, &Default::default(), Some(&c));
    assert!(md.contains("**2 regressions**"), "{md}");
}

#[test]
fn markdown_and_junit_summaries() {
    let run = synthetic::run(300, 100, 1);
    let md = reports::markdown::render(&run.summary, &reports::evidence::lines(&run), None);
    assert!(md.starts_with("## FAIL"), "{md}");
    assert!(
        md.contains("- ❌ fail **plan_generation_failure_rate**: "),
        "failures come first, as a list: {md}"
    );
    assert!(
        md.contains("SLO verdicts passed</summary>"),
        "passes are collapsed: {md}"
    );
    let xml = reports::junit::render(run.summary.verdicts.as_ref().unwrap(), "synthetic");
    // Three SLOs and the alert replay.
    assert_eq!(xml.matches("<testcase ").count(), 4);
    assert_eq!(xml.matches("<failure ").count(), 1);
}

#[test]
fn verdicts_as_openmetrics_are_a_state_set_per_slo_and_pass_promtool() {
    let run = synthetic::run(600, 200, 1);
    let text = reports::openmetrics::render(&run.summary);
    let s = &run.summary;
    let labels = format!("scenario=\"{}\",run=\"{}\"", s.scenario, s.run_id);
    assert!(
        text.contains(&format!("loadgen_run_exit_code{{{labels}}} 1")),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let v = s.verdicts.as_ref().unwrap();
    let judged = v.whole.len() + v.steady.as_ref().map_or(0, Vec::len);
    // One series per status per verdict, exactly one of them 1.
    assert_eq!(
        text.matches("loadgen_slo_status{").count(),
        3 * judged,
        "{text}"
    );
    let ones = text
        .lines()
        .filter(|l| l.starts_with("loadgen_slo_status{") && l.ends_with(" 1.0"))
        .count();
    assert_eq!(ones, judged, "{text}");
    let failed = &v
        .whole
        .iter()
        .find(|x| x.status == Status::Fail)
        .unwrap()
        .slo;
    assert!(
        text.contains(&format!(
            "loadgen_slo_status{{{labels},slo=\"{failed}\",window=\"whole\",status=\"fail\"}} 1.0"
        )),
        "{text}"
    );
    // Prometheus's own checker reads it.
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is needed; scripts/test.sh installs it");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        reports::openmetrics::push_path("smoke"),
        "/metrics/job/loadgen/scenario/smoke"
    );
    assert_eq!(
        reports::openmetrics::push_path("a/b"),
        "/metrics/job/loadgen/scenario@base64/YS9i"
    );
}

#[test]
fn the_alert_replay_says_whether_the_run_would_have_paged_everywhere() {
    let run = synthetic::run(600, 200, 1);
    let html = reports::html::render(&run, None).unwrap();
    assert!(
        html.contains("Would this run have paged?"),
        "no alert section"
    );
    assert!(
        html.contains(
            "would have paged: PlanGenerationFailureRateBudgetBurnPage (critical) at +60s"
        ),
        "the headline names the page and when"
    );
    let md = reports::markdown::render(&run.summary, &reports::evidence::lines(&run), None);
    assert!(md.contains("**Alert replay:** would have paged"), "{md}");
    let v = run.summary.verdicts.as_ref().unwrap();
    let junit = reports::junit::render_run(v, "athlete-ally", None, &Default::default());
    assert!(
        junit.contains("name=\"alert_replay: would have paged\""),
        "{junit}"
    );
    assert!(
        junit.contains(&format!("tests=\"{}\"", v.whole.len() + 1)),
        "{junit}"
    );
}
