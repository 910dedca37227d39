//! Shared by the loadgen integration tests: running the `loadgen` binary and reading
//! its run directories; temporary directories, ports, processes and a Prometheus
//! on loopback come from `testkit`.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
