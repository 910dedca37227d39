//! The embedded source: the verifier scrapes the services' `/metrics` itself, before
//! the run, periodically during it, and after it, and computes the same ratios,
//! bucket shares and gauges as Prometheus would.
//!
//! Counters are followed at every scrape, so a restart is seen whenever it happens:
//! each followed series keeps a reset-corrected running total (a value that went
//! down counted up from 0 since), and the totals are kept at the scrapes next to
//! the window edges (before, after, and the steady window's edges). A window's
//! increase is the difference of the totals at its edges. Memory stays bounded
//! however long the run: only the SLO set's counters and gauges and each target's
//! up/down are kept between edges. Each page's samples get the target's job name
//! as the `job` label, as Prometheus adds it, so the SLO file's selectors read the
//! same series in both sources.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::definition::Aggregation;
use crate::error::Error;
use crate::evaluate::{Edges, GaugeValue, HistogramIncrease, Increase, Reader};
use crate::exposition::{self, Sample};
use crate::selector::Selector;
use crate::verdict::{Source, Window};

/// Timeout of one scrape.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

/// A series of one page: metric name and labels (`job` included).
type SeriesKey = (String, BTreeMap<String, String>);

/// One target's followed counters at one scrape next to a window edge: their
/// reset-corrected running totals.
#[derive(Debug, Clone)]
struct Page {
    job: String,
    at_ms: u64,
    totals: Result<BTreeMap<SeriesKey, f64>, Error>,
}

/// Increases per series between a window's edges, and where they were read.
type Deltas = (Vec<(SeriesKey, f64)>, Edges);

/// Bucket rows by series (the labels without `le`).
type BySeries<'a> = BTreeMap<BTreeMap<String, String>, Vec<(&'a BTreeMap<String, String>, f64)>>;

/// A followed gauge series: job, metric name, labels.
type GaugeKey = (String, String, BTreeMap<String, String>);

/// A counter followed at every scrape.
#[derive(Debug, Clone, Copy)]
struct Running {
    last: f64,
    total: f64,
}

#[derive(Debug, Default)]
struct State {
    /// Totals kept at the scrapes next to window edges.
    pages: Vec<Page>,
    /// Followed counters of each job: running totals.
    running: BTreeMap<(String, SeriesKey), Running>,
    /// Counter resets seen: (job, when).
    resets: Vec<(String, u64)>,
    /// Jobs scraped successfully at least once.
    seen: BTreeSet<String>,
    /// Gauge series: (job, name, labels) -> (time, value).
    series: BTreeMap<GaugeKey, Vec<(u64, f64)>>,
    /// Up/down of each target per scrape.
    up: BTreeMap<String, Vec<(u64, bool)>>,
    /// Keep the totals scraped within `keep_margin` of each of these times.
    keep_at: Vec<u64>,
    keep_margin: u64,
}

impl State {
    /// Updates the running totals with a page; returns this job's totals.
    fn follow(
        &mut self,
        job: &str,
        at_ms: u64,
        samples: &[Sample],
        counters: &[String],
    ) -> BTreeMap<SeriesKey, f64> {
        let first = self.seen.insert(job.to_string());
        let mut totals = BTreeMap::new();
        let mut reset = false;
        for s in samples.iter().filter(|s| counters.contains(&s.name)) {
            let key = (job.to_string(), (s.name.clone(), s.labels.clone()));
            let r = self.running.entry(key.clone()).or_insert(Running {
                last: s.value,
                // A series already counting at the first scrape starts there; one
                // that appears later counted up from 0 since it appeared.
                total: if first { 0.0 } else { s.value },
            });
            if s.value >= r.last {
                r.total += s.value - r.last;
            } else {
                r.total += s.value;
                reset = true;
            }
            r.last = s.value;
            totals.insert(key.1, r.total);
        }
        if reset {
            self.resets.push((job.to_string(), at_ms));
        }
        totals
    }
}

/// Scrapes a fixed set of targets.
pub struct Scraper {
    targets: Vec<(String, String)>,
    client: reqwest::Client,
    gauge_metrics: Vec<String>,
    counters: Vec<String>,
    interval: Duration,
    state: Mutex<State>,
}

/// Now, in unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a scraper follows: its targets, the gauges and counters of the SLO set,
/// and how often it scrapes.
pub struct Follow {
    /// (job, metrics URL) of each target.
    pub targets: Vec<(String, String)>,
    /// Gauge metric names followed over time.
    pub gauges: Vec<String>,
    /// Counter series names (`_bucket` of histograms included) followed at every scrape.
    pub counters: Vec<String>,
    /// The scrape interval.
    pub interval: Duration,
}

impl Scraper {
    /// A scraper of `follow.targets`.
    pub fn new(follow: Follow) -> Arc<Scraper> {
        Arc::new(Scraper {
            targets: follow.targets,
            client: reqwest::Client::builder()
                .timeout(SCRAPE_TIMEOUT)
                .build()
                .unwrap_or_default(),
            gauge_metrics: follow.gauges,
            counters: follow.counters,
            interval: follow.interval,
            state: Mutex::new(State::default()),
        })
    }

    /// The jobs scraped.
    pub fn jobs(&self) -> Vec<String> {
        self.targets.iter().map(|(j, _)| j.clone()).collect()
    }

    /// Keeps the totals scraped within `margin` of each time (unix ms): the
    /// scrapes on both sides of a window edge.
    pub fn keep_full_around(&self, times: &[u64], margin: Duration) {
        let mut state = self.state.lock();
        state.keep_at.extend_from_slice(times);
        state.keep_margin = state.keep_margin.max(margin.as_millis() as u64);
    }

    async fn fetch(&self, job: &str, url: &str) -> (String, u64, Result<Vec<Sample>, Error>) {
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
        (job.to_string(), at_ms, samples)
    }

    /// Scrapes every target once; `keep` keeps the totals (a window edge).
    pub async fn scrape(&self, keep: bool) {
        let pages =
            futures::future::join_all(self.targets.iter().map(|(job, url)| self.fetch(job, url)))
                .await;
        let mut state = self.state.lock();
        let now = pages.iter().map(|p| p.1).min().unwrap_or_else(now_ms);
        let margin = state.keep_margin;
        let due = state
            .keep_at
            .iter()
            .any(|t| now + margin >= *t && now <= t + margin);
        state.keep_at.retain(|t| now <= t + margin);
        for (job, at_ms, samples) in pages {
            state
                .up
                .entry(job.clone())
                .or_default()
                .push((at_ms, samples.is_ok()));
            let totals = match &samples {
                Ok(samples) => {
                    for s in samples
                        .iter()
                        .filter(|s| self.gauge_metrics.contains(&s.name))
                    {
                        state
                            .series
                            .entry((job.clone(), s.name.clone(), s.labels.clone()))
                            .or_default()
                            .push((at_ms, s.value));
                    }
                    Ok(state.follow(&job, at_ms, samples, &self.counters))
                }
                Err(e) => Err(e.clone()),
            };
            if keep || due {
                state.pages.push(Page { job, at_ms, totals });
            }
        }
    }

    /// Scrapes every `interval` until `stop` resolves.
    pub async fn run_periodically(self: Arc<Self>, stop: tokio::sync::oneshot::Receiver<()>) {
        let mut stop = stop;
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => self.scrape(false).await,
            }
        }
    }

    /// Whether any target's page could not be read at the last kept scrape.
    pub fn last_full_failures(&self) -> Vec<String> {
        let state = self.state.lock();
        let last = state.pages.iter().map(|p| p.at_ms).max().unwrap_or(0);
        state
            .pages
            .iter()
            .filter(|p| p.at_ms + 2000 >= last)
            .filter_map(|p| p.totals.as_ref().err().map(|e| format!("{}: {e}", p.job)))
            .collect()
    }
}

/// The kept page of each job for one end of a window: the latest at or before
/// `at` (start) or the earliest at or after it (end), else the nearest.
fn edge<'a>(pages: &'a [Page], job: &str, at: u64, start: bool) -> Option<&'a Page> {
    let pages = pages.iter().filter(|p| p.job == job);
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

impl Scraper {
    /// Per series of `name` matching `selector`: increase between the window's
    /// edges, over every job. `None` when no job exports a matching series.
    fn deltas(
        &self,
        name: &str,
        selector: &Selector,
        window: Window,
    ) -> Result<Option<Deltas>, Error> {
        let state = self.state.lock();
        let mut out = Vec::new();
        let mut edges = Edges::default();
        let mut found = false;
        for (job, _) in &self.targets {
            let (Some(first), Some(last)) = (
                edge(&state.pages, job, window.start_ms, true),
                edge(&state.pages, job, window.end_ms, false),
            ) else {
                return Err(Error::NoData(format!(
                    "no scrape of {job} around the window"
                )));
            };
            let failed = |at: &str, e: &Error| {
                Error::NoData(format!(
                    "the scrape of {job} at the window's {at} failed: {e}"
                ))
            };
            let end = last.totals.as_ref().map_err(|e| failed("end", e))?;
            let begin = first.totals.as_ref().map_err(|e| failed("start", e))?;
            edges = edges.join(Edges {
                read: Some(Window {
                    start_ms: first.at_ms,
                    end_ms: last.at_ms,
                }),
                resets: state
                    .resets
                    .iter()
                    .filter(|(j, t)| j == job && *t > first.at_ms && *t <= last.at_ms)
                    .count() as u64,
            });
            for ((n, labels), total) in end
                .iter()
                .filter(|((n, l), _)| n == name && selector.matches(&selector.name, l))
            {
                found = true;
                let before = begin
                    .get(&(n.clone(), labels.clone()))
                    .copied()
                    .unwrap_or(0.0);
                out.push(((n.clone(), labels.clone()), (total - before).max(0.0)));
            }
        }
        Ok(found.then_some((out, edges)))
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
        expected: 0,
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

/// The highest rate over any stretch of at least `span_ms` of the points: each
/// from the last point at least `span_ms` before a point to that point (the
/// whole, when the points cover less).
fn worst_rate(points: &[(u64, f64)], span_ms: u64) -> f64 {
    let mut worst: Option<f64> = None;
    let mut from = 0;
    for to in 0..points.len() {
        while from + 1 < to && points[to].0 - points[from + 1].0 >= span_ms {
            from += 1;
        }
        if points[to].0 - points[from].0 >= span_ms {
            let r = rate(&points[from..=to]);
            worst = Some(worst.map_or(r, |w| w.max(r)));
        }
    }
    worst.unwrap_or_else(|| rate(points))
}

/// One series' points aggregated (a `rate` over its worst stretch of `span_ms`).
fn aggregate(points: &[(u64, f64)], aggregation: Aggregation, span_ms: u64) -> f64 {
    let values = points.iter().map(|p| p.1);
    match aggregation {
        Aggregation::MaxOverTime => values.fold(f64::MIN, f64::max),
        Aggregation::MinOverTime => values.fold(f64::MAX, f64::min),
        Aggregation::AvgOverTime => values.sum::<f64>() / points.len() as f64,
        Aggregation::Rate if points.len() < 2 => 0.0,
        Aggregation::Rate => worst_rate(points, span_ms),
    }
}

/// A followed gauge of a job over the window: its worst series.
fn series_value(
    state: &State,
    job: &str,
    metric: &Selector,
    (aggregation, span_ms): (Aggregation, u64),
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
            per_series.push((
                aggregate(&points, aggregation, span_ms),
                points.len() as u64,
            ));
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
        // Every series must cover the window: the one with the fewest samples counts.
        samples: per_series.iter().map(|p| p.1).min().unwrap_or(0),
        expected: 0,
    })
}

impl Reader for ScrapeReader {
    fn source(&self) -> Source {
        Source::Scrape
    }

    async fn increase(
        &self,
        selector: &Selector,
        window: Window,
    ) -> Result<Option<Increase>, Error> {
        Ok(self
            .scraper
            .deltas(&selector.name, selector, window)?
            .map(|(d, edges)| Increase {
                value: d.iter().map(|(_, v)| v).sum(),
                edges,
                inner: None,
            }))
    }

    async fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> Result<Option<HistogramIncrease>, Error> {
        let name = format!("{}_bucket", histogram.name);
        let Some((deltas, edges)) = self.scraper.deltas(&name, histogram, window)? else {
            return Ok(None);
        };
        let mut grouped: BySeries = BTreeMap::new();
        for ((_, labels), v) in &deltas {
            let mut key = labels.clone();
            key.remove("le");
            grouped.entry(key).or_default().push((labels, *v));
        }
        let series = grouped
            .into_values()
            .map(|rows| crate::evaluate::merge_buckets(&name, rows))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(HistogramIncrease {
            series,
            edges,
            inner: None,
        }))
    }

    async fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        span: std::time::Duration,
        services: &[String],
    ) -> Result<BTreeMap<String, GaugeValue>, Error> {
        let span_ms = span.as_millis() as u64;
        let state = self.scraper.state.lock();
        // The last scrape after the run belongs to the window; it ends a moment after.
        let (from, to) = (window.start_ms, window.end_ms + 2_000);
        let mut out = BTreeMap::new();
        for job in services {
            let value = if metric.name == "up" {
                up_value(&state, job, aggregation, from, to)
            } else {
                series_value(&state, job, metric, (aggregation, span_ms), from, to)
            };
            if let Some(mut v) = value {
                v.expected = window.end_ms.saturating_sub(window.start_ms)
                    / (self.scraper.interval.as_millis() as u64).max(1);
                out.insert(job.clone(), v);
            }
        }
        Ok(out)
    }

    fn interval(&self) -> Duration {
        self.scraper.interval
    }

    async fn restarted(&self, window: Window) -> Result<std::collections::BTreeSet<String>, Error> {
        let state = self.scraper.state.lock();
        Ok(state
            .resets
            .iter()
            .filter(|(_, t)| *t > window.start_ms && *t <= window.end_ms + 2_000)
            .map(|(job, _)| job.clone())
            .collect())
    }

    fn note(&self, window: Window) -> Option<String> {
        let state = self.scraper.state.lock();
        let mut worst = 0u64;
        for (job, _) in &self.scraper.targets {
            if let Some(p) = edge(&state.pages, job, window.start_ms, true) {
                worst = worst.max(p.at_ms.abs_diff(window.start_ms));
            }
            if let Some(p) = edge(&state.pages, job, window.end_ms, false) {
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

    fn scraper() -> Arc<Scraper> {
        Scraper::new(Follow {
            targets: vec![("gw".into(), "http://127.0.0.1:9/metrics".into())],
            gauges: vec![],
            counters: vec!["c_total".into(), "h_bucket".into()],
            interval: Duration::from_secs(1),
        })
    }

    /// Feeds a page as if scraped at `at_ms`.
    fn feed(scraper: &Scraper, at_ms: u64, text: &str, keep: bool) {
        let mut samples = exposition::parse(text).unwrap();
        for s in &mut samples {
            s.labels.insert("job".into(), "gw".into());
        }
        let mut state = scraper.state.lock();
        let totals = state.follow("gw", at_ms, &samples, &scraper.counters);
        if keep {
            state.pages.push(Page {
                job: "gw".into(),
                at_ms,
                totals: Ok(totals),
            });
        }
    }

    #[tokio::test]
    async fn deltas_between_edge_pages_with_reset_and_new_series() {
        let scraper = scraper();
        feed(
            &scraper,
            1_000,
            "c_total{a=\"x\"} 10\nh_bucket{le=\"1.0\"} 5\nh_bucket{le=\"+Inf\"} 6\n",
            true,
        );
        feed(
            &scraper,
            5_000,
            "c_total{a=\"x\"} 3\nc_total{a=\"y\"} 4\nh_bucket{le=\"1.0\"} 95\nh_bucket{le=\"+Inf\"} 106\n",
            true,
        );
        let reader = ScrapeReader { scraper };
        let w = Window {
            start_ms: 1_100,
            end_ms: 4_900,
        };
        let c = reader
            .increase(&Selector::parse("c_total").unwrap(), w)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.value, 7.0, "reset counter counts 3, new series 4");
        assert_eq!(c.edges.resets, 1);
        let only_y = reader
            .increase(&Selector::parse("c_total{a=\"y\"}").unwrap(), w)
            .await
            .unwrap();
        assert_eq!(only_y.map(|i| i.value), Some(4.0));
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
        assert_eq!(b.series, vec![vec![(1.0, 90.0), (f64::INFINITY, 100.0)]]);
    }

    #[tokio::test]
    async fn a_query_slo_is_never_passed_by_the_scraped_source() {
        // Half the requests fail, and the scrape holds the counts, but a query SLO is
        // PromQL: the embedded source must say it cannot judge it, never PASS it.
        let scraper = scraper();
        feed(
            &scraper,
            1_000,
            "c_total{code=\"200\"} 0\nc_total{code=\"503\"} 0\n",
            true,
        );
        feed(
            &scraper,
            5_000,
            "c_total{code=\"200\"} 500\nc_total{code=\"503\"} 500\n",
            true,
        );
        let set = crate::definition::parse(
            std::path::Path::new("q.toml"),
            r#"
name = "q"
[[slo]]
name = "availability"
kind = "query"
bad_query = 'sum(rate(c_total{code=~"5.."}[{{.window}}]))'
total_query = 'sum(rate(c_total[{{.window}}]))'
objective = "<= 0.001"
"#,
        )
        .unwrap();
        let reader = ScrapeReader { scraper };
        let w = Window {
            start_ms: 1_000,
            end_ms: 5_000,
        };
        let v = crate::evaluate::judge_slo(
            &set,
            &set.slos[0],
            &reader,
            w,
            crate::verdict::WindowKind::Whole,
            None,
        )
        .await;
        assert_eq!(v.status, crate::verdict::Status::Inconclusive, "{v:?}");
        let note = v.note.unwrap_or_default();
        assert!(note.contains("judged through Prometheus only"), "{note}");
        assert!(note.contains("cannot evaluate PromQL"), "{note}");
    }

    #[tokio::test]
    async fn a_reset_between_edges_is_seen_even_when_the_end_is_higher() {
        // 100 before, restart to 0 mid-window, 150 at the end: 50 + 150 events, not 50.
        let scraper = scraper();
        feed(&scraper, 1_000, "c_total 0\n", true);
        feed(&scraper, 2_000, "c_total 100\n", true);
        feed(&scraper, 3_000, "c_total 100\n", false);
        feed(&scraper, 4_000, "c_total 5\n", false);
        feed(&scraper, 6_000, "c_total 150\n", true);
        let reader = ScrapeReader { scraper };
        let w = Window {
            start_ms: 2_000,
            end_ms: 6_000,
        };
        let c = reader
            .increase(&Selector::parse("c_total").unwrap(), w)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.value, 150.0, "5 after the restart, then 145 more");
        assert_eq!(c.edges.resets, 1);
    }

    #[test]
    fn a_rate_is_its_worst_stretch_not_its_average() {
        // A counter of CPU seconds: a full core for 16 s of 40 s, idle after.
        let points: Vec<(u64, f64)> = (0..=40).map(|s| (s * 1000, s.min(16) as f64)).collect();
        assert!((rate(&points) - 0.4).abs() < 1e-9, "the average hides it");
        assert!((worst_rate(&points, 5_000) - 1.0).abs() < 1e-9);
        // Shorter than a stretch: the whole.
        assert!((worst_rate(&points[..3], 5_000) - 1.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn a_failed_scrape_marks_the_target_down() {
        let scraper = scraper();
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
                Duration::from_secs(5),
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
