//! One module per command, each returning the [`Exit`] the process ends with.
//!
//! - [`run`]: the main job (checks its input, then [`crate::job`]);
//! - [`check`]: scenario and SLO files, checked without running anything;
//! - [`verify`]: a window on a Prometheus, judged without driving load;
//! - [`report`]: a run directory's reports, rendered again;
//! - [`services`]: the reference services, until Ctrl-C;
//! - [`rules`]: the Prometheus rules of an SLO set;
//! - `merge` ([`crate::merge`]): a distributed run's workers, merged and judged;
//! - [`preflight`]: the runbook's release check on a scenario's target, no load;
//! - [`slo`]: SLO sets converted between loadgen TOML, OpenSLO and Sloth;
//! - [`shell`]: shell completions and man pages.

pub mod check;
pub mod preflight;
pub mod report;
pub mod rules;
pub mod run;
pub mod services;
pub mod shell;
pub mod slo;
pub mod verify;

use clap::ArgMatches;

use crate::cli::Command;
use crate::exit::Exit;

/// Runs a parsed command (`matches` tell where each value came from).
pub async fn execute(command: Command, matches: Option<&ArgMatches>) -> Exit {
    match command {
        Command::Check(args) => check::command(&args.files),
        Command::Run(args) => {
            let matches = matches.and_then(|m| m.subcommand_matches("run"));
            run::command(&args, matches).await
        }
        Command::Verify(args) => verify::command(&args).await,
        Command::Report(args) => report::command(&args).await,
        Command::Services(_) => services::command().await,
        Command::Rules(args) => rules::command(&args),
        Command::Merge(args) => crate::merge::command(&args).await,
        Command::Preflight(args) => {
            let matches = matches.and_then(|m| m.subcommand_matches("preflight"));
            preflight::command(&args, matches).await
        }
        Command::Slo(crate::cli::SloCommand::Convert(args)) => slo::convert(&args),
        Command::Completions(args) => shell::completions(args.shell),
        Command::Man(args) => shell::man(args.out.as_deref()),
    }
}
