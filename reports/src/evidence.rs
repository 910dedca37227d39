//! What a verdict rests on, chosen by what its SLO measures on the client side:
//!
//! - an error-rate SLO (`api_errors`): its failing requests grouped by request and
//!   status, each with an example body and trace ids (sampled ones linked to
//!   Jaeger when a Jaeger URL is known);
//! - a latency SLO (`api_latency`, `plan_duration`): its own scope's events in
//!   bands around the threshold, and the scope's slowest sampled requests;
//! - the onboarding completion SLO: the journey's funnel, step by step;
//! - the plan failure SLO: plans by outcome, with the causes of the failed ones.
//!
//! The HTML report shows the whole evidence under each SLO; JUnit failure
//! messages and the Markdown summary show its one-line form ([`Evidence::line`]).
//! An SLO with no client measurement (memory, CPU, the LLM's own latency) has no
//! client-side evidence: the server's metrics are all there is.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;
use slo::definition::ClientMeasure;
use slo::format::percent;
use slo::verdict::Verdict;

use crate::run_data::RunData;
use crate::summary::{ErrorStats, FlowStats, Percentiles, RunSummary, TracedRequest};

/// Error groups shown under an error-rate SLO.
const GROUPS_SHOWN: usize = 8;
/// Slowest requests shown under a latency SLO.
const SLOWEST_SHOWN: usize = 5;
/// The flow whose requests make the onboarding funnel, when the verdict does not
/// say (a run from before flows declared their measures).
const ONBOARDING_FLOW: &str = "onboarding";
/// The flow of plan jobs, when the verdict does not say.
const PLANS_FLOW: &str = "plans";

/// A trace id of an example request, linked when it was sampled and a Jaeger URL
/// is known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceLink {
    /// The W3C trace id.
    pub trace_id: String,
    /// Whether it was sent sampled (only sampled traces reach Jaeger).
    pub sampled: bool,
    /// Its Jaeger page.
    pub link: Option<String>,
}

/// Failing requests of one request name and status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorGroup {
    /// The request's name.
    pub request: String,
    /// `503`, or `no answer` for a refused, reset or timed-out request.
    pub status: String,
    /// The error kind (`http_5xx`, `timeout`, ...).
    pub kind: String,
    /// How many failed so.
    pub count: u64,
    /// Their share of all the SLO's bad events.
    pub share: f64,
    /// The first failure's message (the body, for an error answer).
    pub example: String,
    /// Example trace ids.
    pub traces: Vec<TraceLink>,
}

/// A band of a latency distribution, relative to the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// "1 s to 2 s".
    pub label: String,
    /// Events in it.
    pub count: u64,
    /// Their share of the scope's events.
    pub share: f64,
    /// Whether the band lies past the threshold.
    pub over: bool,
}

/// A latency SLO's scope against its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyEvidence {
    /// What the events are ("every request's service time").
    pub scope: String,
    /// The threshold, milliseconds.
    pub threshold_ms: f64,
    /// The threshold as people read it ("2 s").
    pub threshold: String,
    /// The share that must be within it.
    pub quantile: f64,
    /// Events in the scope.
    pub total: u64,
    /// Events within the threshold.
    pub within: u64,
    /// Failed or timed-out events counted as late whatever their time.
    pub failed_as_late: u64,
    /// The scope's events in bands around the threshold.
    pub bands: Vec<Band>,
    /// The scope's slowest sampled requests.
    pub slowest: Vec<TracedRequest>,
}

/// One step of a journey.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelStep {
    /// The request's name.
    pub name: String,
    /// Sent.
    pub sent: u64,
    /// Answered as the API documents.
    pub succeeded: u64,
    /// Failed.
    pub failed: u64,
    /// Successes over the first step's successes.
    pub reached: f64,
    /// The services' count of the step: successes, and refusals or errors.
    pub server: Option<(u64, u64)>,
}

/// A journey's funnel: how far its iterations got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Funnel {
    /// The flow.
    pub flow: String,
    /// Its steps in order.
    pub steps: Vec<FunnelStep>,
    /// Iterations that completed.
    pub completed: u64,
    /// Abandoned part-way on purpose (the scenario's abandon share).
    pub abandoned: u64,
    /// Failed part-way.
    pub failed: u64,
    /// Cut short by the run's end.
    pub interrupted: u64,
    /// What the client concluded ("81.2% (pass)").
    pub client: String,
    /// What the server's counters said, when judged from them.
    pub server: Option<String>,
}

/// One cause of failed plans.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    /// The error kind.
    pub kind: String,
    /// Where it was recorded: `plans`, the iteration itself.
    pub request: String,
    /// How many.
    pub count: u64,
    /// The first message.
    pub example: String,
}

/// Plans by outcome and duration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanOutcomes {
    /// Plans started.
    pub started: u64,
    /// Completed.
    pub completed: u64,
    /// Failed or timed out.
    pub failed: u64,
    /// Unfinished when the run stopped.
    pub interrupted: u64,
    /// Completed plans' durations end to end.
    pub completed_ms: Percentiles,
    /// Failed plans' time until they failed.
    pub failed_ms: Option<Percentiles>,
    /// Why plans failed, most frequent first.
    pub causes: Vec<Cause>,
}

/// The evidence of one verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// An error-rate SLO's failing requests.
    Errors {
        /// Grouped by request and status, most frequent first.
        groups: Vec<ErrorGroup>,
        /// Bad events in all.
        bad: u64,
        /// Events in all.
        total: u64,
    },
    /// A latency SLO's distribution around its threshold.
    Latency(LatencyEvidence),
    /// The onboarding funnel.
    Funnel(Funnel),
    /// Plans by outcome.
    Plans(PlanOutcomes),
}

/// Whether a URL is safe as a link: `http` or `https` only. A summary's
/// `jaeger_url` is data read back from a run directory; `javascript:` or `data:`
/// there would run in the reader's browser.
pub fn is_web_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A trace's Jaeger page, when the URL is a web URL.
pub fn trace_link(jaeger: Option<&str>, trace_id: &str) -> Option<String> {
    jaeger
        .filter(|j| is_web_url(j))
        .map(|j| format!("{}/trace/{trace_id}", j.trim_end_matches('/')))
}

/// Each SLO's evidence and when it went bad, in one line, by SLO name: what
/// JUnit failure messages and the Markdown summary show.
pub type Lines = BTreeMap<String, String>;

/// The one-line evidence of every whole-run verdict of `run`.
pub fn lines(run: &RunData) -> Lines {
    let Some(verdicts) = &run.summary.verdicts else {
        return Lines::new();
    };
    let log = run.interval_log.clone().unwrap_or_default();
    let timelines =
        crate::slo_timeline::timelines(&verdicts.whole, &run.summary, &run.timeline, &log);
    verdicts
        .whole
        .iter()
        .filter_map(|v| {
            let evidence = Evidence::of(v, &run.summary, &run.histograms).map(|e| e.line());
            let when = timelines
                .iter()
                .find(|t| t.slo == v.slo)
                .and_then(|t| t.first_breach.as_ref())
                .map(|b| b.text.clone());
            let parts: Vec<String> = evidence.into_iter().chain(when).collect();
            (!parts.is_empty()).then(|| (v.slo.clone(), parts.join("; ")))
        })
        .collect()
}

impl Evidence {
    /// The evidence of `verdict`, from the run's summary and whole-run histograms;
    /// `None` for an SLO the client does not measure.
    pub fn of(
        verdict: &Verdict,
        summary: &RunSummary,
        histograms: &BTreeMap<String, Histogram<u64>>,
    ) -> Option<Evidence> {
        let side = verdict.client_side.as_ref()?;
        match side.measure {
            ClientMeasure::ApiErrors => Some(errors(side, summary)),
            ClientMeasure::ApiLatency | ClientMeasure::PlanDuration => {
                latency(side, summary, histograms).map(Evidence::Latency)
            }
            ClientMeasure::OnboardingCompletion => {
                let flow = side.flow.as_deref().unwrap_or(ONBOARDING_FLOW);
                funnel(verdict, summary, flow).map(Evidence::Funnel)
            }
            ClientMeasure::PlanFailure => {
                plans(summary, side.flow.as_deref().unwrap_or(PLANS_FLOW)).map(Evidence::Plans)
            }
        }
    }

    /// The evidence in one line, for JUnit and the Markdown summary.
    pub fn line(&self) -> String {
        match self {
            Evidence::Errors { groups, bad, total } => errors_line(groups, *bad, *total),
            Evidence::Latency(l) => latency_line(l),
            Evidence::Funnel(f) => funnel_line(f),
            Evidence::Plans(p) => plans_line(p),
        }
    }
}

fn errors(side: &slo::verdict::ClientSide, summary: &RunSummary) -> Evidence {
    let jaeger = summary.target.jaeger_url.as_deref();
    // Every request that was not accepted counts, whatever its kind; a flow's
    // own failures (a plan that failed) are not requests.
    let counted = |name: &str| {
        summary.requests.iter().any(|r| {
            r.name == name && side.counts(name) && side.flow.as_ref().is_none_or(|f| &r.flow == f)
        })
    };
    let faults: Vec<&ErrorStats> = summary
        .errors
        .iter()
        .filter(|e| counted(&e.request))
        .collect();
    let bad: u64 = faults.iter().map(|e| e.count).sum();
    let mut groups: Vec<ErrorGroup> = faults
        .iter()
        .map(|e| ErrorGroup {
            request: e.request.clone(),
            status: e
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no answer".into()),
            kind: e.kind.clone(),
            count: e.count,
            share: e.count as f64 / bad.max(1) as f64,
            example: e.example.clone(),
            traces: e
                .traces
                .iter()
                .map(|t| TraceLink {
                    trace_id: t.trace_id.clone(),
                    sampled: t.sampled,
                    link: t.sampled.then(|| trace_link(jaeger, &t.trace_id)).flatten(),
                })
                .collect(),
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.request.cmp(&b.request)));
    groups.truncate(GROUPS_SHOWN);
    Evidence::Errors {
        groups,
        bad,
        total: summary.total_requests,
    }
}

fn errors_line(groups: &[ErrorGroup], bad: u64, total: u64) -> String {
    if groups.is_empty() {
        return format!("no request failed with a 5xx or without an answer ({total} requests)");
    }
    let top: Vec<String> = groups
        .iter()
        .take(3)
        .map(|g| format!("{} {} x{}", g.request, g.status, g.count))
        .collect();
    format!(
        "{bad} of {total} requests failed with a 5xx or no answer: {}",
        top.join(", ")
    )
}

/// Milliseconds as people read them: "850 ms", "2 s", "1.5 s".
fn duration_text(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", slo::format::trim_float((ms / 10.0).round() / 100.0))
    } else {
        format!("{} ms", slo::format::trim_float(ms.round()))
    }
}

/// Bands around a threshold `t`: up to t/2, to t, to 2t, to 4t, past 4t.
fn bands(h: &Histogram<u64>, threshold_ms: f64) -> Vec<Band> {
    let t = threshold_ms;
    let edges = [0.0, t / 2.0, t, 2.0 * t, 4.0 * t, f64::INFINITY];
    let total = h.len().max(1);
    edges
        .windows(2)
        .map(|w| {
            let count: u64 = h
                .iter_recorded()
                .filter(|v| {
                    let ms = h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
                    (ms > w[0] || w[0] == 0.0) && ms <= w[1]
                })
                .map(|v| v.count_at_value())
                .sum();
            let label = if w[1].is_infinite() {
                format!("over {}", duration_text(w[0]))
            } else if w[0] == 0.0 {
                format!("up to {}", duration_text(w[1]))
            } else {
                format!("{} to {}", duration_text(w[0]), duration_text(w[1]))
            };
            Band {
                label,
                count,
                share: count as f64 / total as f64,
                over: w[0] >= t,
            }
        })
        .collect()
}

/// Adds every histogram whose tag starts with one of `prefixes`.
/// How many of a histogram's times lie past `threshold_ms`.
fn late_in(h: &Histogram<u64>, threshold_ms: f64) -> u64 {
    let micros = (threshold_ms * 1000.0) as u64;
    h.len() - h.count_between(0, micros)
}

fn latency(
    side: &slo::verdict::ClientSide,
    summary: &RunSummary,
    histograms: &BTreeMap<String, Histogram<u64>>,
) -> Option<LatencyEvidence> {
    let threshold_ms = side.threshold_seconds? * 1000.0;
    let (scope, h, failed, flow) = if side.measure == ClientMeasure::PlanDuration {
        let flow = side.flow.as_deref().unwrap_or(PLANS_FLOW);
        let late = |tag: String| histograms.get(&tag).map_or(0, |h| late_in(h, threshold_ms));
        let failed = late(format!("failed.flow.{flow}")) + late(format!("open.flow.{flow}"));
        let completed = histograms
            .get(&format!("flow.{flow}"))
            .cloned()
            .unwrap_or_else(crate::hdr::new_histogram);
        (
            "completed jobs end to end (failed and unfinished ones past the threshold late)",
            completed,
            failed,
            Some(flow),
        )
    } else {
        let counted =
            |name: &str| side.counts(name) && request_in(summary, name, side.flow.as_deref());
        let (mut ok, mut bad) = (crate::hdr::new_histogram(), 0);
        for (tag, h) in histograms {
            if tag.strip_prefix("svc.req.").is_some_and(counted) {
                let _ = ok.add(h);
            } else if tag.strip_prefix("failed.svc.req.").is_some_and(counted) {
                bad += late_in(h, threshold_ms);
            }
        }
        (
            "accepted requests' service time (failed ones past the threshold late, faster ones not counted)",
            ok,
            bad,
            None,
        )
    };
    let micros = (threshold_ms * 1000.0) as u64;
    let within = h
        .iter_recorded()
        .filter(|v| h.highest_equivalent(v.value_iterated_to()) <= micros)
        .map(|v| v.count_at_value())
        .sum();
    let mut slowest: Vec<TracedRequest> = summary
        .slowest
        .iter()
        .filter(|t| flow.is_none_or(|f| t.flow == f) && (flow.is_some() || side.counts(&t.request)))
        .cloned()
        .collect();
    slowest.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
    slowest.truncate(SLOWEST_SHOWN);
    Some(LatencyEvidence {
        scope: scope.to_string(),
        threshold_ms,
        threshold: duration_text(threshold_ms),
        quantile: side.goal,
        total: h.len() + failed,
        within,
        failed_as_late: failed,
        bands: bands(&h, threshold_ms),
        slowest,
    })
}

fn latency_line(l: &LatencyEvidence) -> String {
    let late = l.total - l.within;
    let mut text = format!(
        "{} of {} ({}) within {}, {} needed; {late} late",
        l.within,
        l.total,
        percent(l.within as f64 / l.total.max(1) as f64),
        duration_text(l.threshold_ms),
        percent(l.quantile),
    );
    if l.failed_as_late > 0 {
        text.push_str(&format!(
            " ({} of them failed or unfinished)",
            l.failed_as_late
        ));
    }
    if let Some(s) = l.slowest.first() {
        text.push_str(&format!(
            "; slowest {} {}",
            s.request,
            duration_text(s.latency_ms)
        ));
    }
    text
}

fn flow<'a>(summary: &'a RunSummary, name: &str) -> Option<&'a FlowStats> {
    summary.flows.iter().find(|f| f.name == name)
}

/// Whether the request named `name` is one of the run's (of `flow`, when given).
fn request_in(summary: &RunSummary, name: &str, flow: Option<&str>) -> bool {
    summary
        .requests
        .iter()
        .any(|r| r.name == name && flow.is_none_or(|f| r.flow == f))
}

fn funnel(verdict: &Verdict, summary: &RunSummary, flow_name: &str) -> Option<Funnel> {
    let stats = flow(summary, flow_name)?;
    let steps: Vec<_> = summary
        .requests
        .iter()
        .filter(|r| r.flow == flow_name)
        .collect();
    let first = steps
        .iter()
        .find(|r| r.name != "auth_token")
        .map(|r| r.count - r.errors)
        .unwrap_or(0)
        .max(1);
    let server = (verdict.source != slo::verdict::Source::Client).then(|| {
        format!(
            "{} over {} journeys started ({})",
            verdict.display, verdict.samples, verdict.source
        )
    });
    Some(Funnel {
        flow: flow_name.to_string(),
        steps: steps
            .iter()
            .map(|r| FunnelStep {
                name: r.name.clone(),
                sent: r.count,
                succeeded: r.count - r.errors,
                failed: r.errors,
                reached: (r.count - r.errors) as f64 / first as f64,
                server: verdicts_funnel(summary)
                    .iter()
                    .find(|s| s.step == r.name)
                    .map(|s| {
                        (
                            s.success.round() as u64,
                            (s.invalid + s.error).round() as u64,
                        )
                    }),
            })
            .collect(),
        completed: stats.iterations - stats.failed,
        abandoned: stats.abandoned,
        failed: stats.failed,
        interrupted: stats.interrupted,
        client: verdict
            .client
            .as_ref()
            .map(|c| format!("{} ({})", c.display, c.status))
            .unwrap_or_else(|| verdict.display.clone()),
        server,
    })
}

/// The services' funnel, when the run was judged from their counters.
fn verdicts_funnel(summary: &RunSummary) -> &[slo::verdict::ServerStep] {
    summary
        .verdicts
        .as_ref()
        .map(|v| v.server_funnel.as_slice())
        .unwrap_or_default()
}

fn funnel_line(f: &Funnel) -> String {
    let steps: Vec<String> = f
        .steps
        .iter()
        .map(|s| format!("{} {}", s.name, s.succeeded))
        .collect();
    format!(
        "{}; completed {}, abandoned {}, failed {}, interrupted {}",
        steps.join(" > "),
        f.completed,
        f.abandoned,
        f.failed,
        f.interrupted
    )
}

fn plans(summary: &RunSummary, flow_name: &str) -> Option<PlanOutcomes> {
    let stats = flow(summary, flow_name)?;
    // What ended a plan's iteration is recorded on the flow itself; a step's
    // error that the flow retried (a status poll answered 503) failed no plan.
    let mut causes: Vec<Cause> = summary
        .errors
        .iter()
        .filter(|e| e.request == flow_name && e.kind != "interrupted")
        .map(|e| Cause {
            kind: e.kind.clone(),
            request: e.request.clone(),
            count: e.count,
            example: e.example.clone(),
        })
        .collect();
    causes.sort_by_key(|c| std::cmp::Reverse(c.count));
    Some(PlanOutcomes {
        started: stats.iterations + stats.interrupted,
        completed: stats.iterations - stats.failed,
        failed: stats.failed,
        interrupted: stats.interrupted,
        completed_ms: stats.latency_ms,
        failed_ms: stats.failed_ms,
        causes,
    })
}

fn plans_line(p: &PlanOutcomes) -> String {
    let mut text = format!(
        "{} plans started: {} completed (p95 {}), {} failed, {} unfinished",
        p.started,
        p.completed,
        duration_text(p.completed_ms.p95),
        p.failed,
        p.interrupted
    );
    if let Some(c) = p.causes.first() {
        text.push_str(&format!(
            "; most failures: {} on {} x{}",
            c.kind, c.request, c.count
        ));
    }
    text
}
