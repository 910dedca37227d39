//! The false-pass corpus, second pass: ten runs and windows that were plainly
//! bad, each of which the verifier of 2026-12-07 called PASS (exit 0). Each test
//! drives the real thing (the reference services with faults set through their
//! admin API, a real Prometheus, an exporter whose counters the test writes, a
//! generator whose clock runs ahead under `faketime`) and asserts the verdict is
//! not PASS, with the exit code. The numbers in the test names are the trust
//! issue's.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use reports::summary::RunSummary;
use slo::verdict::{Status, Verdict, Verdicts};
use testkit::{Exporter, Page};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The built-in SLO set's path.
fn built_in() -> String {
    root().join("slo/athlete-ally.toml").display().to_string()
}

/// An SLO set on the gateway's 5xx share with no client measure beside it: what
/// only Prometheus can see.
const SERVER_ERRORS: &str = r#"
name = "server-errors"
services = ["gateway-bff"]
[[slo]]
name = "gateway_errors"
kind = "ratio"
bad = ['api_errors_total{job="gateway-bff"}']
total = ['api_requests_total{job="gateway-bff"}']
objective = "< 0.01"
"#;

/// `PUT /admin/faults` on a service's metrics address (`host:port`).
fn put_faults(metrics: &str, json: &str) {
    let mut s = std::net::TcpStream::connect(metrics).unwrap();
    let request = format!(
        "PUT /admin/faults HTTP/1.1\r\nhost: {metrics}\r\nauthorization: Bearer athlete-ally-admin\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
        json.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// The `[target]` table of a scenario driving `s`.
fn target(s: &Services) -> String {
    let metrics: Vec<String> = s
        .metrics
        .iter()
        .map(|(j, a)| format!("\"{j}\" = \"http://{a}/metrics\""))
        .collect();
    format!(
        "[target]\nurl = \"http://127.0.0.1:{}\"\nmetrics = {{ {} }}\n",
        s.gateway,
        metrics.join(", ")
    )
}

/// The gateway's metrics address.
fn gateway_metrics(s: &Services) -> &str {
    &s.metrics[0].1
}

/// Runs a scenario written into `dir`; its exit code, summary and output.
fn run_scenario(dir: &TempDir, text: &str, extra: &[&str]) -> (i32, RunSummary, String) {
    let file = dir.write("scenario.toml", text);
    let results = dir.path().join("results");
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert!(
        results.is_dir(),
        "exit {code}, no run directory: {out}{err}"
    );
    (code, summary(&results), format!("{out}{err}"))
}

fn whole<'a>(v: &'a Verdicts, slo: &str) -> &'a Verdict {
    v.whole
        .iter()
        .find(|x| x.slo == slo)
        .unwrap_or_else(|| panic!("no verdict on {slo}"))
}

fn steady<'a>(v: &'a Verdicts, slo: &str) -> &'a Verdict {
    v.steady
        .as_ref()
        .expect("a steady window")
        .iter()
        .find(|x| x.slo == slo)
        .unwrap_or_else(|| panic!("no steady verdict on {slo}"))
}

/// Runs `loadgen verify` with `slo` over `[from, to]` (unix ms), with more
/// arguments; the exit code, the verdicts and the output.
fn verify(
    dir: &TempDir,
    slo: &str,
    prometheus: &str,
    (from, to): (u64, u64),
    extra: &[String],
) -> (i32, Verdicts, String) {
    let file = dir.write("slo.toml", slo);
    let out = dir.path().join(format!("out-{from}-{to}-{}", now_ms()));
    let mut args = vec![
        "verify".to_string(),
        "--slo".into(),
        file.display().to_string(),
        "--prometheus".into(),
        prometheus.to_string(),
        "--from".into(),
        from.to_string(),
        "--to".into(),
        to.to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = std::fs::read_to_string(out.join("verdicts.json"))
        .unwrap_or_else(|e| panic!("no verdicts.json ({e}): {stdout}{stderr}"));
    (
        code,
        serde_json::from_str(&text).unwrap(),
        format!("{stdout}{stderr}"),
    )
}

/// A counter line of an exporter's page.
fn line(name: &str, value: f64) -> String {
    format!("{name} {value}\n")
}

/// Sleeps until unix time `t_ms`.
fn sleep_until(t_ms: u64) {
    std::thread::sleep(Duration::from_millis(t_ms.saturating_sub(now_ms())));
}

/// 1. The gateway stops answering two thirds into an arrival-rate run: every
///    request sent from then on is still on the wire when the graceful stop ends
///    and the hard stop cancels it. Those requests were started and never
///    answered: bad events, and so many of them make the run invalid.
#[test]
fn p1_requests_never_answered_are_bad_events_and_invalidate_the_run() {
    let dir = TempDir::new("lg-hung");
    let text = format!(
        r#"name = "hung"
[target.embedded]
[target.embedded.faults.gateway_bff]
stalls = [{{ after_ms = 9000, duration_ms = 120000 }}]
[load]
users = 1
duration = "14s"
graceful_stop = "2s"
[[flows]]
name = "health"
executor = "constant-arrival-rate"
rate = 20
pre_allocated_users = 20
max_users = 400
[slo]
file = "{}"
only = ["api_error_rate"]
"#,
        built_in()
    );
    let (code, s, out) = run_scenario(&dir, &text, &["--no-prometheus"]);
    let health = request(&s, "health");
    assert!(health.interrupted > 50, "{health:?}\n{out}");
    let e = whole(s.verdicts.as_ref().unwrap(), "api_error_rate");
    assert_eq!(e.status, Status::Fail, "{e:#?}\n{out}");
    let integrity = s.integrity.as_ref().unwrap();
    assert!(!integrity.valid, "{integrity:?}");
    assert!(
        integrity.problems.iter().any(|p| p.contains("cancelled")),
        "{integrity:?}"
    );
    assert_eq!(code, 1, "{out}");
}

/// The page of the pinned-window test at `s` seconds: 3% errors from 10 s to
/// 30 s, then twenty times the traffic without an error.
fn pinned_page(s: f64) -> String {
    let (early, window, late) = (
        s.min(10.0),
        (s.min(30.0) - 10.0).max(0.0),
        (s - 30.0).max(0.0),
    );
    let requests = 100.0 * early + 100.0 * window + 2000.0 * late;
    let errors = (3.0 * window).floor();
    line("pinned_errors_total", errors) + &line("pinned_requests_total", requests.floor())
}

const PINNED_SLOS: &str = r#"
name = "pinned"
services = ["fake"]
[[slo]]
name = "pinned_error_rate"
kind = "ratio"
bad = ["pinned_errors_total"]
total = ["pinned_requests_total"]
objective = "< 0.01"
"#;

/// 2. A past window judged twice, with healthy traffic in between, gives the
///    same verdict and the same value: it is read at its own edges, not up to now.
#[test]
fn p2_a_past_window_judged_again_later_gives_the_same_verdict() {
    let fake = Exporter::start(|e| Page::Text(pinned_page(e.as_secs_f64())));
    let started = now_ms();
    let prom = prometheus(&[("fake", fake.address.clone())]);
    prom.wait_up(1);
    let dir = TempDir::new("lg-pinned");
    let window = (started + 10_000, started + 30_000);
    sleep_until(window.1 + 2_500);
    let (code, first, out) = verify(&dir, PINNED_SLOS, &prom.url, window, &[]);
    let a = whole(&first, "pinned_error_rate").clone();
    assert_eq!(a.status, Status::Fail, "{a:#?}\n{out}");
    assert_eq!(code, 1, "{out}");
    // Twelve seconds of clean traffic at twenty times the rate later.
    std::thread::sleep(Duration::from_secs(12));
    let (code, again, out) = verify(&dir, PINNED_SLOS, &prom.url, window, &[]);
    let b = whole(&again, "pinned_error_rate");
    assert_eq!(b.status, Status::Fail, "{b:#?}\n{out}");
    assert_eq!(
        (b.value, b.samples, b.edges),
        (a.value, a.samples, a.edges),
        "{b:#?}"
    );
    assert_eq!(code, 1, "{out}");
}

/// 3. A worker's run merged half a minute later, after healthy traffic, is
///    judged over the worker's window: the merge fails where the worker failed.
#[test]
fn p3_a_merge_judged_later_reads_the_workers_window() {
    let (s, prom) = services_scraped();
    let dir = TempDir::new("lg-merge-late");
    let slo = dir.write("errors.slo.toml", SERVER_ERRORS);
    let scenario = |name: &str, rate: u32, seconds: u32| {
        format!(
            r#"name = "{name}"
{target}[load]
users = 1
duration = "{seconds}s"
graceful_stop = "2s"
[[flows]]
name = "health"
executor = "constant-arrival-rate"
rate = {rate}
[slo]
file = "{slo}"
gate = "whole"
[prometheus]
url = "{url}"
"#,
            target = target(&s),
            slo = slo.display(),
            url = prom.url
        )
    };
    put_faults(
        gateway_metrics(&s),
        r#"{"routes": [{"route": "/api/health", "error_rate": 0.05}]}"#,
    );
    let file = dir.write("worker.toml", &scenario("worker", 50, 12));
    let results = dir.path().join("results");
    let (code, out, err) = run(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--run-id",
        "late",
        "--worker",
        "0/1",
        "--quiet",
    ]);
    assert_eq!(code, 1, "the worker fails: {out}{err}");
    let worker = RunSummary::read(&results.join("late/worker-0")).unwrap();
    let w = whole(worker.verdicts.as_ref().unwrap(), "gateway_errors").clone();
    put_faults(gateway_metrics(&s), "{}");
    // Clean traffic at eight times the worker's rate before the merge.
    let busy = TempDir::new("lg-merge-busy");
    let file = busy.write("busy.toml", &scenario("busy", 400, 15));
    let busy_results = busy.path().join("results");
    let _ = run(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        busy_results.to_str().unwrap(),
        "--quiet",
    ]);
    let merged = dir.path().join("merged");
    let (code, out, err) = run(&[
        "merge",
        results.join("late").to_str().unwrap(),
        "--prometheus",
        &prom.url,
        "--out",
        merged.to_str().unwrap(),
    ]);
    let m = RunSummary::read(&merged).unwrap();
    let v = whole(m.verdicts.as_ref().unwrap(), "gateway_errors");
    assert_eq!(v.status, Status::Fail, "{v:#?}\n{out}{err}");
    assert_eq!((v.value, v.samples), (w.value, w.samples), "{v:#?}\n{w:#?}");
    assert_eq!(code, 1, "{out}{err}");
}

/// The page of the stale-start test at `s` seconds: a histogram that has seen
/// 149,000 fast events in its life, whose one scrape just before the window
/// fails; inside the window every event takes 1.5 s.
fn stale_page(s: f64, window_s: f64) -> Page {
    if (window_s - 1.2..window_s - 0.1).contains(&s) {
        return Page::Down;
    }
    let slow = ((s - window_s).max(0.0) * 10.0).floor();
    let fast = 149_000.0;
    Page::Text(format!(
        "db_seconds_bucket{{le=\"0.5\"}} {fast}\ndb_seconds_bucket{{le=\"1.0\"}} {fast}\ndb_seconds_bucket{{le=\"+Inf\"}} {}\ndb_seconds_count {}\ndb_seconds_sum 0\n",
        fast + slow,
        fast + slow
    ))
}

const STALE_SLOS: &str = r#"
name = "stale"
services = ["fake"]
[[slo]]
name = "db_time_p95"
kind = "latency"
histogram = "db_seconds"
quantile = 0.95
threshold_seconds = 1
"#;

/// 4. A series stale at the window's start edge (one failed scrape just before
///    it) is read from its last sample before the start, not counted from zero.
#[test]
fn p4_a_series_stale_at_the_start_is_not_counted_from_zero() {
    let window_s = 8.0;
    let fake = Exporter::start(move |e| stale_page(e.as_secs_f64(), window_s));
    let started = now_ms();
    let prom = prometheus(&[("fake", fake.address.clone())]);
    prom.wait_up(1);
    let dir = TempDir::new("lg-stale");
    let from = started + (window_s * 1000.0) as u64;
    let window = (from, from + 20_000);
    sleep_until(window.1 + 2_500);
    let (code, v, out) = verify(&dir, STALE_SLOS, &prom.url, window, &[]);
    let d = whole(&v, "db_time_p95");
    assert_ne!(d.status, Status::Pass, "{d:#?}\n{out}");
    assert!(
        d.samples < 1_000,
        "the window's 200 events, not 149,000: {d:#?}"
    );
    assert_ne!(code, 0, "{out}");
}

/// 5. loadgen's clock runs 12 s ahead of Prometheus's (`faketime`): the
///    errors of the run's first five seconds must still be in the window.
#[test]
fn p5_a_generator_clock_ahead_of_prometheus_is_measured_and_corrected() {
    let s = services();
    let targets: Vec<(&str, String)> = s.metrics.iter().map(|(j, a)| (*j, a.clone())).collect();
    let prom = prometheus_every(&targets, Duration::from_secs(5));
    prom.wait_up(3);
    let dir = TempDir::new("lg-skew");
    let slo = dir.write("errors.slo.toml", SERVER_ERRORS);
    // Prometheus alone: the services' own pages, read on loadgen's clock, would
    // see the errors through the cross-check.
    let text = format!(
        r#"name = "skew"
[target]
url = "http://127.0.0.1:{gateway}"
[load]
users = 1
duration = "30s"
graceful_stop = "2s"
[[flows]]
name = "health"
executor = "constant-arrival-rate"
rate = 40
[slo]
file = "{slo}"
gate = "whole"
[prometheus]
url = "{url}"
"#,
        gateway = s.gateway,
        slo = slo.display(),
        url = prom.url
    );
    let file = dir.write("skew.toml", &text);
    let results = dir.path().join("results");
    put_faults(
        gateway_metrics(&s),
        r#"{"routes": [{"route": "/api/health", "error_rate": 0.5}]}"#,
    );
    let child = std::process::Command::new("faketime")
        .args(["-f", "+12s"])
        .arg(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--quiet",
            // The release check's health probe would meet the injected errors.
            "--no-preflight",
        ])
        .current_dir(root())
        .env_remove("PROMETHEUS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faketime on PATH (apt-get install faketime; scripts/test.sh installs it)");
    std::thread::sleep(Duration::from_secs(6));
    put_faults(gateway_metrics(&s), "{}");
    let output = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        std::fs::read_dir(&results).is_ok_and(|mut d| d.next().is_some_and(|e| e
            .unwrap()
            .path()
            .join("summary.json")
            .is_file())),
        "{all}"
    );
    let summary = summary(&results);
    let v = summary.verdicts.as_ref().unwrap();
    let e = whole(v, "gateway_errors");
    assert_eq!(e.status, Status::Fail, "{e:#?}\n{all}");
    assert!(all.contains("clock"), "the offset is said: {all}");
    assert_eq!(output.status.code(), Some(1), "{all}");
}

/// The page of the query-scope test: 5% errors on this job's requests.
fn query_page(s: f64) -> String {
    let n = (100.0 * s).floor();
    format!(
        "q_requests_total{{code=\"200\"}} {}\nq_requests_total{{code=\"503\"}} {}\n",
        n - (n / 20.0).floor(),
        (n / 20.0).floor()
    )
}

const QUERY_SLOS: &str = r#"
name = "query"
services = ["fake"]
[[slo]]
name = "query_error_rate"
kind = "query"
bad_query = 'sum(rate(q_requests_total{code=~"5.."}[{{.window}}]))'
total_query = 'sum(rate(q_requests_total[{{.window}}]))'
objective = "< 0.01"
"#;

/// 6. A query SLO (what Sloth and OpenSLO imports become) is kept to the set's
///    jobs like every other kind: another job's clean traffic on the same
///    Prometheus does not dilute this one's 5% errors.
#[test]
fn p6_query_slos_are_scoped_to_the_sets_jobs() {
    let fake = Exporter::start(|e| Page::Text(query_page(e.as_secs_f64())));
    let other = Exporter::start(|e| {
        let n = (20_000.0 * e.as_secs_f64()).floor();
        Page::Text(format!(
            "q_requests_total{{code=\"200\"}} {n}\nq_requests_total{{code=\"503\"}} 0\n"
        ))
    });
    let started = now_ms();
    let prom = prometheus(&[
        ("fake", fake.address.clone()),
        ("other", other.address.clone()),
    ]);
    prom.wait_up(2);
    let dir = TempDir::new("lg-query-scope");
    let window = (started + 5_000, started + 20_000);
    sleep_until(window.1 + 2_500);
    let (code, v, out) = verify(&dir, QUERY_SLOS, &prom.url, window, &[]);
    let q = whole(&v, "query_error_rate");
    assert_eq!(q.status, Status::Fail, "{q:#?}\n{out}");
    assert!(q.value.is_some_and(|x| x > 0.04), "{q:#?}");
    assert_eq!(code, 1, "{out}");
}

/// 7. `gate = "steady"`: the gateway stalls inside the steady window and the
///    client's requests time out, which the server never counts. The steady
///    window gets the client's view as the whole run does.
#[test]
fn p7_the_steady_window_sees_the_client() {
    let dir = TempDir::new("lg-steady-client");
    let text = format!(
        r#"name = "steady-client"
[target]
request_timeout = "1s"
[target.embedded]
[target.embedded.faults.gateway_bff]
stalls = [{{ after_ms = 9000, duration_ms = 6000 }}]
[load]
stages = [
  {{ kind = "ramp", users = 10, duration = "3s" }},
  {{ kind = "steady", users = 10, duration = "20s" }},
  {{ kind = "ramp", users = 0, duration = "3s" }},
]
think_time = {{ min = "50ms", max = "100ms" }}
graceful_stop = "2s"
[[flows]]
name = "health"
[slo]
file = "{}"
only = ["api_error_rate"]
gate = "steady"
"#,
        built_in()
    );
    let (code, s, out) = run_scenario(&dir, &text, &["--no-prometheus"]);
    let v = s.verdicts.as_ref().unwrap();
    let e = steady(v, "api_error_rate");
    assert_eq!(e.status, Status::Fail, "{e:#?}\n{out}");
    assert!(
        e.client.is_some(),
        "the steady verdict has the client's view"
    );
    assert_eq!(code, 1, "{out}");
}

/// The page of the steady-edge test: errors jump by 500 at `burst_s` seconds,
/// over clean traffic.
fn edge_page(s: f64, burst_s: f64) -> String {
    let errors = if s >= burst_s { 500.0 } else { 0.0 };
    line("edge_errors_total", errors) + &line("edge_requests_total", (1000.0 * s).floor())
}

const EDGE_SLOS: &str = r#"
name = "edge"
services = ["fake"]
[[slo]]
name = "edge_error_rate"
kind = "ratio"
bad = ["edge_errors_total"]
total = ["edge_requests_total"]
objective = "< 0.01"
"#;

/// Scrape times (unix ms) of the `fake` job over the `span_s` seconds before `to_ms`.
fn scrape_times(prom: &Prometheus, to_ms: u64, span_s: u64) -> Vec<u64> {
    let r: Vec<serde_json::Value> = prom.query(&format!(
        "up{{job=\"fake\"}}[{span_s}s] @ {}.{:03}",
        to_ms / 1000,
        to_ms % 1000
    ));
    r[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as u64)
        .collect()
}

/// 7 (the edge). A steady window that ends before the whole window is read up
///    to the first scrape at or after its end, so a burst in its last scrape
///    interval is not missed.
#[test]
fn p7_a_steady_window_ending_early_keeps_its_last_scrape_interval() {
    let burst_s = 22.0;
    let fake = Exporter::start(move |e| Page::Text(edge_page(e.as_secs_f64(), burst_s)));
    let started = now_ms();
    let prom = prometheus_every(&[("fake", fake.address.clone())], Duration::from_secs(5));
    prom.wait_up(1);
    // The window starts once Prometheus has scraped the exporter: before that,
    // whether its counters began inside the window is unknown.
    let from = now_ms();
    let burst = started + (burst_s * 1000.0) as u64;
    sleep_until(burst + 12_000);
    // The steady window ends after the burst but before the scrape that saw it.
    let scrapes = scrape_times(&prom, now_ms(), 60);
    let seen = *scrapes
        .iter()
        .find(|t| **t > burst)
        .expect("a scrape after the burst");
    let steady_end = seen - 200;
    let whole_window = (from, seen + 6_000);
    sleep_until(whole_window.1 + 6_000);
    let dir = TempDir::new("lg-steady-edge");
    let extra = [
        "--steady-from".to_string(),
        from.to_string(),
        "--steady-to".to_string(),
        steady_end.to_string(),
    ];
    let (code, v, out) = verify(&dir, EDGE_SLOS, &prom.url, whole_window, &extra);
    let e = steady(&v, "edge_error_rate");
    // Named by hand, the window's burst lies between its last scrape and the one
    // after: for all `verify` knows it came after the window's end, so it cannot
    // fail it either (a run's own steady window, read at the scrape after, fails).
    assert_ne!(e.status, Status::Pass, "{e:#?}\n{out}");
    assert_ne!(code, 0, "{out}");
}

/// A plans run whose client gives up on every plan after 1 s (the model takes
/// 3 s): the server counts the plans it finished later as successes.
fn plans_given_up(flow: &Path, name: &str) -> String {
    format!(
        r#"name = "given-up"
[target.embedded]
llm_latency_p50 = "3s"
llm_latency_p95 = "4s"
llm_failure_rate = 0.0
[load]
users = 6
hatch_rate = 6
duration = "16s"
graceful_stop = "6s"
[[flows]]
file = "{}"
name = "{name}"
poll_interval = "100ms"
timeout = "1s"
[slo]
file = "{}"
only = ["plan_generation_failure_rate"]
"#,
        flow.display(),
        built_in()
    )
}

/// 8. The client's plan measure is found by the flow's declared role, not by
///    the literal name `plans`: the same flow file under another name fails the
///    same way.
#[test]
fn p8_client_measures_follow_the_flows_role_not_its_name() {
    let dir = TempDir::new("lg-roles");
    let flow = root().join("scenarios/flows/plans.toml");
    let (code, s, out) = run_scenario(
        &dir,
        &plans_given_up(&flow, "my_plans"),
        &["--no-prometheus"],
    );
    let v = whole(s.verdicts.as_ref().unwrap(), "plan_generation_failure_rate");
    let client = v
        .client
        .as_ref()
        .unwrap_or_else(|| panic!("the client's view: {v:#?}\n{out}"));
    assert_eq!(client.status, Status::Fail, "{v:#?}");
    assert_eq!(v.status, Status::Fail, "{v:#?}\n{out}");
    assert_eq!(code, 1, "{out}");
}

/// 9. The gateway burns a full core for the first 16 s of a 40 s run: the CPU
///    SLO is judged on its worst stretch, not the run's average.
#[test]
fn p9_cpu_is_judged_over_time_not_averaged() {
    let (s, prom) = services_scraped();
    let dir = TempDir::new("lg-cpu-time");
    let text = format!(
        r#"name = "cpu-time"
{target}[load]
users = 1
duration = "40s"
graceful_stop = "2s"
[[flows]]
name = "health"
executor = "constant-arrival-rate"
rate = 50
[slo]
file = "{slo}"
only = ["cpu_per_service"]
gate = "whole"
[prometheus]
url = "{url}"
"#,
        target = target(&s),
        slo = built_in(),
        url = prom.url
    );
    let file = dir.write("cpu.toml", &text);
    let results = dir.path().join("results");
    put_faults(
        gateway_metrics(&s),
        r#"{"routes": [{"route": "/api/health", "cpu_burn_ms": 20}]}"#,
    );
    let child = loadgen()
        .args([
            "run",
            file.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(17));
    put_faults(gateway_metrics(&s), "{}");
    let output = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = summary(&results);
    let c = whole(summary.verdicts.as_ref().unwrap(), "cpu_per_service");
    assert_eq!(c.status, Status::Fail, "{c:#?}\n{all}");
    assert_eq!(output.status.code(), Some(1), "{all}");
}

/// 10. 60% of the status polls answered 429: the full built-in set must not
///     pass. A 4xx, a 3xx and a failed check are bad events for the client.
#[test]
fn p10_rate_limited_polls_are_bad_events() {
    let dir = TempDir::new("lg-429");
    let text = format!(
        r#"name = "limited"
[target.embedded]
llm_latency_p50 = "200ms"
llm_latency_p95 = "400ms"
llm_failure_rate = 0.0
[target.embedded.faults.gateway_bff]
routes = [{{ route = "/api/v1/plans/status", error_rate = 0.6, error_status = 429 }}]
[load]
users = 12
hatch_rate = 12
duration = "20s"
think_time = {{ min = "100ms", max = "200ms" }}
[[flows]]
name = "plans"
poll_interval = "100ms"
[slo]
file = "{}"
"#,
        built_in()
    );
    let (code, s, out) = run_scenario(&dir, &text, &["--no-prometheus"]);
    let v = s.verdicts.as_ref().unwrap();
    let e = whole(v, "api_error_rate");
    assert_eq!(e.status, Status::Fail, "{e:#?}\n{out}");
    assert_eq!(code, 1, "{out}");
}

/// 10 (a failed check). Every health answer is a 200 whose body fails the
/// flow's check: each is a bad event, whatever its status.
#[test]
fn p10_a_failed_check_on_a_200_is_a_bad_event() {
    let dir = TempDir::new("lg-check");
    let text = format!(
        r#"name = "checked"
[target.embedded]
[load]
users = 4
hatch_rate = 4
duration = "8s"
think_time = {{ min = "20ms", max = "40ms" }}
[[flows]]
name = "checked_health"
[[flows.steps]]
name = "checked_health"
path = "/api/health"
check = [{{ json = "$.status", equals = "on fire" }}]
[slo]
file = "{}"
only = ["api_error_rate"]
"#,
        built_in()
    );
    let (code, s, out) = run_scenario(&dir, &text, &["--no-prometheus"]);
    let e = whole(s.verdicts.as_ref().unwrap(), "api_error_rate");
    assert_eq!(e.status, Status::Fail, "{e:#?}\n{out}");
    assert_eq!(code, 1, "{out}");
}

// Found by the torture harness (scripts/torture.sh): each false pass it found is
// a test here, named after the class it opened, with the seed that found it.

/// The page of a service restarted 10 s into the window, between two of the
/// 5 s scrapes: its counters start again from 0, and its start time moves.
fn restarted_page(s: f64, restart_s: f64, started_unix: f64) -> String {
    let (age, start) = if s < restart_s {
        (s, started_unix)
    } else {
        (s - restart_s, started_unix + restart_s)
    };
    line("restart_errors_total", 0.0)
        + &line("restart_requests_total", (200.0 * age).floor())
        + &format!("process_start_time_seconds {start}\n")
}

const RESTART_SLOS: &str = r#"
name = "restart"
services = ["fake"]
[[slo]]
name = "restart_error_rate"
kind = "ratio"
bad = ["restart_errors_total"]
total = ["restart_requests_total"]
objective = "< 0.01"
[[slo]]
name = "fake_up"
kind = "gauge"
metric = "up"
aggregation = "min_over_time"
objective = "== 1"
"#;

/// Torture seeds 1095513148 and 571981485: the services restarted inside a window
/// judged by `loadgen verify` (no client view). The requests they refused while
/// down were never counted, and at 15 s scrapes no scrape saw them down: the
/// error rate and `up` both passed. A counter reset makes an event SLO's PASS
/// need the client's view; a process that restarted was down.
#[test]
fn torture_a_restart_between_scrapes_is_neither_clean_nor_up() {
    let started_unix = now_ms() as f64 / 1000.0;
    let restart_s = 18.0;
    let fake = Exporter::start(move |e| {
        Page::Text(restarted_page(e.as_secs_f64(), restart_s, started_unix))
    });
    let prom = prometheus_every(&[("fake", fake.address.clone())], Duration::from_secs(5));
    prom.wait_up(1);
    let from = now_ms();
    let window = (from, from + 20_000);
    sleep_until(window.1 + 7_000);
    let dir = TempDir::new("lg-restart");
    let (code, v, out) = verify(&dir, RESTART_SLOS, &prom.url, window, &[]);
    let e = whole(&v, "restart_error_rate");
    assert_eq!(e.status, Status::Inconclusive, "{e:#?}\n{out}");
    assert!(
        e.note.as_deref().unwrap_or("").contains("restarted"),
        "{e:#?}"
    );
    let up = whole(&v, "fake_up");
    assert_eq!(up.status, Status::Fail, "{up:#?}\n{out}");
    assert_eq!(code, 1, "{out}");
}

/// The page of the busy-edges test at `s` seconds: clean traffic at 20,000
/// requests a second, but 100 a second with 3% errors from 20 s to 40 s.
fn busy_page(s: f64) -> String {
    let window = (s.min(40.0) - 20.0).max(0.0);
    let busy = s.min(20.0) + (s - 40.0).max(0.0);
    let requests = 20_000.0 * busy + 100.0 * window;
    line("busy_errors_total", (3.0 * window).floor())
        + &line("busy_requests_total", requests.floor())
}

const BUSY_SLOS: &str = r#"
name = "busy"
services = ["fake"]
[[slo]]
name = "busy_error_rate"
kind = "ratio"
bad = ["busy_errors_total"]
total = ["busy_requests_total"]
objective = "< 0.01"
"#;

/// A window named by hand amid heavy traffic, at 5 s scrapes: the scrapes next
/// to its edges hold up to 5 s of other traffic each side, 200,000 clean
/// requests beside the window's 2,000 with 3% errors. Read at those scrapes
/// alone it passed; the events certainly inside the window (between its inner
/// scrapes) fail, so no bound decides for both: not a pass.
#[test]
fn verify_amid_traffic_does_not_pass_on_the_neighbours_events() {
    let fake = Exporter::start(|e| Page::Text(busy_page(e.as_secs_f64())));
    let started = now_ms();
    let prom = prometheus_every(&[("fake", fake.address.clone())], Duration::from_secs(5));
    prom.wait_up(1);
    let window = (started + 20_000, started + 40_000);
    sleep_until(window.1 + 8_000);
    let dir = TempDir::new("lg-busy");
    let (code, v, out) = verify(&dir, BUSY_SLOS, &prom.url, window, &[]);
    let e = whole(&v, "busy_error_rate");
    assert_ne!(e.status, Status::Pass, "{e:#?}\n{out}");
    assert!(e.note.as_deref().unwrap_or("").contains("edges"), "{e:#?}");
    assert_ne!(code, 0, "{out}");
}
