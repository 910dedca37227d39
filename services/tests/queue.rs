//! Plan jobs through both queues: JetStream on a real nats-server and the in-process
//! queue; redelivery, dead letters and graceful shutdown.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::Value;

async fn queue_status(c: &reqwest::Client, s: &services::Services) -> Value {
    c.get(format!("{}/queue/status", s.planning.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn plan_job_through_jetstream() {
    let nats = Nats::start();
    let s = start(fast_config().with_nats(Some(nats.url.clone()))).await;
    let c = client();
    let g = s.gateway.base_url();
    let health: Value = c
        .get(format!("{g}/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["queue"], "nats");
    let t = token(&c, &g, "athlete-js").await;
    let jobs: Vec<String> = futures::future::join_all((0..5).map(|_| generate(&c, &g, &t))).await;
    for job in &jobs {
        let done = wait_for_plan(&c, &g, &t, job, Duration::from_secs(15)).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    let q = queue_status(&c, &s).await;
    assert_eq!(q["backend"], "nats");
    assert_eq!(q["acked"], 5);
    assert_eq!(q["nats"]["numPending"], 0);
    assert_eq!(q["nats"]["numAckPending"], 0);

    // Work-queue retention: acked jobs are gone from the stream.
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    let mut stream = js.get_stream(services::queue::PLAN_STREAM).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn jetstream_job_status_is_queued_before_the_engine_takes_it() {
    let nats = Nats::start();
    let mut config = fast_config().with_nats(Some(nats.url.clone()));
    config.planning.concurrency = 1;
    config.planning.llm.latency_p50 = Duration::from_millis(800);
    config.planning.llm.latency_p95 = Duration::from_millis(800);
    let s = start(config).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-wait").await;
    let first = generate(&c, &g, &t).await;
    let second = generate(&c, &g, &t).await;
    // The engine runs one job at a time; the second is still in the stream.
    let r: Value = c
        .get(format!("{g}/api/v1/plans/status"))
        .query(&[("jobId", second.as_str())])
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["status"] == "queued" || r["status"] == "running", "{r}");
    for job in [first, second] {
        assert_eq!(
            wait_for_plan(&c, &g, &t, &job, Duration::from_secs(15)).await["status"],
            "completed"
        );
    }
    s.shutdown().await.unwrap();
}

async fn redelivery_after_a_transient_failure(nats: Option<&Nats>) {
    let mut config = fast_config().with_nats(nats.map(|n| n.url.clone()));
    config.planning.common.faults.planning_engine.fail_attempts = 1;
    let s = start(config).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-retry").await;
    let job = generate(&c, &g, &t).await;
    let done = wait_for_plan(&c, &g, &t, &job, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["attempts"], 2,
        "first delivery failed, second succeeded: {done}"
    );
    let q = queue_status(&c, &s).await;
    assert_eq!(
        (
            q["nacked"].as_u64(),
            q["redelivered"].as_u64(),
            q["acked"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{q}"
    );
    let m = scrape(&c, &s.planning.metrics_url()).await;
    assert_eq!(m["plan_queue_naks_total"], 1.0);
    assert_eq!(
        m["plan_generation_requests_total"], 1.0,
        "a redelivered job is one request"
    );
    assert_eq!(m["plan_generation_success_total"], 1.0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn in_process_redelivery_after_a_transient_failure() {
    redelivery_after_a_transient_failure(None).await;
}

#[tokio::test]
async fn jetstream_redelivery_after_a_transient_failure() {
    let nats = Nats::start();
    redelivery_after_a_transient_failure(Some(&nats)).await;
}

async fn dead_letter_after_the_last_delivery(nats: Option<&Nats>) {
    let mut config = fast_config().with_nats(nats.map(|n| n.url.clone()));
    config.planning.max_deliveries = 3;
    config.planning.common.faults.planning_engine.fail_attempts = 100;
    let s = start(config).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-dlq").await;
    let job = generate(&c, &g, &t).await;
    let done = wait_for_plan(&c, &g, &t, &job, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["attempts"], 3);
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("after 3 deliveries"),
        "{done}"
    );
    let q = queue_status(&c, &s).await;
    assert_eq!(q["deadLettered"], 1, "{q}");
    assert_eq!(q["nacked"], 2, "{q}");
    let m = scrape(&c, &s.planning.metrics_url()).await;
    assert_eq!(
        m[r#"plan_generation_failures_total{reason="llm_error"}"#],
        1.0
    );
    assert_eq!(m["plan_generation_success_total"], 0.0);
    assert_eq!(m["plan_queue_dead_letters_total"], 1.0);
    if let Some(nats) = nats {
        let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
        let stream = js.get_stream(services::queue::DLQ_STREAM).await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
            .await
            .unwrap();
        let mut batch = consumer
            .fetch()
            .max_messages(10)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        let dead = batch.next().await.expect("one dead letter").unwrap();
        let body: services::queue::PlanJob = serde_json::from_slice(&dead.payload).unwrap();
        assert_eq!(body.job_id, job);
        let reason = dead
            .headers
            .as_ref()
            .unwrap()
            .get(services::queue::DLQ_REASON_HEADER)
            .unwrap();
        assert!(
            reason.as_str().contains("injected transient failure"),
            "{reason}"
        );
        assert_eq!(q["nats"]["deadLetterMessages"], 1);
        assert_eq!(
            q["nats"]["numAckPending"], 0,
            "the original is terminated, not left pending"
        );
    }
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn in_process_dead_letter_after_the_last_delivery() {
    dead_letter_after_the_last_delivery(None).await;
}

#[tokio::test]
async fn jetstream_dead_letter_after_the_last_delivery() {
    let nats = Nats::start();
    dead_letter_after_the_last_delivery(Some(&nats)).await;
}

async fn wait_in_flight(c: &reqwest::Client, s: &services::Services) {
    for _ in 0..200 {
        let cc: Value = c
            .get(format!("{}/concurrency/status", s.planning.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if cc["inFlight"] == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the job never started");
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_job_in_flight() {
    let dir = testkit::TempDir::new("aa-shutdown");
    let db = dir.0.join("planning.db");
    let mut config = fast_config();
    config.planning.database_url = db.display().to_string();
    config.planning.llm.latency_p50 = Duration::from_millis(1500);
    config.planning.llm.latency_p95 = Duration::from_millis(1500);
    let s = start(config).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-shutdown").await;
    let job = generate(&c, &g, &t).await;
    wait_in_flight(&c, &s).await;
    let started = std::time::Instant::now();
    s.shutdown().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "shutdown waited for the job"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let status: String = conn
        .query_row(
            "SELECT status FROM plan_jobs WHERE job_id = ?1",
            [&job],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "completed");
    let plans: i64 = conn
        .query_row("SELECT count(*) FROM plans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(plans, 1);
}

#[tokio::test]
async fn jetstream_graceful_shutdown_acks_the_job_in_flight() {
    let nats = Nats::start();
    let mut config = fast_config().with_nats(Some(nats.url.clone()));
    config.planning.llm.latency_p50 = Duration::from_millis(1500);
    config.planning.llm.latency_p95 = Duration::from_millis(1500);
    let s = start(config).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-shutdown").await;
    generate(&c, &g, &t).await;
    wait_in_flight(&c, &s).await;
    s.shutdown().await.unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_consumer_from_stream(services::queue::CONSUMER, services::queue::PLAN_STREAM)
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!(
        info.num_ack_pending, 0,
        "the job in flight was acked before the engine stopped"
    );
    assert_eq!(info.num_pending, 0);
    let mut stream = js.get_stream(services::queue::PLAN_STREAM).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 0);
}

#[tokio::test]
async fn unreachable_nats_is_a_clear_start_error() {
    let config = fast_config().with_nats(Some(format!("nats://127.0.0.1:{}", free_port())));
    let err = match services::start_all(config, services::RuntimeMode::Current).await {
        Ok(_) => panic!("started without NATS"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("NATS unreachable at NATS_URL"), "{err}");
}

#[tokio::test]
async fn a_giant_job_from_any_producer_is_dead_lettered_without_running() {
    // 4,294,967,295 training days a week would build billions of JSON values.
    let giant = serde_json::json!({
        "jobId": "0123456789abcdef0123456789abcdef-0123456789abcdef",
        "athleteId": "athlete-giant",
        "complexity": "standard",
        "equipmentCount": 1,
        "availabilityDays": u32::MAX,
        "submittedAtMs": 1,
    });
    // Over HTTP the engine answers 422, as the gateway does.
    let s = start(fast_config()).await;
    let c = client();
    let r = c
        .post(format!("{}/jobs", s.planning.base_url()))
        .json(&giant)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("availabilityDays"),
        "{body}"
    );
    s.shutdown().await.unwrap();

    // Any NATS publisher: dead-lettered on arrival, never generated.
    let nats = Nats::start();
    let s = start(fast_config().with_nats(Some(nats.url.clone()))).await;
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    js.publish(
        services::queue::PLAN_SUBJECT,
        serde_json::to_vec(&giant).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let mut q = queue_status(&c, &s).await;
    for _ in 0..100 {
        if q["deadLettered"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        q = queue_status(&c, &s).await;
    }
    assert_eq!(q["deadLettered"], 1, "{q}");
    let m = scrape(&c, &s.planning.metrics_url()).await;
    assert_eq!(
        m[r#"plan_generation_failures_total{reason="invalid_job"}"#],
        1.0
    );
    assert_eq!(m["plan_generation_success_total"], 0.0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_full_in_process_queue_answers_503_with_retry_after() {
    let mut config = fast_config();
    config.planning.concurrency = 1;
    config.planning.queue_capacity = 2;
    config.planning.llm.latency_p50 = Duration::from_secs(3);
    config.planning.llm.latency_p95 = Duration::from_secs(4);
    let s = start(config).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-full").await;
    let mut answers = Vec::new();
    for _ in 0..6 {
        let r = c
            .post(format!("{g}/api/v1/plans/generate"))
            .bearer_auth(&t)
            .json(&serde_json::json!({ "complexity": "basic", "availabilityDays": 2 }))
            .send()
            .await
            .unwrap();
        let retry_after = r.headers().get("retry-after").cloned();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        answers.push((status, retry_after, body));
    }
    let accepted = answers.iter().filter(|a| a.0 == 202).count();
    assert!(accepted >= 2, "{answers:?}");
    let full: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert!(!full.is_empty(), "six jobs fit a queue of two: {answers:?}");
    for (_, retry_after, body) in full {
        assert_eq!(body["error"], "queue_full", "{body}");
        assert!(retry_after.is_some(), "no Retry-After: {body}");
    }
    let q = queue_status(&c, &s).await;
    assert!(q["pending"].as_i64().unwrap() <= 2, "{q}");
}
