//! The load model against a test server: rates kept, pools that grow, drops
//! counted on schedule, both latencies through a stall, shapes that jump.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;

use super::run_flows;
use crate::context::RunContext;
use crate::context::tests::ctx_for;
use crate::recorder::{Probe, Results, SeriesTable};
use crate::scenario::{
    ArrivalRate, Arrivals, Executor, Flow, FlowKind, FlowSeries, RateStage, Stage, StageKind,
    ThinkTime,
};

/// A health endpoint answering after `latency`; a request arriving inside
/// `stall` (from the run's start) is answered when the stall ends.
async fn server(
    started: Instant,
    latency: Duration,
    stall: Option<(Duration, Duration)>,
) -> String {
    let app = Router::new().route(
        "/api/health",
        get(move || async move {
            if let Some((from, to)) = stall {
                let now = started.elapsed();
                if now >= from && now < to {
                    tokio::time::sleep(to - now).await;
                }
            }
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            "{\"status\":\"ok\"}"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// The health flow at a constant rate for `seconds`.
fn constant(rate: f64, seconds: u64, pre: u64, max: u64, max_start_delay: Duration) -> Flow {
    let health = crate::flow_file::builtin::find("health").unwrap();
    let program = crate::flow_file::check_text(std::path::Path::new(health.path), health.text);
    let program = Arc::new(program.unwrap());
    Flow {
        name: "health".into(),
        series: FlowSeries::in_table(&SeriesTable::standard(), "health", &program.requests),
        program,
        native: Some(FlowKind::Health {
            path: "/api/health".into(),
        }),
        source: crate::scenario::flows::FlowSource::BuiltIn,
        weight: 1,
        think_time: ThinkTime {
            min: Duration::ZERO,
            max: Duration::ZERO,
        },
        executor: Executor::Arrival(ArrivalRate {
            stages: vec![RateStage {
                rate,
                duration: Duration::from_secs(seconds),
            }],
            initial_rate: rate,
            pre_allocated: pre,
            max_users: max,
            arrivals: Arrivals::Uniform,
            max_start_delay,
            shares_load: false,
        }),
        start: Duration::ZERO,
    }
}

/// Drives `flows` against a server for `seconds` and hands back what was recorded.
async fn drive(
    seconds: u64,
    latency: Duration,
    stall: Option<(Duration, Duration)>,
    load: &[Stage],
    flows: Vec<Flow>,
) -> Results {
    // The server's clock is the run's: a context for its start, then the real one.
    let started = Instant::now();
    let url = server(started, latency, stall).await;
    let mut ctx: RunContext = ctx_for(&url, Duration::from_secs(seconds));
    ctx.started = started;
    ctx.deadline = started + Duration::from_secs(seconds);
    ctx.stop_by = ctx.deadline + Duration::from_secs(3);
    let ctx = Arc::new(ctx);
    run_flows(ctx.clone(), load, &flows, 0.0).await;
    ctx.recorder.finish(Probe::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrival_rate_is_kept_within_one_percent() {
    let r = drive(
        5,
        Duration::ZERO,
        None,
        &[],
        vec![constant(200.0, 5, 10, 50, Duration::ZERO)],
    )
    .await;
    let flow = r.get(SeriesTable::flow_of("health"));
    let started = flow.started_slots as f64;
    assert!(
        (started - 1000.0).abs() <= 10.0,
        "1000 planned, {started} started"
    );
    assert_eq!(flow.dropped, 0);
    assert_eq!(flow.completed, flow.started_slots);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_grows_when_iterations_lag() {
    // 100/s against 100 ms answers needs about 10 users; it starts with 2.
    let r = drive(
        4,
        Duration::from_millis(100),
        None,
        &[],
        vec![constant(100.0, 4, 2, 40, Duration::ZERO)],
    )
    .await;
    let flow = r.get(SeriesTable::flow_of("health"));
    assert!(flow.pool.size >= 9, "grew to {:?}", flow.pool);
    assert!(flow.pool.size <= 40);
    assert!(flow.pool.grew >= 7, "{:?}", flow.pool);
    assert!(
        flow.dropped <= 4,
        "growth starts the slots in time: {} dropped",
        flow.dropped
    );
    assert!(
        (flow.started_slots as f64 - 400.0).abs() <= 8.0,
        "{}",
        flow.started_slots
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_are_counted_on_schedule_through_a_stall() {
    // One user at 50/s; the server stalls from 2 s to 3 s: the slot at 2 s waits in
    // the stall, the 49 or 50 after it find no user and are dropped where they
    // were due (the third slice).
    let stall = Some((Duration::from_secs(2), Duration::from_secs(3)));
    let r = drive(
        5,
        Duration::ZERO,
        stall,
        &[],
        vec![constant(50.0, 5, 1, 1, Duration::ZERO)],
    )
    .await;
    let flow = r.get(SeriesTable::flow_of("health"));
    assert!(
        (49..=51).contains(&flow.dropped),
        "rate x stall = 50, dropped {}",
        flow.dropped
    );
    let in_stall = r.timeline[2].dropped;
    assert!(
        in_stall + 1 >= flow.dropped,
        "in the slice they were due: {:?}",
        r.timeline
    );
    assert_eq!(
        flow.started_slots + flow.dropped,
        250,
        "every slot is started or dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_corrected_latency_only() {
    // One user, slots may wait: after a 1 s stall the user catches up, so requests
    // are sent late but answered fast. From their slot (response time) they are
    // up to 1 s late; from the send (service time) only the stalled one is slow.
    let stall = Some((Duration::from_secs(2), Duration::from_secs(3)));
    let r = drive(
        5,
        Duration::ZERO,
        stall,
        &[],
        vec![constant(50.0, 5, 1, 1, Duration::from_secs(5))],
    )
    .await;
    let health = r.get(SeriesTable::req("health"));
    assert_eq!(r.get(SeriesTable::flow_of("health")).dropped, 0);
    let corrected = health.histogram.value_at_quantile(0.99);
    let uncorrected = health.service.value_at_quantile(0.99);
    assert!(
        corrected >= 500_000,
        "corrected p99 shows the stall: {corrected} us"
    );
    assert!(
        uncorrected < 100_000,
        "uncorrected p99 does not: {uncorrected} us"
    );
    assert!(
        health.service.max() >= 900_000,
        "the stalled request itself was slow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_jumps_and_a_ramp_does_not() {
    let stage = |kind, users, secs| Stage {
        name: format!("{kind:?}"),
        kind,
        users,
        duration: Duration::from_secs(secs),
    };
    let flow = Flow {
        executor: Executor::Closed {
            stages: Some(vec![
                stage(StageKind::Spike, 4, 2),
                stage(StageKind::Spike, 20, 2),
                stage(StageKind::Ramp, 0, 2),
            ]),
            iterations: None,
        },
        think_time: ThinkTime {
            min: Duration::from_millis(50),
            max: Duration::from_millis(50),
        },
        ..constant(1.0, 1, 1, 1, Duration::ZERO)
    };
    let started = Instant::now();
    let url = server(started, Duration::ZERO, None).await;
    let mut ctx = ctx_for(&url, Duration::from_secs(6));
    ctx.stop_by = ctx.deadline + Duration::from_secs(1);
    let ctx = Arc::new(ctx);
    let recorder = ctx.recorder.clone();
    let t0 = ctx.started;
    let engine = tokio::spawn(async move { run_flows(ctx, &[], &[flow], 0.0).await });
    let users_at = |ms: u64| {
        let recorder = recorder.clone();
        async move {
            tokio::time::sleep_until((t0 + Duration::from_millis(ms)).into()).await;
            recorder.users()
        }
    };
    assert_eq!(users_at(1000).await, 4);
    assert_eq!(
        users_at(2300).await,
        20,
        "the spike jumped within a control tick"
    );
    let halfway = users_at(5000).await;
    assert!(
        (8..=12).contains(&halfway),
        "the ramp down is linear: {halfway} at its middle"
    );
    engine.await.unwrap();
}
