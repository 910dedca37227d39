//! A run directory read back: summary, timeline and whole-run histograms.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;

use crate::summary::{RunDirError, RunSummary, TOTAL_LOG_FILE, Timeline};

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
        Ok(RunData {
            summary,
            timeline,
            histograms,
            scenario_text,
        })
    }
}
