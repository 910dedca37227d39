//! Counters read exactly over a window: each series' reset-corrected increase
//! between its samples at the window's edges, with no extrapolation.
//!
//! - The start edge is the series' last sample at or before the start (`@ start`).
//!   A series absent there but seen in the lookback before it (stale after a
//!   failed scrape) takes that last sample. A series never seen in the lookback is
//!   counted from zero only when its target was scraped successfully in that
//!   lookback without it, which proves it began inside the window; otherwise its
//!   count before the window is unknown and the reading is refused, with the
//!   reason (a lifetime of events judged as the run's is a false pass).
//! - The end edge is the caller's (the first scrape after the window's end, see
//!   [`super::window`]).
//! - A series with a reset in the window, or gone by its end, is walked sample by
//!   sample as Prometheus' `resets()` sees them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Labels, Prometheus, Rows, by_labels, identity};
use crate::error::Error;
use crate::evaluate::Edges;
use crate::promql::{self, Scope};
use crate::verdict::Window;

/// Prometheus' lookback: how far before an instant a sample still counts
/// (`--query.lookback-delta`, 5 minutes by default).
pub const LOOKBACK: Duration = Duration::from_secs(300);

/// Each series' increase over a window, and where it was read.
pub type Increases = (Vec<(Labels, f64)>, Edges);

/// The increase of one series' samples from its first to its last (restarts
/// counted from zero): what it certainly counted inside the span they cover.
fn inner_increase(samples: &[(u64, f64)]) -> f64 {
    samples
        .windows(2)
        .map(|w| {
            if w[1].1 >= w[0].1 {
                w[1].1 - w[0].1
            } else {
                w[1].1
            }
        })
        .sum()
}

/// The reset-corrected increase of one series' samples after `from_ms` up to
/// `to_ms`, from the last sample at or before `from_ms` (or from 0 when the series
/// began inside the window).
pub(super) fn walk(samples: &[(u64, f64)], from_ms: u64, to_ms: u64) -> (f64, u64) {
    let mut last = samples
        .iter()
        .rev()
        .find(|(t, _)| *t <= from_ms)
        .map(|s| s.1);
    let (mut total, mut resets) = (0.0, 0);
    for &(_, v) in samples.iter().filter(|(t, _)| *t > from_ms && *t <= to_ms) {
        match last {
            Some(prev) if v >= prev => total += v - prev,
            Some(_) => {
                resets += 1;
                total += v;
            }
            None => total += v,
        }
        last = Some(v);
    }
    (total, resets)
}

/// The target of a series: its `job` and `instance` labels.
fn target_of(labels: &Labels) -> (Option<&String>, Option<&String>) {
    (labels.get("job"), labels.get("instance"))
}

/// The samples at a window's start edge, and what is known before it.
struct StartEdge {
    /// Each series' value at `@ start` (its last sample within the lookback,
    /// unless a staleness marker came after it).
    at: BTreeMap<Labels, f64>,
    /// Each series' last sample in the lookback before the start, stale or not.
    last_seen: BTreeMap<Labels, f64>,
    /// Targets scraped successfully in the lookback before the start.
    scraped: BTreeSet<(Option<String>, Option<String>)>,
    /// The earliest of the samples read at the start (unix ms).
    read_ms: Option<u64>,
}

impl StartEdge {
    /// The value a series starts the window from, `None` when unknown.
    fn value(&self, labels: &Labels) -> Option<f64> {
        if let Some(v) = self.at.get(labels).or_else(|| self.last_seen.get(labels)) {
            return Some(*v);
        }
        let (job, instance) = target_of(labels);
        self.scraped
            .contains(&(job.cloned(), instance.cloned()))
            .then_some(0.0)
    }
}

/// Why a series' start cannot be known: said in the verdict.
fn unknown_start(scoped: &str, labels: &Labels, window: Window) -> Error {
    let name = scoped.split('{').next().unwrap_or(scoped).trim();
    let series: Vec<String> = identity(labels.clone())
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    Error::NoData(format!(
        "{name}{{{}}} has no sample in the {} s before the window's start (unix ms {}) and its target was not scraped then: whether it began inside the window or had counted events before it is unknown (a window starting after the target's first successful scrape settles it)",
        series.join(","),
        LOOKBACK.as_secs(),
        window.start_ms
    ))
}

impl Prometheus {
    /// What is known of `scoped`'s series at the window's start edge.
    async fn start_edge(
        &self,
        scoped: &str,
        scope: &Scope,
        start_ms: u64,
    ) -> Result<StartEdge, Error> {
        let at = promql::at(start_ms);
        let lookback = format!("[{}ms] {at}", LOOKBACK.as_millis());
        let q = [
            format!("{scoped} {at}"),
            format!("timestamp({scoped} {at})"),
            format!("last_over_time({scoped}{lookback})"),
            format!("max_over_time({}{lookback}) == 1", promql::up(scope)),
        ];
        let (values, times, last, up) = futures::join!(
            self.query(&q[0]),
            self.query(&q[1]),
            self.query(&q[2]),
            self.query(&q[3]),
        );
        let scraped = up?
            .iter()
            .map(|(l, _)| {
                let (job, instance) = target_of(l);
                (job.cloned(), instance.cloned())
            })
            .collect();
        Ok(StartEdge {
            at: by_labels(values?),
            last_seen: by_labels(last?),
            scraped,
            read_ms: times?.iter().map(|r| (r.1 * 1000.0).round() as u64).min(),
        })
    }

    /// Each series' increase between its first and last samples inside `window`
    /// (its start excluded, its end included): the events certainly inside it,
    /// when what lies between a scrape and the window's edge is unknown.
    pub(super) async fn inner_increases(
        &self,
        scoped: &str,
        window: Window,
    ) -> Result<Vec<(Labels, f64)>, Error> {
        let length = window.end_ms.saturating_sub(window.start_ms).max(1);
        let query = format!("{scoped}[{length}ms] {}", promql::at(window.end_ms));
        Ok(self
            .query_range_vector(&query)
            .await?
            .into_iter()
            .map(|(l, samples)| (identity(l), inner_increase(&samples)))
            .collect())
    }

    /// Each series' reset-corrected increase over `window` (its end at a scrape
    /// already pinned); `None` when no series matches at either edge.
    pub(super) async fn increases(
        &self,
        scoped: &str,
        scope: &Scope,
        window: Window,
    ) -> Result<Option<Increases>, Error> {
        let end = promql::at(window.end_ms);
        let span = window.end_ms.saturating_sub(window.start_ms) + LOOKBACK.as_millis() as u64;
        let q = [
            format!("{scoped} {end}"),
            format!("timestamp({scoped} {end})"),
            format!("resets({scoped}[{span}ms] {end})"),
        ];
        let (start, at_end, end_t, resets) = futures::join!(
            self.start_edge(scoped, scope, window.start_ms),
            self.query(&q[0]),
            self.query(&q[1]),
            self.query(&q[2]),
        );
        let (start, at_end) = (start?, by_labels(at_end?));
        if at_end.is_empty() && start.at.is_empty() {
            return Ok(None);
        }
        let resets = by_labels(resets?);
        let mut out = Vec::new();
        let mut walked = Vec::new();
        for (labels, end_v) in &at_end {
            let reset = resets.get(labels).copied().unwrap_or(0.0) > 0.0;
            match start.value(labels) {
                Some(s) if !reset && *end_v >= s => out.push((labels.clone(), end_v - s)),
                None if !reset => return Err(unknown_start(scoped, labels, window)),
                _ => walked.push(labels.clone()),
            }
        }
        walked.extend(
            start
                .at
                .keys()
                .filter(|l| !at_end.contains_key(*l))
                .cloned(),
        );
        let mut edges = Edges {
            read: read_edges(start.read_ms, &end_t?),
            resets: 0,
        };
        if !walked.is_empty() {
            let series = self
                .query_range_vector(&format!("{scoped}[{span}ms] {end}"))
                .await?;
            for (labels, samples) in series
                .into_iter()
                .map(|(l, s)| (identity(l), s))
                .filter(|(l, _)| walked.contains(l))
            {
                if samples.iter().all(|(t, _)| *t > window.start_ms)
                    && start.value(&labels).is_none()
                {
                    return Err(unknown_start(scoped, &labels, window));
                }
                let (increase, resets) = walk(&samples, window.start_ms, window.end_ms);
                edges.resets += resets;
                out.push((labels, increase));
            }
        }
        Ok(Some((out, edges)))
    }
}

/// Where a reading lies: from the earliest start sample to the latest end sample.
fn read_edges(start_ms: Option<u64>, end_times: &Rows) -> Option<Window> {
    let end_ms = end_times
        .iter()
        .map(|r| (r.1 * 1000.0).round() as u64)
        .max()?;
    Some(Window {
        start_ms: start_ms.unwrap_or(end_ms).min(end_ms),
        end_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_increase_runs_from_the_first_sample_to_the_last() {
        let s = [(1_000, 10.0), (2_000, 15.0), (3_000, 2.0), (4_000, 6.0)];
        assert_eq!(inner_increase(&s), 5.0 + 2.0 + 4.0);
        assert_eq!(inner_increase(&s[..1]), 0.0);
    }

    #[test]
    fn a_walk_corrects_resets_and_counts_new_series_from_zero() {
        let s = [(1_000, 10.0), (2_000, 15.0), (3_000, 2.0), (4_000, 6.0)];
        assert_eq!(
            walk(&s, 1_000, 4_000),
            (11.0, 1),
            "5, then 2 after the reset, then 4"
        );
        assert_eq!(
            walk(&s, 2_500, 4_000),
            (6.0, 1),
            "from 15: the reset to 2, then 4"
        );
        assert_eq!(
            walk(&s[2..], 0, 4_000),
            (6.0, 0),
            "a new series counts from 0"
        );
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_series_starts_from_its_last_sample_or_provably_from_zero() {
        let stale = labels(&[("job", "a"), ("instance", "x:1"), ("le", "1")]);
        let new = labels(&[("job", "a"), ("instance", "x:1"), ("le", "2")]);
        let unknown = labels(&[("job", "b"), ("instance", "y:1")]);
        let edge = StartEdge {
            at: BTreeMap::new(),
            last_seen: [(stale.clone(), 149_000.0)].into_iter().collect(),
            scraped: [(Some("a".to_string()), Some("x:1".to_string()))]
                .into_iter()
                .collect(),
            read_ms: None,
        };
        assert_eq!(
            edge.value(&stale),
            Some(149_000.0),
            "stale: its last sample"
        );
        assert_eq!(
            edge.value(&new),
            Some(0.0),
            "its target was scraped without it"
        );
        assert_eq!(
            edge.value(&unknown),
            None,
            "nothing known before the window"
        );
    }
}
