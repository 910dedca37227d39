//! `loadgen rules`: the Prometheus rules of an SLO set, to standard output, a file,
//! or checked against a file (`--check`, for CI).

use crate::cli::RulesArgs;
use crate::exit::Exit;

/// `loadgen rules`.
pub fn command(args: &RulesArgs) -> Exit {
    let loaded = match crate::judge::load_slo(&args.slo) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Usage;
        }
    };
    let rules = slo::rules::render(&loaded.set);
    if let Some(path) = &args.check {
        return match std::fs::read_to_string(path) {
            Ok(existing) if existing == rules => {
                println!("{}: up to date with {}", path.display(), args.slo.display());
                Exit::Pass
            }
            Ok(_) => {
                eprintln!(
                    "{} differs from the rules generated from {}: run `loadgen rules {} --out {}`",
                    path.display(),
                    args.slo.display(),
                    args.slo.display(),
                    path.display()
                );
                Exit::Fail
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                Exit::Usage
            }
        };
    }
    match &args.out {
        Some(path) => match std::fs::write(path, &rules) {
            Ok(()) => {
                eprintln!("wrote {} ({} SLOs)", path.display(), loaded.set.slos.len());
                Exit::Pass
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                Exit::Usage
            }
        },
        None => {
            print!("{rules}");
            Exit::Pass
        }
    }
}
