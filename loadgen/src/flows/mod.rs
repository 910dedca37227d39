//! The user journeys, as goose scenarios.
//!
//! - [`onboarding`]: a new athlete gets a token, then walks the onboarding steps,
//!   each its own named request, with think time between; a share abandon part-way.
//! - [`plans`]: an athlete requests a plan, then polls its status until it is
//!   completed or failed or the flow's timeout passes (plan end-to-end time).
//! - [`health`]: one `GET` per iteration, for smoke checks and benchmarks.
//!
//! A flow iteration is one goose transaction, so its requests run in order and a
//! failure ends the iteration; every request is recorded by the run's recorder.

pub mod health;
pub mod onboarding;
pub mod plans;

use std::sync::Arc;

use goose::prelude::*;

use crate::context::RunContext;
use crate::recorder::Series;
use crate::scenario::{Flow, FlowKind};
use crate::settings::Tokens;

/// Per-user state kept in goose's session data.
#[derive(Debug, Default, Clone)]
pub struct UserState {
    pub token: Option<String>,
    pub iteration: u64,
}

/// A user's state, created on first use.
pub fn state(user: &mut GooseUser) -> &mut UserState {
    if user.get_session_data::<UserState>().is_none() {
        user.set_session_data(UserState::default());
    }
    user.get_session_data_unchecked_mut::<UserState>()
}

/// A bearer token for `athlete`.
pub async fn token(
    ctx: &RunContext,
    hint: usize,
    athlete: &str,
    from: Option<std::time::Instant>,
) -> Result<String, crate::client::Failure> {
    match &ctx.tokens {
        Tokens::Fixed(t) => Ok(t.clone()),
        Tokens::Endpoint(path) => {
            let request = crate::client::Req::post(
                path.as_str(),
                &serde_json::json!({ "athleteId": athlete }),
            );
            crate::client::send(ctx, hint, Series::AuthToken, request, from, |reply| {
                let body = crate::client::json(reply)?;
                body["token"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "no token in the answer".to_string())
            })
            .await
        }
    }
}

fn transaction<F>(ctx: &Arc<RunContext>, flow: &Flow, run: F) -> Transaction
where
    F: for<'a> Fn(
            &'a RunContext,
            &'a Flow,
            &'a mut GooseUser,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>
        + Send
        + Sync
        + 'static,
{
    let ctx = ctx.clone();
    let flow = Arc::new(flow.clone());
    let run = Arc::new(run);
    Transaction::new(Arc::new(move |user| {
        let ctx = ctx.clone();
        let flow = flow.clone();
        let run = run.clone();
        Box::pin(async move {
            run(&ctx, &flow, user).await;
            Ok(())
        })
    }))
}

/// The goose scenario of one flow.
pub fn scenario(ctx: &Arc<RunContext>, flow: &Flow) -> Result<Scenario, GooseError> {
    let mut scenario = Scenario::new(flow.name.as_str()).set_weight(flow.weight as usize)?;
    if flow.pace.is_none() && !flow.think_time.max.is_zero() {
        scenario = scenario.set_wait_time(flow.think_time.min, flow.think_time.max)?;
    }
    let started = transaction(ctx, flow, |ctx, flow, user| {
        Box::pin(async move {
            ctx.recorder.user_started();
            if let FlowKind::Plans { .. } = flow.kind {
                plans::sign_in(ctx, user).await;
            }
        })
    })
    .set_name("start")
    .set_on_start();
    let stopped = transaction(ctx, flow, |ctx, _, _| {
        Box::pin(async move {
            ctx.recorder.user_stopped();
        })
    })
    .set_name("stop")
    .set_on_stop();
    let iteration = match flow.kind {
        FlowKind::Onboarding { .. } => transaction(ctx, flow, |ctx, flow, user| {
            Box::pin(onboarding::iteration(ctx, flow, user))
        }),
        FlowKind::Plans { .. } => transaction(ctx, flow, |ctx, flow, user| {
            Box::pin(plans::iteration(ctx, flow, user))
        }),
        FlowKind::Health { .. } => transaction(ctx, flow, |ctx, flow, user| {
            Box::pin(health::iteration(ctx, flow, user))
        }),
    }
    .set_name(flow.name.as_str());
    Ok(scenario
        .register_transaction(started)
        .register_transaction(iteration)
        .register_transaction(stopped))
}

/// When an iteration started: when it was meant to (paced flows) and when it did.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The intended start of a paced iteration.
    pub intended: Option<std::time::Instant>,
    /// When it actually started.
    pub actual: std::time::Instant,
}

impl Clock {
    /// The start latencies count from: the intended one when paced.
    pub fn start(&self) -> std::time::Instant {
        self.intended.unwrap_or(self.actual)
    }

    /// The iteration's time so far, both ways.
    pub fn timing(&self) -> crate::recorder::Timing {
        crate::recorder::Timing {
            service: self.actual.elapsed(),
            response: self.start().elapsed(),
        }
    }
}

/// When an iteration starts (waiting for its slot when paced); `None` when the
/// run is over.
pub async fn start_of(ctx: &RunContext, flow_series: Series, hint: usize) -> Option<Clock> {
    let intended = match ctx.pacer(flow_series) {
        None => ctx.accepting().then_some(None),
        Some(pacer) => pacer.next_start(ctx, hint, flow_series).await.map(Some),
    };
    let start = intended.map(|intended| Clock {
        intended,
        actual: std::time::Instant::now(),
    });
    if start.is_none() {
        // The run is ending: goose calls the transaction again until it tells the
        // user to exit. Wait a little, so a user with nothing to do does not spin
        // and starve goose's own task of the thread.
        tokio::time::sleep(IDLE_WAIT).await;
    }
    start
}

/// How long a user with no iteration to start waits before goose asks again.
const IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);
