//! Work that survives a crash: a planning engine killed (SIGKILL) with jobs running
//! and queued loses none of them after it starts again, through a file database
//! and through JetStream; a consumer whose JetStream stream ends is recreated, and
//! `/health` says so while it is not consuming; finished jobs expire.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use testkit::{Nats, Proc, TempDir, free_port, wait_port};

/// A planning engine process on `port` (API) and `port + metrics`.
fn engine(port: u16, metrics: u16, env: &[(&str, String)]) -> Proc {
    let mut c = Command::new(env!("CARGO_BIN_EXE_planning-engine"));
    c.env("PLANNING_ENGINE_PORT", port.to_string())
        .env("PLANNING_ENGINE_METRICS_PORT", metrics.to_string())
        .env("LLM_FAILURE_RATE", "0")
        .env("PLAN_CONCURRENCY", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let p = Proc(c.spawn().expect("the planning-engine binary"));
    wait_port(port);
    p
}

fn slow() -> Vec<(&'static str, String)> {
    vec![
        ("LLM_LATENCY_P50_MS", "3000".into()),
        ("LLM_LATENCY_P95_MS", "4000".into()),
    ]
}

fn fast() -> Vec<(&'static str, String)> {
    vec![
        ("LLM_LATENCY_P50_MS", "20".into()),
        ("LLM_LATENCY_P95_MS", "40".into()),
    ]
}

async fn submit(c: &reqwest::Client, base: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("crash-job-{i}");
        let r = c
            .post(format!("{base}/jobs"))
            .json(&json!({
                "jobId": id, "athleteId": format!("athlete-{i}"), "complexity": "basic",
                "equipmentCount": 1, "availabilityDays": 3, "submittedAtMs": 1,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        ids.push(id);
    }
    ids
}

async fn status(c: &reqwest::Client, base: &str, id: &str) -> String {
    // A pooled connection to a killed engine fails once: that is not a status.
    let Ok(r) = c.get(format!("{base}/jobs/{id}")).send().await else {
        return "unreachable".to_string();
    };
    let v: Value = r.json().await.unwrap_or_default();
    v["status"].as_str().unwrap_or("unknown").to_string()
}

/// Waits until every job completed; the statuses seen last otherwise.
async fn all_completed(c: &reqwest::Client, base: &str, ids: &[String], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let mut statuses = Vec::new();
        for id in ids {
            statuses.push(status(c, base, id).await);
        }
        if statuses.iter().all(|s| s == "completed") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "jobs lost after the restart: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kills the engine with jobs running and queued, starts it again, and checks
/// that every job completes.
async fn crash_and_restart(env: Vec<(&'static str, String)>, within: Duration) {
    let (port, metrics) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    let mut first = engine(port, metrics, &[env.clone(), slow()].concat());
    let ids = submit(&c, &base, 6).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: Vec<String> =
        futures::future::join_all(ids.iter().map(|id| status(&c, &base, id))).await;
    assert!(before.iter().all(|s| s != "completed"), "{before:?}");
    assert!(
        before.iter().any(|s| s == "running"),
        "some were running: {before:?}"
    );
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let _second = engine(port, metrics, &[env, fast()].concat());
    all_completed(&c, &base, &ids, within).await;
}

#[tokio::test]
async fn a_killed_engine_loses_no_job_with_a_file_database() {
    let dir = TempDir::new("aa-crash");
    let db = dir.path().join("plans.db");
    let env = vec![("DATABASE_URL", db.to_str().unwrap().to_string())];
    crash_and_restart(env, Duration::from_secs(20)).await;
}

#[tokio::test]
async fn a_killed_engine_loses_no_job_through_jetstream() {
    let nats = Nats::start();
    let env = vec![("NATS_URL", nats.url.clone())];
    // The jobs the dead consumer held come back after JetStream's ack wait (30 s).
    crash_and_restart(env, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_deleted_consumer_is_recreated_and_a_lost_server_shows_in_health() {
    let mut nats = Nats::start();
    let s = start(fast_config().with_nats(Some(nats.url.clone()))).await;
    let c = client();
    let base = s.planning.base_url();
    let health = format!("{}/health", base);
    assert_eq!(c.get(&health).send().await.unwrap().status(), 200);
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    let stream = js.get_stream("PLANS").await.unwrap();
    stream.delete_consumer("planning-engine").await.unwrap();
    // Jobs published now are consumed once the consumer exists again.
    let ids = submit(&c, &base, 2).await;
    all_completed(&c, &base, &ids, Duration::from_secs(30)).await;
    nats.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = c.get(&health).send().await.unwrap();
        if r.status() == 503 {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["status"], "degraded", "{body}");
            assert!(
                body["reason"].as_str().unwrap().contains("not consuming"),
                "{body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/health stayed 200 with NATS gone"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn finished_jobs_and_their_plans_expire_after_the_retention() {
    let mut config = fast_config();
    config.planning.retention = Some(Duration::from_secs(1));
    let s = start(config).await;
    let c = client();
    let base = s.planning.base_url();
    let ids = submit(&c, &base, 1).await;
    all_completed(&c, &base, &ids, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&c, &base, &ids[0]).await == "completed" {
        assert!(
            Instant::now() < deadline,
            "a finished job outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = c
        .get(format!("{base}/jobs/{}", ids[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    s.shutdown().await.unwrap();
}

/// An in-memory database does not keep every athlete of a long run: a profile is
/// deleted its retention after its last step.
#[tokio::test]
async fn profiles_expire_from_an_in_memory_database_after_the_retention() {
    let mut config = fast_config();
    config.onboarding.profile_retention = Some(Duration::from_secs(1));
    let s = start(config).await;
    let c = client();
    let base = s.onboarding.base_url();
    let r = c
        .post(format!("{base}/onboarding/purpose_selection"))
        .header("X-Athlete-Id", "athlete-expiring")
        .json(&json!({ "purpose": "sport_performance" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let profile = || c.get(format!("{base}/profiles/athlete-expiring")).send();
    assert_eq!(profile().await.unwrap().status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while profile().await.unwrap().status() == 200 {
        assert!(
            Instant::now() < deadline,
            "a profile outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(profile().await.unwrap().status(), 404);
    s.shutdown().await.unwrap();
}

/// A job that crashes the engine each time it runs must not crash it forever: the
/// delivery a crash interrupted counts, and past `PLAN_MAX_DELIVERIES` the job is
/// dead-lettered instead of run again.
#[tokio::test]
async fn a_job_interrupted_past_the_delivery_limit_is_dead_lettered_not_run() {
    let dir = TempDir::new("aa-crash-loop");
    let db = dir.path().join("plans.db");
    let env = vec![
        ("DATABASE_URL", db.to_str().unwrap().to_string()),
        ("PLAN_MAX_DELIVERIES", "1".to_string()),
    ];
    let (port, metrics) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let mut first = engine(port, metrics, &[env.clone(), slow()].concat());
    let ids = submit(&client(), &base, 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&client(), &base, &ids[0]).await != "running" {
        assert!(Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let _second = engine(port, metrics, &[env, fast()].concat());
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .get(format!("{base}/jobs/{}", ids[0]))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        if v["status"] == "failed" {
            let error = v["error"].as_str().unwrap_or_default();
            assert!(error.contains("PLAN_MAX_DELIVERIES"), "{v}");
            break;
        }
        assert_ne!(v["status"], "completed", "ran again past the limit: {v}");
        assert!(Instant::now() < deadline, "never dead-lettered: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = reqwest::get(format!("http://127.0.0.1:{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = testkit::parse_metrics(&page);
    assert_eq!(
        m[r#"plan_generation_failures_total{reason="max_deliveries"}"#],
        1.0
    );
}
