//! The run's clock: emits the recorder's slices as they end, with the generator's
//! own probe (CPU share, requests in flight), and shows progress (elapsed and
//! remaining, current stage, users, req/s, error rate, p95, requests in flight
//! and the oldest one's age, so a stalled target shows at once).
//!
//! On a terminal the progress is an indicatif bar; otherwise (CI logs) a plain line
//! every five seconds.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use parking_lot::Mutex;

use crate::context::RunContext;
use crate::generator::CpuClock;
use crate::recorder::Live;
use crate::scenario::Stage;

/// Plain progress lines are this far apart when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub struct Monitor {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// The stage running `elapsed` into the run.
pub fn stage_at(stages: &[Stage], elapsed: Duration) -> &str {
    let mut end = Duration::ZERO;
    for s in stages {
        end += s.duration;
        if elapsed < end {
            return &s.name;
        }
    }
    "stopping"
}

/// A slice is emitted this long after it ends, so events at its very end are in.
const COLLECT_AFTER: Duration = Duration::from_millis(5);

fn line(live: &Live, stage: &str) -> String {
    let cpu = live
        .cpu_share
        .map(|c| {
            format!(
                " | cpu {:.0}% lag {:.0} ms",
                c * 100.0,
                live.scheduler_lag_ms
            )
        })
        .unwrap_or_default();
    format!(
        "{stage} | users {} | {:.0} req/s | errors {:.2}% | p95 {:.1} ms | in flight {} (oldest {:.1} s) | requests {} | dropped {}{cpu}",
        live.users,
        live.requests_per_second,
        live.error_rate * 100.0,
        live.p95_ms,
        live.in_flight,
        live.oldest_ms / 1000.0,
        live.total_requests,
        live.dropped
    )
}

impl Monitor {
    /// Starts the clock of the run of `ctx`, `total` long, with `stages` named.
    pub fn spawn(
        ctx: Arc<RunContext>,
        cpu: Arc<Mutex<CpuClock>>,
        stages: Vec<Stage>,
        total: Duration,
        quiet: bool,
    ) -> Monitor {
        let recorder = ctx.recorder.clone();
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let terminal = std::io::stderr().is_terminal() && !quiet;
        let task = tokio::spawn(async move {
            let bar = terminal.then(|| {
                let bar = ProgressBar::with_draw_target(
                    Some(total.as_secs()),
                    ProgressDrawTarget::stderr(),
                );
                bar.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:30}] {pos}/{len}s (ETA {eta}) {msg}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar
            });
            let first = recorder.started() + recorder.slice() + COLLECT_AFTER;
            let mut tick = tokio::time::interval_at(first.into(), recorder.slice());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut last_plain = Duration::ZERO;
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    _ = tick.tick() => {}
                }
                // Merging the slice's histograms and writing the interval log is
                // CPU work (milliseconds, far more in a debug build): done on a
                // worker, it holds up every request task and the lag probe queued
                // behind it, and the run measures its own bookkeeping as lag.
                let probe = crate::generator::probe(&ctx, &cpu);
                let collecting = recorder.clone();
                let _ = tokio::task::spawn_blocking(move || collecting.collect(probe)).await;
                let live = recorder.live();
                let stage = stage_at(&stages, live.elapsed);
                match &bar {
                    Some(bar) => {
                        bar.set_position(live.elapsed.as_secs().min(total.as_secs()));
                        bar.set_message(line(&live, stage));
                    }
                    None if !quiet && live.elapsed >= last_plain + PLAIN_EVERY => {
                        last_plain = live.elapsed;
                        eprintln!(
                            "[{:>4}s/{}s] {}",
                            live.elapsed.as_secs(),
                            total.as_secs(),
                            line(&live, stage)
                        );
                    }
                    None => {}
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        Monitor {
            stop: Some(stop_tx),
            task,
        }
    }

    /// Stops the clock; the caller collects the last partial slice.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_lookup_follows_the_plan() {
        let stages = vec![
            Stage {
                name: "ramp".into(),
                kind: crate::scenario::StageKind::Ramp,
                users: 5,
                duration: Duration::from_secs(5),
            },
            Stage {
                name: "steady".into(),
                kind: crate::scenario::StageKind::Steady,
                users: 5,
                duration: Duration::from_secs(10),
            },
        ];
        assert_eq!(stage_at(&stages, Duration::from_secs(2)), "ramp");
        assert_eq!(stage_at(&stages, Duration::from_secs(5)), "steady");
        assert_eq!(stage_at(&stages, Duration::from_secs(20)), "stopping");
    }
}
