//! The services facing hostile input and careless deployment: what an attacker
//! reaching a port could do today is refused, each as a test that failed before
//! its fix.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Runs a service binary with `env` (nothing else from this process's
/// environment), giving it a few seconds to refuse; a binary that started
/// instead is stopped, and counts as no refusal.
fn refusal(binary: &str, env: &[(&str, &str)]) -> Option<(i32, String)> {
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().copied())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return Some((status.code().unwrap_or(-1), err));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Ports 0 everywhere: if a binary does start, it takes free ports.
const FREE_PORTS: [(&str, &str); 6] = [
    ("GATEWAY_BFF_PORT", "0"),
    ("GATEWAY_BFF_METRICS_PORT", "0"),
    ("PROFILE_ONBOARDING_PORT", "0"),
    ("PROFILE_ONBOARDING_METRICS_PORT", "0"),
    ("PLANNING_ENGINE_PORT", "0"),
    ("PLANNING_ENGINE_METRICS_PORT", "0"),
];

#[test]
fn no_service_starts_off_loopback_with_the_development_secrets() {
    let mut env = FREE_PORTS.to_vec();
    env.push(("BIND_ADDRESS", "0.0.0.0"));
    for binary in [
        env!("CARGO_BIN_EXE_gateway-bff"),
        env!("CARGO_BIN_EXE_profile-onboarding"),
        env!("CARGO_BIN_EXE_planning-engine"),
    ] {
        let (code, err) = refusal(binary, &env).unwrap_or_else(|| panic!("{binary} started"));
        assert_eq!(code, 2, "{binary}: {err}");
        assert!(err.contains("AUTH_SECRET"), "{err}");
        assert!(err.contains("openssl rand -hex 32"), "{err}");
        assert!(err.contains("ALLOW_INSECURE_DEFAULTS=true"), "{err}");
    }
    // A leaked admin token that is short is refused even on loopback.
    let mut env = FREE_PORTS.to_vec();
    env.push(("ADMIN_TOKEN", "admin"));
    let (code, err) =
        refusal(env!("CARGO_BIN_EXE_gateway-bff"), &env).expect("gateway-bff started");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ADMIN_TOKEN") && !err.contains("\"admin\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_cpu_burn_fault_does_not_stall_the_other_requests() {
    // One runtime thread serves everything here (a current-thread test runtime):
    // a burn on it would hold every other request until it ended.
    let s = start(fast_config()).await;
    let c = client();
    let r = c
        .put(s.gateway.admin_url())
        .bearer_auth(services::config::DEV_ADMIN_TOKEN)
        .json(&json!({ "routes": [{ "route": "/api/health", "cpu_burn_ms": 1000 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let g = s.gateway.base_url();
    let burning: Vec<_> = (0..2)
        .map(|_| {
            let (c, url) = (c.clone(), format!("{g}/api/health"));
            tokio::spawn(async move {
                c.get(url).send().await.unwrap();
                Instant::now()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = c.get(format!("{g}/health")).send().await.unwrap();
    let healthy_answered = Instant::now();
    assert_eq!(r.status(), 200);
    for b in burning {
        let burnt = b.await.unwrap();
        assert!(
            healthy_answered < burnt,
            "an unaffected request waited for the burns to end"
        );
    }
}

/// Reads until the server closes the connection or `wait` passes; `None` if it
/// was still open.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, stream.read_to_end(&mut got)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_dropped() {
    use tokio::io::AsyncWriteExt;
    let mut config = fast_config();
    config.gateway.listen.limits.header_read_timeout = Duration::from_millis(300);
    let s = start(config).await;
    let mut slow = tokio::net::TcpStream::connect(s.gateway.http_addr)
        .await
        .unwrap();
    // Headers begun, never finished: a slowloris client.
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1")
        .await
        .unwrap();
    let answer = closed_within(&mut slow, Duration::from_secs(10)).await;
    assert!(answer.is_some(), "the connection was still open after 10 s");
    // A client that sends its request at once is served as before.
    let r = client()
        .get(format!("{}/health", s.gateway.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let mut config = fast_config();
    config.gateway.listen.limits.max_connections = 2;
    let s = start(config).await;
    let idle: Vec<_> = futures::future::join_all(
        (0..2).map(|_| tokio::net::TcpStream::connect(s.gateway.http_addr)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = format!("{}/health", s.gateway.base_url());
    let waiting = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_millis(800))
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "a third connection was served: {waiting:?}"
    );
    drop(idle);
    let mut served = None;
    for _ in 0..50 {
        if let Ok(r) = reqwest::Client::new().get(&url).send().await {
            served = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served, Some(reqwest::StatusCode::OK));
}

#[tokio::test]
async fn a_request_not_answered_in_time_gets_503() {
    let mut config = fast_config();
    config.gateway.listen.limits.request_timeout = Duration::from_millis(300);
    config.gateway.common.faults.gateway_bff.routes = vec![services::faults::RouteFault {
        route: "/api/health".into(),
        latency_ms: 5_000,
        ..Default::default()
    }];
    let s = start(config).await;
    let r = client()
        .get(format!("{}/api/health", s.gateway.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "request_timeout", "{body}");
}
