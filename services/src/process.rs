//! Process metrics (`process_resident_memory_bytes`, `process_cpu_seconds_total`, ...)
//! so the memory and CPU thresholds of the SLO set can be judged per service.
//!
//! A service that runs as its own process reports the whole process. When the three
//! services run inside the load generator (the embedded target), each service runs on
//! its own runtime and reports the CPU time of that runtime's threads only
//! ([`ThreadSet`]), so the load generator's own work is not charged to a service.
//! Memory cannot be split by thread; in that mode it is the whole process's, which
//! overstates each service (never understates it).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The threads of one service's runtime, and the CPU time of those that exited.
#[derive(Debug, Default)]
pub struct ThreadSet {
    tids: Mutex<HashSet<i32>>,
    exited_ticks: AtomicU64,
}

fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

fn thread_ticks(tid: i32) -> Option<u64> {
    let task = procfs::process::Process::myself()
        .ok()?
        .task_from_tid(tid)
        .ok()?;
    let stat = task.stat().ok()?;
    Some(stat.utime + stat.stime)
}

impl ThreadSet {
    /// Call on each runtime thread as it starts.
    pub fn register_current(&self) {
        self.tids.lock().insert(current_tid());
    }

    /// Call on each runtime thread as it stops: keeps its CPU time.
    pub fn unregister_current(&self) {
        let tid = current_tid();
        if let Some(ticks) = thread_ticks(tid) {
            self.exited_ticks.fetch_add(ticks, Ordering::Relaxed);
        }
        self.tids.lock().remove(&tid);
    }

    fn cpu_ticks(&self) -> u64 {
        let tids: Vec<i32> = self.tids.lock().iter().copied().collect();
        let live: u64 = tids.into_iter().filter_map(thread_ticks).sum();
        live + self.exited_ticks.load(Ordering::Relaxed)
    }

    /// CPU seconds of the set's threads, exited ones included.
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_ticks() as f64 / procfs::ticks_per_second() as f64
    }

    fn len(&self) -> usize {
        self.tids.lock().len()
    }
}

/// Whose CPU time a service reports.
#[derive(Debug, Clone)]
pub enum CpuScope {
    /// The whole process (a service in its own process).
    Process,
    /// The threads of the service's runtime (a service embedded with others).
    Threads(Arc<ThreadSet>),
}

impl CpuScope {
    /// CPU seconds of a thread set; 0 for the whole process (nothing to tell
    /// apart).
    pub fn cpu_seconds(&self) -> f64 {
        match self {
            CpuScope::Threads(set) => set.cpu_seconds(),
            CpuScope::Process => 0.0,
        }
    }
}

/// Encodes the process metrics on each scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    scope: CpuScope,
    start_time_seconds: f64,
}

impl ProcessCollector {
    /// Metrics of `scope` (the process, or a runtime's threads).
    pub fn new(scope: CpuScope) -> Self {
        let start_time_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        ProcessCollector {
            scope,
            start_time_seconds,
        }
    }
}

/// One reading of the process metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    /// Resident memory.
    pub resident_memory_bytes: u64,
    /// Virtual memory.
    pub virtual_memory_bytes: u64,
    /// CPU time of the scope.
    pub cpu_seconds: f64,
    /// Threads of the process.
    pub threads: u64,
    /// Open file descriptors.
    pub open_fds: u64,
}

impl ProcessCollector {
    /// Reads `/proc` now (`None` when it cannot).
    pub fn sample(&self) -> Option<ProcessSample> {
        let me = procfs::process::Process::myself().ok()?;
        let stat = me.stat().ok()?;
        let ticks_per_second = procfs::ticks_per_second() as f64;
        let (cpu_ticks, threads) = match &self.scope {
            CpuScope::Process => (stat.utime + stat.stime, stat.num_threads.max(0) as u64),
            CpuScope::Threads(set) => (set.cpu_ticks(), set.len() as u64),
        };
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        Some(ProcessSample {
            resident_memory_bytes: stat.rss * procfs::page_size(),
            virtual_memory_bytes: stat.vsize,
            cpu_seconds: cpu_ticks as f64 / ticks_per_second,
            threads,
            open_fds,
        })
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = self.sample() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges: [(&str, &str, f64); 5] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_memory_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_memory_bytes as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the service since unix epoch in seconds",
                self.start_time_seconds,
            ),
            (
                "process_threads",
                "Number of OS threads of the service",
                s.threads as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                s.open_fds as f64,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_sample_reads_proc() {
        let s = ProcessCollector::new(CpuScope::Process).sample().unwrap();
        assert!(s.resident_memory_bytes > 1024 * 1024);
        assert!(s.threads >= 1);
    }

    #[test]
    fn thread_scope_counts_only_registered_threads_and_keeps_exited_time() {
        let set = Arc::new(ThreadSet::default());
        let worker = {
            let set = set.clone();
            std::thread::spawn(move || {
                set.register_current();
                crate::faults::burn_cpu(std::time::Duration::from_millis(150));
                set.unregister_current();
            })
        };
        worker.join().unwrap();
        let collector = ProcessCollector::new(CpuScope::Threads(set.clone()));
        let s = collector.sample().unwrap();
        assert_eq!(s.threads, 0);
        assert!(
            s.cpu_seconds >= 0.05,
            "exited thread's CPU time is kept: {}",
            s.cpu_seconds
        );
        assert!(
            s.cpu_seconds < 1.0,
            "other threads are not counted: {}",
            s.cpu_seconds
        );
    }
}
