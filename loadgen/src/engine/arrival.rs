//! Arrival-rate executors: iterations started on a schedule, whatever the
//! server's speed, by a pool of users that grows when they lag.
//!
//! A scheduler wakes at each slot ([`super::schedule`]) and hands it to an idle
//! user. With none idle, the pool grows by one user, up to its maximum (the
//! growth is counted); at the maximum, the slot waits for a user up to the flow's
//! `max_start_delay`, else it is dropped, counted in the slice it was due. Slots
//! still waiting at the end are dropped too. How late each slot was handed out
//! (schedule lag) is recorded. Each iteration is timed from its slot, so a server
//! stall shows in its latency (coordinated omission corrected), and from its
//! actual start.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::schedule::Schedule;
use crate::context::RunContext;
use crate::recorder::Series;
use crate::scenario::{ArrivalRate, Flow};
use crate::user::User;

/// A user of the pool: idle between slots.
async fn serve(
    ctx: Arc<RunContext>,
    flow: Arc<Flow>,
    mut user: User,
    mut slots: mpsc::Receiver<Instant>,
    idle: mpsc::UnboundedSender<usize>,
    index: usize,
) {
    ctx.recorder.user_started();
    while let Some(due) = slots.recv().await {
        let clock = crate::flows::Clock::due(due);
        crate::flows::iteration(&ctx, &flow, &mut user, clock).await;
        if idle.send(index).is_err() {
            break;
        }
    }
    ctx.recorder.user_stopped();
}

/// The pool of users and the slots waiting for one.
struct Pool {
    flow: Arc<Flow>,
    series: Series,
    senders: Vec<mpsc::Sender<Instant>>,
    idle: Vec<usize>,
    waiting: VecDeque<Instant>,
    idle_tx: mpsc::UnboundedSender<usize>,
    tasks: JoinSet<()>,
    pre: usize,
    max: usize,
}

impl Pool {
    /// Starts one more user.
    fn grow(&mut self, ctx: &Arc<RunContext>, ids: &AtomicUsize) -> usize {
        let (tx, rx) = mpsc::channel(1);
        let index = self.senders.len();
        let user = User::new(ids.fetch_add(1, Ordering::Relaxed));
        self.tasks.spawn(serve(
            ctx.clone(),
            self.flow.clone(),
            user,
            rx,
            self.idle_tx.clone(),
            index,
        ));
        self.senders.push(tx);
        index
    }

    /// Hands a slot to an idle user, a new one, or the queue; drops it when none
    /// can take it.
    fn dispatch(&mut self, ctx: &Arc<RunContext>, ids: &AtomicUsize, due: Instant) {
        let user = match self.idle.pop() {
            Some(u) => Some(u),
            None if self.senders.len() < self.max => {
                self.say_growth(self.senders.len() + 1);
                ctx.recorder.pool_grew(self.series, self.senders.len() + 1);
                Some(self.grow(ctx, ids))
            }
            None => None,
        };
        match user {
            Some(u) => {
                ctx.recorder
                    .started_slot(self.series, due, Instant::now() - due);
                let _ = self.senders[u].try_send(due);
            }
            None if !self.flow_waits() => ctx.recorder.dropped(self.series, due),
            None => self.waiting.push_back(due),
        }
    }

    /// Says when the pool first grows past its pre-allocated users, and when it
    /// reaches its maximum.
    fn say_growth(&self, size: usize) {
        let flow = &self.flow.name;
        if size == self.pre + 1 {
            eprintln!(
                "{flow}: iterations lag, so the pool grows past its {} pre-allocated users (up to {})",
                self.pre, self.max
            );
        }
        if size == self.max && self.max > self.pre {
            eprintln!(
                "{flow}: the pool reached its {} users (max_users): slots no user can take in time are dropped",
                self.max
            );
        }
    }

    fn flow_waits(&self) -> bool {
        matches!(&self.flow.executor, crate::scenario::Executor::Arrival(a) if !a.max_start_delay.is_zero())
    }

    /// A user is free: gives it the oldest slot still worth starting.
    fn freed(&mut self, ctx: &RunContext, user: usize, plan: &ArrivalRate) {
        while let Some(due) = self.waiting.pop_front() {
            if due.elapsed() <= plan.max_start_delay {
                ctx.recorder.started_slot(self.series, due, due.elapsed());
                let _ = self.senders[user].try_send(due);
                return;
            }
            ctx.recorder.dropped(self.series, due);
        }
        self.idle.push(user);
    }
}

/// Runs one arrival-rate flow to the end of its plan (or a stop); `phase` shifts
/// its slots by that share of a slot.
pub async fn run(
    ctx: Arc<RunContext>,
    flow: Arc<Flow>,
    plan: ArrivalRate,
    phase: f64,
    ids: Arc<AtomicUsize>,
) {
    let (idle_tx, mut idle_rx) = mpsc::unbounded_channel();
    let mut pool = Pool {
        series: flow.series.flow,
        flow: flow.clone(),
        senders: Vec::new(),
        idle: Vec::new(),
        waiting: VecDeque::new(),
        idle_tx,
        tasks: JoinSet::new(),
        pre: plan.pre_allocated.min(plan.max_users) as usize,
        max: plan.max_users.max(1) as usize,
    };
    for _ in 0..pool.pre {
        let u = pool.grow(&ctx, &ids);
        pool.idle.push(u);
    }
    ctx.recorder.pool_started(pool.series, pool.pre);
    let origin = ctx.started + flow.start;
    let mut schedule = Schedule::new(&plan, phase);
    let mut next = schedule.next_slot().map(|d| origin + d);
    while let Some(due) = next.filter(|d| *d < ctx.deadline) {
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {
                pool.dispatch(&ctx, &ids, due);
                next = schedule.next_slot().map(|d| origin + d);
            }
            Some(u) = idle_rx.recv() => pool.freed(&ctx, u, &plan),
            _ = ctx.stop.cancelled() => break,
        }
    }
    // Slots nobody could take before the end were due and did not start: dropped
    // where they were due. (After a stop, the rest of the plan is not: the run is
    // interrupted, which says more.)
    for due in pool.waiting.drain(..) {
        ctx.recorder.dropped(pool.series, due);
    }
    pool.senders.clear();
    while pool.tasks.join_next().await.is_some() {}
}
