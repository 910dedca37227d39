//! What people and pipelines read after a run.
//!
//! - [`summary`]: the run directory's data (`summary.json`, `timeline.json`), versioned.
//! - [`hdr`]: HdrHistogram V2 interval logs of the run's latencies.
//! - [`run_data`]: a run directory read back for rendering.
//! - [`evidence`]: what each verdict rests on (failing requests, the distribution
//!   around a threshold, the funnel, plans by outcome).
//! - [`slo_timeline`]: each SLO's indicator per time slice, and when it went bad.
//! - [`html`] and [`charts`]: the self-contained `report.html` with inline SVG charts.
//! - [`markdown`]: `summary.md` for a pull-request comment.
//! - [`junit`]: `junit.xml`, one test case per SLO.
//! - [`openmetrics`]: `verdicts.prom`, the verdicts as metrics (for a Pushgateway).
//! - [`baseline`]: comparison with a baseline run, with noise margins.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod baseline;
pub mod charts;
pub mod evidence;
pub mod hdr;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod openmetrics;
pub mod run_data;
pub mod slo_timeline;
pub mod summary;

use std::path::{Path, PathBuf};

use baseline::Comparison;
use run_data::RunData;

/// Writing the reports failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    /// The run directory could not be read or written.
    RunDir(#[from] summary::RunDirError),
    #[error("rendering the HTML report failed: {0}")]
    /// The HTML template failed.
    Template(#[from] minijinja::Error),
    #[error("{path}: {source}")]
    /// A report file could not be written.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The files written by [`render_all`].
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `report.html`.
    pub html: PathBuf,
    /// `summary.md`.
    pub markdown: PathBuf,
    /// `junit.xml`, when the run was judged.
    pub junit: Option<PathBuf>,
    /// `verdicts.prom`.
    pub openmetrics: PathBuf,
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, ReportError> {
    std::fs::write(&path, text).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes `report.html`, `summary.md`, `verdicts.prom` and (when judged) `junit.xml`
/// into `out`.
pub fn render_all(
    run: &RunData,
    comparison: Option<&Comparison>,
    out: &Path,
) -> Result<Rendered, ReportError> {
    std::fs::create_dir_all(out).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let html = write(out.join("report.html"), &html::render(run, comparison)?)?;
    let evidence = evidence::lines(run);
    let markdown = write(
        out.join("summary.md"),
        &markdown::render(&run.summary, &evidence, comparison),
    )?;
    let junit = match &run.summary.verdicts {
        Some(v) => Some(write(
            out.join("junit.xml"),
            &junit::render_run(
                v,
                &run.summary.scenario,
                run.summary.integrity.as_ref(),
                &evidence,
            ),
        )?),
        None => None,
    };
    let openmetrics = write(
        out.join(openmetrics::FILE),
        &openmetrics::render(&run.summary),
    )?;
    Ok(Rendered {
        html,
        markdown,
        junit,
        openmetrics,
    })
}
