//! Shared by the loadgen integration tests: running the `loadgen` binary, temporary
//! directories, run directories, and a Prometheus started by the test on loopback.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

/// A temporary directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process killed (by its PID) when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Prometheus on a free loopback port scraping `targets` (job, host:port) every second.
pub struct Prometheus {
    pub proc: Proc,
    pub url: String,
    _dir: TempDir,
}

pub fn prometheus(targets: &[(&str, String)]) -> Prometheus {
    let dir = TempDir::new("lg-prom");
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for (job, target) in targets {
        config.push_str(&format!(
            "  - job_name: \"{job}\"\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ));
    }
    let cfg = dir.write("prometheus.yml", &config);
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the prometheus binary (apt-get install prometheus; scripts/test.sh installs it)");
    wait_port(port);
    Prometheus {
        proc: Proc(child),
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

impl Prometheus {
    /// An instant query's result vector, through the HTTP API.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r: serde_json::Value = reqwest::Client::new()
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", promql)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["data"]["result"].as_array().cloned().unwrap_or_default()
        })
    }

    /// Waits until every job has been scraped successfully.
    pub fn wait_up(&self, jobs: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.query("up == 1").len() < jobs {
            assert!(
                Instant::now() < deadline,
                "Prometheus never saw {jobs} targets up"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}
