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

use slo::client::{ClientData, Measurement};
use slo::definition::ClientMeasure;

use crate::recorder::{Results, SeriesResult};

/// The client's measurements of a run.
pub fn client_data(results: &Results) -> ClientData {
    let mut latency = reports::hdr::new_histogram();
    let (mut requests, mut bad) = (0, 0);
    for r in results.series.iter().filter(|r| !r.info.is_flow) {
        requests += r.requests;
        bad += r.classes.get("5xx").copied().unwrap_or(0);
        bad += r.classes.get("none").copied().unwrap_or(0);
        let _ = latency.add(&r.service);
        let _ = latency.add(&r.failed_service);
    }
    let mut data = ClientData::default();
    if requests > 0 {
        data.insert(
            ClientMeasure::ApiErrors,
            Measurement::Ratio {
                part: bad,
                total: requests,
            },
        );
        data.insert(
            ClientMeasure::ApiLatency,
            Measurement::Latency {
                finished: latency,
                unfinished: None,
            },
        );
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
