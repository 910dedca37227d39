//! `loadgen report RUN_DIR [--baseline DIR] [--out DIR]`: renders a run
//! directory's reports again, optionally compared with a baseline.

use reports::baseline;
use reports::run_data::RunData;

use crate::cli::ReportArgs;
use crate::exit::Exit;
use crate::report::{load_baseline, print_comparison, settle};

/// Renders a run directory's reports again.
fn render_again(args: &ReportArgs) -> anyhow::Result<Exit> {
    let mut run = RunData::load(&args.run_dir)?;
    let base = args.baseline.as_deref().map(load_baseline).transpose()?;
    let comparison = base
        .as_ref()
        .map(|b| baseline::compare(&run.summary, b, args.margins.margins()));
    let verdict = match &run.summary.verdicts {
        Some(v) => Exit::of(v.overall()),
        None => Exit::from_code(run.summary.exit_code),
    };
    let exit = settle(verdict, comparison.as_ref(), args.fail_on_regression);
    run.summary.exit_code = exit.code();
    let out = args.out.as_deref().unwrap_or(&args.run_dir);
    let rendered = reports::render_all(&run, comparison.as_ref(), out)?;
    if let Some(c) = &comparison {
        print_comparison(c);
    }
    eprintln!("report: {}", rendered.html.display());
    Ok(exit)
}

/// `loadgen report`.
pub fn command(args: &ReportArgs) -> Exit {
    render_again(args).unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        Exit::Usage
    })
}
