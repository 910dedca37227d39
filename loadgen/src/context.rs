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

/// Users per chunk of the in-flight table.
const INFLIGHT_CHUNK: usize = 1024;
/// Chunks: users with ids past `INFLIGHT_CHUNK * INFLIGHT_CHUNKS` (a million)
/// share slots (the live view may then undercount).
const INFLIGHT_CHUNKS: usize = 1024;

/// Requests on the wire, for the live view: how many, and since when the oldest.
///
/// A virtual user has at most one request on the wire, so each user has a slot
/// holding its request's send time (nanoseconds since `origin`, 0 when none):
/// starting and ending a request are two atomic stores, no lock; the live view
/// reads every slot once a second. Slots come in chunks made on first use.
pub struct InFlight {
    origin: Instant,
    chunks: Box<[std::sync::OnceLock<Box<[AtomicU64]>>]>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            origin: Instant::now(),
            chunks: (0..INFLIGHT_CHUNKS)
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        }
    }
}

impl InFlight {
    fn slot(&self, user: usize) -> &AtomicU64 {
        let i = user % (INFLIGHT_CHUNK * INFLIGHT_CHUNKS);
        let chunk = self.chunks[i / INFLIGHT_CHUNK]
            .get_or_init(|| (0..INFLIGHT_CHUNK).map(|_| AtomicU64::new(0)).collect());
        &chunk[i % INFLIGHT_CHUNK]
    }

    /// User `user`'s request was sent `at`.
    pub fn start(&self, user: usize, at: Instant) {
        let nanos = at.saturating_duration_since(self.origin).as_nanos() as u64;
        self.slot(user).store(nanos.max(1), Ordering::Relaxed);
    }

    /// User `user`'s request ended.
    pub fn end(&self, user: usize) {
        self.slot(user).store(0, Ordering::Relaxed);
    }

    /// How many are in flight, and the oldest one's age.
    pub fn snapshot(&self) -> (usize, Duration) {
        let mut count = 0;
        let mut oldest = u64::MAX;
        for chunk in self.chunks.iter().filter_map(|c| c.get()) {
            for slot in chunk.iter() {
                let t = slot.load(Ordering::Relaxed);
                if t > 0 {
                    count += 1;
                    oldest = oldest.min(t);
                }
            }
        }
        let age = if count > 0 {
            self.origin
                .elapsed()
                .saturating_sub(Duration::from_nanos(oldest))
        } else {
            Duration::ZERO
        };
        (count, age)
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
    /// Every request and iteration, when asked for (`--request-log`).
    pub request_log: Option<Arc<crate::request_log::RequestLog>>,
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
            request_log: None,
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
        f.start(3, Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        f.start(5000, Instant::now());
        let (n, age) = f.snapshot();
        assert_eq!(n, 2);
        assert!(age >= Duration::from_millis(20));
        f.end(3);
        assert_eq!(f.snapshot().0, 1);
        assert!(
            f.snapshot().1 < Duration::from_millis(20),
            "the oldest left"
        );
        f.end(5000);
        assert_eq!(f.snapshot(), (0, Duration::ZERO));
    }
}
