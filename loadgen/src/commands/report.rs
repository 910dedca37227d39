//! Writing a run's reports, at the end of `loadgen run` and for `loadgen report`.

use std::path::Path;

use anyhow::Context as _;
use reports::baseline::{self, Comparison, Margins};
use reports::run_data::RunData;
use reports::summary::RunSummary;
use slo::verdict::exit_code;

/// Reads a baseline run directory (checked before a run starts, so a typo costs nothing).
pub fn load_baseline(dir: &Path) -> anyhow::Result<RunSummary> {
    RunSummary::read(dir).with_context(|| {
        format!(
            "baseline {}: not a run directory (expected summary.json)",
            dir.display()
        )
    })
}

/// Compares with the baseline, settles the exit code, then writes the summary and
/// every report; returns the final exit code.
pub fn finish(
    dir: &Path,
    summary: &mut RunSummary,
    baseline: Option<&RunSummary>,
    margins: Margins,
    fail_on_regression: bool,
    verdict_code: u8,
) -> anyhow::Result<u8> {
    let comparison = baseline.map(|b| baseline::compare(summary, b, margins));
    let code = settle(verdict_code, comparison.as_ref(), fail_on_regression);
    summary.exit_code = code;
    summary.write(dir)?;
    let run = RunData::load(dir)?;
    let rendered = reports::render_all(&run, comparison.as_ref(), dir)?;
    if let Some(c) = &comparison {
        print_comparison(c);
    }
    eprintln!("report: {}", rendered.html.display());
    Ok(code)
}

/// The exit code once regressions are counted.
pub fn settle(verdict_code: u8, comparison: Option<&Comparison>, fail_on_regression: bool) -> u8 {
    match comparison {
        Some(c) if fail_on_regression && c.has_regression() && verdict_code != exit_code::FAIL => {
            eprintln!(
                "regressions against the baseline with --fail-on-regression: exit {}",
                exit_code::FAIL
            );
            exit_code::FAIL
        }
        _ => verdict_code,
    }
}

fn print_comparison(c: &Comparison) {
    let regressions: Vec<_> = c.regressions().collect();
    if regressions.is_empty() {
        eprintln!("no regression against baseline {}", c.baseline_run);
        return;
    }
    eprintln!(
        "{} regressions against baseline {}:",
        regressions.len(),
        c.baseline_run
    );
    for r in regressions {
        eprintln!(
            "  {} {}: {} -> {} ({})",
            r.item, r.metric, r.baseline, r.current, r.note
        );
    }
}

/// `loadgen report RUN_DIR [--baseline DIR] [--out DIR]`: renders again.
pub fn report_command(
    run_dir: &Path,
    baseline: Option<&Path>,
    out: Option<&Path>,
    margins: Margins,
    fail_on_regression: bool,
) -> anyhow::Result<u8> {
    let run = RunData::load(run_dir)?;
    let base = baseline.map(load_baseline).transpose()?;
    let comparison = base
        .as_ref()
        .map(|b| baseline::compare(&run.summary, b, margins));
    let verdict_code = run
        .summary
        .verdicts
        .as_ref()
        .map(|v| v.exit_code())
        .unwrap_or(run.summary.exit_code);
    let code = settle(verdict_code, comparison.as_ref(), fail_on_regression);
    let mut run = run;
    run.summary.exit_code = code;
    let out = out.unwrap_or(run_dir);
    let rendered = reports::render_all(&run, comparison.as_ref(), out)?;
    if let Some(c) = &comparison {
        print_comparison(c);
    }
    eprintln!("report: {}", rendered.html.display());
    Ok(code)
}
