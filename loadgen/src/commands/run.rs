//! `loadgen run SCENARIO`: checks the scenario, its SLO set, the baseline and the
//! settings before anything starts (exit 2 on bad input), then runs the main job
//! ([`crate::job`]).

use clap::ArgMatches;

use crate::cli::RunArgs;
use crate::exit::Exit;
use crate::job::Checked;
use crate::settings::{RunInputs, Settings};

/// Everything the main job needs, checked; the error is already printed.
pub(crate) fn check(args: &RunArgs, matches: Option<&ArgMatches>) -> Option<Checked> {
    let scenario = crate::scenario::load(&args.scenario)
        .map_err(|e| eprintln!("{e}"))
        .ok()?;
    let slo = scenario
        .slo_file
        .load()
        .and_then(|l| scenario.judged_by(l))
        .map_err(|e| eprintln!("{e}\n  (the SLO set of {})", args.scenario.display()))
        .ok()?;
    let baseline = match &args.baseline {
        Some(b) => Some(
            crate::report::load_baseline(b)
                .map_err(|e| eprintln!("error: {e:#}"))
                .ok()?,
        ),
        None => None,
    };
    let settings = Settings::resolve(&RunInputs::from_args(args, matches), &scenario)
        .map_err(|e| eprintln!("error: {e}"))
        .ok()?;
    // A worker runs its share of every user count and rate.
    let scenario = match settings.worker {
        Some(w) => w.share(&scenario),
        None => scenario,
    };
    Some(Checked {
        scenario,
        slo,
        settings,
        baseline,
    })
}

/// `loadgen run`.
pub async fn command(args: &RunArgs, matches: Option<&ArgMatches>) -> Exit {
    let Some(checked) = check(args, matches) else {
        return Exit::Usage;
    };
    match crate::job::run(checked).await {
        Ok(outcome) => outcome.exit,
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Inconclusive
        }
    }
}
