//! What every virtual user shares during a run: the recorder, the target, the
//! token source, the run's clock, and how it stops.
//!
//! The run ends gracefully: after the planned end no iteration starts
//! ([`RunContext::accepting`]), and iterations in flight may finish for the
//! scenario's `graceful_stop` (default 10 s), so a journey begun just before the
//! end is not counted as abandoned. Then the hard stop: sleeps end and requests
//! in flight are cancelled, recorded as interrupted (neither passed nor failed).
//! Ctrl-C or SIGTERM is a hard stop at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::recorder::Recorder;
use crate::scenario::ThinkTime;
use crate::settings::Tokens;

/// A stop that every virtual user checks: a cancellation token to wait on, and a
/// flag read without the token's lock (users check it before every iteration and
/// every wait).
#[derive(Debug, Clone, Default)]
pub struct Signal {
    token: CancellationToken,
    raised: Arc<AtomicBool>,
}

impl Signal {
    /// A signal not raised yet.
    pub fn new() -> Signal {
        Signal::default()
    }

    /// Raises it: checks see it at once, waiters wake.
    pub fn cancel(&self) {
        self.raised.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Whether it was raised.
    pub fn is_cancelled(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Waits until it is raised.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }
}

/// Shards of the in-flight table: a few per core keeps contention low.
const INFLIGHT_SHARDS: usize = 8;

/// Requests on the wire, for the live view: how many, and since when the oldest.
#[derive(Default)]
pub struct InFlight {
    shards: [Mutex<Vec<(u64, Instant)>>; INFLIGHT_SHARDS],
    next: AtomicU64,
}

impl InFlight {
    /// A request starts (sent `at`); the ticket ends it.
    pub fn start(&self, at: Instant) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.shards[id as usize % INFLIGHT_SHARDS]
            .lock()
            .push((id, at));
        id
    }

    /// A request ended.
    pub fn end(&self, id: u64) {
        let mut shard = self.shards[id as usize % INFLIGHT_SHARDS].lock();
        if let Some(i) = shard.iter().position(|(x, _)| *x == id) {
            shard.swap_remove(i);
        }
    }

    /// How many are in flight, and the oldest one's age.
    pub fn snapshot(&self) -> (usize, Duration) {
        let mut count = 0;
        let mut oldest: Option<Instant> = None;
        for shard in &self.shards {
            let shard = shard.lock();
            count += shard.len();
            if let Some(t) = shard.iter().map(|(_, t)| *t).min() {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
        (count, oldest.map(|t| t.elapsed()).unwrap_or_default())
    }
}

/// Shared by every virtual user of a run.
pub struct RunContext {
    /// Where every measurement goes.
    pub recorder: Arc<Recorder>,
    /// The client every user shares, bound to the target's base URL.
    pub http: crate::http::HttpClient,
    /// How users get tokens.
    pub tokens: Tokens,
    /// Share of requests sent with a sampled `traceparent`.
    pub trace_sample: f64,
    /// A random tag making athlete ids unique to this run (and worker).
    pub nonce: String,
    /// This worker's index (0 alone): a flow's `{{run.worker}}`.
    pub worker: u32,
    /// Seeds every iteration's random stream (`crate::flows::iteration_rng`).
    pub seed: u64,
    /// Which engine runs the shipped flows.
    pub flow_engine: crate::cli::FlowEngine,
    /// When the load started: every executor's clock.
    pub started: Instant,
    /// When the planned load ends: no iteration starts after it.
    pub deadline: Instant,
    /// When iterations still running are cut short (the deadline plus the graceful stop).
    pub stop_by: Instant,
    /// Raised on Ctrl-C or SIGTERM: nothing new starts.
    pub stop: Signal,
    /// Raised at `stop_by`, or with `stop`: sleeps end, requests are cancelled.
    pub hard_stop: Signal,
    /// Requests on the wire.
    pub inflight: InFlight,
}

/// A random run tag: 8 hex digits.
pub fn nonce() -> String {
    format!("{:08x}", rand::rng().random::<u32>())
}

impl RunContext {
    /// Iterations still running must stop now: the graceful stop after the planned
    /// end has passed, or Ctrl-C / SIGTERM.
    pub fn stopping(&self) -> bool {
        self.hard_stop.is_cancelled() || Instant::now() >= self.stop_by
    }

    /// A new iteration may start: the planned end has not come, and no stop was asked.
    pub fn accepting(&self) -> bool {
        Instant::now() < self.deadline && !self.stop.is_cancelled()
    }

    /// Sleeps until `until`; false if the run stopped first. A time already passed
    /// returns at once: a tokio timer, even a zero one, waits for the timer wheel's
    /// next 1 ms tick, which capped a user without think time near 700 iterations/s.
    pub async fn sleep_until(&self, until: Instant) -> bool {
        if self.stopping() {
            return false;
        }
        if until <= Instant::now() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => !self.stopping(),
            _ = self.hard_stop.cancelled() => false,
        }
    }

    /// Waits a random think time; false if the run stopped first.
    pub async fn think(&self, think: ThinkTime) -> bool {
        let wait = if think.max > think.min {
            rand::rng().random_range(think.min..=think.max)
        } else {
            think.min
        };
        if wait.is_zero() {
            return !self.stopping();
        }
        self.sleep_until(Instant::now() + wait).await
    }

    /// Cancels in-flight work at `stop_by` (the graceful stop's end).
    pub fn spawn_hard_stop(self: &Arc<Self>) {
        let ctx = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(ctx.stop_by.into()) => {}
                _ = ctx.stop.cancelled() => {}
            }
            ctx.hard_stop.cancel();
        });
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A context for tests: nothing listens at its target.
    pub fn ctx(deadline: Duration) -> RunContext {
        ctx_for("http://127.0.0.1:9", deadline)
    }

    /// A context for tests driving `url`, planned to end after `deadline`.
    pub fn ctx_for(url: &str, deadline: Duration) -> RunContext {
        let table = Arc::new(crate::recorder::SeriesTable::standard());
        let recorder = Recorder::new(table, Duration::from_secs(1), 2, None);
        let now = recorder.started();
        RunContext {
            recorder,
            http: crate::http::HttpClient::new(url, Duration::from_secs(5), "test").unwrap(),
            tokens: Tokens::Fixed(String::new()),
            trace_sample: 0.0,
            nonce: "t".into(),
            worker: 0,
            seed: 1,
            flow_engine: crate::cli::FlowEngine::Data,
            started: now,
            deadline: now + deadline,
            stop_by: now + deadline,
            stop: Signal::new(),
            hard_stop: Signal::new(),
            inflight: InFlight::default(),
        }
    }

    #[tokio::test]
    async fn sleeps_end_at_the_hard_stop() {
        let ctx = ctx(Duration::from_secs(5));
        let stop = ctx.hard_stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stop.cancel();
        });
        let t = Instant::now();
        assert!(
            !ctx.sleep_until(Instant::now() + Duration::from_secs(10))
                .await
        );
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(ctx.stopping());
    }

    #[test]
    fn in_flight_requests_and_the_oldest() {
        let f = InFlight::default();
        let a = f.start(Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let b = f.start(Instant::now());
        let (n, age) = f.snapshot();
        assert_eq!(n, 2);
        assert!(age >= Duration::from_millis(20));
        f.end(a);
        f.end(b);
        assert_eq!(f.snapshot().0, 0);
    }
}
