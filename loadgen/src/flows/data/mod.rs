//! Running a flow file's [`Program`]: one iteration on a virtual user.
//!
//! The user's variables live in its slots: the built-ins and per-user
//! variables are set at its first iteration; setup runs then, and again before a
//! token it got goes stale; the per-iteration variables are drawn, whether the
//! iteration abandons (and after which step) is decided, and the steps run in
//! order. A step's request is its templates written with the current values; its
//! answer is judged by [`answer`] (statuses, checks, captures, and for a repeated
//! step whether it is done, failed or still pending). A failed step ends the
//! iteration with its time kept; the run's stop ends it as interrupted.
//!
//! The iteration's first request is timed from the iteration's intended start
//! (arrival rates): the schedule's lag is the server's to answer for only once.

mod answer;
mod draw;

use std::time::Instant;

use serde_json::Value;

use super::Clock;
use crate::client::{Failure, Req};
use crate::context::RunContext;
use crate::flow_file::template::Escape;
use crate::flow_file::{
    Action, Body, Program, Repeat, Request, SLOT_ITERATION, SLOT_NONCE, SLOT_USER, SLOT_WORKER,
    Step, Think,
};
use crate::recorder::{ErrorKind, FlowOutcome};
use crate::scenario::{Flow, ThinkTime};
use crate::user::User;

use answer::Answered;

/// One iteration of `flow`'s program on `user`.
pub async fn iteration(
    ctx: &RunContext,
    flow: &Flow,
    user: &mut User,
    clock: Clock,
) -> FlowOutcome {
    let program = &flow.program;
    let mut walk = Walk {
        ctx,
        flow,
        user: user.id,
        clock,
        from: clock.intended,
    };
    if user.vars.len() != program.slots {
        start_user(ctx, program, user);
    }
    user.vars[SLOT_ITERATION] = Value::from(user.iteration);
    if user.needs_setup() {
        match walk.setup(&mut user.vars).await {
            Ok(refresh) => user.setup = Some(refresh),
            Err(outcome) => return outcome,
        }
    }
    if !program.vars.is_empty() {
        let mut rng = super::iteration_rng(ctx, user, "vars");
        for var in &program.vars {
            user.vars[var.slot] = draw::value(&var.draw, &user.vars, &mut rng);
        }
    }
    let abandon_after = program.abandon.as_ref().and_then(|a| {
        let mut rng = super::iteration_rng(ctx, user, "abandon");
        super::abandon_point(&mut rng, a.share, a.after.len()).map(|i| a.after[i])
    });
    for (i, step) in program.steps.iter().enumerate() {
        if let Err(outcome) = walk.step(step, &mut user.vars).await {
            return outcome;
        }
        if abandon_after == Some(i) {
            return FlowOutcome::Abandoned;
        }
    }
    FlowOutcome::Completed(clock.timing())
}

/// A user's first iteration: its built-in variables and per-user ones.
fn start_user(ctx: &RunContext, program: &Program, user: &mut User) {
    user.vars = vec![Value::Null; program.slots];
    user.vars[SLOT_NONCE] = Value::String(ctx.nonce.clone());
    user.vars[SLOT_WORKER] = Value::from(ctx.worker);
    user.vars[SLOT_USER] = Value::from(user.id);
    let mut rng = super::iteration_rng(ctx, user, "user");
    for var in &program.user_vars {
        user.vars[var.slot] = draw::value(&var.draw, &user.vars, &mut rng);
    }
}

/// One iteration under way.
struct Walk<'a> {
    ctx: &'a RunContext,
    flow: &'a Flow,
    user: usize,
    clock: Clock,
    /// The intended start, until the first request takes it.
    from: Option<Instant>,
}

impl Walk<'_> {
    /// Runs setup; when to run it again (the earliest token's renewal), if ever.
    async fn setup(&mut self, vars: &mut [Value]) -> Result<Option<Instant>, FlowOutcome> {
        let mut refresh: Option<Instant> = None;
        for step in &self.flow.program.setup {
            if let Some(at) = self.step(step, vars).await? {
                refresh = Some(refresh.map_or(at, |r| r.min(at)));
            }
        }
        Ok(refresh)
    }

    /// Runs one step; a sign-in says when its token must be renewed.
    async fn step(
        &mut self,
        step: &Step,
        vars: &mut [Value],
    ) -> Result<Option<Instant>, FlowOutcome> {
        self.think(step.think).await?;
        let series = self.flow.series.requests[step.request];
        match &step.action {
            Action::SignIn { athlete, slot } => {
                let athlete = athlete.render(vars, Escape::None);
                let token = super::token(self.ctx, self.user, series, &athlete, self.from.take())
                    .await
                    .map_err(|f| self.clock.ended_by(f))?;
                vars[*slot] = Value::String(token.value);
                Ok(token.refresh_at)
            }
            Action::Request(request) => {
                match &step.repeat {
                    None => self.once(step, request, vars).await?,
                    Some(repeat) => self.poll(step, request, repeat, vars).await?,
                }
                Ok(None)
            }
        }
    }

    /// Waits the step's think time.
    async fn think(&self, think: Think) -> Result<(), FlowOutcome> {
        let range = match think {
            Think::No => return Ok(()),
            Think::Flow => self.flow.think_time,
            Think::Own(min, max) => ThinkTime { min, max },
        };
        if self.ctx.think(range).await {
            Ok(())
        } else {
            Err(FlowOutcome::Interrupted(self.clock.start().elapsed()))
        }
    }

    /// Sends the step's request once and judges the answer.
    async fn send(
        &mut self,
        step: &Step,
        request: &Request,
        vars: &[Value],
    ) -> Result<Answered, Failure> {
        let req = match build(request, vars) {
            Ok(r) => r,
            Err(message) => {
                return Err(Failure {
                    kind: ErrorKind::Body,
                    status: None,
                    message,
                });
            }
        };
        let series = self.flow.series.requests[step.request];
        let from = self.from.take();
        crate::client::send(self.ctx, self.user, series, req, from, |reply| {
            answer::judge(step, reply, vars)
        })
        .await
    }

    /// A step without repeat: its answer must pass.
    async fn once(
        &mut self,
        step: &Step,
        request: &Request,
        vars: &mut [Value],
    ) -> Result<(), FlowOutcome> {
        match self.send(step, request, vars).await {
            Ok(answered) => {
                answered.capture(vars);
                Ok(())
            }
            Err(f) => Err(self.clock.ended_by(f)),
        }
    }

    /// A repeated step: sent until `until` holds, a `fail_if` holds, an error in
    /// `stop_on` comes back, or the deadline passes.
    async fn poll(
        &mut self,
        step: &Step,
        request: &Request,
        repeat: &Repeat,
        vars: &mut [Value],
    ) -> Result<(), FlowOutcome> {
        let since = if repeat.from_iteration {
            self.clock.start()
        } else {
            Instant::now()
        };
        let deadline = since + repeat.deadline;
        loop {
            match self.send(step, request, vars).await {
                Ok(answered) => {
                    let state = answered.state.clone();
                    answered.capture(vars);
                    match state {
                        answer::State::Done => return Ok(()),
                        answer::State::Failed(kind, reason) => {
                            return Err(FlowOutcome::Failed(kind, reason, self.clock.timing()));
                        }
                        answer::State::Pending => {}
                    }
                }
                Err(f) if f.kind == ErrorKind::Interrupted => return Err(self.clock.ended_by(f)),
                Err(f) if f.status.is_some_and(|s| repeat.stop_on.contains(&s)) => {
                    return Err(self.clock.ended_by(f));
                }
                // An error on a poll: recorded, and polling goes on.
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                let message = repeat.deadline_message.render(vars, Escape::None);
                let kind = answer::error_kind(repeat.deadline_kind);
                return Err(FlowOutcome::Failed(kind, message, self.clock.timing()));
            }
            if !self.ctx.sleep_until(Instant::now() + repeat.every).await {
                return Err(FlowOutcome::Interrupted(self.clock.start().elapsed()));
            }
        }
    }
}

/// The request with the current values written in.
fn build<'a>(request: &'a Request, vars: &[Value]) -> Result<Req<'a>, String> {
    let mut headers = Vec::with_capacity(request.headers.len());
    for (name, value) in &request.headers {
        let text = value.render(vars, Escape::None);
        let value = http::HeaderValue::from_str(&text)
            .map_err(|_| format!("header {name}: {text:?} cannot be sent in a header"))?;
        headers.push((name.clone(), value));
    }
    let body = request.body.as_ref().map(|b| match b {
        Body::Json(t) => (t.render(vars), crate::http::JSON),
        Body::Text(t, content_type) => (
            t.render(vars, Escape::None).into_bytes(),
            content_type.clone(),
        ),
    });
    Ok(Req {
        method: request.method.clone(),
        path: request.path.render_cow(vars, Escape::Path),
        bearer: None,
        headers,
        body,
        accept: &request.accept,
    })
}
