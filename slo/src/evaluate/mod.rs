//! Judging an SLO set over a window, from any source that can answer three questions
//! (a [`Reader`]): how much did these counters increase, how did this histogram's
//! buckets increase, and what did this gauge do per service.
//!
//! The rules that make a verdict trustworthy live here, once, for every source:
//! - missing series, too few events or an unreachable source: inconclusive, never pass;
//! - latency is judged as "share of events at or under the threshold >= quantile",
//!   read from the bucket whose `le` is the threshold (exact); without such a bucket
//!   the share is interpolated and the verdict says estimated; a quantile estimate is
//!   shown beside it, never used for the verdict;
//! - the error budget consumed is the bad share over the allowed bad share.
//!
//! The parts: [`ratio`], [`latency`] and [`gauge`] judge one kind each; [`client`]
//! adds the client's view and judges from the client alone.

pub mod client;
pub mod gauge;
pub mod latency;
pub mod ratio;

use std::collections::BTreeMap;

use crate::client::ClientData;
use crate::definition::{Aggregation, Kind, Slo, SloSet};
use crate::error::Error;
use crate::selector::Selector;
use crate::verdict::{Source, Status, Verdict, Window, WindowKind};

pub use latency::{merge_buckets, quantile_bucket, share_within};

/// A gauge's value for one service over the window, with the scrapes behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaugeValue {
    /// The aggregated value of the service's worst instance.
    pub value: f64,
    /// Samples behind it.
    pub samples: u64,
}

/// Cumulative bucket counts of a histogram by upper bound, `+Inf` last.
pub type Buckets = Vec<(f64, f64)>;

/// A source of measurements over a window. `Ok(None)` means the series does not
/// exist in the source; `Err` means the source could not answer.
pub trait Reader {
    /// Which source this is.
    fn source(&self) -> Source;

    /// Sum over the selectors' series of their increase within the window.
    fn increase(
        &self,
        selector: &Selector,
        window: Window,
    ) -> impl Future<Output = Result<Option<f64>, Error>> + Send;

    /// Increase of each bucket of a histogram (by `le`, `+Inf` last) within the window.
    fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> impl Future<Output = Result<Option<Buckets>, Error>> + Send;

    /// A gauge aggregated over the window, per service (Prometheus job).
    fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        services: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, GaugeValue>, Error>> + Send;

    /// Something the source wants every verdict to mention (window edges, ...).
    fn note(&self, _window: Window) -> Option<String> {
        None
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
        note: (!note.is_empty()).then_some(note),
        details: Vec::new(),
        client: None,
        query: None,
    }
}

/// "only N events in the window; at least M are needed".
pub(crate) fn too_few(samples: u64, needed: u64) -> String {
    format!("only {samples} events in the window; at least {needed} are needed")
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
    };
    let mut verdict = judged.unwrap_or_else(|e| {
        inconclusive(
            slo,
            window_kind,
            source,
            format!("{source} could not answer: {e}"),
        )
    });
    verdict.query = reader.query_text(slo, window);
    if let Some(note) = reader.note(window) {
        add_note(&mut verdict, &note);
    }
    if let (Some(client), Some(measure)) = (client, slo.client) {
        verdict.client = client::view(set, slo, measure, client, &verdict);
    }
    verdict
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

/// The windows of a run: the whole run, and the steady window when distinct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// From the start of the load to its end.
    pub whole: Window,
    /// Ramps excluded, when the run has ramps.
    pub steady: Option<Window>,
}

/// Judges every SLO over the whole window (with the client's view beside each)
/// and over the steady window, concurrently.
pub async fn judge_windows<R: Reader + Sync>(
    set: &SloSet,
    reader: &R,
    windows: Windows,
    client: Option<&ClientData>,
) -> (Vec<Verdict>, Option<Vec<Verdict>>) {
    let whole = judge_all(set, reader, windows.whole, WindowKind::Whole, client);
    let steady = async {
        match windows.steady {
            Some(s) => Some(judge_all(set, reader, s, WindowKind::Steady, None).await),
            None => None,
        }
    };
    futures::join!(whole, steady)
}
