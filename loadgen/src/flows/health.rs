//! One `GET` per iteration (`/api/health` by default).

use goose::prelude::*;

use crate::context::RunContext;
use crate::recorder::{FlowOutcome, Series};
use crate::scenario::{Flow, FlowKind};

pub async fn iteration(ctx: &RunContext, flow: &Flow, user: &mut GooseUser) {
    let FlowKind::Health { path } = &flow.kind else {
        return;
    };
    let hint = user.weighted_users_index;
    let Some(clock) = super::start_of(ctx, Series::FlowHealth, hint).await else {
        return;
    };
    let request = crate::client::Req::get(path.as_str());
    match crate::client::send(ctx, hint, Series::Health, request, clock.intended, |_| {
        Ok(())
    })
    .await
    {
        Ok(()) => ctx.recorder.flow(
            hint,
            Series::FlowHealth,
            FlowOutcome::Completed(clock.timing()),
        ),
        Err(f) => ctx.recorder.flow(
            hint,
            Series::FlowHealth,
            FlowOutcome::Failed(f.kind, f.message),
        ),
    }
}
