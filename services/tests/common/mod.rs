//! Shared by the integration tests: services on ephemeral loopback ports with a fast
//! simulated model, an HTTP client and tokens; metric scraping and a real
//! nats-server come from `testkit`.
#![allow(dead_code, unused_imports)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use services::{RuntimeMode, Services, ServicesConfig};

/// Services with a fast, reliable model and no rate limit unless a test sets one.
pub fn fast_config() -> ServicesConfig {
    let mut c = ServicesConfig::ephemeral();
    c.planning.llm.latency_p50 = Duration::from_millis(20);
    c.planning.llm.latency_p95 = Duration::from_millis(40);
    c.planning.llm.failure_rate = 0.0;
    c.planning.nak_backoff = Duration::from_millis(50);
    c.gateway.rate_limits = services::rate_limit::RateLimits::off();
    c
}

pub async fn start(config: ServicesConfig) -> Services {
    services::start_all(config, RuntimeMode::Current)
        .await
        .expect("services start")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn token(client: &reqwest::Client, gateway: &str, athlete: &str) -> String {
    try_token(client, gateway, athlete)
        .await
        .expect("a token, not a 429")
}

/// A token for `athlete`, or `None` when the gateway answered 429 (with Retry-After).
pub async fn try_token(c: &reqwest::Client, g: &str, athlete: &str) -> Option<String> {
    let r = c
        .post(format!("{g}/api/v1/auth/token"))
        .json(&json!({ "athleteId": athlete }))
        .send()
        .await
        .unwrap();
    if r.status() == 429 {
        assert!(r.headers().contains_key("retry-after"));
        return None;
    }
    assert_eq!(r.status(), 200);
    Some(
        r.json::<Value>().await.unwrap()["token"]
            .as_str()?
            .to_string(),
    )
}

/// Polls the plan status until it is completed or failed.
pub async fn wait_for_plan(
    client: &reqwest::Client,
    gateway: &str,
    token: &str,
    job_id: &str,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let r = client
            .get(format!("{gateway}/api/v1/plans/status"))
            .query(&[("jobId", job_id)])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "status of {job_id}");
        let body: Value = r.json().await.unwrap();
        let status = body["status"].as_str().unwrap().to_string();
        if status == "completed" || status == "failed" {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "plan {job_id} still {status} after {limit:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn generate(client: &reqwest::Client, gateway: &str, token: &str) -> String {
    let r = client
        .post(format!("{gateway}/api/v1/plans/generate"))
        .bearer_auth(token)
        .json(&json!({ "complexity": "standard", "equipmentCount": 5, "availabilityDays": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_string()
}

pub use testkit::{Nats, free_port, parse_metrics, scrape, total};
