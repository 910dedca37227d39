//! `loadgen rules`: the Prometheus rules of an SLO set (threshold and burn-rate
//! alerts), and their promtool unit tests, to standard output or files, or checked
//! against files (`--check`, for CI).

use std::path::{Path, PathBuf};

use crate::cli::RulesArgs;
use crate::exit::Exit;
use crate::slo_file::SloFile;

/// How the test file names the rules file: by name beside it, else by its path.
fn rules_reference(rules: &Path, tests: &Path) -> String {
    let dir = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir(rules) == dir(tests) {
        rules
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        std::path::absolute(rules)
            .unwrap_or_else(|_| rules.to_path_buf())
            .display()
            .to_string()
    }
}

/// The files to write or check: (path, generated text).
fn outputs(args: &RulesArgs, set: &slo::definition::SloSet) -> Vec<(Option<PathBuf>, String)> {
    let rules_path = args.check.clone().or_else(|| args.out.clone());
    let mut files = vec![(rules_path.clone(), slo::rules::render(set))];
    if let (Some(tests), Some(rules)) = (&args.tests, &rules_path) {
        let text = slo::rules::promtool::render(set, &rules_reference(rules, tests));
        files.push((Some(tests.clone()), text));
    }
    files
}

/// Whether `path` holds `text`; prints what differs.
fn check(path: &Path, text: &str, args: &RulesArgs, file: &SloFile) -> Exit {
    match std::fs::read_to_string(path) {
        Ok(existing) if existing == text => {
            println!("{}: up to date with {file}", path.display());
            Exit::Pass
        }
        Ok(_) => {
            let slo = args
                .slo
                .as_ref()
                .map(|p| format!("{} ", p.display()))
                .unwrap_or_default();
            let tests = args
                .tests
                .as_ref()
                .map(|t| format!(" --tests {}", t.display()))
                .unwrap_or_default();
            let rules = args.check.as_deref().unwrap_or(path);
            eprintln!(
                "{} differs from what {file} generates: run `loadgen rules {slo}--out {}{tests}`",
                path.display(),
                rules.display(),
            );
            Exit::Fail
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            Exit::Usage
        }
    }
}

/// `loadgen rules`.
pub fn command(args: &RulesArgs) -> Exit {
    if args.tests.is_some() && args.out.is_none() && args.check.is_none() {
        eprintln!("--tests needs --out or --check: the tests load the rules file by its path");
        return Exit::Usage;
    }
    let file = SloFile::given(args.slo.as_deref());
    let loaded = match file.load() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Usage;
        }
    };
    let mut exit = Exit::Pass;
    for (path, text) in outputs(args, &loaded.set) {
        let done = match (path, args.check.is_some()) {
            (Some(p), true) => check(&p, &text, args, &file),
            (Some(p), false) => match std::fs::write(&p, &text) {
                Ok(()) => {
                    eprintln!("wrote {} ({} SLOs)", p.display(), loaded.set.slos.len());
                    Exit::Pass
                }
                Err(e) => {
                    eprintln!("{}: {e}", p.display());
                    Exit::Usage
                }
            },
            (None, _) => {
                print!("{text}");
                Exit::Pass
            }
        };
        exit = exit.max(done);
    }
    exit
}
