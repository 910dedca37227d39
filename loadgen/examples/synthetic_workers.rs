//! Writes the run directories of a synthetic distributed run, for the merge
//! benchmark (`scripts/bench-merge.sh`):
//! `cargo run --release -p loadgen --example synthetic_workers -- DIR [WORKERS] [SECONDS]`
//! (default: 8 workers, one hour, 1 s slices, 10 tags per slice). Each worker's
//! directory holds what `loadgen run --worker` writes: summary, timeline, scenario,
//! SLO set, and both interval logs.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::Histogram;
use reports::hdr::{Interval, new_histogram, write_log};
use reports::summary::{INTERVAL_LOG_FILE, SCENARIO_FILE, SLO_FILE, TOTAL_LOG_FILE, WorkerPlace};

#[path = "../../reports/tests/fixtures/synthetic.rs"]
mod synthetic;

/// Requests per second of each worker.
const RATE: u64 = 625;
/// The tags of every slice: four requests' two latencies and two flows.
const TAGS: [(&str, f64); 10] = [
    ("req.auth_token", 2.0),
    ("req.purpose_selection", 4.0),
    ("req.plan_generate", 8.0),
    ("req.plan_status", 3.0),
    ("svc.req.auth_token", 1.8),
    ("svc.req.purpose_selection", 3.5),
    ("svc.req.plan_generate", 7.0),
    ("svc.req.plan_status", 2.5),
    ("flow.onboarding", 400.0),
    ("flow.plans", 2500.0),
];

/// About `count` values spread around `median_ms` (µs), a few dozen distinct.
fn slice_histogram(count: u64, median_ms: f64, seed: u64) -> Histogram<u64> {
    let mut h = new_histogram();
    let steps = 40u64;
    for k in 0..steps {
        let spread = 0.5 + (k as f64 / steps as f64) * 1.5 + ((seed + k) % 7) as f64 * 0.01;
        let value = (median_ms * spread * 1000.0) as u64;
        let _ = h.record_n(value.max(1), (count / steps).max(1));
    }
    h
}

fn scenario(seconds: u64) -> String {
    format!(
        r#"name = "synthetic"
[target]
url = "http://127.0.0.1:4000"
[load]
users = 400
hatch_rate = 40
duration = "{seconds}s"
[[flows]]
name = "onboarding"
[[flows]]
name = "plans"
[slo]
file = "slo.toml"
only = ["api_error_rate"]
[output]
slice = "1s"
"#
    )
}

fn write_worker(
    dir: &Path,
    index: u32,
    count: u32,
    seconds: u64,
    slo: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut data = synthetic::run(seconds, RATE, 1);
    data.summary.run_id = "bench".to_string();
    data.summary.worker = Some(WorkerPlace { index, count });
    data.summary.verdicts = None;
    data.summary.write(dir).map_err(std::io::Error::other)?;
    data.timeline.write(dir).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(SCENARIO_FILE), scenario(seconds))?;
    std::fs::write(dir.join(SLO_FILE), slo)?;
    let start = UNIX_EPOCH + Duration::from_millis(data.summary.start_ms);
    let second = Duration::from_secs(1);
    let mut intervals = Vec::with_capacity(seconds as usize * TAGS.len());
    for s in 0..seconds {
        for (tag, median) in TAGS {
            intervals.push(Interval {
                tag: Some(tag.to_string()),
                start: second * s as u32,
                duration: second,
                histogram: slice_histogram(RATE / 4, median, s + index as u64),
            });
        }
    }
    write_log(
        &dir.join(INTERVAL_LOG_FILE),
        start,
        "synthetic worker",
        &intervals,
    )?;
    let totals: Vec<Interval> = data
        .histograms
        .into_iter()
        .map(|(tag, histogram)| Interval {
            tag: Some(tag),
            start: Duration::ZERO,
            duration: second * seconds as u32,
            histogram,
        })
        .collect();
    write_log(
        &dir.join(TOTAL_LOG_FILE),
        start,
        "synthetic worker",
        &totals,
    )
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().map_or("synthetic-workers", String::as_str));
    let workers: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3600);
    let slo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../slo/athlete-ally.toml"),
    )?;
    for i in 0..workers {
        write_worker(&dir.join(format!("worker-{i}")), i, workers, seconds, &slo)?;
    }
    println!(
        "{workers} workers, {seconds} slices of 1 s, {} tags each: {}",
        TAGS.len(),
        dir.display()
    );
    Ok(())
}
