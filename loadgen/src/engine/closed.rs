//! The closed model: users, each running the flow's iterations one after
//! another with think time between, so the load follows the server's speed.
//!
//! A controller sets each flow's users every [`CONTROL_TICK`] to its shape:
//! flows without a shape of their own share `[load]`'s users by weight (largest
//! remainder, so the shares add up), the others follow their own stages from
//! their start. A user told to leave finishes its iteration first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;

use crate::context::RunContext;
use crate::scenario::{Executor, Flow, Stage, users_at};
use crate::user::User;

/// How often the users are set to the shape.
pub const CONTROL_TICK: Duration = Duration::from_millis(100);

/// Users to give each of `weights` out of `total`, adding up to `total`.
pub fn shares(total: u64, weights: &[u32]) -> Vec<u64> {
    let sum: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights
        .iter()
        .map(|w| total as f64 * f64::from(*w) / sum as f64)
        .collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = total - out.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| {
        (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor()))
    });
    for i in order {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

/// One flow's users, as the controller keeps them.
struct Crowd {
    flow: Arc<Flow>,
    /// Each running user's leave flag, newest last.
    users: Vec<Arc<AtomicBool>>,
}

/// The users each flow should have `t` into the run.
fn targets(load: &[Stage], crowds: &[Crowd], t: Duration) -> Vec<u64> {
    let shared: Vec<usize> = crowds
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.flow.executor, Executor::Closed { stages: None, .. }))
        .map(|(i, _)| i)
        .collect();
    let weights: Vec<u32> = shared.iter().map(|i| crowds[*i].flow.weight).collect();
    let split = shares(users_at(load, t).round() as u64, &weights);
    crowds
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if t < c.flow.start {
                return 0;
            }
            match &c.flow.executor {
                Executor::Closed {
                    stages: Some(own), ..
                } => users_at(own, t - c.flow.start).round() as u64,
                _ => shared.iter().position(|s| *s == i).map_or(0, |p| split[p]),
            }
        })
        .collect()
}

/// One user's life: iterations until told to leave, the run stops accepting, or
/// its iteration limit.
async fn live(ctx: Arc<RunContext>, flow: Arc<Flow>, mut user: User, leave: Arc<AtomicBool>) {
    let limit = match flow.executor {
        Executor::Closed { iterations, .. } => iterations,
        Executor::Arrival(_) => None,
    };
    ctx.recorder.user_started();
    while !leave.load(Ordering::Relaxed)
        && ctx.accepting()
        && limit.is_none_or(|n| user.iteration < n)
    {
        let clock = crate::flows::Clock::now();
        crate::flows::iteration(&ctx, &flow, &mut user, clock).await;
        if !ctx.think(flow.think_time).await {
            break;
        }
    }
    ctx.recorder.user_stopped();
}

/// Runs the closed flows to the end of their shapes (or a stop).
pub async fn run(
    ctx: Arc<RunContext>,
    load: Vec<Stage>,
    flows: Vec<Arc<Flow>>,
    ids: Arc<AtomicUsize>,
) {
    let mut crowds: Vec<Crowd> = flows
        .into_iter()
        .map(|flow| Crowd {
            flow,
            users: Vec::new(),
        })
        .collect();
    let mut tasks = JoinSet::new();
    let mut tick = tokio::time::interval(CONTROL_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = ctx.stop.cancelled() => break,
        }
        let t = ctx.started.elapsed();
        let accepting = ctx.accepting();
        let want = if accepting {
            targets(&load, &crowds, t)
        } else {
            vec![0; crowds.len()]
        };
        for (c, want) in crowds.iter_mut().zip(want) {
            while (c.users.len() as u64) < want {
                let leave = Arc::new(AtomicBool::new(false));
                let user = User::new(ids.fetch_add(1, Ordering::Relaxed));
                tasks.spawn(live(ctx.clone(), c.flow.clone(), user, leave.clone()));
                c.users.push(leave);
            }
            while (c.users.len() as u64) > want {
                if let Some(leave) = c.users.pop() {
                    leave.store(true, Ordering::Relaxed);
                }
            }
        }
        while tasks.try_join_next().is_some() {}
        if !accepting {
            break;
        }
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_by_largest_remainder() {
        assert_eq!(shares(20, &[3, 1]), vec![15, 5]);
        assert_eq!(shares(10, &[1, 1, 1]).iter().sum::<u64>(), 10);
        assert_eq!(shares(10, &[2, 1]), vec![7, 3]);
        assert_eq!(shares(0, &[1]), vec![0]);
        assert_eq!(shares(5, &[]), Vec::<u64>::new());
    }
}
