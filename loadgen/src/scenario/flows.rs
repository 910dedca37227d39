//! Which flow each `[[flows]]` table runs, and with which parameters:
//!
//! - `name = "plans"` alone: the shipped flow of that name (compiled into the
//!   binary from `scenarios/flows/`);
//! - `file = "flows/checkout.toml"`: that flow file, relative to the scenario
//!   (`name` then renames it for this run);
//! - `name = "read_profile"` with `[[flows.steps]]` (and `vars`, `setup`,
//!   `abandon`): a flow written in the scenario itself.
//!
//! A flow's parameters are set with `params = { ... }`, or for the shipped
//! flows' parameters as keys of the table (`poll_interval = "1s"`, as scenarios
//! always wrote them). A run directory keeps a copy of every flow file it ran
//! (`flows/<index>-<file name>`), so `loadgen report` and `loadgen merge` read the
//! flows as they ran.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use slo::schema::Checker;
use slo::toml_file::FileError;

use super::FlowKind;
use super::file::FlowSection;
use crate::flow_file::file::FlowFile;
use crate::flow_file::{self, Override, Program, Source, builtin};

/// Where a scenario's flow files are read from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlowFiles {
    /// Beside the scenario, as its `file` keys say.
    Beside,
    /// A run directory's copies (the scenario is the run's copy).
    RunCopies,
}

/// Where a flow came from.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowSource {
    /// A shipped flow.
    BuiltIn,
    /// A flow file: the name of its copy in a run directory, and its text.
    File {
        /// `flows/<index>-<file name>` in the run directory.
        copy: String,
        /// What it holds.
        text: String,
    },
    /// Written in the scenario.
    Inline,
}

/// The copy of flow `index`'s file `file` in a run directory.
pub fn copy_name(index: usize, file: &str) -> String {
    let base = Path::new(file)
        .file_name()
        .map_or_else(|| "flow.toml".into(), |n| n.to_string_lossy().into_owned());
    format!("flows/{index}-{base}")
}

/// Writes the copies of the flow files `flows` ran into run directory `dir`.
pub fn write_copies(dir: &Path, flows: &[super::Flow]) -> std::io::Result<()> {
    for f in flows {
        if let FlowSource::File { copy, text } = &f.source {
            let path = dir.join(copy);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
    }
    Ok(())
}

/// The program of `flows[i]` and where it came from.
pub fn resolve(
    c: &Checker<'_>,
    i: usize,
    f: &FlowSection,
    base: &Path,
    files: FlowFiles,
) -> Result<(Arc<Program>, FlowSource), FileError> {
    let overrides = overrides(i, f);
    let inline = f.steps.is_some()
        || f.setup.is_some()
        || f.vars.is_some()
        || f.abandon.is_some()
        || f.measures.is_some();
    let key = |k: &str| format!("flows[{i}].{k}");
    match (&f.file, inline) {
        (Some(_), true) => Err(c.error(
            &key("file"),
            "both a flow file and steps written here",
            "keep file, or the steps (with vars, setup, abandon, measures), not both",
        )),
        (Some(file), false) => {
            let path = match files {
                FlowFiles::Beside => base.join(file),
                FlowFiles::RunCopies => base.join(copy_name(i, file)),
            };
            let text = read_flow_file(&path).map_err(|e| {
                c.error(
                    &key("file"),
                    format!("cannot read {}: {e}", path.display()),
                    "give a flow file's path relative to the scenario, such as flows/my-flow.toml",
                )
            })?;
            let program = from_text(&path, &text, f.name.as_deref(), &overrides, c)?;
            let copy = copy_name(i, file);
            Ok((Arc::new(program), FlowSource::File { copy, text }))
        }
        (None, true) => inline_flow(c, i, f, &overrides),
        (None, false) => built_in(c, i, f, &overrides),
    }
}

/// The largest flow file read: a flow is a page of TOML, and a path that names
/// a device or a huge file must not hang the check or fill memory.
const MAX_FLOW_FILE: u64 = 1024 * 1024;

/// A flow file's text: a regular file of at most [`MAX_FLOW_FILE`] bytes.
fn read_flow_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FLOW_FILE {
        return Err(format!(
            "{} bytes: larger than a flow file (1 MiB)",
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

/// A flow file's program.
fn from_text(
    path: &Path,
    text: &str,
    name: Option<&str>,
    overrides: &[Override],
    scenario: &Checker<'_>,
) -> Result<Program, FileError> {
    let flow: FlowFile = slo::toml_file::parse(path, text)?;
    let src = Source {
        checker: Checker::new(path, text),
        prefix: "",
    };
    flow_file::check(src, &flow, name, overrides, scenario)
}

/// A flow written in the scenario.
fn inline_flow(
    c: &Checker<'_>,
    i: usize,
    f: &FlowSection,
    overrides: &[Override],
) -> Result<(Arc<Program>, FlowSource), FileError> {
    let flow = FlowFile {
        name: f.name.clone(),
        description: String::new(),
        params: Default::default(),
        vars: f.vars.clone().unwrap_or_default(),
        setup: f.setup.clone().unwrap_or_default(),
        steps: f.steps.clone().unwrap_or_default(),
        abandon: f.abandon.clone(),
        measures: f.measures.clone(),
    };
    let prefix = format!("flows[{i}].");
    let src = Source {
        checker: *c,
        prefix: &prefix,
    };
    let program = flow_file::check(src, &flow, None, overrides, c)?;
    Ok((Arc::new(program), FlowSource::Inline))
}

/// A shipped flow, by name.
fn built_in(
    c: &Checker<'_>,
    i: usize,
    f: &FlowSection,
    overrides: &[Override],
) -> Result<(Arc<Program>, FlowSource), FileError> {
    let key = format!("flows[{i}].name");
    let Some(name) = &f.name else {
        return Err(c.error(
            &format!("flows[{i}]"),
            "which flow?",
            format!(
                "add name = one of {}, or file = \"flows/<flow>.toml\", or the flow's steps",
                builtin::names()
            ),
        ));
    };
    let Some(b) = builtin::find(name) else {
        return Err(c.error(
            &key,
            format!("{name:?} is not a shipped flow"),
            format!(
                "use {}, or give file = \"flows/{name}.toml\", or write the flow's steps here with [[flows.steps]]",
                builtin::names()
            ),
        ));
    };
    let program = from_text(&PathBuf::from(b.path), b.text, None, overrides, c)?;
    Ok((Arc::new(program), FlowSource::BuiltIn))
}

/// The parameters `flows[i]` sets: `params = {...}` and the shipped flows'
/// parameters written as keys of the table.
fn overrides(i: usize, f: &FlowSection) -> Vec<Override> {
    let keys = [
        ("abandon_share", &f.abandon_share),
        ("poll_interval", &f.poll_interval),
        ("timeout", &f.timeout),
        ("complexity", &f.complexity),
        ("equipment_count", &f.equipment_count),
        ("availability_days", &f.availability_days),
        ("path", &f.path),
    ];
    let mut out: Vec<Override> = keys
        .into_iter()
        .filter_map(|(name, v)| {
            v.as_ref().map(|value| Override {
                name: name.to_string(),
                value: value.clone(),
                key: format!("flows[{i}].{name}"),
            })
        })
        .collect();
    for (name, value) in f.params.iter().flatten() {
        out.push(Override {
            name: name.clone(),
            value: value.clone(),
            key: format!("flows[{i}].params.{name}"),
        });
    }
    out
}

/// The Rust journey of a shipped flow, with the flow's resolved parameters (the
/// engine `--flow-engine native` runs).
pub fn native_kind(program: &Program, source: &FlowSource) -> Option<FlowKind> {
    if *source != FlowSource::BuiltIn {
        return None;
    }
    let p = &program.params;
    let text = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let duration = |k: &str| text(k).and_then(|t| slo::duration::parse(&t).ok());
    let whole = |k: &str| p.get(k).and_then(|v| v.as_u64()).map(|n| n as u32);
    match program.name.as_str() {
        "onboarding" => Some(FlowKind::Onboarding {
            abandon_share: p.get("abandon_share")?.as_f64()?,
        }),
        "plans" => Some(FlowKind::Plans {
            poll_interval: duration("poll_interval")?,
            timeout: duration("timeout")?,
            complexity: text("complexity")?,
            equipment_count: whole("equipment_count")?,
            availability_days: whole("availability_days")?,
        }),
        "health" => Some(FlowKind::Health {
            path: text("path")?,
        }),
        _ => None,
    }
}
