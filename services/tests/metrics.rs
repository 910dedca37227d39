//! Every documented metric is exported under its exact name and moves as requests flow.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::json;

/// The fifteen names of SEED.md, with the series that must move (`_count` for histograms).
const DOCUMENTED: [(&str, &str); 15] = [
    ("onboarding_requests_total", "onboarding_requests_total"),
    (
        "onboarding_completions_total",
        "onboarding_completions_total",
    ),
    (
        "onboarding_step_duration_seconds",
        "onboarding_step_duration_seconds_count",
    ),
    (
        "plan_generation_requests_total",
        "plan_generation_requests_total",
    ),
    (
        "plan_generation_duration_seconds",
        "plan_generation_duration_seconds_count",
    ),
    (
        "plan_generation_success_total",
        "plan_generation_success_total",
    ),
    (
        "plan_generation_failures_total",
        "plan_generation_failures_total",
    ),
    ("api_requests_total", "api_requests_total"),
    (
        "api_response_time_seconds",
        "api_response_time_seconds_count",
    ),
    ("api_errors_total", "api_errors_total"),
    ("llm_requests_total", "llm_requests_total"),
    (
        "llm_response_time_seconds",
        "llm_response_time_seconds_count",
    ),
    ("llm_tokens_used_total", "llm_tokens_used_total"),
    ("database_queries_total", "database_queries_total"),
    (
        "database_query_duration_seconds",
        "database_query_duration_seconds_count",
    ),
];

async fn scrape_all(c: &reqwest::Client, s: &services::Services) -> HashMap<String, f64> {
    let mut all = HashMap::new();
    for (service, url) in s.metrics_targets() {
        for (k, v) in scrape(c, &url).await {
            all.insert(format!("{service}|{k}"), v);
        }
    }
    all
}

fn sum(all: &HashMap<String, f64>, series: &str) -> f64 {
    all.iter()
        .filter(|(k, _)| {
            let name = k.split_once('|').unwrap().1;
            name == series || name.starts_with(&format!("{series}{{"))
        })
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn every_documented_metric_is_present_and_moves() {
    let mut config = fast_config();
    // One failing plan and one server error so the failure counters move too.
    config.planning.max_deliveries = 1;
    config.planning.llm.failure_rate = 0.0;
    let s = start(config).await;
    let c = client();
    let before = scrape_all(&c, &s).await;
    for (name, series) in DOCUMENTED {
        assert!(
            before.keys().any(|k| {
                let n = k.split_once('|').unwrap().1;
                n == series
                    || n.starts_with(&format!("{series}{{"))
                    || n.starts_with(&format!("{name}_bucket"))
            }),
            "{name} is not exported before any traffic"
        );
    }
    for le in ["1.0", "2.0", "10.0", "30.0"] {
        assert!(
            before
                .keys()
                .any(|k| k.contains("api_response_time_seconds_bucket")
                    && k.contains(&format!("le=\"{le}\""))),
            "no bucket at {le} s"
        );
    }

    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-metrics").await;
    for (step, data) in [
        ("purpose_selection", json!({"purpose": "sport_performance"})),
        ("proficiency", json!({"proficiency": "intermediate"})),
        ("equipment", json!({"equipment": ["a", "b", "c", "d", "e"]})),
        ("availability", json!({"days": 3})),
        ("complete", json!({})),
    ] {
        let r = c
            .post(format!("{g}/api/v1/onboarding"))
            .bearer_auth(&t)
            .json(&json!({"step": step, "data": data}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let ok = generate(&c, &g, &t).await;
    assert_eq!(
        wait_for_plan(&c, &g, &t, &ok, Duration::from_secs(10)).await["status"],
        "completed"
    );
    // A failing plan, then a server error at the gateway.
    let admin = services::config::DEV_ADMIN_TOKEN;
    c.put(s.planning.admin_url())
        .bearer_auth(admin)
        .json(&json!({"fail_attempts": 5}))
        .send()
        .await
        .unwrap();
    let bad = generate(&c, &g, &t).await;
    assert_eq!(
        wait_for_plan(&c, &g, &t, &bad, Duration::from_secs(10)).await["status"],
        "failed"
    );
    c.put(s.gateway.admin_url())
        .bearer_auth(admin)
        .json(&json!({"routes": [{"route": "/api/health", "error_rate": 1.0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get(format!("{g}/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );

    let after = scrape_all(&c, &s).await;
    for (name, series) in DOCUMENTED {
        let (b, a) = (sum(&before, series), sum(&after, series));
        assert!(a > b, "{name} did not move ({series}: {b} -> {a})");
    }
    assert!(sum(&after, "process_resident_memory_bytes") > 0.0);
    assert!(sum(&after, "process_cpu_seconds_total") > 0.0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_outage_fault_makes_the_target_answer_503() {
    let mut config = fast_config();
    config
        .onboarding
        .common
        .faults
        .profile_onboarding
        .metrics_outages = vec![services::faults::Window {
        after_ms: 0,
        duration_ms: 60_000,
    }];
    let s = start(config).await;
    let c = client();
    assert_eq!(
        c.get(s.onboarding.metrics_url())
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        c.get(s.gateway.metrics_url())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn isolated_runtimes_report_their_own_cpu() {
    let mut config = fast_config();
    config.gateway.common.faults.gateway_bff.routes = vec![services::faults::RouteFault {
        route: "/api/health".into(),
        cpu_burn_ms: 20,
        ..Default::default()
    }];
    let s = services::start_all(config, services::RuntimeMode::Isolated { workers: 1 })
        .await
        .unwrap();
    let c = client();
    for _ in 0..25 {
        c.get(format!("{}/api/health", s.gateway.base_url()))
            .send()
            .await
            .unwrap();
    }
    let gateway = scrape(&c, &s.gateway.metrics_url()).await;
    let planning = scrape(&c, &s.planning.metrics_url()).await;
    let (g, p) = (
        gateway["process_cpu_seconds_total"],
        planning["process_cpu_seconds_total"],
    );
    assert!(g >= 0.3, "gateway burnt 0.5 s of CPU, reports {g}");
    assert!(
        p < g / 2.0,
        "the idle engine is not charged the gateway's work: {p} vs {g}"
    );
    s.shutdown().await.unwrap();
}
