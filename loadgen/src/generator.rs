//! The load generator's own health: its CPU use and how late its timers wake.
//!
//! A generator short of CPU, or whose runtime is too busy to wake its tasks on
//! time, starts requests late and charges its own delay to the target. Both are
//! measured every slice: the CPU share from the process's CPU time minus the
//! embedded services' runtimes (their threads are theirs), over all cores; the
//! scheduler lag from a probe that sleeps [`PROBE_PERIOD`] and records how much
//! later it woke. A run whose generator was limited is not judged (see
//! [`crate::integrity`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reports::summary::{GeneratorHealth, Percentiles, Slice};

use crate::context::RunContext;
use crate::recorder::{Probe, Results};

/// How often the scheduler probe wakes.
pub const PROBE_PERIOD: Duration = Duration::from_millis(10);
/// A timer 99th-percentile lateness above this means the generator's runtime
/// could not keep up: requests started late, latencies charged to the target.
pub const MAX_SCHEDULER_LAG_P99: Duration = Duration::from_millis(100);
/// A mean CPU use above this share of all cores means the generator was the limit.
pub const MAX_CPU_SHARE: f64 = 0.9;

/// CPU seconds this process used (user and system).
fn process_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if !ok {
        return 0.0;
    }
    // SAFETY: getrusage succeeded, so the struct is initialised.
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Reads the generator's CPU share between two readings.
pub struct CpuClock {
    cores: f64,
    others: Option<Box<dyn Fn() -> f64 + Send + Sync>>,
    first: (Instant, f64),
    last: (Instant, f64),
}

impl CpuClock {
    /// A clock starting now; `others` reads CPU seconds of threads in this process
    /// that are not the generator's (the embedded services).
    pub fn new(others: Option<Box<dyn Fn() -> f64 + Send + Sync>>) -> CpuClock {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let mut clock = CpuClock {
            cores,
            others,
            first: (Instant::now(), 0.0),
            last: (Instant::now(), 0.0),
        };
        clock.first = (Instant::now(), clock.mine());
        clock.last = clock.first;
        clock
    }

    /// The generator's CPU seconds so far.
    fn mine(&self) -> f64 {
        let others = self.others.as_ref().map_or(0.0, |f| f());
        (process_cpu_seconds() - others).max(0.0)
    }

    /// The share of all cores used since the last reading.
    pub fn sample(&mut self) -> f64 {
        let now = (Instant::now(), self.mine());
        let wall = now.0.duration_since(self.last.0).as_secs_f64().max(1e-3);
        let share = ((now.1 - self.last.1) / wall / self.cores).clamp(0.0, 1.0);
        self.last = now;
        share
    }

    /// CPU seconds used since the clock started.
    pub fn used(&self) -> f64 {
        (self.mine() - self.first.1).max(0.0)
    }
}

/// What the generator measures of itself at a collection: CPU share since the
/// last one, and the requests on the wire.
pub fn probe(ctx: &RunContext, cpu: &parking_lot::Mutex<CpuClock>) -> Probe {
    let (in_flight, oldest) = ctx.inflight.snapshot();
    Probe {
        cpu_share: Some(cpu.lock().sample()),
        in_flight: in_flight as u64,
        oldest,
    }
}

/// Wakes every [`PROBE_PERIOD`] and records how late, until the hard stop.
pub fn spawn_probe(ctx: Arc<RunContext>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let due = Instant::now() + PROBE_PERIOD;
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = ctx.hard_stop.cancelled() => break,
            }
            ctx.recorder
                .scheduler_lag(Instant::now().saturating_duration_since(due));
        }
    })
}

/// The generator's health over a run, and whether it limited the run.
pub fn health(results: &Results, cpu_seconds: f64) -> GeneratorHealth {
    let shares: Vec<f64> = results
        .timeline
        .iter()
        .filter_map(|s: &Slice| s.cpu_share)
        .collect();
    let requests: u64 = results
        .series
        .iter()
        .filter(|r| !r.info.is_flow)
        .map(|r| r.requests)
        .sum();
    let lag = Percentiles::of(&results.scheduler);
    let mut h = GeneratorHealth {
        cpu_share_mean: shares.iter().sum::<f64>() / shares.len().max(1) as f64,
        cpu_share_max: shares.iter().copied().fold(0.0, f64::max),
        cpu_us_per_request: if requests > 0 {
            cpu_seconds * 1e6 / requests as f64
        } else {
            0.0
        },
        scheduler_lag_p99_ms: lag.p99,
        scheduler_lag_max_ms: lag.max,
        limited: false,
        reasons: Vec::new(),
    };
    let limit_ms = MAX_SCHEDULER_LAG_P99.as_secs_f64() * 1000.0;
    if h.scheduler_lag_p99_ms > limit_ms {
        h.reasons.push(format!(
            "the generator's timers woke {:.0} ms late at p99 (limit {limit_ms:.0} ms): its runtime could not keep up, so requests started late (fewer users or flows, or a bigger machine)",
            h.scheduler_lag_p99_ms
        ));
    }
    if h.cpu_share_mean > MAX_CPU_SHARE {
        h.reasons.push(format!(
            "the generator used {:.0}% of all cores on average (limit {:.0}%): it, not the target, was the limit",
            h.cpu_share_mean * 100.0,
            MAX_CPU_SHARE * 100.0
        ));
    }
    h.limited = !h.reasons.is_empty();
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_in_the_cpu_share() {
        let mut clock = CpuClock::new(None);
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(200) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let share = clock.sample();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        // One busy thread: about one core's share (another test may run alongside).
        assert!(share > 0.5 / cores, "{share}");
        assert!(clock.used() >= 0.1);
        // Others' CPU is not ours.
        let mut none = CpuClock::new(Some(Box::new(process_cpu_seconds)));
        assert!(none.sample() < 0.05);
    }
}
