//! Judging an SLO set over a window, from any source that can answer three questions
//! (a [`Reader`]): how much did these counters increase, how did this histogram's
//! buckets increase, and what did this gauge do per service.
//!
//! The rules that make a verdict trustworthy live here, once, for every source:
//! - missing series, too few events or an unreachable source: inconclusive, never pass;
//! - counted shares (ratios, latency shares) are decided on confidence bounds
//!   ([`crate::stats`]): PASS only when the pessimistic bound meets the objective,
//!   FAIL only when the optimistic bound misses it, else inconclusive with about how
//!   many events would settle it;
//! - counters are read as reset-corrected deltas between the scrapes next to the
//!   window's edges (no extrapolation); a ratio above 1 is inconclusive;
//! - latency is judged as "share of events at or under the threshold >= quantile",
//!   read from the bucket whose `le` is the threshold (exact); without one, the
//!   buckets on both sides bound the share and only a bound that decides does;
//! - a gauge needs nearly every scrape of the window (coverage);
//! - the burn rate is the bad share over the allowed bad share.
//!
//! - a query SLO (PromQL events) is judged through Prometheus only, and says so.
//!
//! The parts: [`ratio`], [`latency`], [`gauge`] and [`query`] judge one kind each; [`client`]
//! adds the client's view and judges from the client alone; [`reconcile`] settles
//! two sources that disagree.

pub mod client;
pub mod gauge;
pub mod latency;
pub mod query;
pub mod ratio;
pub mod reconcile;

use std::collections::BTreeMap;

use crate::client::ClientData;
use crate::definition::{Aggregation, Kind, Op, Slo, SloSet};
use crate::error::Error;
use crate::selector::Selector;
use crate::stats::{self, Side};
use crate::verdict::{Source, Status, Verdict, Window, WindowKind};

pub use latency::{merge_buckets, quantile_bucket, share_within};

/// A gauge's value for one service over the window, with the scrapes behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaugeValue {
    /// The aggregated value of the service's worst instance.
    pub value: f64,
    /// Samples behind it.
    pub samples: u64,
    /// Samples the window should hold at the scrape interval.
    pub expected: u64,
}

/// Cumulative bucket counts of a histogram by upper bound, `+Inf` last.
pub type Buckets = Vec<(f64, f64)>;

/// Where a window was read, and what was corrected on the way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edges {
    /// The scrapes next to the window's start and end (unix ms), when known.
    pub read: Option<Window>,
    /// Counter resets met and corrected for.
    pub resets: u64,
}

impl Edges {
    /// The edges of two readings together: the widest window, every reset.
    pub fn join(self, other: Edges) -> Edges {
        let read = match (self.read, other.read) {
            (Some(a), Some(b)) => Some(Window {
                start_ms: a.start_ms.min(b.start_ms),
                end_ms: a.end_ms.max(b.end_ms),
            }),
            (a, b) => a.or(b),
        };
        Edges {
            read,
            resets: self.resets + other.resets,
        }
    }
}

/// A counter's increase over a window: reset-corrected deltas between the
/// samples next to its edges, summed over the selector's series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Increase {
    /// Events counted, from the scrape at or before the start to the one at or
    /// after the end: every event of the window, and perhaps some next to it.
    pub value: f64,
    /// Where it was read.
    pub edges: Edges,
    /// When what lies between a scrape and the window's edge is unknown (other
    /// traffic next to the window): the events between the first and the last
    /// scrapes inside it, certainly the window's. The window's true count lies
    /// between the two.
    pub inner: Option<f64>,
}

/// A histogram's increase over a window, one bucket list per series (the labels
/// other than `le`), so series with different bucket layouts stay apart.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramIncrease {
    /// Each series' cumulative bucket increases, `+Inf` last.
    pub series: Vec<Buckets>,
    /// Where it was read.
    pub edges: Edges,
    /// The same between the first and the last scrapes inside the window, when
    /// the edges are uncertain (see [`Increase::inner`]).
    pub inner: Option<Vec<Buckets>>,
}

/// A source of measurements over a window. `Ok(None)` means the series does not
/// exist in the source; `Err` means the source could not answer.
pub trait Reader {
    /// Which source this is.
    fn source(&self) -> Source;

    /// Sum over the selector's series of their increase within the window.
    fn increase(
        &self,
        selector: &Selector,
        window: Window,
    ) -> impl Future<Output = Result<Option<Increase>, Error>> + Send;

    /// Increase of each bucket of each series of a histogram within the window.
    fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> impl Future<Output = Result<Option<HistogramIncrease>, Error>> + Send;

    /// A gauge aggregated over the window, per service (Prometheus job); a `rate`
    /// is the worst over the window's stretches of `span` (see
    /// [`gauge::rate_span`]).
    fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        span: std::time::Duration,
        services: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, GaugeValue>, Error>> + Send;

    /// How often the source's samples come (its scrape interval).
    fn interval(&self) -> std::time::Duration;

    /// The services (jobs) whose process restarted inside the window: down for
    /// a moment, even when no scrape fell in that moment.
    fn restarted(
        &self,
        _window: Window,
    ) -> impl Future<Output = Result<std::collections::BTreeSet<String>, Error>> + Send {
        std::future::ready(Ok(std::collections::BTreeSet::new()))
    }

    /// The window as its counters are read: its end moved to where the source
    /// knows its last events (Prometheus: the first scrape after it). Gauges
    /// keep to the window itself.
    fn counted(&self, window: Window) -> Window {
        window
    }

    /// Something the source wants every verdict to mention (window edges, ...).
    fn note(&self, _window: Window) -> Option<String> {
        None
    }

    /// The value of a PromQL expression summed over its series (`None`: no series),
    /// every selector in it kept to the source's scope, for sources that speak
    /// PromQL; the others answer `None`.
    fn promql(&self, _query: &str) -> impl Future<Output = Result<Option<f64>, Error>> + Send {
        std::future::ready(Ok(None))
    }

    /// The PromQL this source would evaluate for the SLO, when it speaks PromQL.
    fn query_text(&self, _slo: &Slo, _window: Window) -> Option<String> {
        None
    }
}

/// An inconclusive verdict with its reason: the start of every verdict.
pub fn inconclusive(slo: &Slo, window_kind: WindowKind, source: Source, note: String) -> Verdict {
    Verdict {
        slo: slo.name.clone(),
        description: slo.description.clone(),
        area: slo.area.clone(),
        kind: slo.kind_name(),
        window: window_kind,
        status: Status::Inconclusive,
        value: None,
        display: "no data".to_string(),
        objective: slo.objective_text(),
        source,
        samples: 0,
        exact: true,
        budget_consumed: None,
        burn_rate: None,
        bounds: None,
        confidence: None,
        events_needed: None,
        edges: None,
        resets: 0,
        note: (!note.is_empty()).then_some(note),
        details: Vec::new(),
        client: None,
        query: None,
        client_side: crate::verdict::ClientSide::of(slo),
    }
}

/// "only N events in the window; at least M are needed".
pub(crate) fn too_few(samples: u64, needed: u64) -> String {
    format!("only {samples} events in the window; at least {needed} are needed")
}

/// What counted evidence proves about a share of events against an objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Pass, fail, or not proven either way.
    pub status: Status,
    /// The share's interval at the confidence.
    pub bounds: Option<(f64, f64)>,
    /// About how many events in all would settle it.
    pub needed: Option<u64>,
}

/// The side an objective's operator asks a share to be on.
pub(crate) fn side(op: Op) -> Option<Side> {
    match op {
        Op::Ge | Op::Gt => Some(Side::AtLeast),
        Op::Le | Op::Lt => Some(Side::Below),
        Op::Eq => None,
    }
}

/// Decides a share of `k` in `n` on its bounds; `low_k` and `high_k` bound the
/// count when it is only known between two buckets (equal to `k` otherwise).
pub fn decide_share(
    (low_k, high_k): (u64, u64),
    n: u64,
    confidence: f64,
    op: Op,
    threshold: f64,
) -> Decision {
    decide_between((low_k, n), (high_k, n), confidence, op, threshold)
}

/// Decides a share known only between two counts, each `(k, n)`: the lowest
/// share the evidence allows and the highest. PASS needs the one worst for the
/// objective to pass, FAIL the best one to fail.
pub fn decide_between(
    lowest: (u64, u64),
    highest: (u64, u64),
    confidence: f64,
    op: Op,
    threshold: f64,
) -> Decision {
    let share = |(k, n): (u64, u64)| k as f64 / n.max(1) as f64;
    let Some(side) = side(op) else {
        // `==`: no interval can prove a point; only an exact count can.
        let exact = lowest == highest && op.holds(share(lowest), threshold);
        return Decision {
            status: if exact { Status::Pass } else { Status::Fail },
            bounds: None,
            needed: None,
        };
    };
    // The share that is worst for the objective decides PASS; the best, FAIL.
    let (worst, best) = match side {
        Side::AtLeast => (lowest, highest),
        Side::Below => (highest, lowest),
    };
    let pass = stats::decide(worst.0, worst.1, confidence, side, threshold) == Some(true);
    let fail = stats::decide(best.0, best.1, confidence, side, threshold) == Some(false);
    let bounds = stats::bounds(lowest.0, lowest.1, confidence)
        .zip(stats::bounds(highest.0, highest.1, confidence))
        .map(|(lo, hi)| (lo.0, hi.1));
    Decision {
        status: if pass {
            Status::Pass
        } else if fail {
            Status::Fail
        } else {
            Status::Inconclusive
        },
        bounds,
        needed: (!pass && !fail)
            .then(|| stats::events_needed(worst.0, worst.1, confidence, side, threshold))
            .flatten(),
    }
}

/// The lowest and highest shares `(k, n)` the window's events allow when the
/// counts inside its inner scrapes are `k_in` of `n_in`, and its outer scrapes
/// add `dk` of `dn` events that may or may not be the window's (`k` counts a
/// subset of `n`'s events: errors of requests, requests within a threshold).
/// The lowest takes every other event in and none of the counted ones; the
/// highest the counted ones only.
pub fn share_range(
    (k_in, k_out): (u64, u64),
    (n_in, n_out): (u64, u64),
) -> ((u64, u64), (u64, u64)) {
    let dk = k_out.saturating_sub(k_in);
    let dn = n_out.saturating_sub(n_in).max(dk);
    let lowest = (k_in, (n_in + dn - dk).max(1));
    let highest = ((k_in + dk).min(n_in + dk), (n_in + dk).max(1));
    (lowest, highest)
}

/// What a verdict says when its window's edges held events that may not be
/// its own.
pub(crate) fn edges_note(lowest: (u64, u64), highest: (u64, u64)) -> String {
    let share = |(k, n): (u64, u64)| crate::format::percent(k as f64 / n.max(1) as f64);
    format!(
        "the scrapes next to the window's edges hold events that may not be the window's: the share lies between {} ({}/{}) and {} ({}/{}), and only a bound that decides for both does (scrape faster, or give verify --edges-quiet when nothing else ran next to the window)",
        share(lowest),
        lowest.0,
        lowest.1,
        share(highest),
        highest.0,
        highest.1
    )
}

/// Sets a verdict's status and bounds from a decision, and says why when it is
/// inconclusive.
pub(crate) fn apply(v: &mut Verdict, d: Decision, confidence: f64) {
    v.status = d.status;
    v.bounds = d.bounds;
    v.confidence = d.bounds.map(|_| confidence);
    v.events_needed = d.needed;
    if d.status == Status::Inconclusive {
        let interval = d
            .bounds
            .map(|(lo, hi)| {
                format!(
                    "the {}% bounds {}-{} straddle the objective",
                    crate::format::trim_float(confidence * 100.0),
                    crate::format::percent(lo),
                    crate::format::percent(hi)
                )
            })
            .unwrap_or_else(|| "not proven either way".to_string());
        let more = match d.needed {
            Some(n) if n > v.samples => {
                format!("; about {} more events needed", n - v.samples)
            }
            _ => String::new(),
        };
        add_note(v, &format!("{interval}{more}"));
    }
}

/// Appends a note to a verdict's note.
pub fn add_note(verdict: &mut Verdict, note: &str) {
    verdict.note = Some(match verdict.note.take() {
        Some(n) => format!("{n}; {note}"),
        None => note.to_string(),
    });
}

/// Judges one SLO over one window.
pub async fn judge_slo<R: Reader>(
    set: &SloSet,
    slo: &Slo,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
    client: Option<&ClientData>,
) -> Verdict {
    let source = reader.source();
    let judged = match &slo.kind {
        Kind::Ratio(r) => ratio::judge(slo, r, reader, window, window_kind).await,
        Kind::Latency(l) => latency::judge(slo, l, reader, window, window_kind).await,
        Kind::Gauge(g) => gauge::judge(set, slo, g, reader, window, window_kind).await,
        Kind::Query(q) => query::judge(slo, q, reader, window, window_kind).await,
    };
    let mut verdict = judged.unwrap_or_else(|e| {
        let note = match e {
            // What the source holds cannot settle the window: its own reason.
            Error::NoData(why) => why,
            e => format!("{source} could not answer: {e}"),
        };
        inconclusive(slo, window_kind, source, note)
    });
    verdict.query = reader.query_text(slo, window);
    if let Some(note) = reader.note(window) {
        add_note(&mut verdict, &note);
    }
    if let (Some(client), Some(measure)) = (client, slo.client) {
        verdict.client = client::view(set, slo, measure, client, &mut verdict);
    }
    restarted(slo, &mut verdict);
    verdict
}

/// A service whose counters restarted inside the window (a reset) lost what it
/// refused or dropped while it was down: its count of bad events is only a lower
/// bound. An event SLO read across a reset passes only when the client's view of
/// the same window, which saw every request, passes too.
fn restarted(slo: &Slo, v: &mut Verdict) {
    let event_slo = matches!(slo.kind, Kind::Ratio(_) | Kind::Latency(_));
    let client_passes = v.client.as_ref().is_some_and(|c| c.status == Status::Pass);
    if v.status != Status::Pass || v.resets == 0 || !event_slo || client_passes {
        return;
    }
    v.status = Status::Inconclusive;
    add_note(
        v,
        &format!(
            "the services' counters restarted in the window ({} resets): requests they refused or lost while down were never counted, and no client view of this window passes (judge the run with loadgen run or merge, whose client saw every request, or a window without the restart)",
            v.resets
        ),
    );
}

/// Judges every SLO of the set over one window, concurrently.
pub async fn judge_all<R: Reader + Sync>(
    set: &SloSet,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
    client: Option<&ClientData>,
) -> Vec<Verdict> {
    futures::future::join_all(
        set.slos
            .iter()
            .map(|slo| judge_slo(set, slo, reader, window, window_kind, client)),
    )
    .await
}

/// The client's measurements of each window judged, when the client measured it:
/// every window gets the client's view beside the server's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clients<'a> {
    /// Over the whole run.
    pub whole: Option<&'a ClientData>,
    /// Over the steady window.
    pub steady: Option<&'a ClientData>,
}

/// Every SLO inconclusive for one reason (the source cannot be trusted over the
/// window), with the client's view still beside each: a breach the client proves
/// still fails.
pub fn judge_undecided(
    set: &SloSet,
    windows: Windows,
    source: Source,
    note: &str,
    clients: Clients,
) -> (Vec<Verdict>, Option<Vec<Verdict>>) {
    let verdicts = |kind: WindowKind, client: Option<&ClientData>| -> Vec<Verdict> {
        set.slos
            .iter()
            .map(|slo| {
                let mut v = inconclusive(slo, kind, source, note.to_string());
                if let (Some(c), Some(m)) = (client, slo.client) {
                    v.client = client::view(set, slo, m, c, &mut v);
                }
                v
            })
            .collect()
    };
    (
        verdicts(WindowKind::Whole, clients.whole),
        windows
            .steady
            .map(|_| verdicts(WindowKind::Steady, clients.steady)),
    )
}

/// The windows of a run: the whole run, and the steady window when distinct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// From the start of the load to its end.
    pub whole: Window,
    /// Ramps excluded, when the run has ramps.
    pub steady: Option<Window>,
}

/// Judges every SLO over the whole window and over the steady window,
/// concurrently, each with the client's view of that window beside it.
pub async fn judge_windows<R: Reader + Sync>(
    set: &SloSet,
    reader: &R,
    windows: Windows,
    clients: Clients<'_>,
) -> (Vec<Verdict>, Option<Vec<Verdict>>) {
    let whole = judge_all(set, reader, windows.whole, WindowKind::Whole, clients.whole);
    let steady = async {
        match windows.steady {
            Some(s) => Some(judge_all(set, reader, s, WindowKind::Steady, clients.steady).await),
            None => None,
        }
    };
    futures::join!(whole, steady)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::ClientView;

    fn ratio_slo() -> Slo {
        crate::definition::parse(
            std::path::Path::new("s.toml"),
            "name = \"t\"\n[[slo]]\nname = \"e\"\nkind = \"ratio\"\nbad = [\"e_total\"]\ntotal = [\"r_total\"]\nobjective = \"< 0.01\"\n",
        )
        .unwrap()
        .slos[0]
            .clone()
    }

    #[test]
    fn edge_events_widen_a_share_only_as_far_as_they_can() {
        // Inside: 30 errors of 1,500. Beside the edges: 200,000 more requests, none
        // failed. At most the window is the 1,500 alone (2%), at least all of them.
        let (lowest, highest) = share_range((30, 30), (1_500, 201_500));
        assert_eq!((lowest, highest), ((30, 201_500), (30, 1_500)));
        let d = decide_between(lowest, highest, 0.95, crate::definition::Op::Lt, 0.01);
        assert_eq!(
            d.status,
            Status::Inconclusive,
            "the window's own 2% keeps it from passing"
        );
        // 5 of 100 more beside the edges were errors: they may all be the window's.
        let (lowest, highest) = share_range((30, 35), (1_500, 1_600));
        assert_eq!((lowest, highest), ((30, 1_595), (35, 1_505)));
    }

    #[test]
    fn a_pass_across_a_restart_needs_the_client_s_view() {
        let slo = ratio_slo();
        let mut v = inconclusive(&slo, WindowKind::Whole, Source::Prometheus, String::new());
        v.status = Status::Pass;
        v.resets = 1;
        restarted(&slo, &mut v);
        assert_eq!(v.status, Status::Inconclusive, "{v:?}");
        assert!(v.note.unwrap().contains("restarted"));
        let mut v = inconclusive(&slo, WindowKind::Whole, Source::Prometheus, String::new());
        (v.status, v.resets) = (Status::Pass, 1);
        v.client = Some(ClientView {
            status: Status::Pass,
            value: Some(0.001),
            display: String::new(),
            samples: 1000,
            disagreement: None,
        });
        restarted(&slo, &mut v);
        assert_eq!(v.status, Status::Pass, "the client saw every request");
    }
}
