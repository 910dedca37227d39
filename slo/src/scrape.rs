//! The embedded source: the verifier scrapes the services' `/metrics` itself, before
//! the run, periodically during it, and after it, and computes the same ratios,
//! bucket shares and gauges as Prometheus would, from the deltas.
//!
//! Memory stays bounded however long the run: full pages are kept only at the
//! window edges (before, after, and the steady window's edges); between them only
//! the series of the gauge SLOs and each target's up/down are kept. Each page's
//! samples get the target's job name as the `job` label, as Prometheus adds it, so
//! the SLO file's selectors read the same series in both sources.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::definition::Aggregation;
use crate::error::Error;
use crate::evaluate::{Buckets, GaugeValue, Reader};
use crate::exposition::{self, Sample};
use crate::selector::Selector;
use crate::verdict::{Source, Window};

/// Timeout of one scrape.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

/// One target's page at one time.
#[derive(Debug, Clone)]
struct Page {
    job: String,
    at_ms: u64,
    samples: Result<Vec<Sample>, Error>,
}

/// A followed gauge series: job, metric name, labels.
type GaugeKey = (String, String, BTreeMap<String, String>);

#[derive(Debug, Default)]
struct State {
    /// Full pages kept at window edges.
    full: Vec<Page>,
    /// Gauge series: (job, name, labels) -> (time, value).
    series: BTreeMap<GaugeKey, Vec<(u64, f64)>>,
    /// Up/down of each target per scrape.
    up: BTreeMap<String, Vec<(u64, bool)>>,
    /// Keep the full pages scraped within `keep_margin` of each of these times.
    keep_at: Vec<u64>,
    keep_margin: u64,
}

/// Scrapes a fixed set of targets.
pub struct Scraper {
    targets: Vec<(String, String)>,
    client: reqwest::Client,
    gauge_metrics: Vec<String>,
    state: Mutex<State>,
}

/// Now, in unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Scraper {
    /// `targets`: (job, metrics URL); `gauge_metrics`: metric names to follow over time.
    pub fn new(targets: Vec<(String, String)>, gauge_metrics: Vec<String>) -> Arc<Scraper> {
        Arc::new(Scraper {
            targets,
            client: reqwest::Client::builder()
                .timeout(SCRAPE_TIMEOUT)
                .build()
                .expect("TLS backend available"),
            gauge_metrics,
            state: Mutex::new(State::default()),
        })
    }

    /// The jobs scraped.
    pub fn jobs(&self) -> Vec<String> {
        self.targets.iter().map(|(j, _)| j.clone()).collect()
    }

    /// Keeps the full pages scraped within `margin` of each time (unix ms): the
    /// pages on both sides of a window edge.
    pub fn keep_full_around(&self, times: &[u64], margin: Duration) {
        let mut state = self.state.lock();
        state.keep_at.extend_from_slice(times);
        state.keep_margin = state.keep_margin.max(margin.as_millis() as u64);
    }

    async fn fetch(&self, job: &str, url: &str) -> Page {
        let at_ms = now_ms();
        let error = |message: String| Error::Scrape {
            url: url.to_string(),
            message,
        };
        let samples = async {
            let response = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| error(e.to_string()))?;
            if !response.status().is_success() {
                return Err(error(format!("answered {}", response.status())));
            }
            let text = response.text().await.map_err(|e| error(e.to_string()))?;
            let mut samples = exposition::parse(&text).map_err(|e| error(e.to_string()))?;
            for s in &mut samples {
                s.labels.insert("job".to_string(), job.to_string());
            }
            Ok(samples)
        }
        .await;
        Page {
            job: job.to_string(),
            at_ms,
            samples,
        }
    }

    /// Scrapes every target once; `keep` keeps the full pages (a window edge).
    pub async fn scrape(&self, keep: bool) {
        let pages =
            futures::future::join_all(self.targets.iter().map(|(job, url)| self.fetch(job, url)))
                .await;
        let mut state = self.state.lock();
        let now = pages.iter().map(|p| p.at_ms).min().unwrap_or_else(now_ms);
        let margin = state.keep_margin;
        let due = state
            .keep_at
            .iter()
            .any(|t| now + margin >= *t && now <= t + margin);
        state.keep_at.retain(|t| now <= t + margin);
        for page in pages {
            state
                .up
                .entry(page.job.clone())
                .or_default()
                .push((page.at_ms, page.samples.is_ok()));
            if let Ok(samples) = &page.samples {
                for s in samples
                    .iter()
                    .filter(|s| self.gauge_metrics.contains(&s.name))
                {
                    state
                        .series
                        .entry((page.job.clone(), s.name.clone(), s.labels.clone()))
                        .or_default()
                        .push((page.at_ms, s.value));
                }
            }
            if keep || due {
                state.full.push(page);
            }
        }
    }

    /// Scrapes every `interval` until `stop` resolves.
    pub async fn run_periodically(
        self: Arc<Self>,
        interval: Duration,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let mut stop = stop;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => self.scrape(false).await,
            }
        }
    }

    /// Whether any target's page could not be read at the last full scrape.
    pub fn last_full_failures(&self) -> Vec<String> {
        let state = self.state.lock();
        let last = state.full.iter().map(|p| p.at_ms).max().unwrap_or(0);
        state
            .full
            .iter()
            .filter(|p| p.at_ms + 2000 >= last)
            .filter_map(|p| p.samples.as_ref().err().map(|e| format!("{}: {e}", p.job)))
            .collect()
    }
}

/// The edge page of each job for one end of a window: the latest at or before
/// `at` (start) or the earliest at or after it (end), else the nearest.
fn edge<'a>(full: &'a [Page], job: &str, at: u64, start: bool) -> Option<&'a Page> {
    let pages = full.iter().filter(|p| p.job == job);
    let preferred = if start {
        pages
            .clone()
            .filter(|p| p.at_ms <= at)
            .max_by_key(|p| p.at_ms)
    } else {
        pages
            .clone()
            .filter(|p| p.at_ms >= at)
            .min_by_key(|p| p.at_ms)
    };
    preferred.or_else(|| pages.min_by_key(|p| p.at_ms.abs_diff(at)))
}

type SeriesKey = (String, BTreeMap<String, String>);

impl Scraper {
    /// Per series of `name` matching `selector`: increase between the window's edges,
    /// over every job. `None` when no job exports a matching series.
    fn deltas(
        &self,
        name: &str,
        selector: &Selector,
        window: Window,
    ) -> Result<Option<Vec<(SeriesKey, f64)>>, Error> {
        let state = self.state.lock();
        let mut out = Vec::new();
        let mut found = false;
        for (job, _) in &self.targets {
            let (Some(first), Some(last)) = (
                edge(&state.full, job, window.start_ms, true),
                edge(&state.full, job, window.end_ms, false),
            ) else {
                return Err(Error::NoData(format!(
                    "no scrape of {job} around the window"
                )));
            };
            let end = last.samples.as_ref().map_err(|e| {
                Error::NoData(format!(
                    "the scrape of {job} at the window's end failed: {e}"
                ))
            })?;
            let begin = first.samples.as_ref().map_err(|e| {
                Error::NoData(format!(
                    "the scrape of {job} at the window's start failed: {e}"
                ))
            })?;
            let start_values: BTreeMap<&BTreeMap<String, String>, f64> = begin
                .iter()
                .filter(|s| s.name == name)
                .map(|s| (&s.labels, s.value))
                .collect();
            for s in end
                .iter()
                .filter(|s| s.name == name && selector.matches(&selector.name, &s.labels))
            {
                found = true;
                let before = start_values.get(&s.labels).copied().unwrap_or(0.0);
                // A counter that went down was reset: it counted up from 0 since.
                let delta = if s.value >= before {
                    s.value - before
                } else {
                    s.value
                };
                out.push(((s.name.clone(), s.labels.clone()), delta));
            }
        }
        Ok(found.then_some(out))
    }
}

/// The embedded source over windows of a finished run.
pub struct ScrapeReader {
    /// The scraper holding the run's pages.
    pub scraper: Arc<Scraper>,
}

/// `up` of a job over the window, from the scrapes' success.
fn up_value(
    state: &State,
    job: &str,
    aggregation: Aggregation,
    from: u64,
    to: u64,
) -> Option<GaugeValue> {
    let points: Vec<bool> = state
        .up
        .get(job)?
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|(_, up)| *up)
        .collect();
    if points.is_empty() {
        return None;
    }
    let value = match aggregation {
        Aggregation::MinOverTime => f64::from(u8::from(points.iter().all(|up| *up))),
        Aggregation::MaxOverTime => f64::from(u8::from(points.iter().any(|up| *up))),
        _ => points.iter().filter(|up| **up).count() as f64 / points.len() as f64,
    };
    Some(GaugeValue {
        value,
        samples: points.len() as u64,
    })
}

/// A counter's per-second increase over time-ordered points, resets counted as
/// starts from zero.
fn rate(points: &[(u64, f64)]) -> f64 {
    let increase: f64 = points
        .windows(2)
        .map(|w| {
            if w[1].1 >= w[0].1 {
                w[1].1 - w[0].1
            } else {
                w[1].1
            }
        })
        .sum();
    let span = (points[points.len() - 1].0 - points[0].0) as f64 / 1000.0;
    if span > 0.0 { increase / span } else { 0.0 }
}

/// One series' points aggregated.
fn aggregate(points: &[(u64, f64)], aggregation: Aggregation) -> f64 {
    let values = points.iter().map(|p| p.1);
    match aggregation {
        Aggregation::MaxOverTime => values.fold(f64::MIN, f64::max),
        Aggregation::MinOverTime => values.fold(f64::MAX, f64::min),
        Aggregation::AvgOverTime => values.sum::<f64>() / points.len() as f64,
        Aggregation::Rate if points.len() < 2 => 0.0,
        Aggregation::Rate => rate(points),
    }
}

/// A followed gauge of a job over the window: its worst series.
fn series_value(
    state: &State,
    job: &str,
    metric: &Selector,
    aggregation: Aggregation,
    from: u64,
    to: u64,
) -> Option<GaugeValue> {
    let mut per_series = Vec::new();
    for ((j, name, labels), points) in &state.series {
        if j != job || !metric.matches(name, labels) {
            continue;
        }
        let points: Vec<(u64, f64)> = points
            .iter()
            .copied()
            .filter(|(t, _)| *t >= from && *t <= to)
            .collect();
        if !points.is_empty() {
            per_series.push((aggregate(&points, aggregation), points.len() as u64));
        }
    }
    if per_series.is_empty() {
        return None;
    }
    let values = per_series.iter().map(|p| p.0);
    let worst = if aggregation == Aggregation::MinOverTime {
        values.fold(f64::MAX, f64::min)
    } else {
        values.fold(f64::MIN, f64::max)
    };
    Some(GaugeValue {
        value: worst,
        samples: per_series.iter().map(|p| p.1).max().unwrap_or(0),
    })
}

impl Reader for ScrapeReader {
    fn source(&self) -> Source {
        Source::Scrape
    }

    async fn increase(&self, selector: &Selector, window: Window) -> Result<Option<f64>, Error> {
        Ok(self
            .scraper
            .deltas(&selector.name, selector, window)?
            .map(|d| d.iter().map(|(_, v)| v).sum()))
    }

    async fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> Result<Option<Buckets>, Error> {
        let name = format!("{}_bucket", histogram.name);
        let Some(deltas) = self.scraper.deltas(&name, histogram, window)? else {
            return Ok(None);
        };
        crate::evaluate::merge_buckets(&name, deltas.iter().map(|((_, l), v)| (l, *v))).map(Some)
    }

    async fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        services: &[String],
    ) -> Result<BTreeMap<String, GaugeValue>, Error> {
        let state = self.scraper.state.lock();
        // The last scrape after the run belongs to the window; it ends a moment after.
        let (from, to) = (window.start_ms, window.end_ms + 2_000);
        let mut out = BTreeMap::new();
        for job in services {
            let value = if metric.name == "up" {
                up_value(&state, job, aggregation, from, to)
            } else {
                series_value(&state, job, metric, aggregation, from, to)
            };
            if let Some(v) = value {
                out.insert(job.clone(), v);
            }
        }
        Ok(out)
    }

    fn note(&self, window: Window) -> Option<String> {
        let state = self.scraper.state.lock();
        let mut worst = 0u64;
        for (job, _) in &self.scraper.targets {
            if let Some(p) = edge(&state.full, job, window.start_ms, true) {
                worst = worst.max(p.at_ms.abs_diff(window.start_ms));
            }
            if let Some(p) = edge(&state.full, job, window.end_ms, false) {
                worst = worst.max(p.at_ms.abs_diff(window.end_ms));
            }
        }
        (worst > 1_500).then(|| {
            format!(
                "window edges read from scrapes up to {:.1} s away",
                worst as f64 / 1000.0
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(job: &str, at_ms: u64, text: &str) -> Page {
        let mut samples = exposition::parse(text).unwrap();
        for s in &mut samples {
            s.labels.insert("job".into(), job.into());
        }
        Page {
            job: job.into(),
            at_ms,
            samples: Ok(samples),
        }
    }

    #[tokio::test]
    async fn deltas_between_edge_pages_with_reset_and_new_series() {
        let scraper = Scraper::new(
            vec![("gw".into(), "http://127.0.0.1:1/metrics".into())],
            vec![],
        );
        {
            let mut s = scraper.state.lock();
            s.full.push(page(
                "gw",
                1_000,
                "c_total{a=\"x\"} 10\nh_bucket{le=\"1.0\"} 5\nh_bucket{le=\"+Inf\"} 6\n",
            ));
            s.full.push(page("gw", 5_000, "c_total{a=\"x\"} 3\nc_total{a=\"y\"} 4\nh_bucket{le=\"1.0\"} 95\nh_bucket{le=\"+Inf\"} 106\n"));
        }
        let reader = ScrapeReader { scraper };
        let w = Window {
            start_ms: 1_100,
            end_ms: 4_900,
        };
        let c = reader
            .increase(&Selector::parse("c_total").unwrap(), w)
            .await
            .unwrap();
        assert_eq!(c, Some(7.0), "reset counter counts 3, new series 4");
        let only_y = reader
            .increase(&Selector::parse("c_total{a=\"y\"}").unwrap(), w)
            .await
            .unwrap();
        assert_eq!(only_y, Some(4.0));
        assert_eq!(
            reader
                .increase(&Selector::parse("missing_total").unwrap(), w)
                .await
                .unwrap(),
            None
        );
        let b = reader
            .buckets(&Selector::parse("h").unwrap(), w)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b, vec![(1.0, 90.0), (f64::INFINITY, 100.0)]);
    }

    #[tokio::test]
    async fn a_failed_scrape_marks_the_target_down() {
        let scraper = Scraper::new(
            vec![("gw".into(), "http://127.0.0.1:9/metrics".into())],
            vec![],
        );
        scraper.scrape(true).await;
        let reader = ScrapeReader {
            scraper: scraper.clone(),
        };
        let now = now_ms();
        let w = Window {
            start_ms: now - 5_000,
            end_ms: now,
        };
        let up = reader
            .gauge(
                &Selector::parse("up").unwrap(),
                Aggregation::MinOverTime,
                w,
                &["gw".into()],
            )
            .await
            .unwrap();
        assert_eq!(up["gw"].value, 0.0);
        assert!(
            reader
                .increase(&Selector::parse("x").unwrap(), w)
                .await
                .is_err(),
            "no page: cannot judge"
        );
        assert_eq!(scraper.last_full_failures().len(), 1);
    }
}
