//! The HTTP surface of the three services, used over loopback as a client would.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use services::rate_limit::{Quota, RateLimits};

#[tokio::test]
async fn health_endpoints_answer_on_every_port() {
    let s = start(fast_config()).await;
    let c = client();
    for handle in [&s.gateway, &s.onboarding, &s.planning] {
        let r = c
            .get(format!("{}/health", handle.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", handle.name);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["service"], handle.name);
        let r = c
            .get(format!("http://{}/health", handle.metrics_addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let body: Value = c
        .get(format!("{}/api/health", s.gateway.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["queue"], "in-process");
    let q: Value = c
        .get(format!("{}/queue/status", s.planning.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(q["backend"], "in-process");
    assert_eq!(q["pending"], 0);
    let cc: Value = c
        .get(format!("{}/concurrency/status", s.planning.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cc["limit"], 16);
    assert_eq!(cc["inFlight"], 0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn protected_routes_need_a_valid_bearer_token() {
    let s = start(fast_config()).await;
    let c = client();
    let g = s.gateway.base_url();
    for (method, path) in [
        ("POST", "/api/v1/onboarding"),
        ("GET", "/api/v1/onboarding"),
        ("POST", "/api/v1/plans/generate"),
        ("GET", "/api/v1/plans/status?jobId=x"),
    ] {
        let url = format!("{g}{path}");
        let req = if method == "POST" {
            c.post(&url).json(&json!({}))
        } else {
            c.get(&url)
        };
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{method} {path} without a token");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        let req = if method == "POST" {
            c.post(&url).json(&json!({}))
        } else {
            c.get(&url)
        };
        let r = req.bearer_auth("forged.token.value").send().await.unwrap();
        assert_eq!(r.status(), 401, "{method} {path} with a bad token");
    }
    // A token signed with another secret is refused.
    let other = services::auth::Auth::new("another-secret", Duration::from_secs(60))
        .issue("athlete-1")
        .unwrap();
    let r = c
        .get(format!("{g}/api/v1/onboarding"))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn onboarding_flow_persists_and_counts_completion_once() {
    let s = start(fast_config()).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-onb").await;
    let step = |name: &'static str, data: Value| {
        let c = c.clone();
        let (g, t) = (g.clone(), t.clone());
        async move {
            c.post(format!("{g}/api/v1/onboarding"))
                .bearer_auth(&t)
                .json(&json!({ "step": name, "data": data }))
                .send()
                .await
                .unwrap()
        }
    };
    // Completing too early is a conflict naming the missing steps.
    let r = step("complete", json!({})).await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "onboarding_incomplete");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("purpose_selection")
    );

    assert_eq!(
        step("purpose_selection", json!({"purpose": "sport_performance"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        step("proficiency", json!({"proficiency": "intermediate"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        step(
            "equipment",
            json!({"equipment": ["dumbbells", "bench", "band", "mat", "rower"]})
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        step("availability", json!({"days": 3, "minutesPerSession": 45}))
            .await
            .status(),
        200
    );
    let r = step("complete", json!({})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["completed"], true);
    assert_eq!(body["profile"]["availabilityDays"], 3);
    assert_eq!(
        step("complete", json!({})).await.status(),
        200,
        "completing again is idempotent"
    );

    let profile: Value = c
        .get(format!("{g}/api/v1/onboarding"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["purpose"], "sport_performance");
    assert_eq!(profile["equipment"].as_array().unwrap().len(), 5);
    assert_eq!(profile["completed"], true);

    let m = scrape(&c, &s.onboarding.metrics_url()).await;
    assert_eq!(
        m["onboarding_completions_total"], 1.0,
        "a completion counts once"
    );
    assert_eq!(
        m[r#"onboarding_requests_total{outcome="invalid",step="complete"}"#],
        1.0
    );
    assert_eq!(
        m[r#"onboarding_requests_total{outcome="success",step="complete"}"#],
        2.0
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn plan_job_through_the_in_process_queue() {
    let s = start(fast_config()).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-plan").await;
    let job = generate(&c, &g, &t).await;
    let done = wait_for_plan(&c, &g, &t, &job, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempts"], 1);
    assert_eq!(
        done["plan"]["weeks"][0]["sessions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(done["plan"]["model"], "gpt-4");

    // Another athlete cannot see the job; an unknown id is 404.
    let other = token(&c, &g, "athlete-other").await;
    let r = c
        .get(format!("{g}/api/v1/plans/status"))
        .query(&[("jobId", job.as_str())])
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!(
            "{g}/api/v1/plans/status?jobId=0123456789abcdef0123456789abcdef-0123456789abcdef"
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "job_not_found");

    let q: Value = c
        .get(format!("{}/queue/status", s.planning.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(q["acked"], 1);
    assert_eq!(q["deadLettered"], 0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn cors_allows_listed_origins_and_refuses_others() {
    let mut config = fast_config();
    config.gateway.cors_allowed_origins = vec!["https://app.athlete-ally.example".to_string()];
    let s = start(config).await;
    let c = client();
    let g = s.gateway.base_url();
    let r = c
        .request(
            reqwest::Method::OPTIONS,
            format!("{g}/api/v1/plans/generate"),
        )
        .header("Origin", "https://app.athlete-ally.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.athlete-ally.example"
    );
    assert!(
        r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let r = c
        .get(format!("{g}/api/health"))
        .header("Origin", "https://app.athlete-ally.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.athlete-ally.example"
    );

    let r = c
        .get(format!("{g}/api/health"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "cors_origin_not_allowed");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limiter_answers_429_with_retry_after() {
    let mut config = fast_config();
    config.gateway.rate_limits = RateLimits {
        per_athlete: Quota {
            per_second: 2,
            burst: 5,
        },
        ..RateLimits::default()
    };
    let s = start(config).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-limited").await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = c
            .get(format!("{g}/api/v1/onboarding"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "rate_limited");
        }
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        limited >= 5,
        "12 quick requests past a burst of 5 should mostly be refused: {statuses:?}"
    );
    // Another athlete has its own allowance.
    let t2 = token(&c, &g, "athlete-free").await;
    let r = c
        .get(format!("{g}/api/v1/onboarding"))
        .bearer_auth(&t2)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 429);
    s.shutdown().await.unwrap();
}

/// The bypass the per-athlete limit alone left open: tokens for new athletes are
/// free, so a client minting one per burst was never limited. The per-IP limit holds
/// it; the token endpoint has its own per-IP quota; health checks stay unlimited.
#[tokio::test]
async fn a_client_minting_a_token_per_burst_is_still_limited() {
    let limits = |ip_burst, token_burst| RateLimits {
        per_athlete: Quota {
            per_second: 1,
            burst: 5,
        },
        per_ip: Quota {
            per_second: 1,
            burst: ip_burst,
        },
        tokens_per_ip: Quota {
            per_second: 1,
            burst: token_burst,
        },
        max_clients: 1000,
    };
    let mut config = fast_config();
    config.gateway.rate_limits = limits(40, 1000);
    let s = start(config).await;
    let (c, g) = (client(), s.gateway.base_url());
    let mut served = 0;
    let mut refused = Vec::new();
    for i in 0..12 {
        let Some(t) = try_token(&c, &g, &format!("minted-{i}")).await else {
            continue;
        };
        for _ in 0..5 {
            let r = c
                .get(format!("{g}/api/v1/onboarding"))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                429 => refused.push(r.json::<Value>().await.unwrap()),
                _ => served += 1,
            }
        }
    }
    // Each fresh athlete's burst of 5 would have let all 60 through.
    assert!(served <= 40, "{served} served: the address's burst is 40");
    assert!(
        !refused.is_empty(),
        "the address limit refused the fresh tokens' calls"
    );
    assert_eq!(refused[0]["error"], "rate_limited", "{}", refused[0]);
    let r = c.get(format!("{g}/api/health")).send().await.unwrap();
    assert_eq!(r.status(), 200, "health checks are never limited");
    s.shutdown().await.unwrap();

    let mut config = fast_config();
    config.gateway.rate_limits = limits(1000, 3);
    let s = start(config).await;
    let (c, g) = (client(), s.gateway.base_url());
    let mut minted = 0;
    for i in 0..10 {
        minted += try_token(&c, &g, &format!("minted-{i}")).await.is_some() as usize;
    }
    assert!(
        (3..=4).contains(&minted),
        "{minted} tokens from one address, burst 3"
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_json_error() {
    let s = start(fast_config()).await;
    let c = client();
    let g = s.gateway.base_url();
    let t = token(&c, &g, "athlete-bad").await;
    let onboarding = format!("{g}/api/v1/onboarding");
    let generate = format!("{g}/api/v1/plans/generate");
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "malformed JSON",
            c.post(&onboarding)
                .bearer_auth(&t)
                .header("content-type", "application/json")
                .body("{\"step\": "),
            400,
        ),
        (
            "missing field",
            c.post(&onboarding)
                .bearer_auth(&t)
                .json(&json!({"data": {}})),
            422,
        ),
        (
            "unknown step",
            c.post(&onboarding)
                .bearer_auth(&t)
                .json(&json!({"step": "nap"})),
            422,
        ),
        (
            "bad step data",
            c.post(&onboarding)
                .bearer_auth(&t)
                .json(&json!({"step": "availability", "data": {"days": 9}})),
            422,
        ),
        (
            "wrong type",
            c.post(&onboarding)
                .bearer_auth(&t)
                .json(&json!({"step": "purpose_selection", "data": {"purpose": 7}})),
            422,
        ),
        (
            "wrong content type",
            c.post(&generate)
                .bearer_auth(&t)
                .header("content-type", "text/plain")
                .body("{}"),
            415,
        ),
        (
            "oversized body",
            c.post(&onboarding)
                .bearer_auth(&t)
                .json(&json!({"step": "equipment", "data": {"equipment": ["x".repeat(100_000)]}})),
            413,
        ),
        (
            "bad plan field",
            c.post(&generate)
                .bearer_auth(&t)
                .json(&json!({"complexity": "extreme"})),
            422,
        ),
        (
            "unknown plan field",
            c.post(&generate)
                .bearer_auth(&t)
                .json(&json!({"colour": "red"})),
            422,
        ),
        (
            "missing jobId",
            c.get(format!("{g}/api/v1/plans/status")).bearer_auth(&t),
            400,
        ),
        (
            "unknown jobId",
            c.get(format!("{g}/api/v1/plans/status?jobId=nope"))
                .bearer_auth(&t),
            404,
        ),
        ("unknown route", c.get(format!("{g}/api/v2/nothing")), 404),
        ("wrong method", c.delete(format!("{g}/api/health")), 405),
        (
            "token without body",
            c.post(format!("{g}/api/v1/auth/token"))
                .header("content-type", "application/json"),
            400,
        ),
        (
            "bad athlete id",
            c.post(format!("{g}/api/v1/auth/token"))
                .json(&json!({"athleteId": "a b"})),
            422,
        ),
        (
            "engine: bad job",
            c.post(format!("{}/jobs", s.planning.base_url()))
                .json(&json!({"jobId": 1})),
            422,
        ),
        (
            "engine: unknown job",
            c.get(format!("{}/jobs/unknown", s.planning.base_url())),
            404,
        ),
        (
            "profile: missing athlete header",
            c.post(format!(
                "{}/onboarding/proficiency",
                s.onboarding.base_url()
            ))
            .json(&json!({"proficiency": "beginner"})),
            400,
        ),
        (
            "profile: unknown step",
            c.post(format!("{}/onboarding/nap", s.onboarding.base_url()))
                .header("x-athlete-id", "a")
                .json(&json!({})),
            404,
        ),
    ];
    for (what, request, expected) in cases {
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: body is not JSON: {e}"));
        assert_eq!(status, expected, "{what}: {body}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{what}");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{what}: {body}"
        );
    }
    // Nothing above was a server error.
    let m = scrape(&c, &s.gateway.metrics_url()).await;
    assert_eq!(total(&m, "api_errors_total"), 0.0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_faults_need_the_admin_token_and_apply_at_run_time() {
    let s = start(fast_config()).await;
    let c = client();
    let g = s.gateway.base_url();
    // Not on the API port users reach: on the operator's metrics port.
    let on_api = c
        .get(format!("{g}/admin/faults"))
        .bearer_auth(services::config::DEV_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(on_api.status(), 404);
    let admin = s.gateway.admin_url();
    assert_eq!(c.get(&admin).send().await.unwrap().status(), 401);
    assert_eq!(
        c.get(&admin)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let faults =
        json!({ "routes": [{ "route": "/api/health", "error_rate": 1.0, "error_status": 503 }] });
    let r = c
        .put(&admin)
        .bearer_auth(services::config::DEV_ADMIN_TOKEN)
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{g}/api/health")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "injected_fault");
    // Values that would take the service down are refused, naming the bound.
    for hostile in [
        json!({ "memory_ballast_mb": 16384 }),
        json!({ "routes": [{ "route": "*", "cpu_burn_ms": 100_000_000u64 }] }),
    ] {
        let r = c
            .put(&admin)
            .bearer_auth(services::config::DEV_ADMIN_TOKEN)
            .json(&hostile)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{hostile}");
        let message = r.json::<Value>().await.unwrap()["message"].to_string();
        assert!(message.contains("use a smaller value"), "{message}");
    }
    let bad = json!({ "routes": [{ "route": "/api/health", "error_rate": 2.0 }] });
    let r = c
        .put(&admin)
        .bearer_auth(services::config::DEV_ADMIN_TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("error_rate")
    );
    c.put(&admin)
        .bearer_auth(services::config::DEV_ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get(format!("{g}/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let m = scrape(&c, &s.gateway.metrics_url()).await;
    assert_eq!(
        m[r#"api_errors_total{method="GET",route="/api/health",status_class="5xx"}"#],
        1.0
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stall_holds_requests_until_it_ends() {
    let mut config = fast_config();
    config.gateway.common.faults.gateway_bff.stalls = vec![services::faults::Window {
        after_ms: 0,
        duration_ms: 600,
    }];
    let s = start(config).await;
    let c = client();
    let started = std::time::Instant::now();
    let r = c
        .get(format!("{}/api/health", s.gateway.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    // Health of the service itself is not stalled.
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn upstream_down_is_a_502_not_a_hang() {
    let mut config = fast_config();
    config.gateway.listen = services::Listen::ephemeral();
    config.gateway.profile_onboarding_url = format!("http://127.0.0.1:{}", free_port());
    config.gateway.planning_engine_url = format!("http://127.0.0.1:{}", free_port());
    let gateway = services::gateway::start(config.gateway, services::RuntimeMode::Current)
        .await
        .unwrap();
    let c = client();
    let g = gateway.base_url();
    let t = token(&c, &g, "athlete-x").await;
    let r = c
        .post(format!("{g}/api/v1/onboarding"))
        .bearer_auth(&t)
        .json(&json!({"step": "proficiency", "data": {"proficiency": "beginner"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "upstream_unavailable"
    );
    gateway.shutdown().await.unwrap();
}
