//! Judging a run against its SLO set: the pipeline from the finished run to its
//! verdicts.
//!
//! The parts: [`source`] chooses where verdicts come from and starts it before the
//! load; [`cross_check`] compares Prometheus with the services' own metrics;
//! [`client`] turns the recorder's results into the client's measurements. The
//! [`Judge`] here runs them in order: close the scrapes, wait for Prometheus to
//! have scraped past the end, judge both windows, cross-check, annotate.

pub mod client;
pub mod cross_check;
pub mod funnel;
pub mod source;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use slo::client::ClientData;
use slo::definition::{Kind, SloSet};
use slo::evaluate::{self, Windows};
use slo::prometheus::{Prometheus, PrometheusReader};
use slo::promql::Scope;
use slo::scrape::ScrapeReader;
use slo::verdict::{Source, Status, Verdict, Verdicts, Window, WindowKind};

use crate::exit::Exit;
use crate::scenario::{Gate, Scenario};
use crate::slo_file::LoadedSlo;
use source::SloSource;

/// Note on memory verdicts of embedded services.
const EMBEDDED_MEMORY_NOTE: &str = "embedded services share the load generator's process: each reports the whole process's memory (an upper bound)";

/// The verifier of one run.
pub struct Judge {
    set: SloSet,
    slo_name: String,
    source: SloSource,
    /// The matchers keeping Prometheus queries to the run's series.
    scope: Scope,
    interval: Duration,
    warnings: Vec<String>,
    /// The services run inside this process (the embedded target).
    embedded: bool,
}

impl Judge {
    /// The Prometheus verdicts come from, with the run's scope (for the release
    /// check's targets-up line); `None` for the other sources.
    pub fn prometheus(&self) -> Option<(Prometheus, Scope)> {
        match &self.source {
            SloSource::Prometheus { prometheus, .. } => {
                Some((prometheus.clone(), self.scope.clone()))
            }
            _ => None,
        }
    }

    /// A judge of `slo` from `source` (started by [`source::choose`]), its
    /// Prometheus queries kept to `extra` matchers beside the set's jobs.
    pub fn new(
        slo: &LoadedSlo,
        source: SloSource,
        interval: Duration,
        warnings: Vec<String>,
        extra: BTreeMap<String, String>,
        embedded: bool,
    ) -> Judge {
        Judge {
            set: slo.set.clone(),
            slo_name: format!("{} ({})", slo.set.name, slo.set.path.display()),
            source,
            scope: Scope {
                jobs: slo.set.services.clone(),
                extra,
            },
            interval,
            warnings,
            embedded,
        }
    }

    /// The load started at `start_ms`: keeps full scrapes around the steady window's
    /// edges, so its counters are read from pages taken next to them.
    pub fn started(&self, start_ms: u64, scenario: &Scenario) {
        if let (Some(p), Some((a, b))) = (self.source.pages(), scenario.steady_offsets()) {
            let edges = [
                start_ms + a.as_millis() as u64,
                start_ms + b.as_millis() as u64,
            ];
            p.scraper
                .keep_full_around(&edges, self.interval + self.interval / 2);
        }
    }

    /// Takes the pages after the run; warns when a service could not be read.
    async fn close_pages(&mut self) {
        if let Some(p) = self.source.pages_mut() {
            p.close().await;
            let failures = p.scraper.last_full_failures();
            if !failures.is_empty() {
                self.warnings.push(format!(
                    "scraping after the run failed: {}",
                    failures.join("; ")
                ));
            }
        }
    }

    /// Judges the finished run over its whole window and its steady window.
    pub async fn judge(&mut self, windows: Windows, client: &ClientData) -> Verdicts {
        self.close_pages().await;
        let (source, mut whole, mut steady, evaluation_ms) = self.evaluate(windows, client).await;
        let server_funnel = self.server_funnel(windows.whole).await;
        let mut cross = None;
        let mut alerts = None;
        if source == Source::Prometheus {
            eprintln!(
                "verified {} SLOs against Prometheus in {evaluation_ms:.0} ms",
                self.set.slos.len()
            );
            if let Some((prometheus, _)) = self.prometheus() {
                let replayed = slo::rules::replay::replay(
                    &self.set,
                    &prometheus,
                    windows.whole,
                    self.interval,
                )
                .await;
                alerts = Some(replayed);
            }
            if let Some(p) = self.source.pages() {
                let reader = ScrapeReader {
                    scraper: p.scraper.clone(),
                };
                let other =
                    evaluate::judge_all(&self.set, &reader, windows.whole, WindowKind::Whole, None)
                        .await;
                cross_check::compare(&self.set, &mut whole, &other, &mut self.warnings);
                cross = Some(other);
            }
        }
        self.annotate(&mut whole);
        if let Some(s) = steady.as_mut() {
            self.annotate(s);
        }
        Verdicts {
            source,
            slo_set: self.slo_name.clone(),
            whole,
            steady,
            whole_window: windows.whole,
            steady_window: windows.steady,
            evaluation_ms,
            warnings: std::mem::take(&mut self.warnings),
            cross_check: cross,
            alerts,
            server_funnel,
        }
    }

    /// The services' onboarding funnel over `window`, from the chosen source.
    async fn server_funnel(&self, window: Window) -> Vec<slo::verdict::ServerStep> {
        match &self.source {
            SloSource::Prometheus { prometheus, .. } => {
                let reader = PrometheusReader {
                    prometheus: prometheus.clone(),
                    scope: self.scope.clone(),
                    interval: self.interval,
                };
                funnel::server_funnel(&reader, window).await
            }
            SloSource::Scrape(p) => {
                let reader = ScrapeReader {
                    scraper: p.scraper.clone(),
                };
                funnel::server_funnel(&reader, window).await
            }
            SloSource::Client => Vec::new(),
        }
    }

    /// The verdicts of both windows from the chosen source, and how long judging
    /// took (waiting for Prometheus aside).
    async fn evaluate(&mut self, windows: Windows, client: &ClientData) -> Judged {
        match &self.source {
            SloSource::Prometheus { prometheus, .. } => {
                let reader = PrometheusReader {
                    prometheus: prometheus.clone(),
                    scope: self.scope.clone(),
                    interval: learnt_interval(prometheus, &self.scope, self.interval).await,
                };
                match scraped_windows(&reader, windows).await {
                    Ok(queried) => {
                        let started = Instant::now();
                        let (w, s) =
                            evaluate::judge_windows(&self.set, &reader, queried, Some(client))
                                .await;
                        (Source::Prometheus, w, s, elapsed_ms(started))
                    }
                    Err(e) => {
                        let note = match &e {
                            slo::Error::Query { .. } => format!("prometheus could not answer: {e}"),
                            _ => format!("{e}: the window's last events may be missing"),
                        };
                        self.warnings.push(e.to_string());
                        let (w, s) = evaluate::judge_undecided(
                            &self.set,
                            windows,
                            Source::Prometheus,
                            &note,
                            Some(client),
                        );
                        (Source::Prometheus, w, s, 0.0)
                    }
                }
            }
            SloSource::Scrape(p) => {
                let reader = ScrapeReader {
                    scraper: p.scraper.clone(),
                };
                let started = Instant::now();
                let (w, s) =
                    evaluate::judge_windows(&self.set, &reader, windows, Some(client)).await;
                (Source::Scrape, w, s, elapsed_ms(started))
            }
            SloSource::Client => (
                Source::Client,
                evaluate::client::judge_only(&self.set, WindowKind::Whole, client),
                None,
                0.0,
            ),
        }
    }

    /// Adds what a reader of these verdicts must know about the embedded target.
    fn annotate(&self, verdicts: &mut [Verdict]) {
        if !self.embedded {
            return;
        }
        for v in verdicts {
            let memory = self.set.slos.iter().any(|s| {
                s.name == v.slo
                    && matches!(&s.kind, Kind::Gauge(g) if g.metric.name == "process_resident_memory_bytes")
            });
            if memory {
                evaluate::add_note(v, EMBEDDED_MEMORY_NOTE);
            }
        }
    }

    /// Stops the managed Prometheus, if any.
    pub async fn finish(self) {
        self.source.finish().await;
    }
}

/// Verdicts of both windows, from a source, with the milliseconds judging took.
type Judged = (Source, Vec<Verdict>, Option<Vec<Verdict>>, f64);

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The targets' scrape interval, learnt from their `up` samples (the configured
/// one when there are too few).
async fn learnt_interval(prometheus: &Prometheus, scope: &Scope, configured: Duration) -> Duration {
    match prometheus.scrape_interval(scope).await {
        Ok(Some(i)) if !i.is_zero() => i,
        _ => configured,
    }
}

/// The windows as Prometheus is asked about them. Prometheus learns the last events
/// of the run at its first scrape after the end: judge up to the first successful
/// scrape of every instance after it (the services are idle by then), and the
/// steady window too when it ends with the run. No such scrape in time is an error:
/// the run's last events would be missing.
async fn scraped_windows(
    reader: &PrometheusReader,
    windows: Windows,
) -> Result<Windows, slo::Error> {
    let end = windows.whole.end_ms;
    let scraped = reader
        .prometheus
        .wait_for_scrape_after(&reader.scope, end, reader.interval)
        .await?
        .max(end);
    let steady = windows.steady.map(|s| Window {
        start_ms: s.start_ms,
        end_ms: if s.end_ms == end { scraped } else { s.end_ms },
    });
    Ok(Windows {
        whole: Window {
            start_ms: windows.whole.start_ms,
            end_ms: scraped,
        },
        steady,
    })
}

/// The exit of the verdicts the scenario's gate looks at.
pub fn gate_exit(verdicts: &Verdicts, gate: Gate) -> Exit {
    let whole = verdicts.whole.iter().map(|v| v.status);
    let steady: Vec<Status> = match &verdicts.steady {
        Some(s) => s.iter().map(|v| v.status).collect(),
        None => verdicts.whole.iter().map(|v| v.status).collect(),
    };
    let status = match gate {
        Gate::Whole => slo::verdict::overall(whole),
        Gate::Steady => slo::verdict::overall(steady),
        Gate::Both => slo::verdict::overall(whole.chain(steady)),
    };
    Exit::of(status)
}
