//! The names a flow's placeholders may use, their slots, and where each is known:
//!
//! - `run.nonce`, `run.worker`, `user.id`, `user.iteration`: everywhere (but
//!   `user.iteration` in a per-user variable, drawn once);
//! - `params.<name>`: everywhere, written in when the flow is checked;
//! - per-user variables: everywhere; per-iteration ones: in the steps and in
//!   other per-iteration variables, not in `setup` (it runs once per user);
//! - a setup step's captures: in later setup steps, the variables drawn per
//!   iteration and every step; a step's captures: in the steps after it.
//!
//! A name used before it is known is an error that says where it becomes known.

use std::collections::BTreeMap;

use slo::toml_file::FileError;

use super::Source;
use super::params::Params;
use crate::flow_file::file::{FlowFile, StepSection};
use crate::flow_file::template::{Placeholder, Resolved};
use crate::flow_file::{BUILTINS, SLOT_ITERATION, TOKEN_VAR};

/// What a name is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Binding {
    Builtin,
    UserVar,
    IterVar,
    /// Captured by setup step `step` (its first capture of the name).
    SetupCapture(usize),
    /// Captured by step `step`.
    StepCapture(usize),
}

/// Where a placeholder is used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Place {
    /// In a variable drawn once per user.
    UserVar,
    /// In a variable drawn per iteration.
    IterVar,
    /// In setup step `n`.
    Setup(usize),
    /// In step `n`.
    Step(usize),
}

/// Every name of a flow, with its slot.
pub struct Scope<'a> {
    params: &'a Params,
    names: BTreeMap<String, (usize, Binding)>,
    next: usize,
}

impl<'a> Scope<'a> {
    /// The names of `flow`: the built-ins, its variables and its captures.
    pub fn new(
        src: Source<'_>,
        params: &'a Params,
        flow: &FlowFile,
    ) -> Result<Scope<'a>, FileError> {
        let mut scope = Scope {
            params,
            names: BTreeMap::new(),
            next: 0,
        };
        for b in BUILTINS {
            scope.add(b, Binding::Builtin);
        }
        for (name, value) in &flow.vars {
            let key = format!("vars.{name}");
            plain_name(src, &key, name, "a variable")?;
            let binding = if super::vars::per_user(value) {
                Binding::UserVar
            } else {
                Binding::IterVar
            };
            scope.add(name, binding);
        }
        scope.captures(src, "setup", &flow.setup, Binding::SetupCapture)?;
        scope.captures(src, "steps", &flow.steps, Binding::StepCapture)?;
        Ok(scope)
    }

    fn add(&mut self, name: &str, binding: Binding) {
        self.names.insert(name.to_string(), (self.next, binding));
        self.next += 1;
    }

    /// Registers the captures of `steps` (under `list`).
    fn captures(
        &mut self,
        src: Source<'_>,
        list: &str,
        steps: &[StepSection],
        binding: fn(usize) -> Binding,
    ) -> Result<(), FileError> {
        for (i, step) in steps.iter().enumerate() {
            let sign_in = step.sign_in.is_some().then_some(TOKEN_VAR);
            let names = step.capture.keys().map(String::as_str).chain(sign_in);
            for name in names {
                let key = if Some(name) == sign_in {
                    format!("{list}[{i}].sign_in")
                } else {
                    format!("{list}[{i}].capture.{name}")
                };
                plain_name(src, &key, name, "a capture")?;
                match self.names.get(name).map(|b| b.1) {
                    None => self.add(name, binding(i)),
                    Some(Binding::SetupCapture(_)) if list == "setup" => {}
                    Some(Binding::StepCapture(_)) if list == "steps" => {}
                    Some(other) => return Err(clash(src, &key, name, other)),
                }
            }
        }
        Ok(())
    }

    /// The flow's parameters.
    pub fn params(&self) -> &Params {
        self.params
    }

    /// How many slots a user needs.
    pub fn slots(&self) -> usize {
        self.next
    }

    /// The slot of a variable or capture this scope holds.
    pub fn slot(&self, name: &str) -> usize {
        self.names[name].0
    }

    /// Resolves placeholder `p`, used at `key` in `place`.
    pub fn resolve(
        &self,
        src: Source<'_>,
        key: &str,
        p: &Placeholder,
        place: Place,
    ) -> Result<Resolved, FileError> {
        if let Some(param) = p.name.strip_prefix("params.") {
            return match self.params.get(param) {
                Some(v) => Ok(Resolved::Value(v.clone())),
                None => Err(src.error(
                    key,
                    format!("{{{{{}}}}}: the flow has no parameter {param:?}", p.name),
                    "declare it under [params] with its default, or correct the name",
                )),
            };
        }
        let Some(&(slot, binding)) = self.names.get(&p.name) else {
            return Err(src.error(
                key,
                format!("{{{{{}}}}} is not a variable of this flow", p.name),
                format!(
                    "use one of {}, or define it under [vars]",
                    self.known_at(place).join(", ")
                ),
            ));
        };
        match unknown_there(&p.name, slot, binding, place) {
            None => Ok(Resolved::Slot(slot)),
            Some((message, fix)) => Err(src.error(key, message, fix)),
        }
    }

    /// The names known at `place`, for fixes.
    fn known_at(&self, place: Place) -> Vec<String> {
        let mut out: Vec<String> = self
            .names
            .iter()
            .filter(|(n, (slot, b))| unknown_there(n, *slot, *b, place).is_none())
            .map(|(n, _)| n.clone())
            .collect();
        out.extend(self.params.keys().map(|p| format!("params.{p}")));
        out
    }
}

/// Why `name` is not known at `place` (the message and the fix), if it is not.
fn unknown_there(
    name: &str,
    slot: usize,
    binding: Binding,
    place: Place,
) -> Option<(String, String)> {
    let later = |what: &str, fix: &str| Some((format!("{{{{{name}}}}} {what}"), fix.to_string()));
    match (binding, place) {
        (Binding::Builtin, Place::UserVar) if slot == SLOT_ITERATION => later(
            "changes every iteration, and a per-user variable is drawn once",
            "drop per = \"user\", or use user.id",
        ),
        (Binding::Builtin | Binding::UserVar, _) => None,
        (Binding::IterVar, Place::IterVar | Place::Step(_)) => None,
        (Binding::IterVar, _) => later(
            "is drawn per iteration, after setup and per-user variables",
            "give it per = \"user\" to use it in setup or in per-user variables",
        ),
        (Binding::SetupCapture(_), Place::IterVar | Place::Step(_)) => None,
        (Binding::SetupCapture(j), Place::Setup(k)) if j < k => None,
        (Binding::SetupCapture(j), Place::Setup(k)) if j == k => later(
            "is captured from this step's own answer",
            "use it in a later step",
        ),
        (Binding::SetupCapture(j), _) => later(
            &format!("is captured by setup[{j}], which runs after this"),
            "use it in a later setup step or in the steps",
        ),
        (Binding::StepCapture(j), Place::Step(k)) if j < k => None,
        (Binding::StepCapture(j), Place::Step(k)) if j == k => later(
            "is captured from this step's own answer",
            "use it in a later step",
        ),
        (Binding::StepCapture(j), _) => later(
            &format!("is captured by steps[{j}], which runs after this"),
            "move this use after that step, or capture it earlier",
        ),
    }
}

/// A variable or capture name: letters, digits and `_`.
fn plain_name(src: Source<'_>, key: &str, name: &str, what: &str) -> Result<(), FileError> {
    if crate::flow_file::template::valid_name(name) && !name.contains('.') {
        Ok(())
    } else {
        Err(src.error(
            key,
            format!("{name:?} cannot name {what}"),
            "use letters, digits and _, starting with a letter or _",
        ))
    }
}

/// A capture named like another variable.
fn clash(src: Source<'_>, key: &str, name: &str, other: Binding) -> FileError {
    let what = match other {
        Binding::Builtin => "a built-in variable",
        Binding::UserVar | Binding::IterVar => "a variable of [vars]",
        Binding::SetupCapture(_) => "captured in setup",
        Binding::StepCapture(_) => "captured in the steps",
    };
    src.error(
        key,
        format!("{name:?} is already {what}"),
        "give the capture a name of its own",
    )
}
