//! Choosing where verdicts come from, and starting what that source needs before
//! the load starts. The choice is a type: each source holds what it judges from,
//! so no code path can judge from a source that was never set up.
//!
//! In order of preference, as [`crate::settings::SourcePlan`] asks:
//! 1. a Prometheus given by flag, environment or scenario;
//! 2. a managed local Prometheus, when its binary runs;
//! 3. the embedded source: the verifier's own scrapes of the services' `/metrics`;
//! 4. the client's measurements alone, when no metrics endpoint is known.
//!
//! With Prometheus as the source and metrics endpoints known, the services are
//! scraped too, to cross-check the two.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use slo::definition::SloSet;
use slo::managed::ManagedPrometheus;
use slo::prometheus::Prometheus;
use slo::scrape::{Follow, Scraper};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::settings::SourcePlan;

/// The services' pages, scraped before, during and after the run.
pub struct Periodic {
    /// The scraper holding the pages.
    pub scraper: Arc<Scraper>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Takes the page before the run and starts scraping every `interval`.
    pub async fn start(
        targets: &BTreeMap<String, String>,
        set: &SloSet,
        interval: Duration,
    ) -> Periodic {
        let scraper = Scraper::new(Follow {
            targets: targets
                .iter()
                .map(|(j, u)| (j.clone(), u.clone()))
                .collect(),
            gauges: set.gauge_names(),
            counters: set.counter_names(),
            interval,
        });
        scraper.scrape(true).await;
        let (stop, rx) = oneshot::channel();
        let task = tokio::spawn(scraper.clone().run_periodically(rx));
        Periodic {
            scraper,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the periodic scrapes and takes the page after the run.
    pub async fn close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.scraper.scrape(true).await;
    }
}

/// The source verdicts come from, with what it judges from.
pub enum SloSource {
    /// PromQL against a Prometheus (managed when started for the run), cross-checked
    /// against the services' own pages when their endpoints are known.
    Prometheus {
        /// The server asked.
        prometheus: Prometheus,
        /// The process, when started for this run.
        managed: Option<ManagedPrometheus>,
        /// The services' pages, for the cross-check.
        cross_check: Option<Periodic>,
    },
    /// The services' own `/metrics`, scraped by the verifier.
    Scrape(Periodic),
    /// The client's measurements alone.
    Client,
}

/// What choosing the source had to say (fallbacks, unreachable servers).
pub type Warnings = Vec<String>;

/// Starts the source `plan` asks for, or the best one that can run.
pub async fn choose(
    plan: &SourcePlan,
    set: &SloSet,
    metrics: &BTreeMap<String, String>,
    interval: Duration,
    run_dir: &Path,
) -> (SloSource, Warnings) {
    let mut warnings = Vec::new();
    let periodic = || async {
        if metrics.is_empty() {
            None
        } else {
            Some(Periodic::start(metrics, set, interval).await)
        }
    };
    let scrape_or_client = |periodic: Option<Periodic>| match periodic {
        Some(p) => SloSource::Scrape(p),
        None => SloSource::Client,
    };
    let prometheus = match plan {
        SourcePlan::Scrape => None,
        SourcePlan::Prometheus(url) => match Prometheus::new(url) {
            Ok(p) => {
                if !p.ready().await {
                    warnings.push(format!(
                        "Prometheus at {url} is not ready; verdicts may be inconclusive"
                    ));
                }
                Some((p, None))
            }
            Err(e) => {
                warnings.push(format!("Prometheus at {url}: {e}"));
                return (SloSource::Client, warnings);
            }
        },
        SourcePlan::Managed { .. } if metrics.is_empty() => None,
        SourcePlan::Managed { binary } => {
            managed(binary, metrics, interval, run_dir, &mut warnings).await
        }
    };
    let source = match prometheus {
        Some((prometheus, managed)) => SloSource::Prometheus {
            prometheus,
            managed,
            cross_check: periodic().await,
        },
        None => scrape_or_client(periodic().await),
    };
    (source, warnings)
}

/// A managed Prometheus, or a warning saying why the services' metrics judge instead.
async fn managed(
    binary: &Path,
    metrics: &BTreeMap<String, String>,
    interval: Duration,
    run_dir: &Path,
    warnings: &mut Warnings,
) -> Option<(Prometheus, Option<ManagedPrometheus>)> {
    if !slo::managed::available(binary) {
        warnings.push(format!(
            "no `{}` binary for a managed Prometheus (apt-get install prometheus); judging from the services' metrics",
            binary.display()
        ));
        return None;
    }
    match ManagedPrometheus::start(binary, metrics, interval, &run_dir.join("prometheus.log")).await
    {
        Ok(m) => match Prometheus::new(&m.url) {
            Ok(p) => Some((p, Some(m))),
            Err(e) => {
                warnings.push(format!(
                    "managed Prometheus: {e}; judging from the services' metrics"
                ));
                m.stop().await;
                None
            }
        },
        Err(e) => {
            warnings.push(format!("{e}; judging from the services' metrics"));
            None
        }
    }
}

impl SloSource {
    /// The line the run prints about its source.
    pub fn describe(&self, interval: Duration) -> String {
        match self {
            SloSource::Prometheus {
                prometheus,
                managed,
                ..
            } => format!(
                "SLO source: Prometheus at {}{}",
                prometheus.url(),
                if managed.is_some() {
                    " (managed, 1 s scrapes)"
                } else {
                    ""
                }
            ),
            SloSource::Scrape(_) => format!(
                "SLO source: the services' own /metrics (scraped every {}s)",
                interval.as_secs()
            ),
            SloSource::Client => {
                "SLO source: the client's measurements only (no metrics endpoint known)".to_string()
            }
        }
    }

    /// The services' pages, when scraped (the embedded source or the cross-check).
    pub fn pages(&self) -> Option<&Periodic> {
        match self {
            SloSource::Prometheus { cross_check, .. } => cross_check.as_ref(),
            SloSource::Scrape(p) => Some(p),
            SloSource::Client => None,
        }
    }

    /// The services' pages, to close after the run.
    pub fn pages_mut(&mut self) -> Option<&mut Periodic> {
        match self {
            SloSource::Prometheus { cross_check, .. } => cross_check.as_mut(),
            SloSource::Scrape(p) => Some(p),
            SloSource::Client => None,
        }
    }

    /// Stops the managed Prometheus, if any.
    pub async fn finish(self) {
        if let SloSource::Prometheus {
            managed: Some(m), ..
        } = self
        {
            m.stop().await;
        }
    }
}
