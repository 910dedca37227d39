//! `loadgen check FILE...`: scenarios (with their flows and SLO sets), flow files
//! and SLO files, checked without running anything; exit 0 when every file is
//! valid, else 2.

use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::slo_file::SloFile;

/// Whether a file is an SLO set: OpenSLO or Sloth YAML (or any `.yaml`), or TOML
/// with `[[slo]]` tables.
fn is_slo_file(path: &Path) -> bool {
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let text = std::fs::read_to_string(path).ok();
    yaml || text.as_deref().is_some_and(|t| {
        slo::definition::Format::detect(t) != slo::definition::Format::Toml
            || t.parse::<toml::Table>()
                .is_ok_and(|t| t.contains_key("slo") && !t.contains_key("load"))
    })
}

/// Whether a file is a flow file: TOML with steps and no target (a scenario's).
fn is_flow_file(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.parse::<toml::Table>().is_ok_and(|t| {
            (t.contains_key("steps") || t.contains_key("setup")) && !t.contains_key("target")
        })
    })
}

/// Checks a flow file on its own, with its parameters' defaults.
pub fn flow_text(path: &Path, text: &str) -> Result<crate::flow_file::Program, String> {
    crate::flow_file::check_text(path, text).map_err(|e| e.to_string())
}

/// Checks a flow file; the line printed when it is valid.
fn check_flow(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let p = flow_text(file, &text)?;
    Ok(format!(
        "{}: ok (flow {}: {} requests ({}), {} parameters)",
        file.display(),
        p.name,
        p.requests.len(),
        p.requests.join(", "),
        p.params.len()
    ))
}

/// Checks an SLO set; the line printed when it is valid.
fn check_slo(file: &Path) -> Result<String, String> {
    let l = SloFile::Path(file.to_path_buf())
        .load()
        .map_err(|e| e.to_string())?;
    let promql_only = l
        .set
        .slos
        .iter()
        .filter(|s| matches!(s.kind, slo::definition::Kind::Query(_)))
        .count();
    let note = if promql_only > 0 {
        format!(", {promql_only} judged through Prometheus only")
    } else {
        String::new()
    };
    Ok(format!(
        "{}: ok ({} SLO set {}, {} SLOs{note})",
        file.display(),
        l.format,
        l.set.name,
        l.set.slos.len()
    ))
}

/// Parses and checks scenario text read from `path`, leaving aside the SLO set it
/// names: the whole of what a scenario file can get wrong by itself (the fuzz
/// target of scenario files).
pub fn scenario_text(path: &Path, text: &str) -> Result<(), String> {
    crate::scenario::parse(path, text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks a scenario and its SLO set; the line printed when both are valid.
fn check_scenario(file: &Path) -> Result<String, String> {
    let s = crate::scenario::load(file).map_err(|e| e.to_string())?;
    let l = s
        .slo_file
        .load()
        .and_then(|l| s.judged_by(l))
        .map_err(|e| format!("{e}\n  (the SLO set of {})", file.display()))?;
    Ok(format!(
        "{}: ok ({} flows, {} stages, {}s, judged by {} SLOs of {})",
        file.display(),
        s.flows.len(),
        s.stages.len(),
        s.duration().as_secs(),
        l.set.slos.len(),
        s.slo_file
    ))
}

/// `loadgen check`.
pub fn command(files: &[PathBuf]) -> Exit {
    let mut exit = Exit::Pass;
    for file in files {
        let checked = if is_slo_file(file) {
            check_slo(file)
        } else if is_flow_file(file) {
            check_flow(file)
        } else {
            check_scenario(file)
        };
        match checked {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{e}");
                exit = Exit::Usage;
            }
        }
    }
    exit
}
