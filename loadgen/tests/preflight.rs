//! The release check before load (`loadgen preflight`, and `loadgen run` unless
//! `--no-preflight`): against the real embedded services, a real Prometheus and a
//! real NATS. A check that fails names what to fix, the exit is 3, and `loadgen run`
//! drives no load at all.

mod common;

use common::*;
use testkit::{Exporter, Nats, Page};

const HEALTH: &str = r#"
[[flows]]
name = "health"
[slo]
only = ["api_error_rate"]
"#;

/// A scenario against the embedded services, with `extra` in `[target.embedded]`.
fn embedded(dir: &TempDir, extra: &str) -> String {
    let text = format!(
        "name = \"pre\"\n[target.embedded]\n{extra}\n[load]\nusers = 2\nduration = \"3s\"\n{HEALTH}"
    );
    dir.write("pre.toml", &text).display().to_string()
}

fn line<'a>(err: &'a str, check: &str) -> &'a str {
    err.lines()
        .find(|l| l.contains(check))
        .unwrap_or_else(|| panic!("no {check} line: {err}"))
}

#[test]
fn the_embedded_services_pass_and_a_managed_prometheus_sees_every_job_up() {
    let dir = TempDir::new("lg-pre-ok");
    let scenario = embedded(&dir, "");
    let (code, _, err) = run(&["preflight", &scenario, "--managed-prometheus"]);
    assert_eq!(code, 0, "{err}");
    for service in ["gateway-bff", "profile-onboarding", "planning-engine"] {
        assert!(
            line(&err, &format!("{service} health")).contains("ok"),
            "{err}"
        );
        assert!(
            line(&err, &format!("{service} metrics")).contains("ok"),
            "{err}"
        );
    }
    assert!(line(&err, "slo metrics").contains("ok"), "{err}");
    let targets = line(&err, "prometheus targets");
    assert!(
        targets.contains("ok") && targets.contains("planning-engine"),
        "{err}"
    );
    assert!(line(&err, "traces").contains("skip"), "{err}");
    assert!(line(&err, "nats").contains("skip"), "{err}");
}

#[test]
fn a_prometheus_that_scrapes_none_of_the_jobs_fails_the_check_and_the_run_drives_nothing() {
    let dir = TempDir::new("lg-pre-prom");
    let scenario = embedded(&dir, "");
    // A real Prometheus, but its only job is not one of the SLO set's.
    let exporter = Exporter::start(|_| Page::Text("x 1\n".into()));
    let prometheus = prometheus(&[("something-else", exporter.address.clone())]);
    let results = dir.path().join("results");
    let (code, out, err) = run(&[
        "run",
        &scenario,
        "--prometheus",
        &prometheus.url,
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 3, "{out}{err}");
    let targets = line(&err, "prometheus targets");
    assert!(
        targets.contains("FAIL") && targets.contains("never scraped"),
        "{err}"
    );
    assert!(
        err.contains("fix: give Prometheus a scrape job per service"),
        "{err}"
    );
    assert!(err.contains("no load was driven"), "{err}");
    // Nothing ran: no summary, no requests.
    let run_dir = run_dir(&results);
    assert!(
        !run_dir.join("summary.json").exists(),
        "{}",
        run_dir.display()
    );
}

#[test]
fn nats_and_the_span_exporter_are_checked_when_used() {
    let dir = TempDir::new("lg-pre-nats");
    let mut nats = Nats::start();
    let scenario = embedded(&dir, &format!("nats_url = \"{}\"", nats.url));
    // Port 1: nothing listens there, and no service started by the run can take it
    // (a free port picked here could be bound by an embedded service a moment later).
    let closed = "http://127.0.0.1:1".to_string();
    let (code, _, err) = run(&[
        "preflight",
        &scenario,
        "--no-prometheus",
        "--nats-monitoring-url",
        &nats.monitor,
        "--otlp-endpoint",
        &closed,
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(line(&err, "nats").contains("ok"), "{err}");
    let traces = line(&err, "traces");
    assert!(traces.contains("FAIL") && traces.contains(&closed), "{err}");
    // NATS's monitoring gone: the check says so.
    let (code, _, err) = run(&[
        "preflight",
        &scenario,
        "--no-prometheus",
        "--nats-monitoring-url",
        &closed,
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(line(&err, "nats").contains("FAIL"), "{err}");
    assert!(err.contains("--nats-monitoring-url"), "{err}");
    nats.stop();
}

#[test]
fn a_deployment_without_metrics_endpoints_fails_and_no_preflight_runs_anyway() {
    let services = services();
    let dir = TempDir::new("lg-pre-url");
    let closed = "http://127.0.0.1:1/metrics".to_string();
    let text = format!(
        "name = \"pre\"\n[target]\nurl = \"http://127.0.0.1:{}\"\nmetrics = {{ \"gateway-bff\" = \"{closed}\" }}\n[load]\nusers = 2\nduration = \"2s\"\n{HEALTH}",
        services.gateway
    );
    let scenario = dir.write("url.toml", &text).display().to_string();
    let (code, _, err) = run(&["preflight", &scenario]);
    assert_eq!(code, 3, "{err}");
    assert!(line(&err, "gateway-bff health").contains("ok"), "{err}");
    assert!(line(&err, "gateway-bff metrics").contains("FAIL"), "{err}");
    assert!(err.contains("fix: expose gateway-bff's /metrics"), "{err}");
    let results = dir.path().join("results");
    let (_, out, err) = run(&[
        "run",
        &scenario,
        "--no-preflight",
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!err.contains("preflight (the runbook"), "{err}");
    assert!(
        run_dir(&results).join("summary.json").exists(),
        "{out}{err}"
    );
}

#[test]
fn a_deployment_judged_by_prometheus_has_its_slo_metrics_checked_there() {
    let (services, prometheus) = services_scraped();
    let dir = TempDir::new("lg-pre-prom-metrics");
    let text = format!(
        "name = \"pre\"\n[target]\nurl = \"http://127.0.0.1:{}\"\n[load]\nusers = 2\nduration = \"2s\"\n{HEALTH}",
        services.gateway
    );
    let scenario = dir.write("url.toml", &text).display().to_string();
    let (code, _, err) = run(&["preflight", &scenario, "--prometheus", &prometheus.url]);
    assert_eq!(code, 0, "{err}");
    assert!(line(&err, "prometheus targets").contains("ok"), "{err}");
    let metrics = line(&err, "slo metrics");
    assert!(
        metrics.contains("ok") && metrics.contains("in Prometheus"),
        "{err}"
    );
    // A Prometheus scraping none of the services has none of the metrics either.
    let other = testkit::Exporter::start(|_| Page::Text("x 1\n".into()));
    let empty = common::prometheus(&[("gateway-bff", other.address.clone())]);
    let (code, _, err) = run(&["preflight", &scenario, "--prometheus", &empty.url]);
    assert_eq!(code, 3, "{err}");
    let metrics = line(&err, "slo metrics");
    assert!(
        metrics.contains("FAIL") && metrics.contains("api_requests_total"),
        "{err}"
    );
}
