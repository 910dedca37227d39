//! The load model end to end, through the `loadgen` binary: tokens that expire
//! mid-run, runs started in the same second, and stopping twice against a target
//! that never answers.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use reports::summary::{INTERVAL_LOG_FILE, RunSummary, TOTAL_LOG_FILE, Timeline};

/// Tokens live 3 s in a 14 s run: a plan user that never renewed its token would
/// be refused (401) from the sixth second on. Every user renews before expiry.
#[test]
fn tokens_are_renewed_before_they_expire() {
    let dir = TempDir::new("lg-ttl");
    let scenario = format!(
        r#"name = "ttl"
[target.embedded]
token_ttl = "3s"
llm_latency_p50 = "50ms"
llm_latency_p95 = "100ms"
llm_failure_rate = 0.0
[load]
users = 4
hatch_rate = 4
duration = "14s"
think_time = {{ min = "200ms", max = "300ms" }}
[[flows]]
name = "plans"
poll_interval = "100ms"
[slo]
file = "{}"
only = ["api_error_rate"]
"#,
        root().join("slo/athlete-ally.toml").display()
    );
    let file = dir.write("ttl.toml", &scenario);
    let results = dir.path().join("results");
    let (_, out, err) = run(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
        "--no-prometheus",
    ]);
    let s = summary(&results);
    assert_eq!(
        s.total_errors, 0,
        "no request refused: {:?}\n{out}{err}",
        s.errors
    );
    let signed_in = request(&s, "plan_auth_token").count;
    assert!(
        signed_in >= 4 * 4,
        "4 users renew every ~2.7 s over 14 s: {signed_in} sign-ins"
    );
    assert!(request(&s, "plan_generate").count > 20, "{out}");
}

/// Two runs started in the same second against one deployment: their athletes
/// are distinct, so the server counts every completed onboarding of both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_started_in_the_same_second_have_distinct_athletes() {
    let mut config = services::ServicesConfig::ephemeral();
    config.gateway.rate_limits = services::rate_limit::RateLimits::off();
    let running = services::start_all(config, services::RuntimeMode::Current)
        .await
        .unwrap();
    let dir = TempDir::new("lg-twins");
    let scenario = format!(
        r#"name = "twin"
[target]
url = "{}"
[load]
users = 4
hatch_rate = 4
duration = "6s"
think_time = {{ min = "10ms", max = "20ms" }}
[[flows]]
name = "onboarding"
abandon_share = 0.0
[slo]
file = "{}"
only = ["api_error_rate"]
"#,
        running.gateway.base_url(),
        root().join("slo/athlete-ally.toml").display()
    );
    let file = dir.write("twin.toml", &scenario);
    let spawn = |n: &str| {
        let results = dir.path().join(n);
        let child = loadgen()
            .args([
                "run",
                file.to_str().unwrap(),
                "--results",
                results.to_str().unwrap(),
                "--quiet",
                "--no-prometheus",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (results, child)
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let waited = tokio::task::spawn_blocking(move || {
        let ea = a.1.wait_with_output().unwrap();
        let eb = b.1.wait_with_output().unwrap();
        (
            a.0,
            b.0,
            String::from_utf8_lossy(&ea.stderr).into_owned() + &String::from_utf8_lossy(&eb.stderr),
        )
    })
    .await
    .unwrap();
    let (sa, sb) = (summary(&waited.0), summary(&waited.1));
    let completed = |s: &RunSummary| {
        let c = request(s, "complete");
        c.count - c.errors
    };
    let client = completed(&sa) + completed(&sb);
    assert!(
        completed(&sa) > 10 && completed(&sb) > 10,
        "both runs onboarded athletes: {}",
        waited.2
    );
    assert_eq!(
        sa.total_errors + sb.total_errors,
        0,
        "{:?} {:?}",
        sa.errors,
        sb.errors
    );
    let http = reqwest::Client::new();
    let metrics = testkit::scrape(&http, &running.onboarding.metrics_url()).await;
    let server = testkit::total(&metrics, "onboarding_completions_total");
    assert_eq!(
        server as u64, client,
        "every completion is a new athlete to the server"
    );
    running.shutdown().await.unwrap();
}

/// A target that answers its first request (loadgen's reachability check), then
/// accepts connections and never answers.
fn stalled_target() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (i, conn) in listener.incoming().flatten().enumerate() {
            if i == 0 {
                let mut conn = conn;
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                continue;
            }
            held.push(conn);
        }
    });
    url
}

/// Ctrl-C twice, 300 ms apart, against a target that never answers: the run stops
/// within seconds (not the 30 s request timeout) and leaves a complete run
/// directory: summary marked interrupted, timeline, and readable interval logs.
#[cfg(unix)]
#[test]
fn ctrl_c_twice_against_a_stalled_target_leaves_a_complete_run_directory() {
    let dir = TempDir::new("lg-twice");
    let scenario = format!(
        r#"name = "stalled"
[target]
url = "{}"
request_timeout = "30s"
[load]
users = 5
hatch_rate = 5
duration = "60s"
[[flows]]
name = "health"
[slo]
file = "{}"
only = ["api_error_rate"]
"#,
        stalled_target(),
        root().join("slo/athlete-ally.toml").display()
    );
    let file = dir.write("stalled.toml", &scenario);
    let results = dir.path().join("results");
    let mut child = loadgen()
        .args([
            "run",
            file.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--quiet",
            "--no-prometheus",
            // About the load's stop: the release check would rightly refuse the
            // stalled gateway before any load.
            "--no-preflight",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let pressed = Instant::now();
    for _ in 0..2 {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = child.wait().unwrap();
    let waited = pressed.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        waited < Duration::from_secs(10),
        "stopped in {waited:?}: {err}"
    );
    assert_eq!(status.code(), Some(3), "{err}");
    let s = summary(&results);
    assert!(s.interrupted, "{err}");
    assert_eq!(s.exit_code, 3);
    let run = run_dir(&results);
    let timeline = Timeline::read(&run).expect("timeline.json written");
    assert!(timeline.slices.len() >= 3, "{:?}", timeline.slices.len());
    assert!(
        timeline.slices.iter().any(|x| x.in_flight > 0),
        "the stall shows as requests in flight"
    );
    for log in [INTERVAL_LOG_FILE, TOTAL_LOG_FILE] {
        reports::hdr::read_log(&run.join(log)).unwrap_or_else(|e| panic!("{log}: {e}"));
    }
    let health = s
        .requests
        .iter()
        .find(|r| r.name == "health")
        .expect("health row");
    assert!(
        health.interrupted >= 5,
        "the 5 requests on the wire were cancelled: {health:?}"
    );
    // Cancelled requests were started and never answered: bad events, each
    // accounted for among the outcomes.
    assert_eq!(health.errors, health.interrupted, "{health:?}");
    assert_eq!(health.outcomes.cancelled, health.interrupted, "{health:?}");
    assert_eq!(health.outcomes.started(), health.count, "{health:?}");
}
