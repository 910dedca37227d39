//! The Prometheus source: instant queries through `prometheus-http-query`, evaluated
//! at the window's end with the `@` modifier over exactly the window (`[Nms]`).
//!
//! Ratios come from `increase()` of the counters (extrapolation at the window edges
//! cancels out between numerator and total); latency from the increase of every
//! bucket, summed by `le` (values like `2` and `2.0` are the same bound); gauges per
//! job. [`wait_for_scrape_after`] makes sure Prometheus has scraped every job after
//! the window's end before anything is asked.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prometheus_http_query::Client;
use prometheus_http_query::response::Data;

use crate::definition::{Aggregation, Kind, Slo};
use crate::evaluate::{GaugeValue, Reader};
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

impl Prometheus {
    pub fn new(url: &str) -> Result<Prometheus, String> {
        let http = reqwest::Client::builder()
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let client = Client::from(http, url).map_err(|e| format!("{url}: {e}"))?;
        Ok(Prometheus {
            client,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs an instant query: label sets and values.
    pub async fn query(
        &self,
        promql: &str,
    ) -> Result<Vec<(BTreeMap<String, String>, f64)>, String> {
        let result = self
            .client
            .query(promql)
            .get()
            .await
            .map_err(|e| format!("query {promql} at {}: {e}", self.url))?;
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
            Data::Matrix(_) => Err(format!("query {promql}: unexpected range vector")),
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
    ) -> Result<u64, String> {
        let deadline = Instant::now() + limit;
        let selector = job_selector("up", jobs);
        loop {
            let rows = self.query(&format!("timestamp({selector})")).await?;
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
                return Err(format!(
                    "Prometheus at {} has not scraped {} since the run ended",
                    self.url,
                    jobs.join(", ")
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn job_selector(metric: &str, jobs: &[String]) -> String {
    format!(
        "{metric}{{job=~\"{}\"}}",
        jobs.iter()
            .map(|j| regex_escape(j))
            .collect::<Vec<_>>()
            .join("|")
    )
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `[Nms] @ T` for a window.
pub fn range_at(window: Window) -> String {
    let length = window.end_ms.saturating_sub(window.start_ms).max(1);
    format!(
        "[{length}ms] @ {}.{:03}",
        window.end_ms / 1000,
        window.end_ms % 1000
    )
}

/// The Prometheus source over a window.
pub struct PrometheusReader {
    pub prometheus: Prometheus,
    /// Jobs judged by per-service SLOs.
    pub services: Vec<String>,
}

/// The PromQL of each query a verdict rests on (shown in the verdict).
pub fn queries(slo: &Slo, window: Window, services: &[String]) -> Vec<String> {
    let r = range_at(window);
    match &slo.kind {
        Kind::Ratio {
            numerator, total, ..
        } => numerator
            .iter()
            .chain(total)
            .map(|s| format!("sum(increase({s}{r}))"))
            .collect(),
        Kind::Latency { histogram, .. } => vec![format!(
            "sum by (le) (increase({}{r}))",
            histogram.with_name(format!("{}_bucket", histogram.name))
        )],
        Kind::Gauge {
            metric,
            aggregation,
            ..
        } => vec![gauge_query(metric, *aggregation, &r, services)],
    }
}

fn gauge_query(
    metric: &Selector,
    aggregation: Aggregation,
    range: &str,
    services: &[String],
) -> String {
    let jobs = services
        .iter()
        .map(|j| regex_escape(j))
        .collect::<Vec<_>>()
        .join("|");
    let selector = metric.promql_with(&format!("job=~\"{jobs}\""));
    // The worst instance of each job: max for a resource, min for `up`.
    let outer = if aggregation == Aggregation::MinOverTime {
        "min"
    } else {
        "max"
    };
    format!(
        "{outer} by (job) ({}({selector}{range}))",
        aggregation.as_str()
    )
}

impl Reader for PrometheusReader {
    fn source(&self) -> Source {
        Source::Prometheus
    }

    async fn increase(&self, selector: &Selector, window: Window) -> Result<Option<f64>, String> {
        let rows = self
            .prometheus
            .query(&format!("sum(increase({selector}{}))", range_at(window)))
            .await?;
        Ok(rows.first().map(|r| r.1))
    }

    async fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> Result<Option<Vec<(f64, f64)>>, String> {
        let bucket = histogram.with_name(format!("{}_bucket", histogram.name));
        let rows = self
            .prometheus
            .query(&format!(
                "sum by (le) (increase({bucket}{}))",
                range_at(window)
            ))
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        crate::evaluate::merge_buckets(&bucket.name, rows.iter().map(|(l, v)| (l, *v))).map(Some)
    }

    async fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        services: &[String],
    ) -> Result<BTreeMap<String, GaugeValue>, String> {
        let r = range_at(window);
        let values = self
            .prometheus
            .query(&gauge_query(metric, aggregation, &r, services))
            .await?;
        let jobs = services
            .iter()
            .map(|j| regex_escape(j))
            .collect::<Vec<_>>()
            .join("|");
        let counts = self
            .prometheus
            .query(&format!(
                "max by (job) (count_over_time({}{r}))",
                metric.promql_with(&format!("job=~\"{jobs}\""))
            ))
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
        Some(queries(slo, window, &self.services).join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_use_the_at_modifier_with_milliseconds() {
        let w = Window {
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_000_030_250,
        };
        assert_eq!(range_at(w), "[30250ms] @ 1700000030.250");
    }

    #[test]
    fn gauge_queries_take_the_worst_instance_per_job() {
        let q = gauge_query(
            &Selector::parse("process_resident_memory_bytes").unwrap(),
            Aggregation::MaxOverTime,
            "[60000ms] @ 100.000",
            &["gateway-bff".into(), "planning-engine".into()],
        );
        assert_eq!(
            q,
            r#"max by (job) (max_over_time(process_resident_memory_bytes{job=~"gateway-bff|planning-engine"}[60000ms] @ 100.000))"#
        );
    }
}
