//! Comparing a run with a baseline run.
//!
//! A latency is a regression only when it is worse by more than both a relative and
//! an absolute margin (default: 10% and 5 ms), and both runs measured at least
//! [`Margins::min_count`] requests of that kind; below either margin a difference is
//! noise. An error rate is a regression when it rose by more than
//! [`Margins::error_rate_points`] percentage points. An SLO that passed in the
//! baseline and does not pass now is always a regression.

use serde::{Deserialize, Serialize};
use slo::verdict::Status;

use crate::summary::{Percentiles, RunSummary};

/// Noise margins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Margins {
    /// Relative increase of a latency percentile (0.10 = 10%).
    pub relative: f64,
    /// Absolute increase of a latency percentile, in milliseconds.
    pub absolute_ms: f64,
    /// Increase of an error rate, in percentage points.
    pub error_rate_points: f64,
    /// Fewest requests in both runs for a latency comparison to count.
    pub min_count: u64,
}

impl Default for Margins {
    fn default() -> Self {
        Margins {
            relative: 0.10,
            absolute_ms: 5.0,
            error_rate_points: 0.5,
            min_count: 100,
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Request, flow or SLO name.
    pub item: String,
    /// `p50`, `p95`, `p99`, `error rate`, `SLO`.
    pub metric: String,
    /// The baseline's value, as shown.
    pub baseline: String,
    /// This run's value, as shown.
    pub current: String,
    /// Relative change, when meaningful.
    pub change: Option<f64>,
    /// Whether it is worse beyond the noise margins.
    pub regression: bool,
    /// Why it is or is not a regression.
    pub note: String,
}

/// A run against its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline's run id.
    pub baseline_run: String,
    /// The margins the comparison used.
    pub margins: Margins,
    /// One row per compared figure.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// The rows that are regressions.
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.regression)
    }

    /// Whether anything regressed.
    pub fn has_regression(&self) -> bool {
        self.rows.iter().any(|r| r.regression)
    }
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

fn latency_rows(
    item: &str,
    now: &Percentiles,
    base: &Percentiles,
    counts: (u64, u64),
    m: &Margins,
    rows: &mut Vec<Row>,
) {
    for (metric, a, b) in [
        ("p50", now.p50, base.p50),
        ("p95", now.p95, base.p95),
        ("p99", now.p99, base.p99),
    ] {
        let change = (b > 0.0).then(|| (a - b) / b);
        let enough = counts.0 >= m.min_count && counts.1 >= m.min_count;
        let beyond = a > b * (1.0 + m.relative) && a - b > m.absolute_ms;
        let regression = enough && beyond;
        let note = if !enough {
            format!("fewer than {} requests: not compared", m.min_count)
        } else if regression {
            format!(
                "worse by more than {:.0}% and {} ms",
                m.relative * 100.0,
                m.absolute_ms
            )
        } else {
            "within the noise margin".to_string()
        };
        rows.push(Row {
            item: item.to_string(),
            metric: metric.to_string(),
            baseline: ms(b),
            current: ms(a),
            change,
            regression,
            note,
        });
    }
}

/// Compares `current` with `baseline`.
pub fn compare(current: &RunSummary, baseline: &RunSummary, margins: Margins) -> Comparison {
    let mut rows = Vec::new();
    for r in &current.requests {
        let Some(b) = baseline.requests.iter().find(|b| b.name == r.name) else {
            continue;
        };
        latency_rows(
            &r.name,
            &r.latency_ms,
            &b.latency_ms,
            (r.count, b.count),
            &margins,
            &mut rows,
        );
        let rate = |errors: u64, count: u64| {
            if count > 0 {
                errors as f64 / count as f64
            } else {
                0.0
            }
        };
        let (now, before) = (rate(r.errors, r.count), rate(b.errors, b.count));
        let regression = (now - before) * 100.0 > margins.error_rate_points;
        rows.push(Row {
            item: r.name.clone(),
            metric: "error rate".to_string(),
            baseline: format!("{:.2}%", before * 100.0),
            current: format!("{:.2}%", now * 100.0),
            change: None,
            regression,
            note: if regression {
                format!("up by more than {} points", margins.error_rate_points)
            } else {
                "within the noise margin".to_string()
            },
        });
    }
    for f in &current.flows {
        let Some(b) = baseline.flows.iter().find(|b| b.name == f.name) else {
            continue;
        };
        let done = |x: &crate::summary::FlowStats| x.iterations.saturating_sub(x.failed);
        latency_rows(
            &format!("flow {}", f.name),
            &f.latency_ms,
            &b.latency_ms,
            (done(f), done(b)),
            &margins,
            &mut rows,
        );
    }
    if let (Some(now), Some(before)) = (&current.verdicts, &baseline.verdicts) {
        for v in &now.whole {
            let Some(b) = before.whole.iter().find(|b| b.slo == v.slo) else {
                continue;
            };
            let regression = b.status == Status::Pass && v.status != Status::Pass;
            rows.push(Row {
                item: v.slo.clone(),
                metric: "SLO".to_string(),
                baseline: format!("{} ({})", b.status, b.display),
                current: format!("{} ({})", v.status, v.display),
                change: None,
                regression,
                note: if regression {
                    "passed in the baseline".to_string()
                } else {
                    String::new()
                },
            });
        }
    }
    Comparison {
        baseline_run: baseline.run_id.clone(),
        margins,
        rows,
    }
}
