//! `loadgen preflight SCENARIO`: the runbook's release check ([`crate::preflight`])
//! on the scenario's target and SLO source, without driving load. The embedded
//! target and a managed Prometheus are started for the check and stopped after it.

use clap::ArgMatches;

use crate::cli::RunArgs;
use crate::exit::Exit;
use crate::target::RunningTarget;

/// `loadgen preflight`.
pub async fn command(args: &RunArgs, matches: Option<&ArgMatches>) -> Exit {
    let Some(checked) = super::run::check(args, matches) else {
        return Exit::Usage;
    };
    let target = match RunningTarget::start(&checked.settings.target).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Inconclusive;
        }
    };
    eprintln!("target: {} ({})", target.base_url, target.kind);
    // A managed Prometheus keeps its configuration and data in a directory of its own.
    let scratch = std::env::temp_dir().join(format!(
        "loadgen-preflight-{}-{}",
        std::process::id(),
        slo::scrape::now_ms()
    ));
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        eprintln!("error: {}: {e}", scratch.display());
        target.stop().await;
        return Exit::Usage;
    }
    let judge = crate::job::prepare_judge(&checked, &target, &scratch).await;
    let exit = crate::job::preflight(&checked, &target, &judge).await;
    target.stop().await;
    judge.finish().await;
    let _ = std::fs::remove_dir_all(&scratch);
    exit
}
