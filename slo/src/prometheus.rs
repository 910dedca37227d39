//! The Prometheus source: instant queries through `prometheus-http-query`, evaluated
//! at the window's end with the `@` modifier over exactly the window (`[Nms]`).
//!
//! Ratios come from `increase()` of the counters (extrapolation at the window edges
//! cancels out between numerator and total); latency from the increase of every
//! bucket, summed by `le` (values like `2` and `2.0` are the same bound); gauges per
//! job. [`Prometheus::wait_for_scrape_after`] makes sure Prometheus has scraped every job after
//! the window's end before anything is asked.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prometheus_http_query::Client;
use prometheus_http_query::response::Data;

use crate::definition::{Aggregation, Slo};
use crate::error::Error;
use crate::evaluate::{Edges, GaugeValue, HistogramIncrease, Increase, Reader};
use crate::promql::{self, Scope};
use crate::selector::Selector;
use crate::verdict::{Source, Window};

/// Timeout of one query.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A Prometheus server.
#[derive(Clone)]
pub struct Prometheus {
    client: Client,
    url: String,
}

/// Rows of an instant query: label sets and values.
pub type Rows = Vec<(BTreeMap<String, String>, f64)>;

impl Prometheus {
    /// A client of the Prometheus at `url`.
    pub fn new(url: &str) -> Result<Prometheus, Error> {
        let client_error = |message: String| Error::Client {
            url: url.to_string(),
            message,
        };
        let http = reqwest::Client::builder()
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(|e| client_error(e.to_string()))?;
        let client = Client::from(http, url).map_err(|e| client_error(e.to_string()))?;
        Ok(Prometheus {
            client,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs an instant query: label sets and values.
    pub async fn query(&self, query: &str) -> Result<Rows, Error> {
        let error = |message: String| Error::Query {
            url: self.url.clone(),
            query: query.to_string(),
            message,
        };
        let result = self
            .client
            .query(query)
            .get()
            .await
            .map_err(|e| error(e.to_string()))?;
        match result.data() {
            Data::Vector(v) => Ok(v
                .iter()
                .map(|s| {
                    (
                        s.metric()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        s.sample().value(),
                    )
                })
                .collect()),
            Data::Scalar(s) => Ok(vec![(BTreeMap::new(), s.value())]),
            Data::Matrix(_) => Err(error("unexpected range vector".to_string())),
        }
    }

    /// Whether the server answers.
    pub async fn ready(&self) -> bool {
        self.client.is_server_ready().await.unwrap_or(false)
    }

    /// Runs an instant query that returns range vectors: each series' samples
    /// (unix ms, value).
    pub async fn query_range_vector(
        &self,
        query: &str,
    ) -> Result<Vec<(Labels, Vec<(u64, f64)>)>, Error> {
        let error = |message: String| Error::Query {
            url: self.url.clone(),
            query: query.to_string(),
            message,
        };
        let result = self
            .client
            .query(query)
            .get()
            .await
            .map_err(|e| error(e.to_string()))?;
        match result.data() {
            Data::Matrix(m) => Ok(m
                .iter()
                .map(|r| {
                    let labels = r
                        .metric()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let samples = r
                        .samples()
                        .iter()
                        .map(|s| ((s.timestamp() * 1000.0).round() as u64, s.value()))
                        .collect();
                    (labels, samples)
                })
                .collect()),
            _ => Err(error("expected a range vector".to_string())),
        }
    }

    /// The scrape interval of the scope's targets, learnt from their `up`
    /// samples over the last five minutes (the largest median gap); `None` when
    /// fewer than three samples are there.
    pub async fn scrape_interval(&self, scope: &Scope) -> Result<Option<Duration>, Error> {
        let series = self
            .query_range_vector(&format!("{}[5m]", promql::up(scope)))
            .await?;
        let median_gaps = series.iter().filter_map(|(_, samples)| {
            let mut gaps: Vec<u64> = samples.windows(2).map(|w| w[1].0 - w[0].0).collect();
            gaps.sort_unstable();
            gaps.get(gaps.len() / 2).copied()
        });
        Ok(median_gaps.max().map(Duration::from_millis))
    }

    /// Waits until every instance of the scope has been scraped successfully
    /// (`up == 1`) at or after `end_ms`, so the window's last counts are in; gives up
    /// after three scrape intervals and five seconds. Returns when the latest of
    /// those scrapes happened (unix ms): judging up to it counts the events of the
    /// window's last moments, which Prometheus only learns at that scrape.
    pub async fn wait_for_scrape_after(
        &self,
        scope: &Scope,
        end_ms: u64,
        interval: Duration,
    ) -> Result<u64, Error> {
        let limit = interval * 3 + Duration::from_secs(5);
        let deadline = Instant::now() + limit;
        let up = promql::up(scope);
        loop {
            let stamped = format!("timestamp({up})");
            let (values, times) = futures::join!(self.query(&up), self.query(&stamped));
            let (values, times) = (values?, by_labels(times?));
            let fresh = |l: &Labels| {
                let t = times
                    .get(&identity(l.clone()))
                    .map(|t| (*t * 1000.0).round() as u64);
                t.filter(|t| *t >= end_ms)
            };
            let all = values
                .iter()
                .map(|(l, v)| (*v == 1.0).then(|| fresh(l)).flatten());
            let scraped: Option<Vec<u64>> = all.collect();
            if let Some(scraped) = scraped.filter(|s| !s.is_empty() && covers(scope, &values)) {
                return Ok(scraped.into_iter().max().unwrap_or(end_ms));
            }
            if Instant::now() >= deadline {
                return Err(Error::NoData(format!(
                    "Prometheus at {} has not scraped every instance of {} successfully since the window ended (waited {} s at a {} s scrape interval)",
                    self.url,
                    scope.jobs.join(", "),
                    limit.as_secs(),
                    interval.as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Labels of one series.
pub type Labels = BTreeMap<String, String>;

/// Whether every job of the scope has an `up` series.
fn covers(scope: &Scope, up: &Rows) -> bool {
    scope
        .jobs
        .iter()
        .all(|j| up.iter().any(|(l, _)| l.get("job") == Some(j)))
}

/// The Prometheus source over a window.
pub struct PrometheusReader {
    /// The server asked.
    pub prometheus: Prometheus,
    /// The matchers keeping every query to the run's series.
    pub scope: Scope,
    /// The scrape interval of the targets (learnt, or as configured).
    pub interval: Duration,
}

/// A series' labels without its name (functions such as `timestamp()` and
/// `resets()` drop it), so results of different queries join.
fn identity(mut labels: Labels) -> Labels {
    labels.remove("__name__");
    labels
}

/// Values of a query, by series labels (name aside).
fn by_labels(rows: Rows) -> BTreeMap<Labels, f64> {
    rows.into_iter().map(|(l, v)| (identity(l), v)).collect()
}

/// The reset-corrected increase of one series' samples after `from_ms` up to
/// `to_ms`, from the last sample at or before `from_ms` (or from 0 when the series
/// began inside the window).
fn walk(samples: &[(u64, f64)], from_ms: u64, to_ms: u64) -> (f64, u64) {
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

impl PrometheusReader {
    /// How far before the window to look for the sample at its start edge.
    fn lookback(&self) -> Duration {
        (self.interval * 3).max(Duration::from_secs(3))
    }

    /// Each series' reset-corrected increase over the window: the samples at the
    /// edges, read with `@`; series with resets (or gone by the end) walked sample
    /// by sample. `None` when no series matches at the end or the start.
    async fn counters(
        &self,
        scoped: &str,
        window: Window,
    ) -> Result<Option<(Vec<(Labels, f64)>, Edges)>, Error> {
        let (start, end) = (promql::at(window.start_ms), promql::at(window.end_ms));
        let span =
            window.end_ms.saturating_sub(window.start_ms) + self.lookback().as_millis() as u64;
        let p = &self.prometheus;
        let q = [
            format!("{scoped} {start}"),
            format!("{scoped} {end}"),
            format!("timestamp({scoped} {start})"),
            format!("timestamp({scoped} {end})"),
            format!("resets({scoped}[{span}ms] {end})"),
        ];
        let (at_start, at_end, start_t, end_t, resets) = futures::join!(
            p.query(&q[0]),
            p.query(&q[1]),
            p.query(&q[2]),
            p.query(&q[3]),
            p.query(&q[4]),
        );
        let (at_start, at_end) = (by_labels(at_start?), by_labels(at_end?));
        if at_end.is_empty() && at_start.is_empty() {
            return Ok(None);
        }
        let resets = by_labels(resets?);
        let seconds = |rows: Rows| {
            rows.iter()
                .map(|r| (r.1 * 1000.0).round() as u64)
                .collect::<Vec<_>>()
        };
        let (start_t, end_t) = (seconds(start_t?), seconds(end_t?));
        let read = start_t
            .iter()
            .min()
            .zip(end_t.iter().max())
            .map(|(a, b)| Window {
                start_ms: *a,
                end_ms: *b,
            });
        let mut out = Vec::new();
        let mut walked = Vec::new();
        for (labels, end_v) in &at_end {
            let reset = resets.get(labels).copied().unwrap_or(0.0) > 0.0;
            match at_start.get(labels) {
                Some(s) if !reset && end_v >= s => out.push((labels.clone(), end_v - s)),
                None if !reset => out.push((labels.clone(), *end_v)),
                _ => walked.push(labels.clone()),
            }
        }
        walked.extend(
            at_start
                .keys()
                .filter(|l| !at_end.contains_key(*l))
                .cloned(),
        );
        let mut edges = Edges { read, resets: 0 };
        if !walked.is_empty() {
            let series = p
                .query_range_vector(&format!("{scoped}[{span}ms] {end}"))
                .await?;
            for (labels, samples) in series
                .into_iter()
                .map(|(l, s)| (identity(l), s))
                .filter(|(l, _)| walked.contains(l))
            {
                let (increase, resets) = walk(&samples, window.start_ms, window.end_ms);
                edges.resets += resets;
                out.push((labels, increase));
            }
        }
        Ok(Some((out, edges)))
    }
}

impl Reader for PrometheusReader {
    fn source(&self) -> Source {
        Source::Prometheus
    }

    async fn increase(
        &self,
        selector: &Selector,
        window: Window,
    ) -> Result<Option<Increase>, Error> {
        let scoped = self.scope.apply(selector);
        Ok(self
            .counters(&scoped, window)
            .await?
            .map(|(series, edges)| Increase {
                value: series.iter().map(|(_, v)| v).sum(),
                edges,
            }))
    }

    async fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> Result<Option<HistogramIncrease>, Error> {
        let bucket = promql::bucket(histogram);
        let Some((series, edges)) = self.counters(&self.scope.apply(&bucket), window).await? else {
            return Ok(None);
        };
        let mut grouped: BTreeMap<Labels, Vec<(&Labels, f64)>> = BTreeMap::new();
        for (labels, v) in &series {
            let mut key = labels.clone();
            key.remove("le");
            grouped.entry(key).or_default().push((labels, *v));
        }
        let series = grouped
            .into_values()
            .map(|rows| crate::evaluate::merge_buckets(&bucket.name, rows))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(HistogramIncrease { series, edges }))
    }

    async fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        _services: &[String],
    ) -> Result<BTreeMap<String, GaugeValue>, Error> {
        let r = promql::range_at(window);
        let p = &self.prometheus;
        let (gauge, samples) = (
            promql::gauge(metric, aggregation, &r, &self.scope),
            promql::gauge_samples(metric, &r, &self.scope),
        );
        let (values, counts) = futures::join!(p.query(&gauge), p.query(&samples));
        let (values, counts) = (values?, counts?);
        let expected = window.end_ms.saturating_sub(window.start_ms)
            / (self.interval.as_millis() as u64).max(1);
        let mut out = BTreeMap::new();
        for (labels, value) in values {
            if let Some(job) = labels.get("job") {
                let samples = counts
                    .iter()
                    .find(|(l, _)| l.get("job") == Some(job))
                    .map(|(_, n)| *n as u64)
                    .unwrap_or(0);
                out.insert(
                    job.clone(),
                    GaugeValue {
                        value,
                        samples,
                        expected,
                    },
                );
            }
        }
        Ok(out)
    }

    async fn promql(&self, query: &str) -> Result<Option<f64>, Error> {
        let rows = self.prometheus.query(query).await?;
        Ok((!rows.is_empty()).then(|| rows.iter().map(|(_, v)| v).sum()))
    }

    fn query_text(&self, slo: &Slo, window: Window) -> Option<String> {
        Some(promql::verdict_queries(slo, window, &self.scope).join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
