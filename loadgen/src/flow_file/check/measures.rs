//! `[measures]`: the client measures a flow declares, checked against its steps.
//! A completion funnel names two steps, the first before the second; a job names
//! a repeated step that decides the iteration (an `until`, and a `fail_if` or a
//! deadline that fails it).

use slo::toml_file::FileError;

use super::Source;
use crate::flow_file::Measures;
use crate::flow_file::file::{FlowFile, MeasuresSection};

/// The place of the step named `name` among the flow's steps, or the error at `key`.
fn step_at(src: Source<'_>, key: &str, name: &str, flow: &FlowFile) -> Result<usize, FileError> {
    flow.steps
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| {
            src.error(
                key,
                format!("{name:?} is not a step of this flow"),
                format!("use one of {}", super::step_names(flow)),
            )
        })
}

/// Checks `[measures]` against the flow's steps.
pub fn check(
    src: Source<'_>,
    section: Option<&MeasuresSection>,
    flow: &FlowFile,
) -> Result<Measures, FileError> {
    let Some(m) = section else {
        return Ok(Measures::default());
    };
    let completion = match &m.completion {
        Some(c) => {
            let from = step_at(src, "measures.completion.from", &c.from, flow)?;
            let to = step_at(src, "measures.completion.to", &c.to, flow)?;
            if to <= from {
                return Err(src.error(
                    "measures.completion.to",
                    format!("{:?} does not come after {:?}", c.to, c.from),
                    "name as `to` the step that completes the journey, after `from`",
                ));
            }
            Some((c.from.clone(), c.to.clone()))
        }
        None => None,
    };
    let job = match &m.job {
        Some(name) => {
            let step = &flow.steps[step_at(src, "measures.job", name, flow)?];
            if step.repeat.is_none() {
                return Err(src.error(
                    "measures.job",
                    format!("{name:?} does not repeat: nothing decides whether the job succeeded"),
                    "name the step that polls the job ([steps.repeat] with until and fail_if)",
                ));
            }
            Some(name.clone())
        }
        None => None,
    };
    Ok(Measures { completion, job })
}
