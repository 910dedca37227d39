//! The false-pass corpus: runs and windows that were plainly bad, each of which
//! an earlier verifier called PASS. Every test drives the real thing (a real
//! Prometheus scraping an exporter whose counters the test writes, or the
//! reference services with faults, a killed and restarted gateway, a stalled
//! scrape) and asserts the verdict is not PASS, with the exit code.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use slo::verdict::{Status, Verdict, Verdicts};
use testkit::{Exporter, Page};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs `loadgen verify` with `slo` over `[from, to]` (unix ms); the exit code,
/// the verdicts and the output.
fn verify(
    dir: &TempDir,
    slo: &str,
    prometheus: &str,
    from: u64,
    to: u64,
) -> (i32, Verdicts, String) {
    verify_with(dir, slo, prometheus, (from, to), &[])
}

/// [`verify`] with more arguments.
fn verify_with(
    dir: &TempDir,
    slo: &str,
    prometheus: &str,
    (from, to): (u64, u64),
    extra: &[&str],
) -> (i32, Verdicts, String) {
    let file = dir.write("slo.toml", slo);
    let out = dir.path().join(format!("out-{from}-{to}-{}", extra.len()));
    let args = [
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
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
        .collect();
    let (code, stdout, stderr) = run(&args);
    let text = std::fs::read_to_string(out.join("verdicts.json"))
        .unwrap_or_else(|e| panic!("no verdicts.json ({e}): {stdout}{stderr}"));
    (
        code,
        serde_json::from_str(&text).unwrap(),
        format!("{stdout}{stderr}"),
    )
}

fn verdict<'a>(v: &'a Verdicts, slo: &str) -> &'a Verdict {
    v.whole.iter().find(|x| x.slo == slo).unwrap()
}

/// A counter page line.
fn line(name: &str, value: f64) -> String {
    format!("{name} {value}\n")
}

/// The families of the exact-window test, at `s` seconds after the exporter
/// started; the window opens at `W` seconds.
const W: f64 = 12.0;

fn exact_window_page(s: f64) -> String {
    let after = (s - W).max(0.0);
    let started = s >= W;
    let mut page = String::new();
    // 150 cold-start errors at the window's first moment, then 300 clean requests a
    // second (2.5% at the window's first scrape, 1.6-2.5% over the window read
    // between the scrapes around it).
    let cold = if started { 150.0 } else { 0.0 };
    page += &line("cold_errors_total", cold);
    page += &line("cold_requests_total", cold + 300.0 * after);
    // One request a second: 20 clean requests over the window.
    page += &line("few_errors_total", 0.0);
    page += &line("few_requests_total", after.floor());
    // 94% within 1 s, 100% within 5 s: nothing known at the 2 s threshold.
    let n = 100.0 * after;
    page += &format!(
        "interp_seconds_bucket{{le=\"1.0\"}} {}\ninterp_seconds_bucket{{le=\"5.0\"}} {n}\ninterp_seconds_bucket{{le=\"+Inf\"}} {n}\ninterp_seconds_count {n}\n",
        0.94 * n
    );
    // A "good" counter that outgrows its total: the selectors count different events.
    page += &line("odd_good_total", 20.0 * after);
    page += &line("odd_total", 10.0 * after);
    // This job's 3% errors, beside the other job's clean traffic of the same names.
    page += &line("shared_errors_total", 3.0 * after);
    page += &line("shared_requests_total", 100.0 * after);
    // A gauge missing for the middle half of the window.
    if !(W + 5.0..W + 15.0).contains(&s) {
        page += &line("gappy_bytes", 1000.0);
    }
    page
}

const EXACT_SLOS: &str = r#"
name = "exact"
services = ["fake"]
[defaults]
min_samples = 20
[[slo]]
name = "cold_error_rate"
kind = "ratio"
bad = ["cold_errors_total"]
total = ["cold_requests_total"]
objective = "< 0.01"
[[slo]]
name = "few_error_rate"
kind = "ratio"
bad = ["few_errors_total"]
total = ["few_requests_total"]
objective = "< 0.01"
[[slo]]
name = "interp_latency"
kind = "latency"
histogram = "interp_seconds"
quantile = 0.95
threshold_seconds = 2
[[slo]]
name = "odd_ratio"
kind = "ratio"
good = ["odd_good_total"]
total = ["odd_total"]
objective = ">= 0.5"
[[slo]]
name = "shared_error_rate"
kind = "ratio"
bad = ["shared_errors_total"]
total = ["shared_requests_total"]
objective = "< 0.01"
[[slo]]
name = "gappy_memory"
kind = "gauge"
metric = "gappy_bytes"
aggregation = "max_over_time"
objective = "< 1e9"
[[slo]]
name = "fake_up"
kind = "gauge"
metric = "up"
aggregation = "min_over_time"
objective = "== 1"
"#;

/// At 5 s scrapes: the start edge read exactly, too few events, interpolation,
/// a ratio above 1, another job's traffic, a gauge with a gap. None of them passes.
#[test]
fn windows_read_exactly_and_scoped_never_pass_on_thin_or_foreign_evidence() {
    let fake = Exporter::start(|e| Page::Text(exact_window_page(e.as_secs_f64())));
    let other = Exporter::start(|e| {
        let s = e.as_secs_f64();
        Page::Text(line("shared_errors_total", 0.0) + &line("shared_requests_total", 2000.0 * s))
    });
    let started = now_ms();
    let prom = prometheus_every(
        &[
            ("fake", fake.address.clone()),
            ("other", other.address.clone()),
        ],
        Duration::from_secs(5),
    );
    prom.wait_up(2);
    let from = started + (W * 1000.0) as u64;
    let to = from + 20_000;
    std::thread::sleep(Duration::from_millis(to.saturating_sub(now_ms()) + 500));
    let dir = TempDir::new("lg-exact-window");
    // Named by hand, the window's cold-start errors lie between the scrape before
    // its start and the first inside it: they may be another window's, so they
    // cannot fail it, but they keep it from passing.
    let (_, bounded, out) = verify(&dir, EXACT_SLOS, &prom.url, from, to);
    let cold = verdict(&bounded, "cold_error_rate");
    assert_eq!(cold.status, Status::Inconclusive, "{cold:#?}\n{out}");
    // Nothing ran before the window: its edges read at the scrapes beside it.
    let (code, v, out) = verify_with(&dir, EXACT_SLOS, &prom.url, (from, to), &["--edges-quiet"]);
    let status = |slo: &str| verdict(&v, slo).status;
    assert_eq!(
        status("cold_error_rate"),
        Status::Fail,
        "150 cold-start errors in 6,000 to 9,000 requests: {:#?}",
        verdict(&v, "cold_error_rate")
    );
    let few = verdict(&v, "few_error_rate");
    assert_eq!(
        few.status,
        Status::Inconclusive,
        "0 errors in ~20: {few:#?}"
    );
    assert!(few.events_needed.is_some_and(|n| n > 200), "{few:#?}");
    let interp = verdict(&v, "interp_latency");
    assert_eq!(
        interp.status,
        Status::Inconclusive,
        "94% to 100% around 2 s: {interp:#?}"
    );
    assert!(!interp.exact);
    assert_eq!(
        status("odd_ratio"),
        Status::Inconclusive,
        "a ratio above 1 proves nothing"
    );
    assert_eq!(
        status("shared_error_rate"),
        Status::Fail,
        "3% on this job, diluted to 0.15% by the other job's traffic if unscoped: {:#?}",
        verdict(&v, "shared_error_rate")
    );
    assert_eq!(
        status("gappy_memory"),
        Status::Inconclusive,
        "half the window missing: {:#?}",
        verdict(&v, "gappy_memory")
    );
    assert_eq!(
        status("fake_up"),
        Status::Pass,
        "the window's scrapes all succeeded: {out}"
    );
    assert_eq!(code, 1, "{out}");
}

const CLEAN_SLOS: &str = r#"
name = "clean"
services = ["fake"]
[[slo]]
name = "error_rate"
kind = "ratio"
bad = ["clean_errors_total"]
total = ["clean_requests_total"]
objective = "< 0.01"
"#;

/// The target stalls right after the window: Prometheus never scrapes it
/// successfully past the end, so the window's last events are unknown.
#[test]
fn a_stalled_scrape_after_the_window_is_inconclusive() {
    let stall_at = Duration::from_secs(14);
    let fake = Exporter::start(move |e| {
        if e >= stall_at {
            return Page::Stall(Duration::from_secs(4));
        }
        let s = e.as_secs_f64();
        Page::Text(line("clean_errors_total", 0.0) + &line("clean_requests_total", 500.0 * s))
    });
    let started = now_ms();
    let prom = prometheus(&[("fake", fake.address.clone())]);
    prom.wait_up(1);
    let dir = TempDir::new("lg-stall");
    // A window ending as the stall begins, still ahead when verify starts: it waits,
    // and no scrape after its end succeeds.
    let to = started + stall_at.as_millis() as u64 + 100;
    let from = started + 4_000;
    assert!(to > now_ms(), "the window must still be open");
    let (code, v, out) = verify(&dir, CLEAN_SLOS, &prom.url, from, to);
    let e = verdict(&v, "error_rate");
    assert_eq!(e.status, Status::Inconclusive, "{out}");
    assert!(
        e.note
            .as_deref()
            .unwrap_or("")
            .contains("no successful scrape"),
        "{e:#?}"
    );
    assert_eq!(code, 3, "{out}");
    // A window far ahead is refused, not judged.
    let later = now_ms() + 3_600_000;
    let (code, _, err) = run(&[
        "verify",
        "--prometheus",
        &prom.url,
        "--from",
        &now_ms().to_string(),
        "--to",
        &later.to_string(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ahead"), "{err}");
}

/// A service binary built beside `loadgen`.
fn service_binary(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_loadgen")).with_file_name(name);
    assert!(
        p.is_file(),
        "{} is not built (cargo build --workspace builds it)",
        p.display()
    );
    p
}

/// One reference service as its own process, on given ports.
fn spawn_service(name: &str, env: &[(&str, String)]) -> Proc {
    let mut c = std::process::Command::new(service_binary(name));
    c.env("RATE_LIMIT_PER_SECOND", "0")
        .env("LLM_FAILURE_RATE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    Proc(c.spawn().unwrap())
}

/// The gateway is killed 6 s into a 20 s run and restarted 4 s later: a fifth of
/// the requests are refused, which the server never counts, and its counters
/// restart from 0. The client's view proves the breach.
#[test]
fn a_gateway_killed_mid_run_fails_on_the_requests_it_refused() {
    let ports: BTreeMap<&str, u16> = [
        "GATEWAY_BFF_PORT",
        "GATEWAY_BFF_METRICS_PORT",
        "PROFILE_ONBOARDING_PORT",
        "PROFILE_ONBOARDING_METRICS_PORT",
        "PLANNING_ENGINE_PORT",
        "PLANNING_ENGINE_METRICS_PORT",
    ]
    .into_iter()
    .map(|k| (k, free_port()))
    .collect();
    let env: Vec<(&str, String)> = ports
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .chain([
            (
                "PROFILE_ONBOARDING_URL",
                format!("http://127.0.0.1:{}", ports["PROFILE_ONBOARDING_PORT"]),
            ),
            (
                "PLANNING_ENGINE_URL",
                format!("http://127.0.0.1:{}", ports["PLANNING_ENGINE_PORT"]),
            ),
        ])
        .collect();
    let _onboarding = spawn_service("profile-onboarding", &env);
    let _planning = spawn_service("planning-engine", &env);
    let mut gateway = spawn_service("gateway-bff", &env);
    for p in ports.values() {
        wait_port(*p);
    }
    let dir = TempDir::new("lg-killed");
    let scenario = format!(
        r#"name = "killed"
[target]
url = "http://127.0.0.1:{gw}"
metrics = {{ "gateway-bff" = "http://127.0.0.1:{gwm}/metrics" }}
[load]
users = 10
hatch_rate = 10
duration = "20s"
think_time = {{ min = "5ms", max = "10ms" }}
graceful_stop = "2s"
[[flows]]
name = "health"
[slo]
file = "{slo}"
only = ["api_error_rate"]
"#,
        gw = ports["GATEWAY_BFF_PORT"],
        gwm = ports["GATEWAY_BFF_METRICS_PORT"],
        slo = root().join("slo/athlete-ally.toml").display()
    );
    let file = dir.write("killed.toml", &scenario);
    let results = dir.path().join("results");
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
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(7));
    gateway.stop();
    std::thread::sleep(Duration::from_secs(4));
    let _gateway = spawn_service("gateway-bff", &env);
    let output = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(t0.elapsed() < Duration::from_secs(90));
    let s = summary(&results);
    let v = s.verdicts.as_ref().unwrap();
    let e = verdict(v, "api_error_rate");
    assert_eq!(e.status, Status::Fail, "{e:#?}\n{all}");
    let client = e.client.as_ref().expect("the client's view");
    assert_eq!(client.status, Status::Fail, "{client:?}");
    assert!(
        s.errors.iter().any(|x| x.kind == "connect"),
        "{:?}",
        s.errors
    );
    assert_eq!(output.status.code(), Some(1), "{all}");
}

/// 200 iterations a second asked of 2 users against a 50 ms endpoint: a fifth of
/// the load ran. The run is invalid, whatever its verdicts.
#[test]
fn a_generator_short_of_its_planned_rate_is_invalid() {
    let dir = TempDir::new("lg-short");
    let scenario = format!(
        r#"name = "short"
[target.embedded]
[target.embedded.faults.gateway_bff]
routes = [{{ route = "/api/health", latency_ms = 50 }}]
[load]
users = 2
hatch_rate = 2
duration = "10s"
think_time = {{ min = "0ms", max = "0ms" }}
graceful_stop = "2s"
[[flows]]
name = "health"
pace = 200
[slo]
file = "{}"
only = ["api_error_rate", "api_response_time_p95"]
"#,
        root().join("slo/athlete-ally.toml").display()
    );
    let file = dir.write("short.toml", &scenario);
    let results = dir.path().join("results");
    let (code, out, err) = run(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ]);
    let s = summary(&results);
    let integrity = s.integrity.as_ref().expect("integrity is judged");
    assert!(!integrity.valid, "{integrity:?}");
    let health = &integrity.flows[0];
    assert!(health.achieved_share < 0.5, "{health:?}");
    assert!(
        integrity
            .problems
            .iter()
            .any(|p| p.contains("planned iterations started")),
        "{integrity:?}"
    );
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(s.exit_code, 3);
    assert!(out.contains("run integrity: INVALID"), "{out}");
}

/// Plans whose model takes 20 s never finish in a 12 s run: the server has no
/// finished plan to count, the client has every unfinished one.
#[test]
fn unfinished_plans_count_as_not_succeeded() {
    let dir = TempDir::new("lg-unfinished");
    let scenario = format!(
        r#"name = "unfinished"
[target.embedded]
llm_latency_p50 = "20s"
llm_latency_p95 = "25s"
llm_failure_rate = 0.0
[load]
users = 15
hatch_rate = 15
duration = "12s"
graceful_stop = "2s"
[[flows]]
name = "plans"
poll_interval = "500ms"
timeout = "120s"
[slo]
file = "{}"
only = ["plan_generation_failure_rate"]
"#,
        root().join("slo/athlete-ally.toml").display()
    );
    let file = dir.write("unfinished.toml", &scenario);
    let results = dir.path().join("results");
    let (code, out, err) = run(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ]);
    let s = summary(&results);
    let v = verdict(s.verdicts.as_ref().unwrap(), "plan_generation_failure_rate");
    assert_eq!(v.status, Status::Fail, "{v:#?}\n{out}{err}");
    assert_eq!(code, 1, "{out}{err}");
}
