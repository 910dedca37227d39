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
use crate::evaluate::{Buckets, GaugeValue, Reader};
use crate::promql;
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

    /// Waits until every job has been scraped at or after `end_ms` (so the window's
    /// last counts are in), for at most `limit`; returns when the latest of those
    /// scrapes happened (unix ms). Judging up to that time counts the events of the
    /// window's last moments, which Prometheus only learns at that scrape.
    pub async fn wait_for_scrape_after(
        &self,
        jobs: &[String],
        end_ms: u64,
        limit: Duration,
    ) -> Result<u64, Error> {
        let deadline = Instant::now() + limit;
        let query = promql::scrape_times(jobs);
        loop {
            let rows = self.query(&query).await?;
            let after: Vec<u64> = jobs
                .iter()
                .filter_map(|job| {
                    rows.iter()
                        .filter(|(l, _)| l.get("job") == Some(job))
                        .map(|(_, t)| (*t * 1000.0).round() as u64)
                        .find(|t| *t >= end_ms)
                })
                .collect();
            if !jobs.is_empty() && after.len() == jobs.len() {
                return Ok(after.into_iter().max().unwrap_or(end_ms));
            }
            if Instant::now() >= deadline {
                return Err(Error::NoData(format!(
                    "Prometheus at {} has not scraped {} since the run ended",
                    self.url,
                    jobs.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The Prometheus source over a window.
pub struct PrometheusReader {
    /// The server asked.
    pub prometheus: Prometheus,
    /// Jobs judged by per-service SLOs.
    pub services: Vec<String>,
}

impl Reader for PrometheusReader {
    fn source(&self) -> Source {
        Source::Prometheus
    }

    async fn increase(&self, selector: &Selector, window: Window) -> Result<Option<f64>, Error> {
        let query = promql::sum_increase(selector, &promql::range_at(window));
        let rows = self.prometheus.query(&query).await?;
        Ok(rows.first().map(|r| r.1))
    }

    async fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> Result<Option<Buckets>, Error> {
        let query = promql::bucket_increase(histogram, &promql::range_at(window));
        let rows = self.prometheus.query(&query).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let name = promql::bucket(histogram).name;
        crate::evaluate::merge_buckets(&name, rows.iter().map(|(l, v)| (l, *v))).map(Some)
    }

    async fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        services: &[String],
    ) -> Result<BTreeMap<String, GaugeValue>, Error> {
        let r = promql::range_at(window);
        let values = self
            .prometheus
            .query(&promql::gauge(metric, aggregation, &r, services))
            .await?;
        let counts = self
            .prometheus
            .query(&promql::gauge_samples(metric, &r, services))
            .await?;
        let mut out = BTreeMap::new();
        for (labels, value) in values {
            if let Some(job) = labels.get("job") {
                let samples = counts
                    .iter()
                    .find(|(l, _)| l.get("job") == Some(job))
                    .map(|(_, n)| *n as u64)
                    .unwrap_or(0);
                out.insert(job.clone(), GaugeValue { value, samples });
            }
        }
        Ok(out)
    }

    fn query_text(&self, slo: &Slo, window: Window) -> Option<String> {
        Some(promql::verdict_queries(slo, window, &self.services).join("\n"))
    }
}
