//! One worker of a distributed run: which share of the load it takes, and when
//! it starts.
//!
//! Worker `I` of `N` takes an exact share of every user count (the counts of all
//! workers add up to the scenario's: `floor(users (I+1) / N) - floor(users I / N)`),
//! `1/N` of every arrival rate and pool, and offsets its arrival slots by `I/N` of
//! a slot so the workers' iterations interleave instead of bursting together. Its
//! athletes are named by a random nonce and its index, so no two workers (or two
//! runs) share one. `--start-at` is the barrier every worker waits for, so stages
//! and slices line up to the millisecond across machines whose clocks agree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::WorkerArgs;
use crate::exit::UsageError;
use crate::scenario::{Executor, Scenario, Stage};

/// The latest `--start-at` accepted, from now: further is more likely a mistake
/// (a time in milliseconds read as seconds) than a plan.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(3600);

/// Worker `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worker {
    /// This worker's index, below `count`.
    pub index: u32,
    /// How many workers share the load.
    pub count: u32,
}

impl Worker {
    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Worker, UsageError> {
        let bad = || {
            UsageError(format!(
                "--worker {text:?} is not I/N: give this worker's index from 0 and the number of workers, such as 0/3"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index = i.trim().parse().map_err(|_| bad())?;
        let count = n.trim().parse().map_err(|_| bad())?;
        Worker::new(index, count)
    }

    /// Worker `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Worker, UsageError> {
        if count == 0 || index >= count {
            return Err(UsageError(format!(
                "worker {index} of {count} does not exist: the index runs from 0 to the number of workers - 1"
            )));
        }
        Ok(Worker { index, count })
    }

    /// `--worker`, else `--workers` with `JOB_COMPLETION_INDEX`; `None` for a lone run.
    pub fn resolve(args: &WorkerArgs) -> Result<Option<Worker>, UsageError> {
        match (&args.worker, args.workers, args.job_completion_index) {
            (Some(w), _, _) => Worker::parse(w).map(Some),
            (None, Some(n), Some(i)) => Worker::new(i, n).map(Some),
            (None, Some(n), None) => Err(UsageError(format!(
                "--workers {n} without a worker index: give --worker I/{n}, or run in a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)"
            ))),
            (None, None, _) => Ok(None),
        }
    }

    /// This worker's share of `total` users: the shares of all workers add up to it.
    pub fn users(&self, total: u64) -> u64 {
        let (i, n) = (self.index as u128, self.count as u128);
        let t = total as u128;
        (t * (i + 1) / n - t * i / n) as u64
    }

    /// This worker's share of a rate.
    pub fn rate(&self, rate: f64) -> f64 {
        rate / self.count as f64
    }

    /// This worker's share of a pool (at least one user).
    pub fn pool(&self, users: u64) -> u64 {
        users.div_ceil(self.count as u64).max(1)
    }

    /// The shift of this worker's arrival slots, as a share of a slot.
    pub fn phase(&self) -> f64 {
        self.index as f64 / self.count as f64
    }

    /// The name of its run directory inside the shared run's.
    pub fn dir_name(&self) -> String {
        format!("worker-{}", self.index)
    }

    /// The scenario as this worker runs it: its share of every stage's users, of
    /// every rate and of every pool.
    pub fn share(&self, scenario: &Scenario) -> Scenario {
        let mut s = scenario.clone();
        let users = |stages: &mut Vec<Stage>| {
            for st in stages.iter_mut() {
                st.users = self.users(st.users);
            }
        };
        users(&mut s.stages);
        for flow in &mut s.flows {
            match &mut flow.executor {
                Executor::Closed {
                    stages: Some(stages),
                    ..
                } => users(stages),
                Executor::Closed { stages: None, .. } => {}
                Executor::Arrival(plan) => {
                    plan.initial_rate = self.rate(plan.initial_rate);
                    for st in &mut plan.stages {
                        st.rate = self.rate(st.rate);
                    }
                    plan.pre_allocated = self.pool(plan.pre_allocated);
                    plan.max_users = self.pool(plan.max_users).max(plan.pre_allocated);
                }
            }
        }
        s
    }
}

/// Parses `--start-at` and refuses a time in the past or too far ahead.
pub fn start_at(text: &str, now: SystemTime) -> Result<SystemTime, UsageError> {
    let ms = crate::cli::parse_time(text).map_err(|e| UsageError(format!("--start-at: {e}")))?;
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    if at + Duration::from_secs(1) < now {
        return Err(UsageError(format!(
            "--start-at {text} has passed: give a time a little ahead (every worker must reach it), such as $(( $(date +%s) + 60 ))"
        )));
    }
    if at > now + MAX_START_AHEAD {
        return Err(UsageError(format!(
            "--start-at {text} is more than {} ahead: give unix seconds, milliseconds or RFC 3339 within the hour",
            humantime::format_duration(MAX_START_AHEAD)
        )));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_users_add_up_to_the_whole() {
        for n in 1..=7 {
            for total in [0, 1, 2, 5, 20, 101] {
                let sum: u64 = (0..n)
                    .map(|i| Worker::new(i, n).unwrap().users(total))
                    .sum();
                assert_eq!(sum, total, "{total} users over {n} workers");
            }
        }
        assert_eq!(Worker::new(0, 3).unwrap().users(20), 6);
        assert_eq!(Worker::new(2, 3).unwrap().users(20), 7);
    }

    #[test]
    fn worker_specs_parse_and_bad_ones_say_the_fix() {
        assert_eq!(Worker::parse("1/3").unwrap(), Worker { index: 1, count: 3 });
        for bad in ["3/3", "1", "a/3", "0/0", "-1/2"] {
            assert!(Worker::parse(bad).is_err(), "{bad}");
        }
        let args = WorkerArgs {
            workers: Some(4),
            job_completion_index: Some(2),
            ..Default::default()
        };
        assert_eq!(
            Worker::resolve(&args).unwrap(),
            Some(Worker { index: 2, count: 4 })
        );
        let no_index = WorkerArgs {
            workers: Some(4),
            ..Default::default()
        };
        assert!(
            Worker::resolve(&no_index)
                .unwrap_err()
                .0
                .contains("JOB_COMPLETION_INDEX")
        );
    }

    #[test]
    fn start_times_in_the_past_or_far_ahead_are_refused() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(start_at("1800000030", now).is_ok());
        assert!(start_at("1799999000", now).is_err());
        assert!(start_at("1800009000", now).is_err());
    }
}
