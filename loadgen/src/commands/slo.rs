//! `loadgen slo convert`: an SLO set written in another of the three formats
//! (loadgen TOML, OpenSLO v1, Sloth `prometheus/v1`), read and checked first, so
//! what is written reads back as the same set.

use crate::cli::ConvertArgs;
use crate::exit::Exit;
use crate::slo_file::SloFile;

/// `loadgen slo convert`.
pub fn convert(args: &ConvertArgs) -> Exit {
    let file = SloFile::given(args.input.as_deref());
    let loaded = match file.load() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Usage;
        }
    };
    let (text, left_out) = match slo::convert::write(&loaded.set, args.to) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{file}: cannot write it as {}: {e}", args.to);
            return Exit::Usage;
        }
    };
    if !left_out.is_empty() {
        let names = left_out.join(", ");
        if !args.skip_gauges {
            eprintln!(
                "{file}: {} cannot hold the gauge SLOs {names}\n  fix: give --skip-gauges to write the others, or convert to toml or openslo",
                args.to
            );
            return Exit::Usage;
        }
        eprintln!("left out (gauges, which {} cannot hold): {names}", args.to);
    }
    let text = format!(
        "# {} SLO set {}, converted by loadgen slo convert from {file}.\n{text}",
        args.to, loaded.set.name
    );
    match &args.out {
        Some(path) => match std::fs::write(path, &text) {
            Ok(()) => {
                println!(
                    "{}: {} SLOs written as {}",
                    path.display(),
                    loaded.set.slos.len() - left_out.len(),
                    args.to
                );
                Exit::Pass
            }
            Err(e) => {
                eprintln!("{}: cannot write: {e}", path.display());
                Exit::Usage
            }
        },
        None => {
            print!("{text}");
            Exit::Pass
        }
    }
}
