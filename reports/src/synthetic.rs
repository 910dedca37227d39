//! A synthetic run, for the report's benchmark and tests: any length and rate, with
//! a timeline, whole-run histograms and verdicts shaped like a real run's.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use slo::verdict::{Source, Status, Verdict, Verdicts, Window, WindowKind};

use crate::hdr::new_histogram;
use crate::run_data::RunData;
use crate::summary::{
    Environment, ErrorStats, FlowStats, Percentiles, RequestStats, RunSummary, SCHEMA, Slice,
    SlicePercentiles, StageRun, TargetInfo, Timeline, TracedRequest,
};

const REQUESTS: [(&str, &str, f64); 4] = [
    ("auth_token", "onboarding", 0.10),
    ("purpose_selection", "onboarding", 0.30),
    ("plan_generate", "plans", 0.20),
    ("plan_status", "plans", 0.40),
];

/// A deterministic pseudo-random sequence (no dependency needed for test data).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A log-normal-ish latency histogram (µs) of `count` events around `median_ms`,
/// built from 2,000 distinct values so it is quick at any count.
fn histogram(count: u64, median_ms: f64, rng: &mut Lcg) -> Histogram<u64> {
    let mut h = new_histogram();
    let distinct = 2_000u64;
    let per = (count / distinct).max(1);
    for _ in 0..distinct.min(count) {
        let z: f64 = (0..6).map(|_| rng.next()).sum::<f64>() - 3.0;
        let micros = (median_ms * 1000.0 * (0.6 * z).exp()).max(1.0) as u64;
        let _ = h.record_n(micros, per);
    }
    h
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        p50: ms(0.5),
        p90: ms(0.9),
        p95: ms(0.95),
        p99: ms(0.99),
        p999: ms(0.999),
        max: h.max() as f64 / 1000.0,
        mean: h.mean() / 1000.0,
    }
}

fn verdict(slo: &str, status: Status, display: &str) -> Verdict {
    Verdict {
        slo: slo.to_string(),
        description: slo.replace('_', " "),
        area: "performance".to_string(),
        kind: "ratio".to_string(),
        window: WindowKind::Whole,
        status,
        value: Some(0.5),
        display: display.to_string(),
        objective: "< 1%".to_string(),
        source: Source::Prometheus,
        samples: 1000,
        exact: true,
        budget_consumed: Some(0.5),
        note: None,
        details: Vec::new(),
        client: None,
        query: None,
    }
}

/// A run of `seconds` at `rate` requests per second, sliced every `slice` seconds.
pub fn run(seconds: u64, rate: u64, slice: u64) -> RunData {
    let mut rng = Lcg(42);
    let start_ms = 1_800_000_000_000u64;
    let end_ms = start_ms + seconds * 1000;
    let total = seconds * rate;
    let mut histograms = BTreeMap::new();
    let mut requests = Vec::new();
    for (i, (name, flow, share)) in REQUESTS.iter().enumerate() {
        let count = (total as f64 * share) as u64;
        let h = histogram(count, 2.0 + i as f64, &mut rng);
        requests.push(RequestStats {
            name: name.to_string(),
            flow: flow.to_string(),
            count,
            errors: count / 1000,
            status_classes: BTreeMap::from([
                ("2xx".to_string(), count - count / 1000),
                ("5xx".to_string(), count / 1000),
            ]),
            latency_ms: percentiles(&h),
        });
        histograms.insert(format!("req.{name}"), h);
    }
    let mut flows = Vec::new();
    for (name, median) in [("onboarding", 2_000.0), ("plans", 900.0)] {
        let iterations = total / 10;
        let h = histogram(iterations, median, &mut rng);
        flows.push(FlowStats {
            name: name.to_string(),
            iterations,
            failed: iterations / 500,
            abandoned: iterations / 10,
            dropped: 0,
            interrupted: 3,
            latency_ms: percentiles(&h),
        });
        histograms.insert(format!("flow.{name}"), h);
    }
    let slices = (0..seconds / slice)
        .map(|k| {
            let wave = 1.0 + 0.2 * (k as f64 / 30.0).sin();
            let p = |median: f64| SlicePercentiles {
                count: rate * slice / 10,
                p50: median * wave,
                p95: median * wave * 2.5,
                p99: median * wave * 4.0,
                max: median * wave * 9.0,
            };
            Slice {
                t_ms: k * slice * 1000,
                users: 400,
                requests: (rate as f64 * slice as f64 * wave) as u64,
                errors: (rate * slice) / 1000,
                dropped: 0,
                flows: BTreeMap::from([
                    ("onboarding".to_string(), p(2_000.0)),
                    ("plans".to_string(), p(900.0)),
                ]),
                all: p(3.0),
            }
        })
        .collect();
    let verdicts = Verdicts {
        source: Source::Prometheus,
        slo_set: "athlete-ally (slo/athlete-ally.toml)".to_string(),
        whole: vec![
            verdict("api_error_rate", Status::Pass, "0.1% (18000/18000000)"),
            verdict("api_response_time_p95", Status::Pass, "99.9% <= 2 s"),
            verdict(
                "plan_generation_failure_rate",
                Status::Fail,
                "6.2% (112/1800)",
            ),
        ],
        steady: None,
        whole_window: Window { start_ms, end_ms },
        steady_window: None,
        evaluation_ms: 120.0,
        warnings: Vec::new(),
        cross_check: None,
    };
    let summary = RunSummary {
        schema: SCHEMA.to_string(),
        run_id: "synthetic-1".to_string(),
        scenario: "synthetic".to_string(),
        description: format!("{seconds} s at {rate} req/s"),
        scenario_file: "scenarios/synthetic.toml".to_string(),
        target: TargetInfo {
            kind: "url".to_string(),
            base_url: "http://127.0.0.1:4000".to_string(),
            metrics: BTreeMap::new(),
            jaeger_url: Some("http://127.0.0.1:16686".to_string()),
        },
        environment: Environment {
            tool: "loadgen".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            hostname: "bench".to_string(),
            os: "linux x86_64".to_string(),
            cpus: 2,
            command: "loadgen run scenarios/synthetic.toml".to_string(),
        },
        start_ms,
        end_ms,
        steady_start_ms: Some(start_ms + 60_000),
        steady_end_ms: Some(end_ms - 30_000),
        stages: vec![
            StageRun {
                name: "ramp-up".to_string(),
                kind: "ramp".to_string(),
                users: 400,
                duration_s: 60.0,
                start_ms,
                end_ms: start_ms + 60_000,
            },
            StageRun {
                name: "soak".to_string(),
                kind: "soak".to_string(),
                users: 400,
                duration_s: (seconds - 60) as f64,
                start_ms: start_ms + 60_000,
                end_ms,
            },
        ],
        users: 400,
        slice_seconds: slice as f64,
        interrupted: false,
        stop_reason: None,
        total_requests: total,
        total_errors: total / 1000,
        requests_per_second: rate as f64,
        dropped_iterations: 0,
        requests,
        flows,
        errors: vec![ErrorStats {
            kind: "http_5xx".to_string(),
            request: "plan_status".to_string(),
            count: total / 1000,
            example: "HTTP 503: {\"error\":\"injected_fault\"}".to_string(),
        }],
        slowest: (0..10)
            .map(|i| TracedRequest {
                flow: "plans".to_string(),
                request: "plan_status".to_string(),
                latency_ms: 500.0 - i as f64,
                trace_id: format!("{:032x}", 0xabc0 + i),
                at_ms: start_ms + i * 1000,
                status: Some(200),
            })
            .collect(),
        verdicts: Some(verdicts),
        exit_code: 1,
    };
    RunData {
        summary,
        timeline: Timeline {
            slice_seconds: slice as f64,
            slices,
        },
        histograms,
        scenario_text: "name = \"synthetic\"\n".to_string(),
    }
}
