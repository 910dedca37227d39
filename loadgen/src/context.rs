//! What every virtual user shares during a run: the recorder, the target, the
//! token source, the pacers, and when to stop.
//!
//! The run ends gracefully: after the planned end no iteration starts
//! ([`RunContext::accepting`]), and iterations in flight may finish for the
//! scenario's `graceful_stop` (default 10 s), so a journey begun just before the end
//! is not counted as abandoned. Goose only lets a user leave between transactions,
//! so long flows (a plan poll loop, think time) check [`RunContext::stopping`] and
//! end early past the graceful stop or on Ctrl-C; such iterations count as
//! interrupted, neither passed nor failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::recorder::{Recorder, Series};
use crate::scenario::ThinkTime;
use crate::settings::Tokens;

/// Longest single sleep, so a stop is noticed quickly.
const SLEEP_STEP: Duration = Duration::from_millis(200);

pub struct RunContext {
    pub recorder: Arc<Recorder>,
    /// The client every user shares, bound to the target's base URL.
    pub http: crate::http::HttpClient,
    pub tokens: Tokens,
    pub trace_sample: f64,
    /// Short tag making athlete ids unique to this run.
    pub run_tag: String,
    /// When the planned load ends: no iteration starts after it.
    pub deadline: Instant,
    /// When iterations still running are cut short (the deadline plus the graceful stop).
    pub stop_by: Instant,
    /// One pacer per paced flow, by flow series.
    pub pacers: Vec<(Series, Pacer)>,
    /// Set once a stop was asked (see [`RunContext::stop_asked`]).
    pub stop_asked: std::sync::atomic::AtomicBool,
}

impl RunContext {
    /// Iterations still running must stop now: the graceful stop after the planned
    /// end has passed, or Ctrl-C / SIGTERM.
    pub fn stopping(&self) -> bool {
        Instant::now() >= self.stop_by || self.stop_asked()
    }

    /// Ctrl-C or SIGTERM (goose's kill switch), read from a flag the run's clock
    /// refreshes, so the request path does not take goose's lock.
    pub fn stop_asked(&self) -> bool {
        self.stop_asked.load(Ordering::Relaxed)
    }

    /// Copies goose's kill switch into the flag; called by the run's clock.
    pub fn refresh_stop(&self) {
        if goose::is_killswitch_triggered() {
            self.stop_asked.store(true, Ordering::Relaxed);
        }
    }

    /// A new iteration may start: the planned end has not come, and no stop was asked.
    pub fn accepting(&self) -> bool {
        Instant::now() < self.deadline && !self.stop_asked()
    }

    /// Sleeps until `until`, in short steps; false if the run stopped first.
    pub async fn sleep_until(&self, until: Instant) -> bool {
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            tokio::time::sleep((until - now).min(SLEEP_STEP)).await;
        }
    }

    /// Waits a random think time; false if the run stopped first.
    pub async fn think(&self, think: ThinkTime) -> bool {
        let wait = if think.max > think.min {
            rand::rng().random_range(think.min..=think.max)
        } else {
            think.min
        };
        self.sleep_until(Instant::now() + wait).await
    }

    pub fn pacer(&self, flow: Series) -> Option<&Pacer> {
        self.pacers.iter().find(|(s, _)| *s == flow).map(|(_, p)| p)
    }
}

/// Open-model pacing: intended start times at a fixed rate, shared by a flow's users.
///
/// A free user takes the next intended start; if it lies ahead, the user waits for
/// it; if it is past by more than the allowed delay, it is dropped (counted) and the
/// user takes the next one. Latency is measured from the intended start, so a
/// stalled server shows in the latency instead of being hidden by users waiting
/// (coordinated omission).
pub struct Pacer {
    start: Instant,
    interval: Duration,
    next: AtomicU64,
    max_delay: Duration,
}

impl Pacer {
    pub fn new(start: Instant, per_second: f64, max_delay: Duration) -> Pacer {
        Pacer {
            start,
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: AtomicU64::new(0),
            max_delay,
        }
    }

    /// The intended start of this user's next iteration, after waiting for it;
    /// `None` when the run is over.
    pub async fn next_start(&self, ctx: &RunContext, hint: usize, flow: Series) -> Option<Instant> {
        loop {
            if !ctx.accepting() {
                return None;
            }
            let slot = self.next.fetch_add(1, Ordering::Relaxed);
            let intended = self.start + self.interval.mul_f64(slot as f64);
            if intended >= ctx.deadline {
                // No more slots in this run: wait for the end, without starting.
                ctx.sleep_until(ctx.deadline).await;
                return None;
            }
            let now = Instant::now();
            if intended > now {
                return ctx.sleep_until(intended).await.then_some(intended);
            }
            if now - intended <= self.max_delay {
                return Some(intended);
            }
            ctx.recorder.dropped(hint, flow);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(deadline: Duration) -> RunContext {
        RunContext {
            recorder: Recorder::new(Duration::from_secs(1), 1, None),
            http: crate::http::HttpClient::new(
                "http://127.0.0.1:9",
                Duration::from_secs(1),
                "test",
            )
            .unwrap(),
            tokens: Tokens::Fixed(String::new()),
            trace_sample: 0.0,
            run_tag: "t".into(),
            deadline: Instant::now() + deadline,
            stop_by: Instant::now() + deadline,
            pacers: Vec::new(),
            stop_asked: Default::default(),
        }
    }

    #[tokio::test]
    async fn late_slots_are_dropped_and_counted() {
        let ctx = ctx(Duration::from_secs(5));
        // 100/s, started 1 s ago, at most 50 ms late: about 95 slots are too late.
        let pacer = Pacer::new(
            Instant::now() - Duration::from_secs(1),
            100.0,
            Duration::from_millis(50),
        );
        let start = pacer.next_start(&ctx, 0, Series::FlowHealth).await.unwrap();
        assert!(start.elapsed() <= Duration::from_millis(60));
        let results = ctx.recorder.finish().unwrap();
        let dropped = results.get(Series::FlowHealth).dropped;
        assert!((90..=100).contains(&dropped), "{dropped}");
    }

    #[tokio::test]
    async fn future_slots_are_waited_for() {
        let ctx = ctx(Duration::from_secs(5));
        let pacer = Pacer::new(
            Instant::now() + Duration::from_millis(100),
            10.0,
            Duration::from_secs(1),
        );
        let a = pacer.next_start(&ctx, 0, Series::FlowHealth).await.unwrap();
        let b = pacer.next_start(&ctx, 0, Series::FlowHealth).await.unwrap();
        assert_eq!(b - a, Duration::from_millis(100));
        assert!(Instant::now() >= b);
    }

    #[tokio::test]
    async fn no_slot_after_the_deadline() {
        let ctx = ctx(Duration::from_millis(50));
        let pacer = Pacer::new(
            Instant::now() + Duration::from_millis(100),
            10.0,
            Duration::from_secs(1),
        );
        assert!(
            pacer
                .next_start(&ctx, 0, Series::FlowHealth)
                .await
                .is_none()
        );
    }
}
