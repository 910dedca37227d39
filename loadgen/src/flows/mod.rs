//! The user journeys: one iteration of each flow, on a virtual user.
//!
//! - [`onboarding`]: a new athlete gets a token, then walks the onboarding steps,
//!   each its own named request, with think time between; a share abandon part-way.
//! - [`plans`]: an athlete requests a plan, then polls its status until it is
//!   completed or failed or the flow's timeout passes (plan end-to-end time).
//! - [`health`]: one `GET` per iteration, for smoke checks and benchmarks.
//!
//! An iteration's requests run in order and a failure ends it; every request and
//! the iteration's outcome are recorded by the run's recorder.

pub mod health;
pub mod onboarding;
pub mod plans;

use std::time::Instant;

use crate::client::Failure;
use crate::context::RunContext;
use crate::recorder::{ErrorKind, FlowOutcome, Series, Timing};
use crate::scenario::{Flow, FlowKind};
use crate::settings::Tokens;
use crate::user::{Token, User};

/// When an iteration started: when it was meant to (arrival rates) and when it did.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The slot of an arrival-rate iteration.
    pub intended: Option<Instant>,
    /// When it actually started.
    pub actual: Instant,
}

impl Clock {
    /// An iteration starting now, on no schedule (closed model).
    pub fn now() -> Clock {
        Clock {
            intended: None,
            actual: Instant::now(),
        }
    }

    /// An iteration due at `due`, starting now.
    pub fn due(due: Instant) -> Clock {
        Clock {
            intended: Some(due),
            actual: Instant::now(),
        }
    }

    /// The start latencies count from: the intended one when scheduled.
    pub fn start(&self) -> Instant {
        self.intended.unwrap_or(self.actual)
    }

    /// The iteration's time so far, both ways.
    pub fn timing(&self) -> Timing {
        Timing {
            service: self.actual.elapsed(),
            response: self.start().elapsed(),
        }
    }

    /// How a failed request ends the iteration: interrupted when the run's stop
    /// cut it, failed otherwise (its time kept).
    pub fn ended_by(&self, f: Failure) -> FlowOutcome {
        if f.kind == ErrorKind::Interrupted {
            FlowOutcome::Interrupted(self.start().elapsed())
        } else {
            FlowOutcome::Failed(f.kind, f.message, self.timing())
        }
    }
}

/// Runs one iteration of `flow` on `user`, recording its outcome.
pub async fn iteration(ctx: &RunContext, flow: &Flow, user: &mut User, clock: Clock) {
    user.iteration += 1;
    let outcome = match &flow.kind {
        FlowKind::Onboarding { abandon_share } => {
            onboarding::iteration(ctx, flow, *abandon_share, user, clock).await
        }
        FlowKind::Plans { .. } => plans::iteration(ctx, flow, user, clock).await,
        FlowKind::Health { path } => health::iteration(ctx, flow, path, user, clock).await,
    };
    ctx.recorder.flow(user.id, flow.series.flow, outcome);
}

/// A bearer token for `athlete`, as `series` (each flow signs in as itself).
pub async fn token(
    ctx: &RunContext,
    user: &User,
    series: Series,
    athlete: &str,
    from: Option<Instant>,
) -> Result<Token, Failure> {
    match &ctx.tokens {
        Tokens::Fixed(t) => Ok(Token {
            value: t.clone(),
            refresh_at: None,
        }),
        Tokens::Endpoint(path) => {
            let request = crate::client::Req::post(
                path.as_str(),
                &serde_json::json!({ "athleteId": athlete }),
            );
            crate::client::send(ctx, user.id, series, request, from, |reply| {
                let body = crate::client::json(reply)?;
                body["token"]
                    .as_str()
                    .map(|t| Token::new(t.to_string()))
                    .ok_or_else(|| "no token in the answer".to_string())
            })
            .await
        }
    }
}
