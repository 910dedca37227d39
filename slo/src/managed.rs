//! A Prometheus started for one run (or one test) when the `prometheus` binary is
//! installed: temporary storage, loopback only, a scrape interval of its own, the
//! target's metrics endpoints as jobs, stopped by its PID afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::prometheus::Prometheus;

/// The binary used when none is named: `prometheus` on `PATH`.
pub const DEFAULT_BINARY: &str = "prometheus";
/// How long the managed Prometheus may take to see every target up.
pub const START_LIMIT: Duration = Duration::from_secs(30);

/// Whether a Prometheus binary can be run.
pub fn available(binary: &Path) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A running managed Prometheus.
pub struct ManagedPrometheus {
    child: Child,
    dir: PathBuf,
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The scrape configuration for `targets` (job -> metrics URL).
pub fn config(targets: &BTreeMap<String, String>, interval: Duration) -> String {
    let mut yaml = format!(
        "global:\n  scrape_interval: {s}s\n  scrape_timeout: {s}s\n  evaluation_interval: {s}s\nscrape_configs:\n",
        s = interval.as_secs().max(1)
    );
    for (job, url) in targets {
        let without_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let (host, path) = match without_scheme.find('/') {
            Some(i) => (&without_scheme[..i], &without_scheme[i..]),
            None => (without_scheme, "/metrics"),
        };
        yaml.push_str(&format!(
            "  - job_name: \"{job}\"\n    metrics_path: \"{path}\"\n    static_configs:\n      - targets: [\"{host}\"]\n"
        ));
    }
    yaml
}

/// Starts the process: a temporary directory with its configuration and storage,
/// a free loopback port. Returns the child, its port and the directory.
fn spawn(
    binary: &Path,
    targets: &BTreeMap<String, String>,
    interval: Duration,
    log_to: &Path,
) -> Result<(Child, u16, PathBuf), Error> {
    let failed = Error::Managed;
    let dir = std::env::temp_dir().join(format!(
        "loadgen-prometheus-{}-{}",
        std::process::id(),
        free_port().unwrap_or(0)
    ));
    std::fs::create_dir_all(dir.join("data"))
        .map_err(|e| failed(format!("{}: {e}", dir.display())))?;
    std::fs::write(dir.join("prometheus.yml"), config(targets, interval))
        .map_err(|e| failed(e.to_string()))?;
    let port = free_port().map_err(|e| failed(e.to_string()))?;
    let log =
        std::fs::File::create(log_to).map_err(|e| failed(format!("{}: {e}", log_to.display())))?;
    let child = Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", binary.display())))?;
    Ok((child, port, dir))
}

impl ManagedPrometheus {
    /// Starts `binary` without waiting for it (tests that wait themselves).
    pub fn spawn(
        binary: &Path,
        targets: &BTreeMap<String, String>,
        interval: Duration,
        log_to: &Path,
    ) -> Result<ManagedPrometheus, Error> {
        let (child, port, dir) = spawn(binary, targets, interval, log_to)?;
        Ok(ManagedPrometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Kills the process at once (by its PID), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts `binary` scraping `targets` (job -> metrics URL) every `interval`,
    /// logging to `log_to`, and waits until every job is up.
    pub async fn start(
        binary: &Path,
        targets: &BTreeMap<String, String>,
        interval: Duration,
        log_to: &Path,
    ) -> Result<ManagedPrometheus, Error> {
        let managed = ManagedPrometheus::spawn(binary, targets, interval, log_to)?;
        match managed.wait_up(targets).await {
            Ok(()) => Ok(managed),
            Err(()) => {
                managed.stop().await;
                Err(Error::Managed(format!(
                    "it did not see every target up within {} s (log: {})",
                    START_LIMIT.as_secs(),
                    log_to.display()
                )))
            }
        }
    }

    /// Waits until Prometheus has scraped every job successfully.
    async fn wait_up(&self, targets: &BTreeMap<String, String>) -> Result<(), ()> {
        let prometheus = Prometheus::new(&self.url).map_err(|_| ())?;
        let deadline = Instant::now() + START_LIMIT;
        while Instant::now() < deadline {
            if prometheus.ready().await
                && let Ok(rows) = prometheus.query("up == 1").await
                && targets
                    .keys()
                    .all(|j| rows.iter().any(|(l, _)| l.get("job") == Some(j)))
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(())
    }

    /// Stops Prometheus (SIGTERM to its PID, then waits) and removes its storage.
    pub async fn stop(mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a child we started and have not reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.kill();
    }
}

impl Drop for ManagedPrometheus {
    /// A Prometheus never outlives its run (or test): killed if still running,
    /// its storage removed.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lists_each_job() {
        let mut targets = BTreeMap::new();
        targets.insert(
            "gateway-bff".to_string(),
            "http://127.0.0.1:9464/metrics".to_string(),
        );
        let yaml = config(&targets, Duration::from_secs(1));
        assert!(yaml.contains("scrape_interval: 1s"));
        assert!(yaml.contains("job_name: \"gateway-bff\""));
        assert!(yaml.contains("targets: [\"127.0.0.1:9464\"]"));
        assert!(yaml.contains("metrics_path: \"/metrics\""));
    }
}
