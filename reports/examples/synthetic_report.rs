//! Renders the report of a synthetic run and prints how long it took and how big
//! the page is: `cargo run --release -p reports --example synthetic_report -- [SECONDS] [RATE] [SLICE]`
//! (default: one hour at 5,000 requests per second, 5 s slices; targets: < 3 s, < 2 MB).

use std::time::Instant;

#[path = "../tests/fixtures/synthetic.rs"]
mod synthetic;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(3600);
    let rate = args.get(1).copied().unwrap_or(5000);
    let slice = args.get(2).copied().unwrap_or(5);
    let built = Instant::now();
    let mut run = synthetic::run(seconds, rate, slice);
    let dir = std::env::temp_dir().join(format!("synthetic-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    synthetic::write_interval_log(&mut run, &dir.join("histograms.hlog")).expect("written");
    let build_ms = built.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let rendered = reports::render_all(&run, None, &dir).expect("renders");
    let render_s = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(&rendered.html).expect("written").len();
    println!(
        "synthetic run: {seconds} s at {rate} req/s ({} requests, {} slices of {slice} s; built in {build_ms:.0} ms)",
        run.summary.total_requests,
        run.timeline.slices.len()
    );
    println!(
        "report.html rendered in {render_s:.3} s (target < 3 s), {:.2} MB (target < 2 MB)",
        size as f64 / 1e6
    );
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept {}", dir.display());
    }
}
