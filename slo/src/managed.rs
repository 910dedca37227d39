//! A Prometheus the run starts for itself when the `prometheus` binary is installed:
//! temporary storage, loopback only, 1 s scrape interval by default, the target's
//! metrics endpoints as jobs, stopped (by its PID) after the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slo::prometheus::Prometheus;

/// The binary looked up on `PATH` (or `PROMETHEUS_BIN`).
pub fn binary() -> PathBuf {
    std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("prometheus"))
}

/// Whether a Prometheus binary can be run.
pub fn available() -> bool {
    Command::new(binary())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub struct ManagedPrometheus {
    child: Child,
    dir: PathBuf,
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

impl ManagedPrometheus {
    /// Starts Prometheus scraping `targets` and waits until every job is up.
    pub async fn start(
        targets: &BTreeMap<String, String>,
        interval: Duration,
        log_to: &Path,
    ) -> Result<ManagedPrometheus, String> {
        let dir = std::env::temp_dir().join(format!(
            "loadgen-prometheus-{}-{}",
            std::process::id(),
            free_port().unwrap_or(0)
        ));
        std::fs::create_dir_all(dir.join("data")).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("prometheus.yml"), config(targets, interval))
            .map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(log_to).map_err(|e| format!("{}: {e}", log_to.display()))?;
        let child = Command::new(binary())
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
            .map_err(|e| format!("cannot start {}: {e}", binary().display()))?;
        let managed = ManagedPrometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let prometheus = Prometheus::new(&managed.url)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let jobs: Vec<&String> = targets.keys().collect();
        loop {
            if Instant::now() >= deadline {
                managed.stop().await;
                return Err(format!(
                    "the managed Prometheus did not see every target up within 30 s (log: {})",
                    log_to.display()
                ));
            }
            if prometheus.ready().await
                && let Ok(rows) = prometheus.query("up == 1").await
                && jobs
                    .iter()
                    .all(|j| rows.iter().any(|(l, _)| l.get("job") == Some(j)))
            {
                return Ok(managed);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
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
        let _ = self.child.kill();
        let _ = self.child.wait();
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
