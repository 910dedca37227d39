//! What the client measured, as the SLOs' client measurements: the one place that
//! says how each [`ClientMeasure`] is made from the recorder's results.
//!
//! - `api_errors`: requests answered with a 5xx or never answered (refused,
//!   reset, timed out) over all requests: the server never sees the second kind;
//! - `api_latency`: requests' service time (from the actual send, so it compares
//!   with the server's), failed ones included (the server's histogram counts
//!   error answers too, and a timed-out request was slow), within the threshold;
//! - `plan_failure`: plans failed or still unfinished when the run stopped, over
//!   every plan started;
//! - `plan_duration`: completed plans end to end; failed or timed-out plans and
//!   unfinished ones that had already run past the threshold count as late (a plan
//!   timeout cannot vanish from the plan p95);
//! - `onboarding_completion`: onboardings completed over onboardings started.
//!
//! An SLO with `client_requests` keeps `api_errors` or `api_latency` to the
//! requests it names (the client side of an SLO on one route).

use slo::client::{ClientData, Measurement};
use slo::definition::{ClientMeasure, SloSet};

use crate::recorder::{Results, SeriesResult};

/// The client's measurements of a run, over every request and over the
/// requests each SLO of `set` keeps its measurement to.
pub fn client_data(results: &Results, set: &SloSet) -> ClientData {
    let mut data = ClientData::default();
    api_measures(&mut data, results, &[]);
    for slo in set.slos.iter().filter(|s| !s.client_requests.is_empty()) {
        api_measures(&mut data, results, &slo.client_requests);
    }
    if let Some(plans) = results.flow("plans") {
        plan_measures(&mut data, plans);
    }
    let ok = |name: &str| results.request(name).map_or(0, |r| r.requests - r.errors);
    if ok("purpose_selection") > 0 {
        data.insert(
            ClientMeasure::OnboardingCompletion,
            Measurement::Ratio {
                part: ok("complete"),
                total: ok("purpose_selection"),
            },
        );
    }
    data
}

/// Errors and latency over the requests named `only` (empty: every request).
fn api_measures(data: &mut ClientData, results: &Results, only: &[String]) {
    let mut latency = reports::hdr::new_histogram();
    let (mut requests, mut bad) = (0, 0);
    let counted =
        |r: &&SeriesResult| !r.info.is_flow && (only.is_empty() || only.contains(&r.info.name));
    for r in results.series.iter().filter(counted) {
        requests += r.requests;
        bad += r.classes.get("5xx").copied().unwrap_or(0);
        bad += r.classes.get("none").copied().unwrap_or(0);
        let _ = latency.add(&r.service);
        let _ = latency.add(&r.failed_service);
    }
    if requests > 0 {
        let errors = Measurement::Ratio {
            part: bad,
            total: requests,
        };
        data.insert_for(ClientMeasure::ApiErrors, only, errors);
        let latency = Measurement::Latency {
            finished: latency,
            unfinished: None,
        };
        data.insert_for(ClientMeasure::ApiLatency, only, latency);
    }
}

/// The plans flow's measures: failures over plans started, and their durations.
fn plan_measures(data: &mut ClientData, plans: &SeriesResult) {
    let started = plans.completed + plans.failed + plans.interrupted;
    if started > 0 {
        let mut unfinished = plans.open.clone();
        let _ = unfinished.add(&plans.failed_histogram);
        data.insert(
            ClientMeasure::PlanFailure,
            Measurement::Ratio {
                part: plans.failed + plans.interrupted,
                total: started,
            },
        );
        data.insert(
            ClientMeasure::PlanDuration,
            Measurement::Latency {
                finished: plans.histogram.clone(),
                unfinished: Some(unfinished),
            },
        );
    }
}
