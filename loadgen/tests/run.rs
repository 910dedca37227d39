//! The main job end to end: the smoke scenario against the embedded services, its
//! run directory, and Ctrl-C keeping what ran.

mod common;

use std::time::Duration;

use common::*;
use reports::summary::{INTERVAL_LOG_FILE, TOTAL_LOG_FILE, Timeline};
use slo::verdict::{Source, Status};

#[test]
fn smoke_passes_and_writes_the_whole_run_directory() {
    let dir = TempDir::new("lg-smoke");
    let results = dir.path().join("results");
    let (code, out, err) = run(&[
        "run",
        "scenarios/smoke.toml",
        "--results",
        results.to_str().unwrap(),
        "--no-prometheus",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("SLO source: the services' own /metrics"),
        "{err}"
    );
    let run = run_dir(&results);
    for file in [
        "summary.json",
        "timeline.json",
        "report.html",
        "summary.md",
        "junit.xml",
        "scenario.toml",
        "slo.toml",
        INTERVAL_LOG_FILE,
        TOTAL_LOG_FILE,
    ] {
        assert!(
            run.join(file).is_file(),
            "{file} missing in {}",
            run.display()
        );
    }
    let s = summary(&results);
    assert_eq!(s.schema, reports::summary::SCHEMA);
    assert_eq!(s.exit_code, 0);
    assert!(!s.interrupted);
    assert!(s.end_ms > s.start_ms + 19_000, "the run lasted its 20 s");
    assert!(s.total_requests > 200, "{}", s.total_requests);
    assert_eq!(s.total_errors, 0);
    let names: Vec<&str> = s.requests.iter().map(|r| r.name.as_str()).collect();
    for step in [
        "auth_token",
        "purpose_selection",
        "proficiency",
        "equipment",
        "availability",
        "complete",
        "plan_generate",
        "plan_status",
    ] {
        assert!(names.contains(&step), "{step} missing: {names:?}");
    }
    let plans = s.flows.iter().find(|f| f.name == "plans").unwrap();
    assert!(plans.iterations > 20 && plans.failed == 0, "{plans:?}");
    assert!(
        plans.latency_ms.p50 > 100.0,
        "plan end-to-end includes the model: {plans:?}"
    );
    for r in &s.requests {
        let l = &r.latency_ms;
        assert!(
            l.p50 <= l.p90
                && l.p90 <= l.p95
                && l.p95 <= l.p99
                && l.p99 <= l.p999
                && l.p999 <= l.max,
            "{r:?}"
        );
    }
    let v = s.verdicts.as_ref().expect("judged");
    assert_eq!(v.source, Source::Scrape);
    assert_eq!(v.whole.len(), 10);
    assert!(
        v.whole.iter().all(|x| x.status == Status::Pass),
        "{:#?}",
        v.whole
    );
    assert!(
        v.steady.as_ref().is_some_and(|s| s.len() == 10),
        "stages give a steady window"
    );
    assert!(
        s.slowest.iter().any(|t| t.trace_id.len() == 32),
        "sampled requests keep their trace ids"
    );

    // The histograms are saved in the HdrHistogram interval log format, mergeable.
    let intervals = reports::hdr::read_log(&run.join(INTERVAL_LOG_FILE)).unwrap();
    let merged = reports::hdr::merge_by_tag(&intervals);
    let total =
        reports::hdr::merge_by_tag(&reports::hdr::read_log(&run.join(TOTAL_LOG_FILE)).unwrap());
    for r in &s.requests {
        let tag = format!("req.{}", r.name);
        assert_eq!(
            merged[&tag].len(),
            r.count,
            "{tag}: slices add up to the whole run"
        );
        assert_eq!(total[&tag].len(), r.count, "{tag}");
    }
    let timeline = Timeline::read(&run).unwrap();
    assert!(timeline.slices.len() >= 20, "{}", timeline.slices.len());
    assert_eq!(
        timeline.slices.iter().map(|x| x.requests).sum::<u64>(),
        s.total_requests
    );
    assert!(timeline.slices.iter().any(|x| x.users == 20));
    assert!(out.contains("SLO verdicts"), "{out}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_load_and_keeps_the_results() {
    let dir = TempDir::new("lg-ctrlc");
    let results = dir.path().join("results");
    let mut child = loadgen()
        .args([
            "run",
            "scenarios/onboarding.toml",
            "--results",
            results.to_str().unwrap(),
            "--quiet",
            "--no-prometheus",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(12));
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let s = summary(&results);
    assert!(s.interrupted, "{err}");
    assert_eq!(s.stop_reason.as_deref(), Some("Ctrl-C"));
    assert!(
        s.duration_seconds() < 60.0,
        "stopped long before the planned 2 minutes"
    );
    assert!(
        s.total_requests > 50,
        "what ran is kept: {}",
        s.total_requests
    );
    assert!(run_dir(&results).join("report.html").is_file());
    assert!(s.verdicts.is_some(), "what ran is judged");
    assert_eq!(status.code(), Some(i32::from(s.exit_code)), "{err}");
    // The planned load did not run: the run is invalid and cannot pass.
    assert!(!s.integrity.as_ref().unwrap().valid);
    assert_ne!(
        status.code(),
        Some(0),
        "an interrupted run never exits 0: {err}"
    );
}
