//! Judging a run against its SLO set: the pipeline from the finished run to its
//! verdicts.
//!
//! The parts: [`source`] chooses where verdicts come from and starts it before the
//! load; [`cross_check`] compares Prometheus with the services' own metrics;
//! [`client`] turns the recorder's results into the client's measurements, and
//! [`window`] reads the client's record of the steady window back from the
//! interval log. The [`Judge`] here runs them in order: close the scrapes, pin
//! the windows to Prometheus's scrapes at their edges, judge both windows with
//! the client's view of each, cross-check both, annotate.

pub mod client;
pub mod clock;
pub mod cross_check;
pub mod funnel;
pub mod source;
pub mod window;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use slo::client::ClientData;
use slo::clock::ClockOffset;
use slo::definition::{Kind, SloSet};
use slo::evaluate::{self, Clients, Windows};
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
    /// Prometheus's clock against this machine's, measured before the load.
    clock_before: Option<ClockOffset>,
    /// The offset the windows were judged with.
    clock: Option<ClockOffset>,
    /// Whether the scrapes next to the windows' edges may hold other traffic
    /// (a merge, judged later): see [`PrometheusReader::bounded_edges`].
    bounded_edges: bool,
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
            clock_before: None,
            clock: None,
            bounded_edges: false,
        }
    }

    /// Judges the windows as if other traffic could sit next to their edges (a
    /// merge runs after the workers, perhaps amid other load).
    pub fn bound_edges(&mut self) {
        self.bounded_edges = true;
    }

    /// Measures Prometheus's clock against this machine's before the load (the
    /// judging measures it again after): the windows are taken on this machine's
    /// clock, Prometheus stamps its samples with its own.
    /// What it measured, when Prometheus judges.
    pub async fn measure_clock(&mut self) -> Option<ClockOffset> {
        let (prometheus, _) = self.prometheus()?;
        self.clock_before = prometheus.clock_offset().await.ok();
        self.clock_before
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

    /// Judges the finished run over its whole window and its steady window, each
    /// with the client's measurements of that window beside it.
    pub async fn judge(&mut self, windows: Windows, clients: Clients<'_>) -> Verdicts {
        self.close_pages().await;
        let (source, mut whole, mut steady, evaluation_ms) = self.evaluate(windows, clients).await;
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
            cross = self.cross_check(windows, &mut whole, steady.as_mut()).await;
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
            clock: self.clock,
        }
    }

    /// Settles the Prometheus verdicts of both windows with the services' own
    /// metrics' verdicts of the same windows, when those were scraped; the whole
    /// window's verdicts of the services' metrics.
    async fn cross_check(
        &mut self,
        windows: Windows,
        whole: &mut [Verdict],
        steady: Option<&mut Vec<Verdict>>,
    ) -> Option<Vec<Verdict>> {
        let reader = ScrapeReader {
            scraper: self.source.pages()?.scraper.clone(),
        };
        let (other, other_steady) =
            evaluate::judge_windows(&self.set, &reader, windows, Clients::default()).await;
        cross_check::compare(&self.set, whole, &other, &mut self.warnings);
        if let (Some(s), Some(o)) = (steady, other_steady) {
            cross_check::compare(&self.set, s, &o, &mut self.warnings);
        }
        Some(other)
    }

    /// The services' onboarding funnel over `window`, from the chosen source.
    async fn server_funnel(&self, window: Window) -> Vec<slo::verdict::ServerStep> {
        match &self.source {
            SloSource::Prometheus { prometheus, .. } => {
                let reader =
                    PrometheusReader::new(prometheus.clone(), self.scope.clone(), self.interval);
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
    async fn evaluate(&mut self, windows: Windows, clients: Clients<'_>) -> Judged {
        match &self.source {
            SloSource::Prometheus { prometheus, .. } => {
                let prometheus = prometheus.clone();
                self.judge_on_prometheus(prometheus, windows, clients).await
            }
            SloSource::Scrape(p) => {
                let reader = ScrapeReader {
                    scraper: p.scraper.clone(),
                };
                let started = Instant::now();
                let (w, s) = evaluate::judge_windows(&self.set, &reader, windows, clients).await;
                (Source::Scrape, w, s, elapsed_ms(started))
            }
            SloSource::Client => {
                let only = |kind, client: Option<&ClientData>| {
                    client.map(|c| evaluate::client::judge_only(&self.set, kind, c))
                };
                let whole = only(WindowKind::Whole, clients.whole).unwrap_or_default();
                let steady = windows
                    .steady
                    .and_then(|_| only(WindowKind::Steady, clients.steady));
                (Source::Client, whole, steady, 0.0)
            }
        }
    }

    /// The verdicts of both windows from Prometheus: the windows moved onto its
    /// clock, pinned to its scrapes at their edges, then judged.
    async fn judge_on_prometheus(
        &mut self,
        prometheus: Prometheus,
        windows: Windows,
        clients: Clients<'_>,
    ) -> Judged {
        let undecided = |note: &str| {
            let (w, s) =
                evaluate::judge_undecided(&self.set, windows, Source::Prometheus, note, clients);
            (Source::Prometheus, w, s, 0.0)
        };
        let after = prometheus.clock_offset().await.ok();
        let Some(offset) = clock::over_the_run(self.clock_before, after) else {
            let why = format!(
                "Prometheus at {} did not tell its time: whether the window read on its clock is the window that ran is unknown",
                prometheus.url()
            );
            self.warnings.push(why.clone());
            return undecided(&why);
        };
        self.clock = Some(offset);
        let (windows, moved) = clock::onto_prometheus(windows, offset, self.interval);
        self.warnings.extend(moved);
        let (mut reader, pinned) =
            PrometheusReader::pinned(prometheus, self.scope.clone(), self.interval, windows).await;
        reader.bounded_edges = self.bounded_edges;
        match pinned {
            Ok(()) => {
                let started = Instant::now();
                let (w, s) = evaluate::judge_windows(&self.set, &reader, windows, clients).await;
                (Source::Prometheus, w, s, elapsed_ms(started))
            }
            Err(e) => {
                let note = match &e {
                    slo::Error::Query { .. } => format!("prometheus could not answer: {e}"),
                    _ => format!("{e}: the window's last events may be missing"),
                };
                self.warnings.push(e.to_string());
                undecided(&note)
            }
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
