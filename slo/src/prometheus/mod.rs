//! The Prometheus source: instant queries through `prometheus-http-query`, with the
//! `@` modifier at the window's edges.
//!
//! - [`counters`]: each series' exact increase between its samples at the edges
//!   (resets walked, stale and new series handled); ratios and latency buckets
//!   rest on it (bucket bounds like `2` and `2.0` are one bound);
//! - [`window`]: windows pinned to their own edges (the end at the first scrape
//!   after it, the interval from the window's own `up` samples);
//! - [`clock`]: Prometheus's clock against this machine's;
//! - gauges are aggregated per job over the window (`rate` over sub-windows).

pub mod clock;
pub mod counters;
pub mod window;

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_http_query::Client;
use prometheus_http_query::response::Data;

use crate::definition::{Aggregation, Slo};
use crate::error::Error;
use crate::evaluate::{GaugeValue, HistogramIncrease, Increase, Reader};
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
}

impl PrometheusReader {
    /// A reader of the scope at `interval`, its windows' counters read at their
    /// ends (until [`PrometheusReader::pinned`] finds their edges).
    pub fn new(prometheus: Prometheus, scope: Scope, interval: Duration) -> PrometheusReader {
        PrometheusReader {
            prometheus,
            scope,
            interval,
            end_edges: BTreeMap::new(),
            bounded_edges: false,
        }
    }

    /// The reader of `windows`: its scrape interval learnt from the whole
    /// window's `up` samples (`configured` when they are too few), and each
    /// window's end edge found, waited for ([`Prometheus::end_edges`]); an error
    /// when an edge did not come.
    pub async fn pinned(
        prometheus: Prometheus,
        scope: Scope,
        configured: Duration,
        windows: crate::evaluate::Windows,
    ) -> (PrometheusReader, Result<(), Error>) {
        let interval = match prometheus.interval_during(&scope, windows.whole).await {
            Ok(Some(i)) if !i.is_zero() => i,
            _ => configured,
        };
        let mut reader = PrometheusReader::new(prometheus, scope, interval);
        let edges = reader
            .prometheus
            .end_edges(&reader.scope, windows, interval)
            .await;
        let found = edges.map(|e| reader.end_edges = e);
        (reader, found)
    }
}

/// Labels of one series.
pub type Labels = BTreeMap<String, String>;

/// The Prometheus source over a window.
pub struct PrometheusReader {
    /// The server asked.
    pub prometheus: Prometheus,
    /// The matchers keeping every query to the run's series.
    pub scope: Scope,
    /// The scrape interval of the targets (learnt, or as configured).
    pub interval: Duration,
    /// Each window's end, and the scrape its counters are read at (the first
    /// successful scrape of every instance at or after it).
    pub end_edges: BTreeMap<u64, u64>,
    /// Whether the events between a window's edge and the scrape next to it may
    /// be other traffic's (a window named by hand, judged amid traffic): then
    /// counters are also read between the first and last scrapes inside the
    /// window, and a verdict holds only if it holds for both readings' bounds.
    /// Off for a run's own window, whose edges hold none of other load.
    pub bounded_edges: bool,
}

/// A series' labels without its name (functions such as `timestamp()` and
/// `resets()` drop it), so results of different queries join.
fn identity(mut labels: Labels) -> Labels {
    labels.remove("__name__");
    labels
}

/// Bucket increases grouped by series (the labels other than `le`), each a
/// cumulative bucket list.
fn by_series(
    histogram: &str,
    rows: &[(Labels, f64)],
) -> Result<Vec<crate::evaluate::Buckets>, Error> {
    let mut grouped: BTreeMap<Labels, Vec<(&Labels, f64)>> = BTreeMap::new();
    for (labels, v) in rows {
        let mut key = labels.clone();
        key.remove("le");
        grouped.entry(key).or_default().push((labels, *v));
    }
    grouped
        .into_values()
        .map(|rows| crate::evaluate::merge_buckets(histogram, rows))
        .collect()
}

/// Values of a query, by series labels (name aside).
fn by_labels(rows: Rows) -> BTreeMap<Labels, f64> {
    rows.into_iter().map(|(l, v)| (identity(l), v)).collect()
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
        let Some((series, edges)) = self
            .prometheus
            .increases(&scoped, &self.scope, self.counted(window))
            .await?
        else {
            return Ok(None);
        };
        let inner = match self.bounded_edges {
            true => Some(self.prometheus.inner_increases(&scoped, window).await?),
            false => None,
        };
        Ok(Some(Increase {
            value: series.iter().map(|(_, v)| v).sum(),
            edges,
            inner: inner.map(|s| s.iter().map(|(_, v)| v).sum()),
        }))
    }

    async fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> Result<Option<HistogramIncrease>, Error> {
        let bucket = promql::bucket(histogram);
        let scoped = self.scope.apply(&bucket);
        let Some((series, edges)) = self
            .prometheus
            .increases(&scoped, &self.scope, self.counted(window))
            .await?
        else {
            return Ok(None);
        };
        let inner = match self.bounded_edges {
            true => Some(self.prometheus.inner_increases(&scoped, window).await?),
            false => None,
        };
        Ok(Some(HistogramIncrease {
            series: by_series(&bucket.name, &series)?,
            edges,
            inner: inner.map(|i| by_series(&bucket.name, &i)).transpose()?,
        }))
    }

    async fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        span: Duration,
        _services: &[String],
    ) -> Result<BTreeMap<String, GaugeValue>, Error> {
        let r = promql::range_at(window);
        let p = &self.prometheus;
        let over = (span, self.interval);
        let (gauge, samples) = (
            promql::gauge_over(metric, aggregation, window, over, &self.scope),
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

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn restarted(&self, window: Window) -> Result<std::collections::BTreeSet<String>, Error> {
        let started = format!(
            "max by (job) (process_start_time_seconds{{{}}} {})",
            self.scope.matchers().join(","),
            promql::at(window.end_ms)
        );
        let rows = self.prometheus.query(&started).await?;
        Ok(rows
            .into_iter()
            .filter(|(_, t)| (t * 1000.0) as u64 > window.start_ms)
            .filter_map(|(l, _)| l.get("job").cloned())
            .collect())
    }

    fn counted(&self, window: Window) -> Window {
        Window {
            start_ms: window.start_ms,
            end_ms: self
                .end_edges
                .get(&window.end_ms)
                .copied()
                .unwrap_or(window.end_ms),
        }
    }

    async fn promql(&self, query: &str) -> Result<Option<f64>, Error> {
        let scoped = self.scope.apply_query(query)?;
        let rows = self.prometheus.query(&scoped).await?;
        Ok((!rows.is_empty()).then(|| rows.iter().map(|(_, v)| v).sum()))
    }

    fn query_text(&self, slo: &Slo, window: Window) -> Option<String> {
        let span = crate::evaluate::gauge::rate_span(slo.alert_window, window, self.interval);
        let over = (span, self.interval);
        let counted = match slo.kind {
            crate::definition::Kind::Gauge(_) => window,
            _ => self.counted(window),
        };
        Some(promql::verdict_queries(slo, counted, &self.scope, over).join("\n"))
    }
}
