//! `loadgen report RUN_DIR [--baseline DIR] [--out DIR]`: renders a run
//! directory's reports again, optionally compared with a baseline. The exit is
//! decided as the run decided it: the scenario's gate over the verdicts, and the
//! run's integrity (an invalid or interrupted run never passes).

use reports::baseline;
use reports::run_data::RunData;

use crate::cli::ReportArgs;
use crate::exit::Exit;
use crate::report::{load_baseline, print_comparison, settle};

/// The gate the run was judged with: its scenario's, else both windows.
fn gate(run_dir: &std::path::Path) -> crate::scenario::Gate {
    let path = run_dir.join(reports::summary::SCENARIO_FILE);
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| crate::scenario::parse_run_copy(&path, &text).ok())
        .map_or(crate::scenario::Gate::Both, |s| s.gate)
}

/// Renders a run directory's reports again: the exit is the run's (its gate,
/// its integrity: an invalid run never passes), then the comparison's.
async fn render_again(args: &ReportArgs) -> anyhow::Result<Exit> {
    let mut run = RunData::load(&args.run_dir)?;
    let base = args.baseline.as_deref().map(load_baseline).transpose()?;
    let comparison = base
        .as_ref()
        .map(|b| baseline::compare(&run.summary, b, args.margins.margins()));
    let verdict = match &run.summary.verdicts {
        Some(v) => {
            let judged = crate::judge::gate_exit(v, gate(&args.run_dir));
            match &run.summary.integrity {
                Some(i) => crate::integrity::gate(judged, i),
                None if run.summary.interrupted => crate::integrity::gate(
                    judged,
                    &reports::summary::Integrity {
                        valid: false,
                        ..Default::default()
                    },
                ),
                None => judged,
            }
        }
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
    crate::report::push(
        args.push.pushgateway.as_deref(),
        &rendered.openmetrics,
        &run.summary.scenario,
    )
    .await;
    Ok(exit)
}

/// `loadgen report`.
pub async fn command(args: &ReportArgs) -> Exit {
    render_again(args).await.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        Exit::Usage
    })
}
