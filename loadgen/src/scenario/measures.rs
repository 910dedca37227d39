//! Where each SLO's client measurement reads its events in a scenario, decided in
//! one place: when the scenario is checked (a `client_flow` naming no flow, or a
//! role two flows declare with no `client_flow` to choose, is refused there) and
//! when a run is judged.
//!
//! The per-request measures (`api_errors`, `api_latency`) read every request,
//! or those of the SLO's `client_flow` and `client_requests`. The others read
//! the flow that declares their role in its `[measures]`: a completion funnel
//! (`onboarding_completion`), or iterations that are jobs (`plan_failure`,
//! `plan_duration`). A flow is found by its role, never by its name or its
//! requests' names: a renamed copy of a shipped flow keeps its measures.

use slo::definition::{ClientMeasure, Slo};

use super::Flow;

/// Where an SLO's client measurement reads its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTarget {
    /// Requests: of one flow, or of every flow; only those named, or all.
    Requests {
        /// The flow, when the SLO names one.
        flow: Option<String>,
        /// The request names kept (empty: all).
        only: Vec<String>,
    },
    /// A flow's completion funnel: answered at `to` over answered at `from`.
    Funnel {
        /// The flow.
        flow: String,
        /// The request that starts it.
        from: String,
        /// The request that completes it.
        to: String,
    },
    /// A flow whose iterations are jobs.
    Jobs {
        /// The flow.
        flow: String,
    },
    /// Nothing in the scenario measures it, for this reason.
    Missing(String),
}

/// A refusal: the message and the fix.
pub type Refusal = (String, String);

/// Whether a flow declares a role.
type Declares = fn(&Flow) -> bool;

/// The role a measure is found by: its name in `[measures]`, and whether `flow`
/// declares it.
fn role(measure: ClientMeasure) -> Option<(&'static str, Declares)> {
    match measure {
        ClientMeasure::OnboardingCompletion => {
            Some(("completion", |f| f.program.measures.completion.is_some()))
        }
        ClientMeasure::PlanFailure | ClientMeasure::PlanDuration => {
            Some(("job", |f| f.program.measures.job.is_some()))
        }
        ClientMeasure::ApiErrors | ClientMeasure::ApiLatency => None,
    }
}

/// The flow named `name`, or the refusal.
fn named<'a>(flows: &'a [Flow], name: &str) -> Result<&'a Flow, Refusal> {
    flows.iter().find(|f| f.name == name).ok_or_else(|| {
        let names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
        (
            format!("client_flow {name:?} is not a flow of the scenario"),
            format!("name one of {}", slo::schema::choices(&names)),
        )
    })
}

/// The flow the SLO's role-found measure reads, or why there is none.
fn role_flow<'a>(
    slo: &Slo,
    measure: ClientMeasure,
    flows: &'a [Flow],
) -> Result<Result<&'a Flow, String>, Refusal> {
    let Some((role, declares)) = role(measure) else {
        return Ok(Err(String::new()));
    };
    if let Some(name) = &slo.client_flow {
        let flow = named(flows, name)?;
        return match declares(flow) {
            true => Ok(Ok(flow)),
            false => Err((
                format!("flow {name:?} declares no {role} measure, which {measure} reads"),
                format!(
                    "add [measures] {role} = ... to its flow file, or name a flow that declares it"
                ),
            )),
        };
    }
    let found: Vec<&Flow> = flows.iter().filter(|f| declares(f)).collect();
    match found.as_slice() {
        [one] => Ok(Ok(one)),
        [] => Ok(Err(format!(
            "no flow of the scenario declares a {role} measure ([measures] {role} in its flow file), which {measure} reads"
        ))),
        many => {
            let names: Vec<&str> = many.iter().map(|f| f.name.as_str()).collect();
            Err((
                format!(
                    "flows {} each declare a {role} measure",
                    names.join(" and ")
                ),
                format!("name the one {measure} reads: client_flow = {:?}", names[0]),
            ))
        }
    }
}

/// Where `slo`'s client measurement (`measure`) reads its events among `flows`.
pub fn target(slo: &Slo, measure: ClientMeasure, flows: &[Flow]) -> Result<ClientTarget, Refusal> {
    if role(measure).is_none() {
        if let Some(name) = &slo.client_flow {
            named(flows, name)?;
        }
        return Ok(ClientTarget::Requests {
            flow: slo.client_flow.clone(),
            only: slo.client_requests.clone(),
        });
    }
    let flow = match role_flow(slo, measure, flows)? {
        Ok(f) => f,
        Err(why) => return Ok(ClientTarget::Missing(why)),
    };
    let m = &flow.program.measures;
    Ok(match (&m.completion, measure) {
        (Some((from, to)), ClientMeasure::OnboardingCompletion) => ClientTarget::Funnel {
            flow: flow.name.clone(),
            from: from.clone(),
            to: to.clone(),
        },
        _ => ClientTarget::Jobs {
            flow: flow.name.clone(),
        },
    })
}
