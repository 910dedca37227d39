//! Checking a written flow and compiling it into a [`Program`]: the parameters
//! with the scenario's values, every variable and capture given a slot, every
//! placeholder resolved where it is used, every duration and path parsed. An
//! error names the file, the line of its key and the fix; a parameter a scenario
//! sets wrongly is an error in the scenario, at that key.
//!
//! - [`params`]: parameters, their bounds and the scenario's values;
//! - [`scope`]: which names a placeholder may use where, and their slots;
//! - [`vars`]: the variables' forms and the order they are drawn in;
//! - [`steps`]: steps and what they send; [`answer`]: checks, captures and
//!   repeats of their answers;
//! - [`measures`]: the client measures the flow declares (its roles).

mod answer;
mod measures;
mod params;
mod scope;
mod steps;
mod vars;

use std::path::Path;

use slo::schema::Checker;
use slo::toml_file::FileError;

pub use params::{Override, Params};

use super::file::FlowFile;
use super::{Abandon, Program};
use scope::Scope;

/// Where a flow is written: its file's checker, and the key prefix of its keys
/// there (`flows[2].` for a flow written inside a scenario, else empty).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The file the flow's keys are in.
    pub checker: Checker<'a>,
    /// Prefix of its keys in that file.
    pub prefix: &'a str,
}

impl Source<'_> {
    /// An error at `key` of the flow.
    pub fn error(
        &self,
        key: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> FileError {
        self.checker
            .error(&format!("{}{key}", self.prefix), message, fix)
    }
}

/// The longest flow or request name.
const MAX_NAME: usize = 64;

/// Whether `name` can name a flow or a request (it becomes an interval log tag
/// and a label): letters, digits, `_`, `-` and `.`.
pub fn valid_series_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// Checks `flow`, written at `src`, named `name` (the scenario's name for it,
/// else its own) with the scenario's parameter values `overrides`, whose
/// errors are the scenario's (`scenario`).
pub fn check(
    src: Source<'_>,
    flow: &FlowFile,
    name: Option<&str>,
    overrides: &[Override],
    scenario: &Checker<'_>,
) -> Result<Program, FileError> {
    let name = flow_name(src, flow, name)?;
    let params = params::check(src, &flow.params, overrides, scenario, &name)?;
    if flow.steps.is_empty() {
        return Err(src.error(
            "steps",
            "the flow has no steps",
            "add at least one [[steps]] with a name and a path",
        ));
    }
    let mut scope = Scope::new(src, &params, flow)?;
    let (user_vars, vars) = vars::check(src, &flow.vars, &mut scope)?;
    let mut requests: Vec<String> = Vec::new();
    let setup = steps::check_all(src, "setup", &flow.setup, &scope, &mut requests)?;
    let main = steps::check_all(src, "steps", &flow.steps, &scope, &mut requests)?;
    let abandon = match &flow.abandon {
        Some(a) => Some(abandon(src, a, flow, &params)?),
        None => None,
    };
    let measures = measures::check(src, flow.measures.as_ref(), flow)?;
    let slots = scope.slots();
    drop(scope);
    Ok(Program {
        name,
        description: flow.description.clone(),
        params,
        user_vars,
        vars,
        setup,
        steps: main,
        abandon,
        slots,
        requests,
        measures,
    })
}

/// The flow's name: the scenario's, else the file's.
fn flow_name(src: Source<'_>, flow: &FlowFile, name: Option<&str>) -> Result<String, FileError> {
    let Some(name) = name.or(flow.name.as_deref()) else {
        return Err(src.error(
            "name",
            "the flow has no name",
            "add name = \"my_flow\" (letters, digits, _ - .)",
        ));
    };
    if !valid_series_name(name) {
        return Err(src.error(
            "name",
            format!("{name:?} cannot name a flow"),
            "use up to 64 letters, digits, _, - or .",
        ));
    }
    Ok(name.to_string())
}

/// `[abandon]`: a share of iterations, and the steps after which they stop.
fn abandon(
    src: Source<'_>,
    a: &super::file::AbandonSection,
    flow: &FlowFile,
    params: &Params,
) -> Result<Abandon, FileError> {
    let share = params::number(src, "abandon.share", &a.share, params)?;
    if !(0.0..=1.0).contains(&share) {
        return Err(src.error(
            "abandon.share",
            format!("{share} is out of range"),
            "use a share between 0 and 1 (0.1 is 10%)",
        ));
    }
    if a.after.is_empty() {
        return Err(src.error(
            "abandon.after",
            "no steps to abandon after",
            "list the steps after which an iteration may stop, such as [\"purpose_selection\"]",
        ));
    }
    let last = flow.steps.len() - 1;
    let mut after = Vec::new();
    for (i, step) in a.after.iter().enumerate() {
        let key = format!("abandon.after[{i}]");
        match flow.steps.iter().position(|s| &s.name == step) {
            Some(p) if p == last => {
                return Err(src.error(
                    &key,
                    format!("{step:?} is the last step: stopping after it is completing"),
                    "name a step before the last",
                ));
            }
            Some(p) => after.push(p),
            None => {
                return Err(src.error(
                    &key,
                    format!("{step:?} is not a step of this flow"),
                    format!("use one of {}", step_names(flow)),
                ));
            }
        }
    }
    Ok(Abandon { share, after })
}

/// The flow's step names, for fixes.
pub(super) fn step_names(flow: &FlowFile) -> String {
    let names: Vec<&str> = flow.steps.iter().map(|s| s.name.as_str()).collect();
    slo::schema::choices(&names)
}

/// Reads and checks a flow file on its own (defaults for every parameter), as
/// `loadgen check` does.
pub fn check_text(path: &Path, text: &str) -> Result<Program, FileError> {
    let flow: FlowFile = slo::toml_file::parse(path, text)?;
    let checker = Checker::new(path, text);
    let src = Source {
        checker,
        prefix: "",
    };
    check(src, &flow, None, &[], &checker)
}

#[cfg(test)]
mod tests;
