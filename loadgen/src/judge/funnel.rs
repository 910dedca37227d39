//! The onboarding funnel as the services counted it: `onboarding_requests_total`
//! (SEED.md) by step and outcome over the run's whole window, read from the
//! source that judged the run, so the completion SLO's evidence shows the
//! server's funnel beside the client's.

use slo::evaluate::Reader;
use slo::selector::Selector;
use slo::verdict::{ServerStep, Window};

/// The counter of onboarding step requests, labelled `step` and `outcome`.
const STEP_REQUESTS: &str = "onboarding_requests_total";
/// The `outcome` label's values, in [`ServerStep`]'s order.
const OUTCOMES: [&str; 3] = ["success", "invalid", "error"];

/// Each onboarding step's requests by outcome over `window`; empty when the
/// source does not have the counter (another system's SLO set) or cannot answer.
pub async fn server_funnel<R: Reader + Sync>(reader: &R, window: Window) -> Vec<ServerStep> {
    let mut steps = Vec::new();
    for step in api::OnboardingStep::ALL {
        let mut counts = [0.0; 3];
        for (count, outcome) in counts.iter_mut().zip(OUTCOMES) {
            let text = format!(
                "{STEP_REQUESTS}{{step=\"{}\",outcome=\"{outcome}\"}}",
                step.as_str()
            );
            let Ok(selector) = Selector::parse(&text) else {
                return Vec::new();
            };
            match reader.increase(&selector, window).await {
                Ok(Some(increase)) => *count = increase.value,
                _ => return Vec::new(),
            }
        }
        steps.push(ServerStep {
            step: step.as_str().to_string(),
            success: counts[0],
            invalid: counts[1],
            error: counts[2],
        });
    }
    steps
}
