//! The load engine: each flow's executor, its virtual users, and when they stop.
//!
//! - [`closed`]: users looping over iterations (the closed model), a share of
//!   `[load]`'s users or the flow's own stages;
//! - [`arrival`]: iterations started at a constant or ramping rate by a pool of
//!   users that grows when they lag, on the slots of [`schedule`];
//! - [`user`]: a virtual user's state (its token, renewed before it expires).
//!
//! Every executor's clock is the run context's `started`, which is also the
//! recorder's and the stages': what the summary says a stage did is what ran.

pub mod arrival;
pub mod closed;
pub mod schedule;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio::task::JoinSet;

use crate::context::RunContext;
use crate::scenario::{Executor, Flow, Scenario, Stage};

/// Runs every flow until its plan and the graceful stop end, or a stop; `phase`
/// shifts arrival slots by that share of a slot (a worker's place among workers).
pub async fn run(ctx: Arc<RunContext>, scenario: &Scenario, phase: f64) {
    run_flows(ctx, &scenario.stages, &scenario.flows, phase).await;
}

/// Runs `flows`, the closed ones without a shape of their own sharing `load`.
pub async fn run_flows(ctx: Arc<RunContext>, load: &[Stage], flows: &[Flow], phase: f64) {
    ctx.spawn_hard_stop();
    let ids = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let closed: Vec<_> = flows
        .iter()
        .filter(|f| matches!(f.executor, Executor::Closed { .. }))
        .cloned()
        .map(Arc::new)
        .collect();
    if !closed.is_empty() {
        tasks.spawn(closed::run(ctx.clone(), load.to_vec(), closed, ids.clone()));
    }
    for flow in flows {
        if let Executor::Arrival(plan) = &flow.executor {
            let flow = Arc::new(flow.clone());
            tasks.spawn(arrival::run(
                ctx.clone(),
                flow,
                plan.clone(),
                phase,
                ids.clone(),
            ));
        }
    }
    while tasks.join_next().await.is_some() {}
}
