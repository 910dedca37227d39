//! Plan generation: `POST /api/v1/plans/generate`, then poll
//! `GET /api/v1/plans/status?jobId=` until completed or failed or the flow's
//! timeout. The time from the generate request to `completed` is the plan's
//! end-to-end time (the `plans` flow series). A poll answered with an error is
//! recorded and polling goes on; a failed or timed-out plan fails the iteration.

use std::time::Instant;

use api::paths;
use goose::prelude::*;
use serde_json::json;

use crate::client::Req;
use crate::context::RunContext;
use crate::recorder::{ErrorKind, FlowOutcome, Series};
use crate::scenario::{Flow, FlowKind};

/// Gets the user's token once, at start.
pub async fn sign_in(ctx: &RunContext, user: &mut GooseUser) {
    let hint = user.weighted_users_index;
    let athlete = format!("lg-{}-p{hint}", ctx.run_tag);
    if let Ok(token) = super::token(ctx, hint, &athlete, None).await {
        super::state(user).token = Some(token);
    }
}

/// The plan's settings, from the flow.
struct PlanFlow<'a> {
    poll_interval: std::time::Duration,
    timeout: std::time::Duration,
    body: serde_json::Value,
    token: &'a str,
}

pub async fn iteration(ctx: &RunContext, flow: &Flow, user: &mut GooseUser) {
    let FlowKind::Plans {
        poll_interval,
        timeout,
        ref complexity,
        equipment_count,
        availability_days,
    } = flow.kind
    else {
        return;
    };
    let hint = user.weighted_users_index;
    let Some(clock) = super::start_of(ctx, Series::FlowPlans, hint).await else {
        return;
    };
    let from = clock.intended;
    if super::state(user).token.is_none() {
        sign_in(ctx, user).await;
    }
    let Some(token) = super::state(user).token.clone() else {
        return ctx.recorder.flow(
            hint,
            Series::FlowPlans,
            FlowOutcome::Failed(ErrorKind::Http4xx, "no token".to_string()),
        );
    };
    let plan = PlanFlow {
        poll_interval,
        timeout,
        body: json!({ "complexity": complexity, "equipmentCount": equipment_count, "availabilityDays": availability_days }),
        token: &token,
    };
    let outcome = match generate(ctx, hint, &plan, from).await {
        Ok(job) => poll(ctx, hint, &plan, &job, clock).await,
        Err(f) => FlowOutcome::Failed(f.kind, f.message),
    };
    ctx.recorder.flow(hint, Series::FlowPlans, outcome);
}

/// `POST /api/v1/plans/generate`: the job id.
async fn generate(
    ctx: &RunContext,
    hint: usize,
    plan: &PlanFlow<'_>,
    from: Option<Instant>,
) -> Result<String, crate::client::Failure> {
    let request = Req::post(paths::PLANS_GENERATE, &plan.body).bearer(plan.token);
    crate::client::send(ctx, hint, Series::PlanGenerate, request, from, |reply| {
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
    hint: usize,
    plan: &PlanFlow<'_>,
    job: &str,
    clock: super::Clock,
) -> FlowOutcome {
    let deadline = clock.start() + plan.timeout;
    loop {
        if !ctx.sleep_until(Instant::now() + plan.poll_interval).await {
            return FlowOutcome::Interrupted(clock.start().elapsed());
        }
        if Instant::now() >= deadline {
            return FlowOutcome::Failed(
                ErrorKind::PlanTimeout,
                format!("plan {job} not finished after {:?}", plan.timeout),
            );
        }
        let request = Req::get(format!("{}?jobId={job}", paths::PLANS_STATUS)).bearer(plan.token);
        match crate::client::send(ctx, hint, Series::PlanStatus, request, None, plan_status).await {
            Ok(PlanStatus::Completed) => return FlowOutcome::Completed(clock.timing()),
            Ok(PlanStatus::Failed(reason)) => {
                return FlowOutcome::Failed(ErrorKind::PlanFailed, reason);
            }
            Ok(PlanStatus::Pending) => {}
            Err(f) if f.status == Some(404) => return FlowOutcome::Failed(f.kind, f.message),
            // A transient error on a poll: recorded, keep polling.
            Err(_) => {}
        }
    }
}
