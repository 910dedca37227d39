//! Finding and reading the workers' run directories: the summary, the timeline
//! and both interval logs, the public files of any run directory.
//!
//! A worker without a `summary.json` died (killed mid-run): what its interval
//! log holds, up to its last complete slice, is still read, and it is named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use reports::summary::{self, RunSummary, Slice, Timeline};

/// How often a waiting merge looks for the workers' summaries.
const POLL: Duration = Duration::from_secs(1);

/// One worker's run directory, as read.
pub struct WorkerData {
    /// Its index.
    pub index: u32,
    /// Its directory.
    pub dir: PathBuf,
    /// Its summary; `None` when it died before writing one.
    pub summary: Option<RunSummary>,
    /// Its slices (empty when it died).
    pub timeline: Vec<Slice>,
    /// Its interval log, when it has one (streamed slice by slice by the merge).
    pub log: Option<PathBuf>,
    /// The end of its last interval, from its start.
    pub log_end: Duration,
    /// Its whole run per tag (from the total log, or its intervals when it died).
    pub totals: BTreeMap<String, Histogram<u64>>,
    /// When its load started, unix ms.
    pub start_ms: u64,
    /// The scenario and SLO set as it ran them.
    pub scenario_text: Option<String>,
    /// The SLO set's text.
    pub slo_text: Option<String>,
}

/// The worker directories named: each given directory is a worker's, or holds
/// `worker-<I>` directories.
pub fn find(dirs: &[PathBuf]) -> anyhow::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for dir in dirs {
        anyhow::ensure!(
            dir.is_dir(),
            "{} is not a directory: give the workers' run directories, or the run directory holding worker-<I>/",
            dir.display()
        );
        if is_run_dir(dir) {
            out.push((index_of(dir, out.len() as u32), dir.clone()));
            continue;
        }
        let mut inner: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && worker_number(p).is_some())
            .collect();
        inner.sort();
        anyhow::ensure!(
            !inner.is_empty(),
            "{} holds no run: neither summary.json nor worker-<I>/ directories",
            dir.display()
        );
        for p in inner {
            out.push((worker_number(&p).unwrap_or(0), p));
        }
    }
    out.sort();
    out.dedup_by_key(|(i, _)| *i);
    Ok(out)
}

fn is_run_dir(dir: &Path) -> bool {
    dir.join(summary::SUMMARY_FILE).exists() || dir.join(summary::INTERVAL_LOG_FILE).exists()
}

fn worker_number(dir: &Path) -> Option<u32> {
    dir.file_name()?
        .to_str()?
        .strip_prefix("worker-")?
        .parse()
        .ok()
}

/// A worker's index: its summary's, else its directory's name, else its order.
fn index_of(dir: &Path, order: u32) -> u32 {
    std::fs::read_to_string(dir.join(summary::SUMMARY_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<RunSummary>(&t).ok())
        .and_then(|s| s.worker.map(|w| w.index))
        .or_else(|| worker_number(dir))
        .unwrap_or(order)
}

/// Waits until every expected worker has written its summary, or `wait` passes;
/// then finds the directories again.
pub fn wait_for(
    dirs: &[PathBuf],
    expected: Option<u32>,
    wait: Duration,
    quiet: bool,
) -> anyhow::Result<Vec<(u32, PathBuf)>> {
    let deadline = Instant::now() + wait;
    loop {
        let found = find(dirs);
        let done = found.as_ref().is_ok_and(|f| {
            let finished = f
                .iter()
                .filter(|(_, d)| d.join(summary::SUMMARY_FILE).exists())
                .count() as u32;
            finished >= expected.unwrap_or(f.len() as u32)
        });
        if done || Instant::now() >= deadline {
            return found;
        }
        if !quiet {
            eprintln!(
                "waiting for the workers' summaries ({} s left)",
                deadline.saturating_duration_since(Instant::now()).as_secs()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Reads one worker's run directory.
pub fn read(index: u32, dir: &Path) -> anyhow::Result<WorkerData> {
    let summary = match std::fs::read_to_string(dir.join(summary::SUMMARY_FILE)) {
        Ok(text) => Some(
            serde_json::from_str::<RunSummary>(&text)
                .with_context(|| format!("{}: not a run summary", dir.display()))?,
        ),
        Err(_) => None,
    };
    let log = dir.join(summary::INTERVAL_LOG_FILE);
    let log = log.exists().then_some(log);
    let (totals, log_start, log_end) = match (&summary, &log) {
        (Some(_), _) => (
            reports::hdr::read_log(&dir.join(summary::TOTAL_LOG_FILE))
                .map(|t| reports::hdr::merge_by_tag(&t))
                .with_context(|| format!("{}: cannot read the whole-run log", dir.display()))?,
            None,
            Duration::ZERO,
        ),
        (None, Some(log)) => dead_totals(log)?,
        (None, None) => anyhow::bail!(
            "{}: neither summary.json nor histograms.hlog: not a worker's run directory",
            dir.display()
        ),
    };
    let timeline = std::fs::read_to_string(dir.join(summary::TIMELINE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<Timeline>(&t).ok())
        .map(|t| t.slices)
        .unwrap_or_default();
    let start_ms = match (&summary, log_start) {
        (Some(s), _) => s.start_ms,
        (None, Some(t)) => t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        (None, None) => 0,
    };
    Ok(WorkerData {
        index,
        dir: dir.to_path_buf(),
        summary,
        timeline,
        log,
        log_end,
        totals,
        start_ms,
        scenario_text: std::fs::read_to_string(dir.join(summary::SCENARIO_FILE)).ok(),
        slo_text: std::fs::read_to_string(dir.join(summary::SLO_FILE)).ok(),
    })
}

/// Whole-run histograms by tag.
type Totals = BTreeMap<String, Histogram<u64>>;

/// A dead worker's whole run per tag, its start and its last interval's end,
/// read from its interval log one interval at a time.
fn dead_totals(log: &Path) -> anyhow::Result<(Totals, Option<SystemTime>, Duration)> {
    let mut reader = reports::hdr::LogReader::open(log)
        .with_context(|| format!("{}: cannot read the interval log", log.display()))?;
    let mut totals: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut end = Duration::ZERO;
    for interval in reader.by_ref() {
        let i = interval?;
        end = end.max(i.start + i.duration);
        let _ = totals
            .entry(i.tag.unwrap_or_default())
            .or_insert_with(reports::hdr::new_histogram)
            .add(&i.histogram);
    }
    Ok((totals, reader.start, end))
}
