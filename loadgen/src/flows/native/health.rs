//! One `GET` per iteration (`/api/health` by default).

use crate::context::RunContext;
use crate::flows::Clock;
use crate::recorder::FlowOutcome;
use crate::scenario::Flow;
use crate::user::User;

/// One health check.
pub async fn iteration(
    ctx: &RunContext,
    flow: &Flow,
    path: &str,
    user: &User,
    clock: Clock,
) -> FlowOutcome {
    let request = crate::client::Req::get(path);
    match crate::client::send(
        ctx,
        user.id,
        flow.series.requests[0],
        request,
        clock.intended,
        |_| Ok(()),
    )
    .await
    {
        Ok(()) => FlowOutcome::Completed(clock.timing()),
        Err(f) => clock.ended_by(f),
    }
}
