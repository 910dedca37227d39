//! Windows pinned to their own edges: a window is read the same way whenever it
//! is judged, right after it ended or an hour later with other traffic since.
//!
//! - The scrape interval is learnt from the window's own `up` samples, not from
//!   whatever Prometheus scrapes now.
//! - A window's end edge is the first successful scrape of every instance at or
//!   after its end (the run's last events are only known to Prometheus then), the
//!   latest of those firsts over the instances; Prometheus is waited for until it
//!   exists, up to three intervals and five seconds after the end. Reading there,
//!   never at "now", keeps later traffic out of a past window.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Labels, Prometheus, identity};
use crate::error::Error;
use crate::evaluate::Windows;
use crate::promql::{self, Scope};
use crate::verdict::Window;

/// How often Prometheus is asked again while waiting for the end edge.
const POLL: Duration = Duration::from_millis(200);

/// How long after a window's end its edge scrape may come: three scrape
/// intervals and five seconds (a scrape can fail, or be late).
pub fn end_edge_limit(interval: Duration) -> Duration {
    interval * 3 + Duration::from_secs(5)
}

/// The median gap between a series' samples, in milliseconds.
fn median_gap(samples: &[(u64, f64)]) -> Option<u64> {
    let mut gaps: Vec<u64> = samples.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied()
}

/// The first successful scrape (`up == 1`) at or after `end_ms` in `samples`.
fn first_up_after(samples: &[(u64, f64)], end_ms: u64) -> Option<u64> {
    samples
        .iter()
        .find(|(t, v)| *t >= end_ms && *v == 1.0)
        .map(|(t, _)| *t)
}

/// The end edge when every instance has its first successful scrape after
/// `end_ms` in `series`: the latest of those firsts.
fn edge_of(
    instances: &[Labels],
    series: &BTreeMap<Labels, Vec<(u64, f64)>>,
    end_ms: u64,
) -> Option<u64> {
    instances
        .iter()
        .map(|l| series.get(l).and_then(|s| first_up_after(s, end_ms)))
        .collect::<Option<Vec<u64>>>()?
        .into_iter()
        .max()
}

impl Prometheus {
    /// Prometheus's time now (unix ms), as `time()` reads it.
    pub async fn now_ms(&self) -> Result<u64, Error> {
        let rows = self.query("time()").await?;
        rows.first()
            .map(|(_, s)| (s * 1000.0).round() as u64)
            .ok_or_else(|| {
                Error::NoData(format!(
                    "Prometheus at {} did not tell its time",
                    self.url()
                ))
            })
    }

    /// The scope's scrape interval during `window`, from its `up` samples there
    /// (the largest median gap over the instances); `None` with fewer than three
    /// samples of some instance.
    pub async fn interval_during(
        &self,
        scope: &Scope,
        window: Window,
    ) -> Result<Option<Duration>, Error> {
        let length = window.end_ms.saturating_sub(window.start_ms).max(1);
        let query = format!(
            "{}[{length}ms] {}",
            promql::up(scope),
            promql::at(window.end_ms)
        );
        let series = self.query_range_vector(&query).await?;
        let gaps: Option<Vec<u64>> = series
            .iter()
            .map(|(_, samples)| (samples.len() >= 3).then(|| median_gap(samples)).flatten())
            .collect();
        Ok(gaps
            .and_then(|g| g.into_iter().max())
            .map(Duration::from_millis))
    }

    /// The instances of the scope at `t_ms` (their `up` series then), checked to
    /// cover every job.
    async fn instances_at(&self, scope: &Scope, t_ms: u64) -> Result<Vec<Labels>, Error> {
        let rows = self
            .query(&format!("{} {}", promql::up(scope), promql::at(t_ms)))
            .await?;
        let instances: Vec<Labels> = rows.into_iter().map(|(l, _)| identity(l)).collect();
        if let Some(job) = scope
            .jobs
            .iter()
            .find(|j| !instances.iter().any(|l| l.get("job") == Some(*j)))
        {
            return Err(Error::NoData(format!(
                "Prometheus at {} has no target of job {job} at the window's end: is it scraping it?",
                self.url()
            )));
        }
        Ok(instances)
    }

    /// The end edge of a window ending at `end_ms`: the latest over the scope's
    /// instances of their first successful scrape at or after it. Waits for it
    /// while it may still come; an error when it did not come in time.
    pub async fn end_edge(
        &self,
        scope: &Scope,
        end_ms: u64,
        interval: Duration,
    ) -> Result<u64, Error> {
        let limit = end_edge_limit(interval).as_millis() as u64;
        let instances = self.instances_at(scope, end_ms).await?;
        loop {
            // Prometheus's own time: the window is on its clock, not this machine's.
            let now = self.now_ms().await?;
            let horizon = (end_ms + limit).min(now);
            if horizon >= end_ms {
                let query = format!(
                    "{}[{}ms] {}",
                    promql::up(scope),
                    horizon - end_ms + 1,
                    promql::at(horizon)
                );
                let series: BTreeMap<Labels, Vec<(u64, f64)>> = self
                    .query_range_vector(&query)
                    .await?
                    .into_iter()
                    .map(|(l, s)| (identity(l), s))
                    .collect();
                if let Some(edge) = edge_of(&instances, &series, end_ms) {
                    return Ok(edge);
                }
            }
            if now >= end_ms + limit {
                return Err(Error::NoData(format!(
                    "Prometheus at {} has no successful scrape of every instance of {} within {} s after the window's end (at a {} s scrape interval)",
                    self.url(),
                    scope.jobs.join(", "),
                    limit / 1000,
                    interval.as_secs_f64()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Each window's end and its end edge (see [`Prometheus::end_edge`]): where
    /// the window's counters are read. Its gauges stay within the window itself.
    pub async fn end_edges(
        &self,
        scope: &Scope,
        windows: Windows,
        interval: Duration,
    ) -> Result<BTreeMap<u64, u64>, Error> {
        let ends: Vec<u64> = std::iter::once(windows.whole)
            .chain(windows.steady)
            .map(|w| w.end_ms)
            .collect();
        let edges =
            futures::future::join_all(ends.iter().map(|end| self.end_edge(scope, *end, interval)))
                .await;
        ends.into_iter()
            .zip(edges)
            .map(|(end, edge)| Ok((end, edge?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(instance: &str) -> Labels {
        [("job", "a"), ("instance", instance)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_end_edge_is_the_latest_first_successful_scrape_after_the_end() {
        let (a, b) = (labels("a:1"), labels("a:2"));
        let mut series = BTreeMap::new();
        series.insert(a.clone(), vec![(9_500, 1.0), (10_500, 1.0), (11_500, 1.0)]);
        // b's first scrape after the end failed: its next successful one counts.
        series.insert(b.clone(), vec![(9_800, 1.0), (10_800, 0.0), (11_800, 1.0)]);
        assert_eq!(
            edge_of(&[a.clone(), b.clone()], &series, 10_000),
            Some(11_800)
        );
        assert_eq!(
            edge_of(std::slice::from_ref(&a), &series, 10_000),
            Some(10_500)
        );
        // An instance with no scrape after the end yet: not known.
        series.insert(b.clone(), vec![(9_800, 1.0)]);
        assert_eq!(edge_of(&[a, b], &series, 10_000), None);
    }

    #[test]
    fn the_interval_is_the_median_gap() {
        let samples = [
            (0, 1.0),
            (1_000, 1.0),
            (2_000, 1.0),
            (8_000, 1.0),
            (9_000, 1.0),
        ];
        assert_eq!(median_gap(&samples), Some(1_000));
    }
}
