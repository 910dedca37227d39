//! What the client measured, as the SLOs' client measurements: the one place that
//! says how each [`ClientMeasure`] is made from the recorder's results.

use slo::client::{ClientData, Measurement};
use slo::definition::ClientMeasure;

use crate::recorder::{Results, Series};

/// The client's measurements of a run.
pub fn client_data(results: &Results) -> ClientData {
    let mut latency = reports::hdr::new_histogram();
    let (mut requests, mut server_errors) = (0, 0);
    for r in results.series.iter().filter(|r| !r.series.is_flow()) {
        requests += r.requests;
        server_errors += r.classes.get("5xx").copied().unwrap_or(0);
        let _ = latency.add(&r.histogram);
    }
    let mut data = ClientData::default();
    if requests > 0 {
        data.insert(
            ClientMeasure::ApiErrors,
            Measurement::Ratio {
                part: server_errors,
                total: requests,
            },
        );
        data.insert(ClientMeasure::ApiLatency, Measurement::Latency(latency));
    }
    let plans = results.get(Series::FlowPlans);
    if plans.completed + plans.failed > 0 {
        data.insert(
            ClientMeasure::PlanFailure,
            Measurement::Ratio {
                part: plans.failed,
                total: plans.completed + plans.failed,
            },
        );
        data.insert(
            ClientMeasure::PlanDuration,
            Measurement::Latency(plans.histogram.clone()),
        );
    }
    let ok = |s: Series| {
        let r = results.get(s);
        r.requests - r.errors
    };
    if ok(Series::PurposeSelection) > 0 {
        data.insert(
            ClientMeasure::OnboardingCompletion,
            Measurement::Ratio {
                part: ok(Series::Complete),
                total: ok(Series::PurposeSelection),
            },
        );
    }
    data
}
