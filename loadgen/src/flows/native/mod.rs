//! The shipped journeys as Rust code, as they ran before flow files: kept while
//! the flow files in `scenarios/flows/` replace them, so both engines can be run
//! on the same scenario and compared (`--flow-engine native`; the test
//! `flow_files` and `scripts/bench-loadgen.sh`).
//!
//! - [`onboarding`]: a new athlete gets a token, then walks the onboarding steps,
//!   each its own named request, with think time between; a share abandon part-way.
//! - [`plans`]: an athlete requests a plan, then polls its status until it is
//!   completed or failed or the flow's timeout passes (plan end-to-end time).
//! - [`health`]: one `GET` per iteration, for smoke checks and benchmarks.

pub mod health;
pub mod onboarding;
pub mod plans;

use super::Clock;
use crate::context::RunContext;
use crate::recorder::FlowOutcome;
use crate::scenario::{Flow, FlowKind};
use crate::user::User;

/// One iteration of the Rust journey `kind`.
pub async fn iteration(
    ctx: &RunContext,
    flow: &Flow,
    kind: &FlowKind,
    user: &mut User,
    clock: Clock,
) -> FlowOutcome {
    match kind {
        FlowKind::Onboarding { abandon_share } => {
            onboarding::iteration(ctx, flow, *abandon_share, user, clock).await
        }
        FlowKind::Plans { .. } => plans::iteration(ctx, flow, kind, user, clock).await,
        FlowKind::Health { path } => health::iteration(ctx, flow, path, user, clock).await,
    }
}
