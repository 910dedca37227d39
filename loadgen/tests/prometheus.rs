//! The Prometheus source against a Prometheus the test starts itself: a run whose
//! Prometheus stops mid-way, an empty window, a latency exactly at its threshold,
//! and the dashboards' queries.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use slo::verdict::Status;

fn scenario(dir: &TempDir, s: &Services, prometheus: &str, seconds: u64) -> String {
    let metrics: Vec<String> = s
        .metrics
        .iter()
        .map(|(j, a)| format!("\"{j}\" = \"http://{a}/metrics\""))
        .collect();
    let text = format!(
        r#"name = "url-run"
[target]
url = "http://127.0.0.1:{}"
metrics = {{ {} }}
[load]
users = 12
hatch_rate = 12
duration = "{seconds}s"
think_time = {{ min = "100ms", max = "300ms" }}
graceful_stop = "5s"
[[flows]]
name = "onboarding"
weight = 2
abandon_share = 0.0
[[flows]]
name = "plans"
poll_interval = "200ms"
[slo]
file = "{}"
# Nobody abandons, and the steady window starts 1 s in: journeys begun in the ramp
# complete in it, so completions can outnumber starts there (a window that proves
# nothing about completion). The whole run is the gate.
gate = "whole"
[prometheus]
url = "{prometheus}"
"#,
        s.gateway,
        metrics.join(", "),
        root().join("slo/athlete-ally.toml").display()
    );
    dir.write("url-run.toml", &text).display().to_string()
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn prometheus_stopped_mid_way_is_inconclusive_and_the_results_are_kept() {
    let (s, mut prom) = services_scraped();
    let dir = TempDir::new("lg-prom-stop");
    let file = scenario(&dir, &s, &prom.url, 15);
    let results = dir.path().join("results");
    let child = loadgen()
        .args([
            "run",
            &file,
            "--results",
            results.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(7));
    prom.stop();
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{err}");
    let summary = summary(&results);
    assert_eq!(summary.exit_code, 3);
    assert!(
        summary.total_requests > 100,
        "the load ran: {}",
        summary.total_requests
    );
    let v = summary.verdicts.unwrap();
    assert!(
        v.whole.iter().all(|x| x.status == Status::Inconclusive),
        "no data is never a pass: {:#?}",
        v.whole
    );
    assert!(
        v.whole[0]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("could not answer"),
        "{:?}",
        v.whole[0].note
    );
    assert!(!v.warnings.is_empty());
    assert!(run_dir(&results).join("report.html").is_file());
    assert!(run_dir(&results).join("junit.xml").is_file());
}

#[test]
fn verify_an_empty_window_is_inconclusive() {
    let (_services, prom) = services_scraped();
    std::thread::sleep(Duration::from_secs(6));
    let now = now_s();
    // No traffic in the window: nothing to judge a ratio or a latency on.
    let (code, out, err) = run(&[
        "verify",
        "--prometheus",
        &prom.url,
        "--from",
        &(now - 5).to_string(),
        "--to",
        &now.to_string(),
    ]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("INCONCLUSIVE"), "{out}");
    assert!(out.contains("only 0 events"), "{out}");
    // Before Prometheus existed: no series at all.
    let (code, out, _) = run(&[
        "verify",
        "--prometheus",
        &prom.url,
        "--from",
        &(now - 7200).to_string(),
        "--to",
        &(now - 3600).to_string(),
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(!out.contains(" PASS "), "{out}");
    // Bad input: exit 2.
    let (code, _, err) = run(&[
        "verify",
        "--prometheus",
        &prom.url,
        "--from",
        "later",
        "--to",
        &now.to_string(),
    ]);
    assert_eq!(code, 2, "{err}");
    // Prometheus unreachable: exit 3.
    let (code, out, _) = run(&[
        "verify",
        "--prometheus",
        &format!("http://127.0.0.1:{}", free_port()),
        "--from",
        &(now - 60).to_string(),
        "--to",
        &now.to_string(),
    ]);
    assert_eq!(code, 3, "{out}");
}

/// A page whose histograms grow by fixed shares every second: `at` has exactly 95%
/// of its events at or under 2 s, `just_over` 94.9%, `clear_pass` 99% and
/// `clear_fail` 90%.
async fn fake_exporter(started: Instant) -> String {
    let t = started.elapsed().as_secs();
    let mut page = String::from("# TYPE at_threshold_seconds histogram\n");
    for (name, within) in [
        ("at_threshold_seconds", 950u64),
        ("just_over_seconds", 949),
        ("clear_pass_seconds", 990),
        ("clear_fail_seconds", 900),
    ] {
        page.push_str(&format!(
            "{name}_bucket{{le=\"1.0\"}} {}\n{name}_bucket{{le=\"2.0\"}} {}\n{name}_bucket{{le=\"5.0\"}} {}\n{name}_bucket{{le=\"+Inf\"}} {}\n{name}_count {}\n{name}_sum {}\n",
            t * 500,
            t * within,
            t * 1000,
            t * 1000,
            t * 1000,
            t * 1500
        ));
    }
    page
}

#[tokio::test(flavor = "multi_thread")]
async fn a_latency_exactly_at_its_threshold_is_judged_exactly() {
    let started = Instant::now();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || fake_exporter(started)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let prom = tokio::task::spawn_blocking(move || {
        let prom = prometheus(&[("fake", format!("127.0.0.1:{port}"))]);
        prom.wait_up(1);
        prom
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let dir = TempDir::new("lg-exact");
    let slo = dir.write(
        "exact.toml",
        r#"name = "exact"
services = ["fake"]
[defaults]
min_samples = 100
[[slo]]
name = "at_threshold"
kind = "latency"
histogram = 'at_threshold_seconds{job="fake"}'
quantile = 0.95
threshold_seconds = 2
[[slo]]
name = "just_over"
kind = "latency"
histogram = 'just_over_seconds{job="fake"}'
quantile = 0.95
threshold_seconds = 2
[[slo]]
name = "clear_pass"
kind = "latency"
histogram = 'clear_pass_seconds{job="fake"}'
quantile = 0.95
threshold_seconds = 2
[[slo]]
name = "clear_fail"
kind = "latency"
histogram = 'clear_fail_seconds{job="fake"}'
quantile = 0.95
threshold_seconds = 2
"#,
    );
    let now = now_s();
    let out_dir = dir.path().join("out");
    let args = [
        "verify".to_string(),
        "--slo".into(),
        slo.display().to_string(),
        "--prometheus".into(),
        prom.url.clone(),
        "--from".into(),
        (now - 5).to_string(),
        "--to".into(),
        now.to_string(),
        "--out".into(),
        out_dir.display().to_string(),
        // The histograms grow by the same shares every second: the events next
        // to the window's edges are like the window's own.
        "--edges-quiet".into(),
    ];
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}{err}");
    let verdicts: slo::verdict::Verdicts =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("verdicts.json")).unwrap())
            .unwrap();
    // Read exactly from the bucket at 2 s; with no margin either way, neither share
    // is proven against 95%: inconclusive, never a pass on the edge.
    let at = &verdicts.whole[0];
    assert!(at.exact, "read from the bucket at 2 s");
    assert!(
        (at.value.unwrap() - 0.95).abs() < 1e-9,
        "exactly 95%: {at:?}"
    );
    assert_eq!(at.status, Status::Inconclusive, "{at:?}");
    let over = &verdicts.whole[1];
    assert!((over.value.unwrap() - 0.949).abs() < 1e-9, "{over:?}");
    assert_eq!(over.status, Status::Inconclusive, "{over:?}");
    // With a margin the bounds decide: 99% passes, 90% fails.
    assert_eq!(
        verdicts.whole[2].status,
        Status::Pass,
        "{:?}",
        verdicts.whole[2]
    );
    assert_eq!(
        verdicts.whole[3].status,
        Status::Fail,
        "{:?}",
        verdicts.whole[3]
    );
    assert!(out_dir.join("junit.xml").is_file());
    drop(prom);
}

#[test]
fn every_dashboard_query_is_accepted_and_returns_data() {
    // The services and a Pushgateway the run pushes its verdicts to, both scraped.
    let s = services();
    let (_gateway, pushgateway_url) = pushgateway();
    let mut targets: Vec<(&str, String)> = s.metrics.iter().map(|(j, a)| (*j, a.clone())).collect();
    targets.push((
        "loadgen",
        pushgateway_url.trim_start_matches("http://").to_string(),
    ));
    let prom = prometheus(&targets);
    prom.wait_up(4);
    let dir = TempDir::new("lg-dash");
    let file = scenario(&dir, &s, &prom.url, 25);
    let results = dir.path().join("results");
    let (code, out, err) = run(&[
        "run",
        &file,
        "--results",
        results.to_str().unwrap(),
        "--pushgateway",
        &pushgateway_url,
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let summary = summary(&results);
    let at = (summary.end_ms / 1000).to_string();
    // The verdicts exist from the push, after the run's end: those panels are read
    // once Prometheus has scraped the Pushgateway.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let now = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs())
    .to_string();
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(root().join("monitoring/grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    queries.push((
                        path.file_name().unwrap().to_string_lossy().to_string(),
                        panel["title"].as_str().unwrap_or("").to_string(),
                        expr.to_string(),
                    ));
                }
            }
        }
    }
    assert!(queries.len() >= 20, "{}", queries.len());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    for (file, title, expr) in &queries {
        let promql = expr
            .replace("$__rate_interval", "30s")
            .replace("$__range", "5m");
        let response: serde_json::Value = rt.block_on(async {
            client
                .get(format!("{}/api/v1/query", prom.url))
                .query(&[
                    ("query", promql.as_str()),
                    (
                        "time",
                        if promql.contains("loadgen_") {
                            now.as_str()
                        } else {
                            at.as_str()
                        },
                    ),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        assert_eq!(
            response["status"], "success",
            "{file} / {title}: {promql}: {response}"
        );
        let result = response["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!result.is_empty(), "{file} / {title}: no data for {promql}");
    }
}

/// Requests by status code, growing every second: 1% are 503s, 0.5% are 429s.
async fn status_exporter(started: Instant) -> String {
    let t = started.elapsed().as_secs();
    format!(
        "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"503\"}} {}\nhttp_requests_total{{code=\"429\"}} {}\n",
        t * 985,
        t * 10,
        t * 5
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sloth_file_with_regex_matchers_is_judged_through_prometheus_and_says_so() {
    let started = Instant::now();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || status_exporter(started)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let prom = tokio::task::spawn_blocking(move || {
        let prom = prometheus(&[("fake", format!("127.0.0.1:{port}"))]);
        prom.wait_up(1);
        prom
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let dir = TempDir::new("lg-sloth");
    // 1.5% of requests are 5xx or 429: 99.9% fails, 95% passes; the exact one (503
    // alone, 1%) fails 99.5%.
    let sloth = dir.write(
        "fake.yaml",
        r#"version: "prometheus/v1"
service: "fake"
labels:
  loadgen_services: fake
slos:
  - name: "strict"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="fake",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="fake"}[{{.window}}]))
  - name: "lenient"
    objective: 95
    sli:
      events:
        error_query: sum(increase(http_requests_total{job="fake",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(increase(http_requests_total{job="fake"}[{{.window}}]))
  - name: "exact"
    objective: 99.5
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="fake",code="503"}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="fake"}[{{.window}}]))
"#,
    );
    let now = now_s();
    let out_dir = dir.path().join("out");
    let args = [
        "verify".to_string(),
        "--slo".into(),
        sloth.display().to_string(),
        "--prometheus".into(),
        prom.url.clone(),
        "--from".into(),
        (now - 6).to_string(),
        "--to".into(),
        now.to_string(),
        "--out".into(),
        out_dir.display().to_string(),
    ];
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}{err}");
    let verdicts: slo::verdict::Verdicts =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("verdicts.json")).unwrap())
            .unwrap();
    let [strict, lenient, exact] = &verdicts.whole[..] else {
        panic!("{:?}", verdicts.whole)
    };
    for v in [strict, lenient] {
        assert_eq!(v.kind, slo::definition::SloKind::Query, "{v:?}");
        assert!(!v.exact, "{v:?}");
        let note = v.note.as_deref().unwrap_or("");
        assert!(note.contains("judged through Prometheus only"), "{note}");
        assert!(note.contains("regular-expression"), "{note}");
        assert!((v.value.unwrap() - 0.015).abs() < 0.002, "{v:?}");
    }
    assert_eq!(strict.status, Status::Fail, "{strict:?}");
    assert_eq!(lenient.status, Status::Pass, "{lenient:?}");
    assert_eq!(exact.kind, slo::definition::SloKind::Ratio, "{exact:?}");
    assert!((exact.value.unwrap() - 0.01).abs() < 1e-9, "{exact:?}");
    assert_eq!(exact.status, Status::Fail, "{exact:?}");
    assert!(out.contains("judged through Prometheus only"), "{out}");
    drop(prom);
}
