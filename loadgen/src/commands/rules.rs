//! `loadgen rules`: the Prometheus rules of an SLO set, to standard output, a file,
//! or checked against a file (`--check`, for CI).

use slo::verdict::exit_code;

use crate::cli::RulesArgs;

pub fn command(args: &RulesArgs) -> u8 {
    let loaded = match crate::verify::load_slo(&args.slo) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::USAGE;
        }
    };
    let rules = slo::rules::render(&loaded.set);
    if let Some(path) = &args.check {
        return match std::fs::read_to_string(path) {
            Ok(existing) if existing == rules => {
                println!("{}: up to date with {}", path.display(), args.slo.display());
                exit_code::PASS
            }
            Ok(_) => {
                eprintln!(
                    "{} differs from the rules generated from {}: run `loadgen rules {} --out {}`",
                    path.display(),
                    args.slo.display(),
                    args.slo.display(),
                    path.display()
                );
                exit_code::FAIL
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                exit_code::USAGE
            }
        };
    }
    match &args.out {
        Some(path) => match std::fs::write(path, &rules) {
            Ok(()) => {
                eprintln!("wrote {} ({} SLOs)", path.display(), loaded.set.slos.len());
                exit_code::PASS
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                exit_code::USAGE
            }
        },
        None => {
            print!("{rules}");
            exit_code::PASS
        }
    }
}
