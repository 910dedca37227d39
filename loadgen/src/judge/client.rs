//! What the client measured, as the SLOs' client measurements: the one place that
//! says how each [`ClientMeasure`] is made from the recorder's results.
//!
//! - `api_errors`: every request started that was not accepted (refused by
//!   status, a 4xx or 3xx included; a failed check; a transport error; a
//!   timeout; cancelled at the hard stop) over every request started: the server
//!   never sees most of these;
//! - `api_latency`: accepted requests' service time (from the actual send, so it
//!   compares with the server's) within the threshold; a failed request is never
//!   a good event: one that took longer than the threshold (a timeout) is late,
//!   a fast one is not counted (the server's histogram counts fast error answers
//!   as fast: the cross-check with the client decides);
//! - `plan_failure`: jobs (iterations of the flow that declares `[measures] job`)
//!   failed or still unfinished when the run stopped, over every job started;
//! - `plan_duration`: completed jobs end to end; failed or timed-out jobs, and
//!   unfinished ones that had already run past the threshold, count as late (a
//!   plan timeout cannot vanish from the plan p95);
//! - `onboarding_completion`: journeys answered at the funnel's last step over
//!   those answered at its first (`[measures] completion`).
//!
//! Where each reads is [`measures::target`]'s decision: by the flows' declared
//! roles, an SLO's `client_flow` and `client_requests`.

use slo::client::{ClientData, Measurement};
use slo::definition::{ClientMeasure, SloSet};
use slo::evaluate::Clients;

use crate::recorder::{Results, SeriesResult};
use crate::scenario::Flow;
use crate::scenario::measures::{self, ClientTarget};

/// The client's measurements of each window of a run.
pub struct WindowClients {
    /// Over the whole run, from the recorder's totals.
    pub whole: ClientData,
    /// Over the steady window, read back from the interval log.
    pub steady: Option<ClientData>,
}

impl WindowClients {
    /// The client's measurements of the run in `dir` (its summary `s`, its
    /// totals `results`): the steady window's are read back from its interval
    /// log. A log that cannot be read leaves the steady window without the
    /// client's view, and says so.
    pub fn of(
        results: &Results,
        dir: &std::path::Path,
        s: &reports::summary::RunSummary,
        set: &SloSet,
        flows: &[Flow],
    ) -> WindowClients {
        let steady = super::window::steady_offsets(s).and_then(|offsets| {
            match super::window::results_in(dir, &results.table, offsets) {
                Ok(r) => Some(client_data(&r, set, flows)),
                Err(e) => {
                    eprintln!(
                        "warning: the steady window's client view is missing: cannot read {}: {e}",
                        dir.display()
                    );
                    None
                }
            }
        });
        WindowClients {
            whole: client_data(results, set, flows),
            steady,
        }
    }

    /// As the verifier takes them.
    pub fn clients(&self) -> Clients<'_> {
        Clients {
            whole: Some(&self.whole),
            steady: self.steady.as_ref(),
        }
    }
}

/// The client's measurement of each SLO of `set` that has one, where
/// [`measures::target`] places it among `flows`.
pub fn client_data(results: &Results, set: &SloSet, flows: &[Flow]) -> ClientData {
    let mut data = ClientData::default();
    for slo in &set.slos {
        let Some(measure) = slo.client else { continue };
        // The scenario's check refused what cannot be placed.
        let Ok(target) = measures::target(slo, measure, flows) else {
            continue;
        };
        match target {
            ClientTarget::Requests { flow, only } => {
                let (errors, latency) = api_measures(results, flow.as_deref(), &only);
                let m = if measure == ClientMeasure::ApiErrors {
                    errors
                } else {
                    latency
                };
                if let Some(m) = m {
                    data.insert(&slo.name, m, flow);
                }
            }
            ClientTarget::Funnel { flow, from, to } => {
                if let Some(m) = funnel(results, &from, &to) {
                    data.insert(&slo.name, m, Some(flow));
                }
            }
            ClientTarget::Jobs { flow } => {
                let jobs = results.flow(&flow).and_then(|r| job_measures(r, measure));
                if let Some(m) = jobs {
                    data.insert(&slo.name, m, Some(flow));
                }
            }
            ClientTarget::Missing(why) => data.missing(&slo.name, why),
        }
    }
    data
}

/// Accepted answers at `to` over accepted answers at `from`.
fn funnel(results: &Results, from: &str, to: &str) -> Option<Measurement> {
    let ok = |name: &str| results.request(name).map_or(0, |r| r.requests - r.errors);
    let total = ok(from);
    (total > 0).then(|| Measurement::Ratio {
        part: ok(to),
        total,
    })
}

/// Errors and latency over the requests of `flow` (all flows when `None`)
/// named in `only` (all when empty).
fn api_measures(
    results: &Results,
    flow: Option<&str>,
    only: &[String],
) -> (Option<Measurement>, Option<Measurement>) {
    let (mut latency, mut failed) = (reports::hdr::new_histogram(), reports::hdr::new_histogram());
    let (mut requests, mut bad) = (0, 0);
    let counted = |r: &&SeriesResult| {
        !r.info.is_flow
            && flow.is_none_or(|f| r.info.flow == f)
            && (only.is_empty() || only.contains(&r.info.name))
    };
    for r in results.series.iter().filter(counted) {
        requests += r.requests;
        bad += r.errors;
        let _ = latency.add(&r.service);
        let _ = failed.add(&r.failed_service);
    }
    if requests == 0 {
        return (None, None);
    }
    let errors = Measurement::Ratio {
        part: bad,
        total: requests,
    };
    let latency = Measurement::Latency {
        finished: latency,
        unfinished: Some(failed),
    };
    (Some(errors), Some(latency))
}

/// A job flow's measure: failures over jobs started, or their durations.
fn job_measures(jobs: &SeriesResult, measure: ClientMeasure) -> Option<Measurement> {
    let started = jobs.completed + jobs.failed + jobs.interrupted;
    if started == 0 {
        return None;
    }
    Some(match measure {
        ClientMeasure::PlanFailure => Measurement::Ratio {
            part: jobs.failed + jobs.interrupted,
            total: started,
        },
        _ => {
            let mut unfinished = jobs.open.clone();
            let _ = unfinished.add(&jobs.failed_histogram);
            Measurement::Latency {
                finished: jobs.histogram.clone(),
                unfinished: Some(unfinished),
            }
        }
    })
}
