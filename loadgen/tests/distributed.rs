//! Distributed runs end to end: worker processes sharing a run id and a start
//! time against one deployment and one Prometheus, merged into one run; and a
//! worker killed mid-run, which the merge names and never passes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use hdrhistogram::Histogram;
use reports::summary::{RunSummary, TOTAL_LOG_FILE};
use slo::verdict::Status;

const SLOS: &str = r#"["api_error_rate", "onboarding_completion_rate"]"#;

/// Onboarding by closed users and health at a constant arrival rate, `users` and
/// `rate` in all (each worker takes its share).
fn scenario(dir: &TempDir, s: &Services, prometheus: &str, users: u64, rate: u64) -> PathBuf {
    let metrics: Vec<String> = s
        .metrics
        .iter()
        .map(|(j, a)| format!("\"{j}\" = \"http://{a}/metrics\""))
        .collect();
    let text = format!(
        r#"name = "dist"
[target]
url = "http://127.0.0.1:{}"
metrics = {{ {} }}
[load]
users = {users}
hatch_rate = {users}
duration = "10s"
think_time = {{ min = "50ms", max = "150ms" }}
graceful_stop = "5s"
[[flows]]
name = "onboarding"
abandon_share = 0.0
[[flows]]
name = "health"
executor = "constant-arrival-rate"
rate = {rate}
[slo]
file = "{}"
only = {SLOS}
gate = "whole"
[prometheus]
url = "{prometheus}"
"#,
        s.gateway,
        metrics.join(", "),
        root().join("slo/athlete-ally.toml").display()
    );
    dir.write(&format!("dist-{users}.toml"), &text)
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Starts worker `i` of `n` of run `id`.
fn worker(
    file: &Path,
    results: &Path,
    id: &str,
    i: u32,
    n: u32,
    start_at: u64,
    extra: &[&str],
) -> Child {
    loadgen()
        .args([
            "run",
            file.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ])
        .args(["--run-id", id, "--worker", &format!("{i}/{n}")])
        .args(["--start-at", &start_at.to_string(), "--quiet"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn totals(dir: &Path) -> BTreeMap<String, Histogram<u64>> {
    let log = reports::hdr::read_log(&dir.join(TOTAL_LOG_FILE)).unwrap();
    reports::hdr::merge_by_tag(&log)
}

fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn completions(s: &RunSummary) -> u64 {
    let c = s.requests.iter().find(|r| r.name == "complete").unwrap();
    c.count - c.errors
}

fn statuses(s: &RunSummary) -> Vec<(String, Status)> {
    let v = s.verdicts.as_ref().expect("judged");
    v.whole.iter().map(|x| (x.slo.clone(), x.status)).collect()
}

/// Three workers from one start time, merged: the sums, the histograms and the
/// athletes add up exactly, and the merged verdict is that of one process
/// driving the same total load.
#[test]
fn three_workers_merge_into_one_run_judged_by_prometheus() {
    let (s, prom) = services_scraped();
    let dir = TempDir::new("lg-dist");
    let file = scenario(&dir, &s, &prom.url, 9, 30);
    let results = dir.path().join("results");
    let start_at = now_s() + 4;
    let children: Vec<Child> = (0..3)
        .map(|i| worker(&file, &results, "dist-1", i, 3, start_at, &[]))
        .collect();
    let logs: Vec<String> = children
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c.wait_with_output().unwrap().stderr).into_owned())
        .collect();
    let run_root = results.join("dist-1");
    let workers: Vec<RunSummary> = (0..3)
        .map(|i| {
            RunSummary::read(&run_root.join(format!("worker-{i}")))
                .unwrap_or_else(|e| panic!("{e}\n{logs:?}"))
        })
        .collect();
    let starts: Vec<u64> = workers.iter().map(|w| w.start_ms).collect();
    assert!(
        starts.iter().max().unwrap() - starts.iter().min().unwrap() < 100,
        "one common start: {starts:?}"
    );
    let (code, out, err) = run_merge(&[run_root.to_str().unwrap(), "--prometheus", &prom.url]);
    let merged_dir = run_root.join("merged");
    let merged = RunSummary::read(&merged_dir).unwrap_or_else(|e| panic!("{e}\n{out}{err}"));
    assert_eq!(
        merged.total_requests,
        workers.iter().map(|w| w.total_requests).sum::<u64>(),
        "total requests are the workers' sum"
    );
    // Every tag's merged histogram is the workers' added bucket for bucket.
    let merged_totals = totals(&merged_dir);
    let mut sum: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for i in 0..3 {
        for (tag, h) in totals(&run_root.join(format!("worker-{i}"))) {
            sum.entry(tag)
                .or_insert_with(reports::hdr::new_histogram)
                .add(&h)
                .unwrap();
        }
    }
    assert_eq!(
        merged_totals.keys().collect::<Vec<_>>(),
        sum.keys().collect::<Vec<_>>()
    );
    for (tag, h) in &sum {
        assert_eq!(buckets(&merged_totals[tag]), buckets(h), "{tag}");
    }
    let health = &sum["req.health"];
    let row = merged.requests.iter().find(|r| r.name == "health").unwrap();
    assert_eq!(
        row.latency_ms.p95,
        health.value_at_quantile(0.95) as f64 / 1000.0
    );
    // Athletes never collide: the server counted every completion the workers saw.
    let server = prom.query("sum(onboarding_completions_total)");
    let server: f64 = server[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert_eq!(server as u64, completions(&merged), "{out}");
    assert_eq!(code, 0, "the merged run passes:\n{out}{err}");
    assert!(merged.integrity.as_ref().unwrap().valid, "{out}");
    assert_eq!(merged.workers.len(), 3);
    assert!(merged.workers.iter().all(|w| w.status == "finished"));
    // `loadgen report` takes the merged run like any other, and its report shows
    // each worker's load and health.
    let (rcode, _, rerr) = run(&["report", merged_dir.to_str().unwrap()]);
    assert_eq!(rcode, 0, "{rerr}");
    let html = std::fs::read_to_string(merged_dir.join("report.html")).unwrap();
    let workers_table = html
        .split("id=\"workers\"")
        .nth(1)
        .expect("a workers section in the merged report");
    let workers_table = &workers_table[..workers_table.find("</table>").unwrap()];
    for w in &workers {
        assert!(
            workers_table.contains(&format!("<td class=\"num\">{}</td>", w.total_requests)),
            "worker's requests in {workers_table}"
        );
    }
    assert_eq!(
        workers_table.matches("healthy").count(),
        3,
        "{workers_table}"
    );
    // One process driving the same total load reaches the same verdicts.
    let lone = dir.path().join("lone");
    let (_, lout, lerr) = run(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        lone.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(statuses(&summary(&lone)), statuses(&merged), "{lout}{lerr}");
}

fn run_merge(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["merge"];
    all.extend_from_slice(args);
    run(&all)
}

/// A worker killed mid-run, and one that never ran: the merge names both, keeps
/// what the dead one's interval log holds, and the run is not a pass.
#[test]
fn a_killed_worker_is_named_and_the_run_does_not_pass() {
    let s = services();
    let dir = TempDir::new("lg-dist-kill");
    let file = scenario(&dir, &s, "http://127.0.0.1:9", 6, 20);
    let results = dir.path().join("results");
    let start_at = now_s() + 3;
    let extra = ["--no-prometheus"];
    let survivor = worker(&file, &results, "dist-2", 0, 3, start_at, &extra);
    let mut victim = worker(&file, &results, "dist-2", 1, 3, start_at, &extra);
    std::thread::sleep(Duration::from_secs(3 + 5));
    victim.kill().unwrap();
    let _ = victim.wait();
    let _ = survivor.wait_with_output().unwrap();
    let run_root = results.join("dist-2");
    let (code, out, err) = run_merge(&[run_root.to_str().unwrap(), "--workers", "3"]);
    assert_ne!(code, 0, "never a pass on partial load:\n{out}{err}");
    let merged = RunSummary::read(&run_root.join("merged")).unwrap();
    let status: Vec<&str> = merged.workers.iter().map(|w| w.status.as_str()).collect();
    assert_eq!(status, ["finished", "died", "missing"], "{out}");
    let integrity = merged.integrity.as_ref().unwrap();
    assert!(!integrity.valid);
    let problems = integrity.problems.join("\n");
    assert!(problems.contains("worker 1 died"), "{problems}");
    assert!(problems.contains("worker 2 of 3 is missing"), "{problems}");
    assert!(
        merged.workers[1].requests > 0,
        "the dead worker's slices up to its death are merged: {:?}",
        merged.workers[1]
    );
    assert!(out.contains("worker 1") && out.contains("died"), "{out}");
    // Rendered again, the invalid run still does not pass.
    let merged_dir = run_root.join("merged");
    let (rcode, _, rerr) = run(&["report", merged_dir.to_str().unwrap()]);
    assert_eq!(rcode, code, "{rerr}");
}
