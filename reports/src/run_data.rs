//! A run directory read back: summary, timeline and whole-run histograms.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use crate::summary::{INTERVAL_LOG_FILE, RunDirError, RunSummary, TOTAL_LOG_FILE, Timeline};

/// What the renderers need from a run directory.
#[derive(Debug, Clone)]
pub struct RunData {
    /// `summary.json`.
    pub summary: RunSummary,
    /// `timeline.json`.
    pub timeline: Timeline,
    /// Whole-run histograms by tag (`req.<name>`, `flow.<name>`), microseconds.
    pub histograms: BTreeMap<String, Histogram<u64>>,
    /// The scenario as run (`scenario.toml`), for the report's appendix.
    pub scenario_text: String,
    /// The per-slice interval log (`histograms.hlog`), read one record at a time
    /// for the SLOs' timelines; `None` when there is none.
    pub interval_log: Option<PathBuf>,
}

impl RunData {
    /// Reads `summary.json`, `timeline.json` and `histograms-total.hlog` (the last two
    /// may be missing: the report then has no charts for them).
    pub fn load(dir: &Path) -> Result<RunData, RunDirError> {
        let summary = RunSummary::read(dir)?;
        let timeline = Timeline::read(dir).unwrap_or_default();
        let histograms = crate::hdr::read_log(&dir.join(TOTAL_LOG_FILE))
            .map(|intervals| crate::hdr::merge_by_tag(&intervals))
            .unwrap_or_default();
        let scenario_text =
            std::fs::read_to_string(dir.join(crate::summary::SCENARIO_FILE)).unwrap_or_default();
        let interval_log = Some(dir.join(INTERVAL_LOG_FILE)).filter(|p| p.is_file());
        Ok(RunData {
            summary,
            timeline,
            histograms,
            scenario_text,
            interval_log,
        })
    }
}
