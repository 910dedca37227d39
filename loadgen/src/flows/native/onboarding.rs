//! A new athlete's onboarding: token, then `purpose_selection`, `proficiency`,
//! `equipment`, `availability` and `complete`, each its own named request, with think
//! time between steps. A configured share abandons after one to four steps.

use api::{OnboardingStep, paths};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use crate::client::Req;
use crate::context::RunContext;
use crate::flows::Clock;
use crate::recorder::{FlowOutcome, Series};
use crate::scenario::Flow;
use crate::user::User;

const PURPOSES: [&str; 5] = [
    "sport_performance",
    "general_fitness",
    "weight_loss",
    "rehabilitation",
    "endurance",
];
const PROFICIENCIES: [&str; 4] = ["beginner", "intermediate", "advanced", "elite"];
const EQUIPMENT: [&str; 8] = [
    "dumbbells",
    "barbell",
    "bench",
    "kettlebell",
    "resistance_band",
    "pull_up_bar",
    "rower",
    "mat",
];

/// The steps, their series and a body for each.
fn steps(flow: &Flow) -> [(&'static str, Series, Value); 5] {
    let mut rng = rand::rng();
    let equipment: Vec<&str> = EQUIPMENT.choose_multiple(&mut rng, 5).copied().collect();
    OnboardingStep::ALL.map(|step| {
        let data = match step {
            OnboardingStep::PurposeSelection => json!({ "purpose": PURPOSES.choose(&mut rng).copied().unwrap_or("sport_performance") }),
            OnboardingStep::Proficiency => json!({ "proficiency": PROFICIENCIES.choose(&mut rng).copied().unwrap_or("intermediate") }),
            OnboardingStep::Equipment => json!({ "equipment": equipment }),
            OnboardingStep::Availability => {
                json!({ "days": rng.random_range(2..=5), "minutesPerSession": 45 })
            }
            OnboardingStep::Complete => json!({}),
        };
        // The flow's requests: the token, then the steps in order.
        (step.as_str(), flow.series.requests[1 + step as usize], data)
    })
}

/// One new athlete's onboarding.
pub async fn iteration(
    ctx: &RunContext,
    flow: &Flow,
    abandon_share: f64,
    user: &User,
    clock: Clock,
) -> FlowOutcome {
    let athlete = format!("lg-{}-u{}-i{}", ctx.nonce, user.id, user.iteration);
    let token = match crate::flows::token(
        ctx,
        user.id,
        flow.series.requests[0],
        &athlete,
        clock.intended,
    )
    .await
    {
        Ok(t) => t,
        Err(f) => return clock.ended_by(f),
    };
    // Abandon after 1 to 4 of the data steps, never reaching `complete`: the
    // same draw as the flow file's `[abandon]` over its four steps.
    let mut rng = crate::flows::iteration_rng(ctx, user, "abandon");
    let abandon_after = crate::flows::abandon_point(&mut rng, abandon_share, 4).map(|i| i + 1);
    for (i, (step, series, data)) in steps(flow).into_iter().enumerate() {
        if abandon_after == Some(i) {
            return FlowOutcome::Abandoned;
        }
        if i > 0 && !ctx.think(flow.think_time).await {
            return FlowOutcome::Interrupted(clock.start().elapsed());
        }
        let request = Req::post(paths::ONBOARDING, &json!({ "step": step, "data": data }))
            .bearer(&token.value);
        let checked = crate::client::send(ctx, user.id, series, request, None, |reply| {
            let body = crate::client::json(reply)?;
            match body["step"].as_str() {
                Some(s) if s == step => Ok(body["completed"].as_bool().unwrap_or(false)),
                _ => Err(format!("answer to {step} does not name the step: {body}")),
            }
        })
        .await;
        match checked {
            Ok(completed) if step == "complete" && !completed => {
                return FlowOutcome::Failed(
                    crate::recorder::ErrorKind::Body,
                    "complete answered without completed=true".to_string(),
                    clock.timing(),
                );
            }
            Ok(_) => {}
            Err(f) => return clock.ended_by(f),
        }
    }
    FlowOutcome::Completed(clock.timing())
}
