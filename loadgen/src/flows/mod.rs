//! The user journeys: one iteration of a flow, on a virtual user.
//!
//! - [`data`]: runs a flow file's compiled program (every flow, the shipped
//!   onboarding, plans and health ones included);
//! - [`native`]: the same three shipped journeys as Rust code, kept while the flow
//!   files replace them, to compare both engines (`--flow-engine native`).
//!
//! An iteration's requests run in order and a failure ends it; every request and
//! the iteration's outcome are recorded by the run's recorder. What is random in
//! an iteration (its variables, whether it abandons) comes from its own stream,
//! seeded by the run's seed, the user and the iteration: a scenario with a
//! `seed` draws the same run after run, in either engine.

pub mod data;
pub mod native;

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cli::FlowEngine;
use crate::client::Failure;
use crate::context::RunContext;
use crate::recorder::{ErrorKind, FlowOutcome, Series, Timing};
use crate::scenario::Flow;
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

    /// The iteration's time so far, both ways (one read of the clock).
    pub fn timing(&self) -> Timing {
        let now = Instant::now();
        Timing {
            service: now.saturating_duration_since(self.actual),
            response: now.saturating_duration_since(self.start()),
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
    let outcome = match (&flow.native, ctx.flow_engine) {
        (Some(kind), FlowEngine::Native) => native::iteration(ctx, flow, kind, user, clock).await,
        _ => data::iteration(ctx, flow, user, clock).await,
    };
    if let Some(log) = &ctx.request_log {
        log.iteration(&flow.name, clock.start(), &outcome);
    }
    ctx.recorder.flow(user.id, flow.series.flow, outcome);
}

/// The random stream of `user`'s current iteration for `purpose`: the same for
/// the same run seed, user, iteration and purpose.
pub fn iteration_rng(ctx: &RunContext, user: &User, purpose: &str) -> StdRng {
    let salt = purpose.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let seed = mix(ctx.seed ^ mix(user.id as u64 ^ mix(user.iteration ^ mix(salt))));
    StdRng::seed_from_u64(seed)
}

/// splitmix64's finaliser: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether an iteration abandons (with probability `share`), and after which of
/// `choices` places, chosen evenly: one rule for both engines.
pub fn abandon_point(rng: &mut StdRng, share: f64, choices: usize) -> Option<usize> {
    (share > 0.0 && choices > 0 && rng.random_bool(share.min(1.0)))
        .then(|| rng.random_range(0..choices))
}

/// A bearer token for `athlete`, as `series` (each flow signs in as itself).
pub async fn token(
    ctx: &RunContext,
    user: usize,
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
            crate::client::send(ctx, user, series, request, from, |reply| {
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
