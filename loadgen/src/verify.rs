//! Judging a run (or any window) against the SLO set, and choosing the source.
//!
//! Sources, in order of preference for `loadgen run`:
//! 1. a Prometheus given by `--prometheus` or the scenario (`[prometheus] url`);
//! 2. a managed local Prometheus (`--managed-prometheus` or `[prometheus] managed = true`)
//!    when the `prometheus` binary is installed;
//! 3. the embedded source: the verifier's own scrapes of the services' `/metrics`;
//! 4. the client's measurements alone, when no metrics endpoint is known.
//!
//! With Prometheus as the source and metrics endpoints known, the verifier scrapes
//! them too and reports where the two sources disagree (a cross-check).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slo::client::{ApiData, ClientData, OnboardingData, PlanData};
use slo::definition::{Kind, SloSet};
use slo::evaluate;
use slo::prometheus::{Prometheus, PrometheusReader};
use slo::scrape::{ScrapeReader, Scraper};
use slo::toml_file::FileError;
use slo::verdict::{Source, Status, Verdict, Verdicts, Window, WindowKind};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::managed_prometheus::{self, ManagedPrometheus};
use crate::recorder::{Results, Series};
use crate::run::RunOptions;
use crate::scenario::{Gate, Scenario};
use crate::target::RunningTarget;

/// An SLO set and its text (copied into the run directory).
pub struct LoadedSlo {
    pub set: SloSet,
    pub text: String,
}

pub fn load_slo(path: &Path) -> Result<LoadedSlo, FileError> {
    let (set, text) = slo::definition::load(path)?;
    Ok(LoadedSlo { set, text })
}

/// Metric names followed over time by the embedded source (the gauge SLOs').
fn gauge_metrics(set: &SloSet) -> Vec<String> {
    set.slos
        .iter()
        .filter_map(|s| match &s.kind {
            Kind::Gauge { metric, .. } if metric.name != "up" => Some(metric.name.clone()),
            _ => None,
        })
        .collect()
}

struct Periodic {
    scraper: Arc<Scraper>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Periodic {
    async fn start(
        targets: &BTreeMap<String, String>,
        set: &SloSet,
        interval: Duration,
    ) -> Periodic {
        let scraper = Scraper::new(
            targets
                .iter()
                .map(|(j, u)| (j.clone(), u.clone()))
                .collect(),
            gauge_metrics(set),
        );
        scraper.scrape(true).await;
        let (stop, rx) = oneshot::channel();
        let task = tokio::spawn(scraper.clone().run_periodically(interval, rx));
        Periodic {
            scraper,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the periodic scrapes and takes the page after the run.
    async fn close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.scraper.scrape(true).await;
    }
}

enum Primary {
    Prometheus(Prometheus),
    Scrape,
    Client,
}

/// The verifier of one run.
pub struct Judge {
    set: SloSet,
    slo_name: String,
    primary: Primary,
    managed: Option<ManagedPrometheus>,
    periodic: Option<Periodic>,
    interval: Duration,
    warnings: Vec<String>,
    /// The services run inside this process (the embedded target).
    embedded: bool,
}

/// Note on memory verdicts of embedded services.
const EMBEDDED_MEMORY_NOTE: &str = "embedded services share the load generator's process: each reports the whole process's memory (an upper bound)";

/// What the client measured, for the SLOs' client views.
pub fn client_data(results: &Results) -> ClientData {
    let mut latency = reports::hdr::new_histogram();
    let (mut requests, mut server_errors) = (0, 0);
    for r in results.series.iter().filter(|r| !r.series.is_flow()) {
        requests += r.requests;
        server_errors += r.classes.get("5xx").copied().unwrap_or(0);
        let _ = latency.add(&r.histogram);
    }
    let plans = results.get(Series::FlowPlans);
    let ok = |s: Series| {
        let r = results.get(s);
        r.requests - r.errors
    };
    ClientData {
        api: (requests > 0).then_some(ApiData {
            requests,
            server_errors,
            latency_us: latency,
        }),
        plans: (plans.completed + plans.failed > 0).then(|| PlanData {
            finished: plans.completed + plans.failed,
            failed: plans.failed,
            end_to_end_us: plans.histogram.clone(),
        }),
        onboarding: (ok(Series::PurposeSelection) > 0).then_some(OnboardingData {
            started: ok(Series::PurposeSelection),
            completed: ok(Series::Complete),
        }),
    }
}

impl Judge {
    /// Chooses the source and starts what it needs before the load starts.
    pub async fn prepare(
        scenario: &Scenario,
        slo: &LoadedSlo,
        target: &RunningTarget,
        options: &RunOptions,
        run_dir: &Path,
    ) -> Judge {
        let mut warnings = Vec::new();
        let interval = scenario.scrape_interval;
        let metrics = &target.metrics;
        let url = options
            .prometheus
            .clone()
            .or_else(|| scenario.prometheus_url.clone());
        let mut managed = None;
        let primary = if options.no_prometheus {
            if metrics.is_empty() {
                Primary::Client
            } else {
                Primary::Scrape
            }
        } else if let Some(url) = url {
            match Prometheus::new(&url) {
                Ok(p) => {
                    if !p.ready().await {
                        warnings.push(format!(
                            "Prometheus at {url} is not ready; verdicts may be inconclusive"
                        ));
                    }
                    Primary::Prometheus(p)
                }
                Err(e) => {
                    warnings.push(format!("Prometheus at {url}: {e}"));
                    Primary::Client
                }
            }
        } else if (options.managed_prometheus || scenario.prometheus_managed) && !metrics.is_empty()
        {
            if managed_prometheus::available() {
                match ManagedPrometheus::start(metrics, interval, &run_dir.join("prometheus.log"))
                    .await
                {
                    Ok(m) => {
                        let p = Prometheus::new(&m.url).expect("a loopback URL parses");
                        managed = Some(m);
                        Primary::Prometheus(p)
                    }
                    Err(e) => {
                        warnings.push(format!(
                            "managed Prometheus: {e}; judging from the services' metrics"
                        ));
                        Primary::Scrape
                    }
                }
            } else {
                warnings.push(format!(
                    "no `{}` binary for a managed Prometheus (apt-get install prometheus); judging from the services' metrics",
                    managed_prometheus::binary().display()
                ));
                Primary::Scrape
            }
        } else if metrics.is_empty() {
            Primary::Client
        } else {
            Primary::Scrape
        };
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        match &primary {
            Primary::Prometheus(p) => eprintln!(
                "SLO source: Prometheus at {}{}",
                p.url(),
                if managed.is_some() {
                    " (managed, 1 s scrapes)"
                } else {
                    ""
                }
            ),
            Primary::Scrape => eprintln!(
                "SLO source: the services' own /metrics (scraped every {}s)",
                interval.as_secs()
            ),
            Primary::Client => {
                eprintln!("SLO source: the client's measurements only (no metrics endpoint known)")
            }
        }
        // Periodic scrapes: the embedded source, or the cross-check of Prometheus.
        let periodic = if metrics.is_empty() || matches!(primary, Primary::Client) {
            None
        } else {
            Some(Periodic::start(metrics, &slo.set, interval).await)
        };
        Judge {
            set: slo.set.clone(),
            slo_name: format!("{} ({})", slo.set.name, slo.set.path.display()),
            primary,
            managed,
            periodic,
            interval,
            warnings,
            embedded: target.kind == "embedded",
        }
    }

    /// Adds what a reader of these verdicts must know about the embedded target.
    fn annotate(&self, verdicts: &mut [Verdict]) {
        if !self.embedded {
            return;
        }
        for v in verdicts {
            let memory = self.set.slos.iter().any(|s| {
                s.name == v.slo && matches!(&s.kind, Kind::Gauge { metric, .. } if metric.name == "process_resident_memory_bytes")
            });
            if memory {
                v.note = Some(match v.note.take() {
                    Some(n) => format!("{n}; {EMBEDDED_MEMORY_NOTE}"),
                    None => EMBEDDED_MEMORY_NOTE.to_string(),
                });
            }
        }
    }

    /// The load started at `start_ms`: keeps full scrapes around the steady window's
    /// edges, so its counters are read from pages taken next to them.
    pub fn started(&self, start_ms: u64, scenario: &Scenario) {
        if let (Some(p), Some((a, b))) = (&self.periodic, scenario.steady_offsets()) {
            let edges = [
                start_ms + a.as_millis() as u64,
                start_ms + b.as_millis() as u64,
            ];
            p.scraper
                .keep_full_around(&edges, self.interval + self.interval / 2);
        }
    }

    /// Judges the finished run over its whole window and its steady window.
    pub async fn judge(
        &mut self,
        summary: &reports::summary::RunSummary,
        results: &Results,
    ) -> Verdicts {
        if let Some(p) = &mut self.periodic {
            p.close().await;
            let failures = p.scraper.last_full_failures();
            if !failures.is_empty() {
                self.warnings.push(format!(
                    "scraping after the run failed: {}",
                    failures.join("; ")
                ));
            }
        }
        let whole = Window {
            start_ms: summary.start_ms,
            end_ms: summary.end_ms,
        };
        let steady = match (summary.steady_start_ms, summary.steady_end_ms) {
            (Some(a), Some(b)) if a < b => Some(Window {
                start_ms: a,
                end_ms: b,
            }),
            _ => None,
        };
        let client = client_data(results);
        // Prometheus learns the last events of the run at its first scrape after the
        // end: judge up to that scrape (the services are idle by then).
        let mut whole_query = whole;
        let mut steady_query = steady;
        if let Primary::Prometheus(p) = &self.primary {
            let jobs = self.set.services.clone();
            let limit = self.interval * 3 + Duration::from_secs(2);
            match p.wait_for_scrape_after(&jobs, whole.end_ms, limit).await {
                Ok(scraped) => {
                    whole_query.end_ms = scraped.max(whole.end_ms);
                    if let Some(s) = steady_query.as_mut()
                        && s.end_ms == whole.end_ms
                    {
                        s.end_ms = whole_query.end_ms;
                    }
                }
                Err(e) => self.warnings.push(e),
            }
        }
        let started = Instant::now();
        let (source, mut whole_verdicts, steady_verdicts) = match &self.primary {
            Primary::Prometheus(p) => {
                let reader = PrometheusReader {
                    prometheus: p.clone(),
                    services: self.set.services.clone(),
                };
                let (w, s) = tokio::join!(
                    evaluate::judge_all(
                        &self.set,
                        &reader,
                        whole_query,
                        WindowKind::Whole,
                        Some(&client)
                    ),
                    async {
                        match steady_query {
                            Some(s) => Some(
                                evaluate::judge_all(
                                    &self.set,
                                    &reader,
                                    s,
                                    WindowKind::Steady,
                                    None,
                                )
                                .await,
                            ),
                            None => None,
                        }
                    }
                );
                (Source::Prometheus, w, s)
            }
            Primary::Scrape => {
                let reader = ScrapeReader {
                    scraper: self
                        .periodic
                        .as_ref()
                        .expect("scrape source has a scraper")
                        .scraper
                        .clone(),
                };
                let w = evaluate::judge_all(
                    &self.set,
                    &reader,
                    whole,
                    WindowKind::Whole,
                    Some(&client),
                )
                .await;
                let s = match steady {
                    Some(s) => Some(
                        evaluate::judge_all(&self.set, &reader, s, WindowKind::Steady, None).await,
                    ),
                    None => None,
                };
                (Source::Scrape, w, s)
            }
            Primary::Client => (
                Source::Client,
                evaluate::judge_client_only(&self.set, WindowKind::Whole, &client),
                None,
            ),
        };
        let evaluation_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut cross = None;
        if source == Source::Prometheus {
            eprintln!(
                "verified {} SLOs against Prometheus in {evaluation_ms:.0} ms",
                self.set.slos.len()
            );
            // Cross-check against the services' own metrics.
            if let Some(p) = &self.periodic {
                let reader = ScrapeReader {
                    scraper: p.scraper.clone(),
                };
                let other =
                    evaluate::judge_all(&self.set, &reader, whole, WindowKind::Whole, None).await;
                cross_check(
                    &mut whole_verdicts,
                    &other,
                    self.set.client_tolerance,
                    &mut self.warnings,
                );
                cross = Some(other);
            }
        }
        self.annotate(&mut whole_verdicts);
        let mut steady_verdicts = steady_verdicts;
        if let Some(s) = steady_verdicts.as_mut() {
            self.annotate(s);
        }
        Verdicts {
            source,
            slo_set: self.slo_name.clone(),
            whole: whole_verdicts,
            steady: steady_verdicts,
            whole_window: whole,
            steady_window: steady,
            evaluation_ms,
            warnings: std::mem::take(&mut self.warnings),
            cross_check: cross,
        }
    }

    /// Stops the managed Prometheus, if any.
    pub async fn finish(self) {
        if let Some(m) = self.managed {
            m.stop().await;
        }
    }
}

/// Notes where Prometheus and the services' own metrics disagree beyond `tolerance`.
pub fn cross_check(
    verdicts: &mut [Verdict],
    scraped: &[Verdict],
    tolerance: f64,
    warnings: &mut Vec<String>,
) {
    for v in verdicts.iter_mut() {
        let Some(o) = scraped.iter().find(|o| o.slo == v.slo) else {
            continue;
        };
        let differs = match (v.value, o.value) {
            (Some(a), Some(b)) if v.kind != "gauge" => (a - b).abs() > tolerance,
            _ => false,
        } || (v.status != o.status
            && v.status != Status::Inconclusive
            && o.status != Status::Inconclusive);
        if differs {
            let message = format!(
                "{}: Prometheus says {} ({}), the services' metrics say {} ({})",
                v.slo, v.display, v.status, o.display, o.status
            );
            v.note = Some(match v.note.take() {
                Some(n) => format!("{n}; {message}"),
                None => message.clone(),
            });
            warnings.push(message);
        }
    }
}

/// The exit code of the verdicts the scenario's gate looks at.
pub fn gate_exit_code(verdicts: &Verdicts, gate: Gate) -> u8 {
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
    slo::verdict::status_exit_code(status)
}

/// A point in time on the command line: unix seconds or milliseconds, or RFC 3339.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        // Seconds before the year 2286, else milliseconds.
        return Ok(if n < 1e10 {
            (n * 1000.0).round() as u64
        } else {
            n.round() as u64
        });
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis().max(0) as u64)
        .map_err(|_| format!("{t:?} is not a time: use unix seconds (1700000000), milliseconds or RFC 3339 (2026-11-27T10:00:00Z)"))
}

/// `loadgen verify`: judges a window on a Prometheus without driving load.
pub struct VerifyRequest {
    pub slo: PathBuf,
    pub prometheus: String,
    pub from: u64,
    pub to: u64,
    pub steady: Option<(u64, u64)>,
    pub out: Option<PathBuf>,
}

pub async fn verify(request: VerifyRequest) -> anyhow::Result<u8> {
    let loaded = match load_slo(&request.slo) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(slo::verdict::exit_code::USAGE);
        }
    };
    let prometheus = Prometheus::new(&request.prometheus).map_err(anyhow::Error::msg)?;
    let mut warnings = Vec::new();
    if !prometheus.ready().await {
        warnings.push(format!(
            "Prometheus at {} is not reachable or not ready",
            request.prometheus
        ));
    }
    let reader = PrometheusReader {
        prometheus,
        services: loaded.set.services.clone(),
    };
    let whole = Window {
        start_ms: request.from,
        end_ms: request.to,
    };
    let started = Instant::now();
    let w = evaluate::judge_all(&loaded.set, &reader, whole, WindowKind::Whole, None).await;
    let s = match request.steady {
        Some((a, b)) => Some(
            evaluate::judge_all(
                &loaded.set,
                &reader,
                Window {
                    start_ms: a,
                    end_ms: b,
                },
                WindowKind::Steady,
                None,
            )
            .await,
        ),
        None => None,
    };
    let verdicts = Verdicts {
        source: Source::Prometheus,
        slo_set: format!("{} ({})", loaded.set.name, request.slo.display()),
        whole: w,
        steady: s,
        whole_window: whole,
        steady_window: request.steady.map(|(a, b)| Window {
            start_ms: a,
            end_ms: b,
        }),
        evaluation_ms: started.elapsed().as_secs_f64() * 1000.0,
        warnings,
        cross_check: None,
    };
    print!("{}", crate::printer::verdict_table(&verdicts));
    let code = verdicts.exit_code();
    if let Some(out) = &request.out {
        std::fs::create_dir_all(out)?;
        reports::summary::write_json(&out.join("verdicts.json"), &verdicts)?;
        std::fs::write(
            out.join("junit.xml"),
            reports::junit::render(&verdicts, &loaded.set.name),
        )?;
        eprintln!("verdicts written to {}", out.display());
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000123").unwrap(), 1_700_000_000_123);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert!(parse_time("yesterday").is_err());
    }
}
