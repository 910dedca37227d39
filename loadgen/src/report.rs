//! Writing a run's reports, at the end of `loadgen run` and for `loadgen report`:
//! the baseline comparison, the exit code once regressions count, the files, and
//! the verdicts pushed to a Pushgateway when asked.

use std::path::Path;

use anyhow::Context as _;
use reports::baseline::{self, Comparison, Margins};
use reports::run_data::RunData;
use reports::summary::RunSummary;

use crate::exit::Exit;

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
    verdict: Exit,
) -> anyhow::Result<Exit> {
    let comparison = baseline.map(|b| baseline::compare(summary, b, margins));
    let exit = settle(verdict, comparison.as_ref(), fail_on_regression);
    summary.exit_code = exit.code();
    summary.write(dir)?;
    let run = RunData::load(dir)?;
    let rendered = reports::render_all(&run, comparison.as_ref(), dir)?;
    if let Some(c) = &comparison {
        print_comparison(c);
    }
    eprintln!("report: {}", rendered.html.display());
    Ok(exit)
}

/// Timeout of the push to a Pushgateway.
const PUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Pushes a run's `verdicts.prom` to the Pushgateway at `url`, replacing the
/// scenario's previous run. A failed push is a warning: the run's results and exit
/// code stand.
pub async fn push(url: Option<&str>, file: &Path, scenario: &str) {
    let Some(url) = url else { return };
    let target = format!(
        "{}{}",
        url.trim_end_matches('/'),
        reports::openmetrics::push_path(scenario)
    );
    match push_to(&target, file).await {
        Ok(()) => eprintln!("verdicts pushed to {target}"),
        Err(e) => eprintln!(
            "warning: pushing the verdicts to {target} failed: {e}; the run's results and exit code stand"
        ),
    }
}

async fn push_to(target: &str, file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    let response = reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .build()?
        .put(target)
        // The text format 0.0.4 the Pushgateway parses; `# EOF` reads as a comment.
        .header(reqwest::header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(text)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("{status}: {}", body.trim());
    }
    Ok(())
}

/// The exit once regressions are counted.
pub fn settle(verdict: Exit, comparison: Option<&Comparison>, fail_on_regression: bool) -> Exit {
    match comparison {
        Some(c) if fail_on_regression && c.has_regression() && verdict != Exit::Fail => {
            eprintln!(
                "regressions against the baseline with --fail-on-regression: exit {}",
                Exit::Fail.code()
            );
            Exit::Fail
        }
        _ => verdict,
    }
}

pub fn print_comparison(c: &Comparison) {
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
