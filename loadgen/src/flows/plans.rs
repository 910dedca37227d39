//! Plan generation: `POST /api/v1/plans/generate`, then poll
//! `GET /api/v1/plans/status?jobId=` until completed or failed or the flow's
//! timeout. The time from the generate request to `completed` is the plan's
//! end-to-end time (the `plans` flow series). A poll answered with an error is
//! recorded and polling goes on; a failed or timed-out plan fails the iteration.

use std::time::Instant;

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
    let Some(from) = super::start_of(ctx, Series::FlowPlans, hint).await else {
        return;
    };
    let start = from.unwrap_or_else(Instant::now);
    let outcome = |o| ctx.recorder.flow(hint, Series::FlowPlans, o);
    if super::state(user).token.is_none() {
        sign_in(ctx, user).await;
    }
    let Some(token) = super::state(user).token.clone() else {
        return outcome(FlowOutcome::Failed(
            ErrorKind::Http4xx,
            "no token".to_string(),
        ));
    };

    let body = json!({ "complexity": complexity, "equipmentCount": equipment_count, "availabilityDays": availability_days });
    let request = Req::post("/api/v1/plans/generate", &body).bearer(&token);
    let job = crate::client::send(ctx, hint, Series::PlanGenerate, request, from, |reply| {
        if reply.status != 202 {
            return Err(format!("expected 202 Accepted, got {}", reply.status));
        }
        let body = crate::client::json(reply)?;
        body["jobId"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no jobId in {body}"))
    })
    .await;
    let job = match job {
        Ok(job) => job,
        Err(f) => return outcome(FlowOutcome::Failed(f.kind, f.message)),
    };

    let deadline = start + timeout;
    loop {
        if !ctx.sleep_until(Instant::now() + poll_interval).await {
            return outcome(FlowOutcome::Interrupted);
        }
        if Instant::now() >= deadline {
            return outcome(FlowOutcome::Failed(
                ErrorKind::PlanTimeout,
                format!("plan {job} not finished after {timeout:?}"),
            ));
        }
        let request = Req::get(format!("/api/v1/plans/status?jobId={job}")).bearer(&token);
        let status = crate::client::send(ctx, hint, Series::PlanStatus, request, None, |reply| {
            let body = crate::client::json(reply)?;
            match body["status"].as_str() {
                Some(s @ ("queued" | "running" | "retrying" | "completed")) => {
                    Ok((s.to_string(), String::new()))
                }
                Some("failed") => Ok((
                    "failed".to_string(),
                    body["error"]
                        .as_str()
                        .unwrap_or("no reason given")
                        .to_string(),
                )),
                _ => Err(format!("unknown plan status in {body}")),
            }
        })
        .await;
        match status {
            Ok((s, _)) if s == "completed" => {
                return outcome(FlowOutcome::Completed(start.elapsed()));
            }
            Ok((s, reason)) if s == "failed" => {
                return outcome(FlowOutcome::Failed(ErrorKind::PlanFailed, reason));
            }
            Ok(_) => {}
            Err(f) if f.status == Some(404) => {
                return outcome(FlowOutcome::Failed(f.kind, f.message));
            }
            // A transient error on a poll: recorded, keep polling.
            Err(_) => {}
        }
    }
}
