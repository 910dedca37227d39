//! A new athlete's onboarding: token, then `purpose_selection`, `proficiency`,
//! `equipment`, `availability` and `complete`, each its own named request, with think
//! time between steps. A configured share abandons after one to four steps.

use api::{OnboardingStep, paths};
use goose::prelude::*;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use crate::client::Req;
use crate::context::RunContext;
use crate::recorder::{FlowOutcome, Series};
use crate::scenario::{Flow, FlowKind};

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
fn steps() -> [(&'static str, Series, Value); 5] {
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
        (step.as_str(), Series::of_step(step), data)
    })
}

pub async fn iteration(ctx: &RunContext, flow: &Flow, user: &mut GooseUser) {
    let FlowKind::Onboarding { abandon_share } = flow.kind else {
        return;
    };
    let hint = user.weighted_users_index;
    let Some(clock) = super::start_of(ctx, Series::FlowOnboarding, hint).await else {
        return;
    };
    let from = clock.intended;
    let iteration = {
        let s = super::state(user);
        s.iteration += 1;
        s.iteration
    };
    let athlete = format!("lg-{}-u{hint}-i{iteration}", ctx.run_tag);
    let outcome = |o| ctx.recorder.flow(hint, Series::FlowOnboarding, o);
    let token = match super::token(ctx, hint, &athlete, from).await {
        Ok(t) => t,
        Err(f) => return outcome(FlowOutcome::Failed(f.kind, f.message)),
    };
    // Abandon after 1 to 4 of the data steps, never reaching `complete`.
    let abandon_after = {
        let mut rng = rand::rng();
        (abandon_share > 0.0 && rng.random_bool(abandon_share))
            .then(|| rng.random_range(1..=4usize))
    };
    for (i, (step, series, data)) in steps().into_iter().enumerate() {
        if abandon_after == Some(i) {
            return outcome(FlowOutcome::Abandoned);
        }
        if i > 0 && !ctx.think(flow.think_time).await {
            return outcome(FlowOutcome::Interrupted(clock.start().elapsed()));
        }
        let request =
            Req::post(paths::ONBOARDING, &json!({ "step": step, "data": data })).bearer(&token);
        let checked = crate::client::send(ctx, hint, series, request, None, |reply| {
            let body = crate::client::json(reply)?;
            match body["step"].as_str() {
                Some(s) if s == step => Ok(body["completed"].as_bool().unwrap_or(false)),
                _ => Err(format!("answer to {step} does not name the step: {body}")),
            }
        })
        .await;
        match checked {
            Ok(completed) if step == "complete" && !completed => {
                return outcome(FlowOutcome::Failed(
                    crate::recorder::ErrorKind::Body,
                    "complete answered without completed=true".to_string(),
                ));
            }
            Ok(_) => {}
            Err(f) => return outcome(FlowOutcome::Failed(f.kind, f.message)),
        }
    }
    outcome(FlowOutcome::Completed(clock.timing()));
}
