//! Plan generation: `POST /api/v1/plans/generate`, then poll
//! `GET /api/v1/plans/status?jobId=` until completed or failed or the flow's
//! timeout. The time from the generate request to `completed` is the plan's
//! end-to-end time (the `plans` flow series). The first poll is immediate and the
//! deadline is checked after each poll, so a plan finished just in time counts. A
//! poll answered with an error is recorded and polling goes on; a failed or
//! timed-out plan fails the iteration (its time kept).
//!
//! A user signs in once as its own athlete (`plan_auth_token`, this flow's
//! request), and again before its token expires.

use std::time::{Duration, Instant};

use api::paths;
use serde_json::json;

use crate::client::Req;
use crate::context::RunContext;
use crate::flows::Clock;
use crate::recorder::{ErrorKind, FlowOutcome, Series};
use crate::scenario::{Flow, FlowKind};
use crate::user::User;

/// The plan's settings, from the flow.
struct PlanFlow<'a> {
    /// The flow's requests: token, generate, status.
    series: &'a [Series],
    poll_interval: Duration,
    timeout: Duration,
    body: serde_json::Value,
    token: &'a str,
}

/// The user's token: kept, renewed when stale, got when missing.
async fn signed_in(
    ctx: &RunContext,
    series: Series,
    user: &mut User,
    from: Option<Instant>,
) -> Result<String, crate::client::Failure> {
    if let Some(t) = user.token.as_ref().filter(|t| !t.stale()) {
        return Ok(t.value.clone());
    }
    let athlete = format!("lg-{}-p{}", ctx.nonce, user.id);
    let token = crate::flows::token(ctx, user.id, series, &athlete, from).await?;
    let value = token.value.clone();
    user.token = Some(token);
    Ok(value)
}

/// One plan, generated and polled to its end.
pub async fn iteration(
    ctx: &RunContext,
    flow: &Flow,
    kind: &FlowKind,
    user: &mut User,
    clock: Clock,
) -> FlowOutcome {
    let FlowKind::Plans {
        poll_interval,
        timeout,
        ref complexity,
        equipment_count,
        availability_days,
    } = *kind
    else {
        return FlowOutcome::Abandoned;
    };
    let token = match signed_in(ctx, flow.series.requests[0], user, clock.intended).await {
        Ok(t) => t,
        Err(f) => return clock.ended_by(f),
    };
    let plan = PlanFlow {
        series: &flow.series.requests,
        poll_interval,
        timeout,
        body: json!({ "complexity": complexity, "equipmentCount": equipment_count, "availabilityDays": availability_days }),
        token: &token,
    };
    match generate(ctx, user, &plan, clock.intended).await {
        Ok(job) => poll(ctx, user, &plan, &job, clock).await,
        Err(f) => clock.ended_by(f),
    }
}

/// `POST /api/v1/plans/generate`: the job id.
async fn generate(
    ctx: &RunContext,
    user: &User,
    plan: &PlanFlow<'_>,
    from: Option<Instant>,
) -> Result<String, crate::client::Failure> {
    let request = Req::post(paths::PLANS_GENERATE, &plan.body).bearer(plan.token);
    crate::client::send(ctx, user.id, plan.series[1], request, from, |reply| {
        if reply.status != 202 {
            return Err(format!("expected 202 Accepted, got {}", reply.status));
        }
        let body = crate::client::json(reply)?;
        body["jobId"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no jobId in {body}"))
    })
    .await
}

/// A plan's status, as the API answers it.
enum PlanStatus {
    /// Queued, running or retrying.
    Pending,
    /// Done.
    Completed,
    /// Failed, with the reason.
    Failed(String),
}

/// Reads a status answer.
fn plan_status(reply: &crate::client::Reply) -> Result<PlanStatus, String> {
    let body = crate::client::json(reply)?;
    match body["status"].as_str().and_then(api::PlanStatus::parse) {
        Some(api::PlanStatus::Completed) => Ok(PlanStatus::Completed),
        Some(api::PlanStatus::Failed) => Ok(PlanStatus::Failed(
            body["error"]
                .as_str()
                .unwrap_or("no reason given")
                .to_string(),
        )),
        Some(_) => Ok(PlanStatus::Pending),
        None => Err(format!("unknown plan status in {body}")),
    }
}

/// Polls the job's status until it is completed or failed or the flow's timeout.
async fn poll(
    ctx: &RunContext,
    user: &User,
    plan: &PlanFlow<'_>,
    job: &str,
    clock: Clock,
) -> FlowOutcome {
    let deadline = clock.start() + plan.timeout;
    loop {
        let request = Req::get(format!("{}?jobId={job}", paths::PLANS_STATUS)).bearer(plan.token);
        match crate::client::send(ctx, user.id, plan.series[2], request, None, plan_status).await {
            Ok(PlanStatus::Completed) => return FlowOutcome::Completed(clock.timing()),
            Ok(PlanStatus::Failed(reason)) => {
                return FlowOutcome::Failed(ErrorKind::PlanFailed, reason, clock.timing());
            }
            Ok(PlanStatus::Pending) => {}
            Err(f) if f.status == Some(404) || f.kind == ErrorKind::Interrupted => {
                return clock.ended_by(f);
            }
            // A transient error on a poll: recorded, keep polling.
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return FlowOutcome::Failed(
                ErrorKind::PlanTimeout,
                format!("plan {job} not finished after {:?}", plan.timeout),
                clock.timing(),
            );
        }
        if !ctx.sleep_until(Instant::now() + plan.poll_interval).await {
            return FlowOutcome::Interrupted(clock.start().elapsed());
        }
    }
}
