//! `report.html`: one self-contained page (inline CSS and SVG, no script, font or
//! image from the network) that opens offline and prints well.
//!
//! Sections: the verdict banner; the SLO table (whole run and steady window); charts
//! over time (throughput, error rate, latency per flow, active users, stage
//! boundaries marked); latency distributions (percentile plots on a log scale); the
//! per-request, per-flow and error tables; the slowest traced requests (linked to
//! Jaeger when configured); the scenario and environment; the baseline comparison.
//! Every string from a response, an error or a scenario is HTML-escaped by the
//! template engine.

use std::collections::BTreeMap;

use minijinja::{Environment, Value};
use serde::Serialize;
use slo::verdict::{Status, Verdict};

use crate::baseline::Comparison;
use crate::charts::{self, Line, MAX_POINTS, PALETTE, Reduce};
use crate::evidence::{Evidence, trace_link};
use crate::run_data::RunData;
use crate::slo_timeline::SloTimeline;
use crate::summary::{RunSummary, TracedRequest};

const TEMPLATE: &str = include_str!("../templates/report.html");

#[derive(Serialize)]
struct Chart {
    title: String,
    svg: Value,
    /// Drawn by the page under the chart, outside the data (two lines or more).
    legend: Vec<charts::LegendEntry>,
}

#[derive(Serialize)]
struct SloRow {
    name: String,
    description: String,
    status: &'static str,
    display: String,
    objective: String,
    source: String,
    exact: bool,
    samples: u64,
    budget: String,
    /// "95% bounds 0%-0.2%".
    bounds: String,
    note: String,
    client: String,
    disagreement: String,
    details: Vec<String>,
    /// What the verdict rests on (shown in full under a failed or inconclusive SLO).
    evidence: Option<Evidence>,
    /// The evidence in one line.
    evidence_line: String,
    /// When it went bad, in words (whole-run rows).
    went_bad: String,
    /// Its indicator per slice against the objective (failed whole-run rows).
    chart: Option<Chart>,
    query: String,
}

#[derive(Serialize, Clone)]
struct TraceRow {
    flow: String,
    request: String,
    latency: String,
    trace_id: String,
    link: Option<String>,
    at: String,
    status: String,
}

fn time(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_default()
}

fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn trace_row(t: &TracedRequest, jaeger: Option<&str>) -> TraceRow {
    TraceRow {
        flow: t.flow.clone(),
        request: t.request.clone(),
        latency: format!("{} ms", ms(t.latency_ms)),
        trace_id: t.trace_id.clone(),
        link: trace_link(jaeger, &t.trace_id),
        at: time(t.at_ms),
        status: t
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
    }
}

/// A verdict's confidence bounds, as people read them.
pub fn bounds_text(v: &Verdict) -> String {
    match (v.bounds, v.confidence) {
        (Some((lo, hi)), Some(c)) => format!(
            "{}% bounds {}-{}",
            slo::format::trim_float(c * 100.0),
            slo::format::percent(lo),
            slo::format::percent(hi)
        ),
        _ => String::new(),
    }
}

/// One SLO's row: its verdict, its evidence, and (whole run) when it went bad.
fn slo_row(v: &Verdict, run: &RunData, timeline: Option<&SloTimeline>) -> SloRow {
    let summary = &run.summary;
    let evidence = Evidence::of(v, summary, &run.histograms);
    let chart = timeline
        .filter(|t| v.status == Status::Fail && t.points.iter().any(|p| p.value.is_some()))
        .and_then(|t| time_axis(run).map(|axis| axis.indicator_chart(v, t)));
    SloRow {
        name: v.slo.clone(),
        description: v.description.clone(),
        status: v.status.as_str(),
        display: v.display.clone(),
        objective: v.objective.clone(),
        source: v.source.to_string(),
        exact: v.exact,
        samples: v.samples,
        budget: v
            .burn_rate
            .or(v.budget_consumed)
            .map(|b| format!("{b:.2}x"))
            .unwrap_or_else(|| "-".into()),
        bounds: bounds_text(v),
        note: v.note.clone().unwrap_or_default(),
        client: v
            .client
            .as_ref()
            .map(|c| format!("{} ({})", c.display, c.status))
            .unwrap_or_default(),
        disagreement: v
            .client
            .as_ref()
            .and_then(|c| c.disagreement.clone())
            .unwrap_or_default(),
        details: v
            .details
            .iter()
            .map(|d| {
                format!(
                    "{}: {} ({}, {} samples)",
                    d.target, d.display, d.status, d.samples
                )
            })
            .collect(),
        evidence_line: evidence.as_ref().map(Evidence::line).unwrap_or_default(),
        evidence,
        went_bad: timeline
            .map(|t| match &t.first_breach {
                Some(b) => b.text.clone(),
                None if v.status != Status::Pass && t.points.iter().any(|p| p.value.is_some()) => {
                    "no single slice missed the objective: the miss is spread over the run"
                        .to_string()
                }
                None => String::new(),
            })
            .unwrap_or_default(),
        chart,
        query: v.query.clone().unwrap_or_default(),
    }
}

/// What every time chart of a run shares: its slices, its length and its stages.
struct TimeAxis<'a> {
    slices: &'a [crate::summary::Slice],
    step: f64,
    x_max: f64,
    markers: Vec<(f64, String)>,
}

impl TimeAxis<'_> {
    fn t(slice: &crate::summary::Slice) -> f64 {
        slice.t_ms as f64 / 1000.0
    }

    /// One value per slice, reduced to at most [`MAX_POINTS`].
    fn series(&self, f: &dyn Fn(&crate::summary::Slice) -> f64, how: Reduce) -> Vec<(f64, f64)> {
        let points: Vec<(f64, f64)> = self.slices.iter().map(|x| (Self::t(x), f(x))).collect();
        charts::reduce(&points, MAX_POINTS, how)
    }

    /// A chart with the stage boundaries marked.
    fn chart(&self, title: &str, caption: &str, unit: &str, lines: &[Line]) -> Chart {
        Chart {
            title: title.into(),
            svg: Value::from_safe_string(charts::time_chart(
                caption,
                unit,
                lines,
                &self.markers,
                self.x_max,
            )),
            legend: if lines.len() > 1 {
                charts::legend(lines)
            } else {
                Vec::new()
            },
        }
    }

    /// An SLO's indicator per slice (percent) against its objective's line.
    fn indicator_chart(&self, v: &Verdict, t: &SloTimeline) -> Chart {
        let points: Vec<(f64, f64)> = t
            .points
            .iter()
            .filter_map(|p| p.value.map(|v| (p.t_s, 100.0 * v)))
            .collect();
        let goal = vec![(0.0, 100.0 * t.goal), (self.x_max, 100.0 * t.goal)];
        self.chart(
            &format!("{} over time", v.slo),
            &format!("{} per slice against its objective (%)", v.description),
            "%",
            &[
                line(
                    &v.slo,
                    charts::reduce(&points, MAX_POINTS, Reduce::Mean),
                    PALETTE[0],
                ),
                line(&format!("objective {}", v.objective), goal, PALETTE[3]),
            ],
        )
    }

    /// p50, p95 and p99 of one flow's completed iterations per slice.
    fn flow_latency(&self, flow: &str) -> Chart {
        let pick = |f: fn(&crate::summary::SlicePercentiles) -> f64| {
            let points: Vec<(f64, f64)> = self
                .slices
                .iter()
                .filter_map(|x| {
                    x.flows
                        .get(flow)
                        .filter(|p| p.count > 0)
                        .map(|p| (Self::t(x), f(p)))
                })
                .collect();
            charts::reduce(&points, MAX_POINTS, Reduce::Max)
        };
        let line = |name: &str, f, color| Line {
            name: name.into(),
            points: pick(f),
            color,
        };
        self.chart(
            &format!("Latency: {flow}"),
            &format!("Latency of the {flow} flow (ms, per slice)"),
            "ms",
            &[
                line("p50", |p| p.p50, PALETTE[2]),
                line("p95", |p| p.p95, PALETTE[1]),
                line("p99", |p| p.p99, PALETTE[3]),
            ],
        )
    }
}

fn line(name: &str, points: Vec<(f64, f64)>, color: plotters::style::RGBColor) -> Line {
    Line {
        name: name.into(),
        points,
        color,
    }
}

/// Throughput and error rate per slice.
fn rate_charts(axis: &TimeAxis) -> Vec<Chart> {
    let error_rate = |x: &crate::summary::Slice| {
        if x.requests > 0 {
            100.0 * x.errors as f64 / x.requests as f64
        } else {
            0.0
        }
    };
    vec![
        axis.chart(
            "Throughput",
            "Throughput (requests per second)",
            "req/s",
            &[line(
                "requests",
                axis.series(&|x| x.requests as f64 / axis.step, Reduce::Mean),
                PALETTE[0],
            )],
        ),
        axis.chart(
            "Error rate",
            "Error rate (failed requests and iterations, %)",
            "%",
            &[line(
                "errors",
                axis.series(&error_rate, Reduce::Max),
                PALETTE[3],
            )],
        ),
    ]
}

/// The run's time axis, when it has a timeline.
fn time_axis(run: &RunData) -> Option<TimeAxis<'_>> {
    let s = &run.summary;
    let slices = &run.timeline.slices;
    if slices.is_empty() {
        return None;
    }
    let step = run.timeline.slice_seconds.max(1e-3);
    Some(TimeAxis {
        slices,
        step,
        x_max: s.duration_seconds().max(step),
        markers: s
            .stages
            .iter()
            .map(|st| {
                (
                    st.start_ms.saturating_sub(s.start_ms) as f64 / 1000.0,
                    st.name.clone(),
                )
            })
            .collect(),
    })
}

fn time_charts(run: &RunData) -> Vec<Chart> {
    let s = &run.summary;
    let slices = &run.timeline.slices;
    let Some(axis) = time_axis(run) else {
        return Vec::new();
    };
    let mut out = rate_charts(&axis);
    let flows: std::collections::BTreeSet<String> = slices
        .iter()
        .flat_map(|x| x.flows.keys().cloned())
        .collect();
    out.extend(flows.iter().map(|flow| axis.flow_latency(flow)));
    out.push(axis.chart(
        "Active users",
        "Active virtual users (stage boundaries marked)",
        "users",
        &[line(
            "users",
            axis.series(&|x| x.users as f64, Reduce::Max),
            PALETTE[4],
        )],
    ));
    if s.dropped_iterations > 0 {
        out.push(axis.chart(
            "Dropped iterations",
            "Dropped iterations per slice (paced flows started too late)",
            "iterations",
            &[line(
                "dropped",
                axis.series(&|x| x.dropped as f64, Reduce::Max),
                PALETTE[5],
            )],
        ));
    }
    out
}

/// Percentiles to plot, from the median to 99.999%.
fn plot_percentiles() -> Vec<f64> {
    let mut p = Vec::new();
    let mut nines = 0.0;
    while nines <= 5.0 {
        p.push(100.0 * (1.0 - 10f64.powf(-nines)));
        nines += 0.05;
    }
    p
}

fn distribution_charts(run: &RunData) -> Vec<Chart> {
    let mut out = Vec::new();
    for (prefix, title) in [
        ("req.", "Request latency distribution"),
        ("flow.", "Flow latency distribution (end to end)"),
    ] {
        let lines: Vec<Line> = run
            .histograms
            .iter()
            .filter(|(tag, h)| tag.starts_with(prefix) && !h.is_empty())
            .enumerate()
            .map(|(i, (tag, h))| {
                let max_nines = charts::nines(100.0 * (1.0 - 1.0 / h.len().max(2) as f64));
                let points = plot_percentiles()
                    .into_iter()
                    .filter(|p| charts::nines(*p) <= max_nines + 1e-9 || *p == 0.0)
                    .map(|p| {
                        (
                            charts::nines(p),
                            h.value_at_quantile(p / 100.0) as f64 / 1000.0,
                        )
                    })
                    .collect();
                Line {
                    name: tag[prefix.len()..].to_string(),
                    points,
                    color: PALETTE[i % PALETTE.len()],
                }
            })
            .collect();
        if !lines.is_empty() {
            out.push(Chart {
                title: title.to_string(),
                svg: Value::from_safe_string(charts::percentile_chart(title, &lines)),
                legend: charts::legend(&lines),
            });
        }
    }
    out
}

/// Meaning of an exit code, for the banner.
pub fn exit_meaning(code: u8) -> &'static str {
    match code {
        0 => "every SLO passed",
        1 => "an SLO failed (or a regression against the baseline)",
        2 => "bad input or usage",
        _ => "nothing failed, but at least one SLO could not be judged",
    }
}

/// The slowest sampled requests per flow, slowest first, at most ten each.
fn slowest_rows(s: &RunSummary) -> BTreeMap<String, Vec<TraceRow>> {
    let jaeger = s.target.jaeger_url.as_deref();
    let mut slowest: BTreeMap<String, Vec<TraceRow>> = BTreeMap::new();
    for t in &s.slowest {
        slowest
            .entry(t.flow.clone())
            .or_default()
            .push(trace_row(t, jaeger));
    }
    for rows in slowest.values_mut() {
        rows.sort_by(|a, b| {
            let parse = |x: &str| {
                x.trim_end_matches(" ms")
                    .trim_end_matches(" s")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            };
            parse(&b.latency).total_cmp(&parse(&a.latency))
        });
        rows.truncate(10);
    }
    slowest
}

/// A request's statuses by class, then its outcomes when any was bad.
fn status_note(r: &crate::summary::RequestStats) -> String {
    let classes: Vec<String> = r
        .status_classes
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let mut note = classes.join(", ");
    if r.outcomes.bad() > 0 {
        note += &format!(" · {}", r.outcomes.describe());
    }
    note
}

fn request_rows(s: &RunSummary) -> Vec<RequestRow> {
    s.requests
        .iter()
        .map(|r| RequestRow {
            name: r.name.clone(),
            flow: r.flow.clone(),
            count: r.count,
            errors: r.errors,
            classes: status_note(r),
            p50: ms(r.latency_ms.p50),
            p90: ms(r.latency_ms.p90),
            p95: ms(r.latency_ms.p95),
            p99: ms(r.latency_ms.p99),
            p999: ms(r.latency_ms.p999),
            max: ms(r.latency_ms.max),
            service_p95: ms(r.service_ms.p95),
            service_p99: ms(r.service_ms.p99),
            failed_p95: r.failed_ms.as_ref().map(|p| ms(p.p95)).unwrap_or_default(),
        })
        .collect()
}

fn flow_rows(s: &RunSummary) -> Vec<FlowRow> {
    s.flows
        .iter()
        .map(|f| FlowRow {
            name: f.name.clone(),
            done: f.iterations.saturating_sub(f.failed),
            failed: f.failed,
            abandoned: f.abandoned,
            dropped: f.dropped,
            interrupted: f.interrupted,
            p50: ms(f.latency_ms.p50),
            p95: ms(f.latency_ms.p95),
            p99: ms(f.latency_ms.p99),
            max: ms(f.latency_ms.max),
            failed_p95: f.failed_ms.as_ref().map(|p| ms(p.p95)).unwrap_or_default(),
            lag_p99: f
                .schedule_lag_ms
                .as_ref()
                .map(|p| ms(p.p99))
                .unwrap_or_default(),
        })
        .collect()
}

/// Renders the whole page.
pub fn render(run: &RunData, comparison: Option<&Comparison>) -> Result<String, minijinja::Error> {
    let s = &run.summary;
    let status = match s.exit_code {
        0 => "pass",
        1 => "fail",
        _ => "inconclusive",
    };
    let slowest = slowest_rows(s);
    let verdicts = s.verdicts.as_ref();
    let log = run.interval_log.clone().unwrap_or_default();
    let timelines: Vec<SloTimeline> = verdicts
        .map(|v| crate::slo_timeline::timelines(&v.whole, s, &run.timeline, &log))
        .unwrap_or_default();
    let timeline_of = |slo: &str| timelines.iter().find(|t| t.slo == slo);
    let page = Page {
        status,
        headline: crate::markdown::headline(s),
        exit_code: s.exit_code,
        exit_meaning: exit_meaning(s.exit_code),
        s,
        duration: format!("{:.1}", s.duration_seconds()),
        start: time(s.start_ms),
        end: time(s.end_ms),
        steady: match (s.steady_start_ms, s.steady_end_ms) {
            (Some(a), Some(b)) => format!("{} to {}", time(a), time(b)),
            _ => String::new(),
        },
        source: verdicts.map(|v| v.source.to_string()).unwrap_or_default(),
        slo_set: verdicts.map(|v| v.slo_set.clone()).unwrap_or_default(),
        evaluation_ms: verdicts
            .map(|v| format!("{:.0}", v.evaluation_ms))
            .unwrap_or_default(),
        warnings: verdicts.map(|v| v.warnings.clone()).unwrap_or_default(),
        slo_whole: verdicts
            .map(|v| {
                v.whole
                    .iter()
                    .map(|x| slo_row(x, run, timeline_of(&x.slo)))
                    .collect()
            })
            .unwrap_or_default(),
        slo_steady: verdicts
            .and_then(|v| v.steady.as_ref())
            .map(|v| v.iter().map(|x| slo_row(x, run, None)).collect())
            .unwrap_or_default(),
        charts: time_charts(run),
        distributions: distribution_charts(run),
        requests: request_rows(s),
        flows: flow_rows(s),
        errors: &s.errors,
        slowest,
        comparison,
        regressions: comparison.map(|c| c.regressions().count()).unwrap_or(0),
        alerts: verdicts
            .and_then(|v| v.alerts.as_ref())
            .map(|a| alerts_view(a, s.start_ms)),
        scenario_text: &run.scenario_text,
    };
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    env.get_template("report.html")?
        .render(Value::from(minijinja::value::Serde(&page)))
}

#[derive(Serialize)]
struct RequestRow {
    name: String,
    flow: String,
    count: u64,
    errors: u64,
    classes: String,
    p50: String,
    p90: String,
    p95: String,
    p99: String,
    p999: String,
    max: String,
    service_p95: String,
    service_p99: String,
    failed_p95: String,
}

#[derive(Serialize)]
struct FlowRow {
    name: String,
    done: u64,
    failed: u64,
    abandoned: u64,
    dropped: u64,
    interrupted: u64,
    p50: String,
    p95: String,
    p99: String,
    max: String,
    failed_p95: String,
    lag_p99: String,
}

#[derive(Serialize)]
struct Page<'a> {
    status: &'static str,
    headline: &'static str,
    exit_code: u8,
    exit_meaning: &'static str,
    s: &'a RunSummary,
    duration: String,
    start: String,
    end: String,
    steady: String,
    source: String,
    slo_set: String,
    evaluation_ms: String,
    warnings: Vec<String>,
    slo_whole: Vec<SloRow>,
    slo_steady: Vec<SloRow>,
    charts: Vec<Chart>,
    distributions: Vec<Chart>,
    requests: Vec<RequestRow>,
    flows: Vec<FlowRow>,
    errors: &'a [crate::summary::ErrorStats],
    slowest: BTreeMap<String, Vec<TraceRow>>,
    comparison: Option<&'a Comparison>,
    regressions: usize,
    scenario_text: &'a str,
    alerts: Option<AlertsView>,
}

/// The alert replay, as the report shows it.
#[derive(Serialize)]
struct AlertsView {
    headline: String,
    page: bool,
    step: String,
    rows: Vec<AlertRow>,
    burn: Vec<String>,
}

#[derive(Serialize)]
struct AlertRow {
    alert: String,
    severity: String,
    pending: String,
    firing: String,
    firing_for: String,
}

/// The replay's alerts whose condition held at some step, and the peak burns.
fn alerts_view(r: &slo::rules::replay::Replay, start_ms: u64) -> AlertsView {
    let offset = |t: Option<u64>| {
        t.map_or("never".to_string(), |t| {
            format!("+{:.0} s", t.saturating_sub(start_ms) as f64 / 1000.0)
        })
    };
    AlertsView {
        headline: r.headline(start_ms),
        page: r.would_page(),
        step: format!("{:.0} s", r.step_ms as f64 / 1000.0),
        rows: r
            .alerts
            .iter()
            .filter(|a| a.pending_ms.is_some())
            .map(|a| AlertRow {
                alert: a.alert.clone(),
                severity: a.severity.clone(),
                pending: offset(a.pending_ms),
                firing: offset(a.firing_ms),
                firing_for: format!("{:.0} s", a.firing_for_ms as f64 / 1000.0),
            })
            .collect(),
        burn: r
            .burn
            .iter()
            .map(|b| {
                format!(
                    "{} {:.1}x over {} (+{:.0} s)",
                    b.slo,
                    b.peak,
                    b.window,
                    b.at_ms.saturating_sub(start_ms) as f64 / 1000.0
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_links_are_only_web_urls() {
        use crate::evidence::is_web_url;
        assert!(is_web_url("http://127.0.0.1:16686"));
        assert!(is_web_url("HTTPS://jaeger.example/"));
        for hostile in [
            "javascript:alert(1)//",
            " data:text/html,x",
            "file:///etc/passwd",
        ] {
            assert!(!is_web_url(hostile), "{hostile}");
        }
    }

    #[test]
    fn percentiles_to_plot_run_from_median_to_five_nines() {
        let p = plot_percentiles();
        assert_eq!(p[0], 0.0);
        assert!(p.iter().any(|x| (x - 99.0).abs() < 1e-6));
        assert!(*p.last().unwrap() > 99.999);
    }
}
