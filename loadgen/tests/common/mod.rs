//! Shared by the loadgen integration tests: running the `loadgen` binary and reading
//! its run directories; temporary directories, ports, processes and a Prometheus
//! on loopback come from `testkit`.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reports::summary::RunSummary;

/// The repository root (scenarios/ and slo/ live there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn loadgen() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    c.current_dir(root());
    c.env_remove("PROMETHEUS_URL")
        .env_remove("LOADGEN_RESULTS")
        .env_remove("LOADGEN_TARGET_URL");
    c
}

/// Runs loadgen to its end; returns the exit code and the output.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = loadgen().args(args).output().expect("loadgen runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

pub use testkit::{Proc, Prometheus, TempDir, free_port, prometheus, prometheus_every, wait_port};

/// The only run directory under `results`.
pub fn run_dir(results: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap_or_else(|e| panic!("{}: {e}", results.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "one run directory in {}: {dirs:?}",
        results.display()
    );
    dirs[0].clone()
}

pub fn summary(results: &Path) -> RunSummary {
    RunSummary::read(&run_dir(results)).expect("summary.json")
}

/// The request named `name` of a run.
pub fn request<'a>(s: &'a RunSummary, name: &str) -> &'a reports::summary::RequestStats {
    s.requests
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", s.requests))
}

/// The flow named `name` of a run.
pub fn flow<'a>(s: &'a RunSummary, name: &str) -> &'a reports::summary::FlowStats {
    s.flows
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no flow {name} in {:?}", s.flows))
}

/// `loadgen services` on free ports; returns the process and (job, metrics address) pairs.
pub struct Services {
    pub proc: Proc,
    pub gateway: u16,
    pub metrics: Vec<(&'static str, String)>,
}

pub fn services() -> Services {
    // A free port can be taken by another test before the services bind it: then
    // they exit, and they are started again on other ports.
    for _ in 0..3 {
        if let Some(s) = try_services() {
            return s;
        }
    }
    panic!("the services did not start on three sets of free ports");
}

fn try_services() -> Option<Services> {
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let child = loadgen()
        .arg("services")
        .env("GATEWAY_BFF_PORT", ports[0].to_string())
        .env("GATEWAY_BFF_METRICS_PORT", ports[1].to_string())
        .env("PROFILE_ONBOARDING_PORT", ports[2].to_string())
        .env("PROFILE_ONBOARDING_METRICS_PORT", ports[3].to_string())
        .env("PLANNING_ENGINE_PORT", ports[4].to_string())
        .env("PLANNING_ENGINE_METRICS_PORT", ports[5].to_string())
        .env("LLM_LATENCY_P50_MS", "100")
        .env("LLM_LATENCY_P95_MS", "300")
        .env("LLM_FAILURE_RATE", "0")
        .env("RATE_LIMIT_PER_SECOND", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ports
        .iter()
        .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
    {
        if Instant::now() > deadline || matches!(proc.0.try_wait(), Ok(Some(_))) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Services {
        proc,
        gateway: ports[0],
        metrics: vec![
            ("gateway-bff", format!("127.0.0.1:{}", ports[1])),
            ("profile-onboarding", format!("127.0.0.1:{}", ports[3])),
            ("planning-engine", format!("127.0.0.1:{}", ports[5])),
        ],
    })
}

/// The services, and a Prometheus that has scraped all three.
pub fn services_scraped() -> (Services, Prometheus) {
    let s = services();
    let targets: Vec<(&str, String)> = s.metrics.iter().map(|(j, a)| (*j, a.clone())).collect();
    let prom = prometheus(&targets);
    prom.wait_up(3);
    (s, prom)
}

/// A Prometheus Pushgateway (Debian `prometheus-pushgateway`, or `PUSHGATEWAY_BIN`) on
/// a free loopback port: the process and its base URL.
pub fn pushgateway() -> (Proc, String) {
    let port = free_port();
    let binary =
        std::env::var("PUSHGATEWAY_BIN").unwrap_or_else(|_| "prometheus-pushgateway".into());
    let child = Command::new(binary)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-pushgateway on PATH (apt-get install prometheus-pushgateway; scripts/test.sh installs it)");
    wait_port(port);
    (Proc(child), format!("http://127.0.0.1:{port}"))
}
