//! What a step makes of its answer: the statuses that pass, checks, captures,
//! and `repeat` (polling until a condition holds, failing when another does,
//! giving up at a deadline).
//!
//! A check is a subject and what must hold of it:
//!
//! ```toml
//! check = [
//!   { json = "$.step", equals = "proficiency" },
//!   { json = "$.status", in = ["queued", "running", "completed"] },
//!   { json = "$.jobId", exists = true },
//!   { header = "content-type", contains = "json" },
//!   { body_contains = "ok" },
//! ]
//! ```

use std::time::Duration;

use http::HeaderName;
use slo::toml_file::FileError;

use super::params::{self, json_of};
use super::steps::At;
use crate::flow_file::file::{CheckSection, DeadlineFrom, FailKind, RepeatSection, StepSection};
use crate::flow_file::json_path::{self, JsonPath};
use crate::flow_file::template::{JsonText, Template};
use crate::flow_file::{Capture, Check, Expected, FailIf, Predicate, Repeat, Subject};

/// The shortest wait between a repeated step's attempts.
const MIN_EVERY: Duration = Duration::from_millis(10);

/// A step's answer handling, checked.
pub struct Answer {
    pub status: Vec<u16>,
    pub checks: Vec<Check>,
    pub captures: Vec<Capture>,
    pub repeat: Option<Repeat>,
    pub reads_json: bool,
}

/// The answer handling of `step`.
pub fn check(at: &At<'_>, step: &StepSection) -> Result<Answer, FileError> {
    let status = statuses(at, "status", step.status.as_ref())?;
    let mut checks = Vec::new();
    for (i, c) in step.check.iter().enumerate() {
        checks.push(check_one(at, &format!("check[{i}]"), c, false)?.check);
    }
    let mut captures = Vec::new();
    for (name, value) in &step.capture {
        captures.push(capture(at, name, value)?);
    }
    let repeat = match &step.repeat {
        Some(r) => Some(repeat(at, r, &step.name)?),
        None => None,
    };
    let json = |s: &Subject| matches!(s, Subject::Json(_));
    let reads_json = checks.iter().any(|c| json(&c.subject))
        || captures.iter().any(|c| json(&c.from))
        || repeat.as_ref().is_some_and(|r| {
            r.until.iter().any(|c| json(&c.subject))
                || r.fail_if
                    .iter()
                    .any(|f| json(&f.check.subject) || f.reason.is_some())
        });
    Ok(Answer {
        status,
        checks,
        captures,
        repeat,
        reads_json,
    })
}

/// `status = 202` or `[200, 201]`.
fn statuses(at: &At<'_>, key: &str, value: Option<&toml::Value>) -> Result<Vec<u16>, FileError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list: Vec<&toml::Value> = match value {
        toml::Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    let mut out = Vec::new();
    for v in list {
        match v.as_integer() {
            Some(code @ 100..=599) => out.push(code as u16),
            _ => {
                return Err(at.error(
                    key,
                    format!("{v} is not an HTTP status"),
                    "write a status from 100 to 599, or a list of them: [200, 201]",
                ));
            }
        }
    }
    Ok(out)
}

/// A check as written, read.
struct Read {
    check: Check,
    kind: Option<FailKind>,
    reason: Option<JsonPath>,
}

/// One check at `key`; `fail` when it is a `fail_if` (which may have `kind` and `reason`).
fn check_one(at: &At<'_>, key: &str, c: &CheckSection, fail: bool) -> Result<Read, FileError> {
    if !fail && (c.kind.is_some() || c.reason.is_some()) {
        return Err(at.error(
            key,
            "kind and reason belong to fail_if",
            "remove them, or move this check into repeat.fail_if",
        ));
    }
    let subjects = [
        c.json.is_some(),
        c.header.is_some(),
        c.body_contains.is_some(),
    ];
    if subjects.iter().filter(|s| **s).count() != 1 {
        return Err(at.error(
            key,
            "a check looks at one thing",
            "give exactly one of json = \"$.path\", header = \"name\" or body_contains = \"text\"",
        ));
    }
    let reason = match &c.reason {
        Some(r) => Some(path(at, &format!("{key}.reason"), r)?),
        None => None,
    };
    if let Some(text) = &c.body_contains {
        if c.equals.is_some() || c.one_of.is_some() || c.exists.is_some() || c.contains.is_some() {
            return Err(at.error(
                key,
                "body_contains is the whole check",
                "remove equals, in, exists and contains",
            ));
        }
        let check = Check {
            subject: Subject::Body,
            predicate: Predicate::Contains(at.template(&format!("{key}.body_contains"), text)?),
        };
        return Ok(Read {
            check,
            kind: c.kind,
            reason,
        });
    }
    let subject = match (&c.json, &c.header) {
        (Some(p), _) => Subject::Json(path(at, &format!("{key}.json"), p)?),
        (None, Some(h)) => Subject::Header(header(at, &format!("{key}.header"), h)?),
        (None, None) => {
            return Err(at.error(key, "a check with no subject", "add json = \"$.path\""));
        }
    };
    let predicate = predicate(at, key, c)?;
    Ok(Read {
        check: Check { subject, predicate },
        kind: c.kind,
        reason,
    })
}

/// `equals`, `in`, `exists` or `contains`: exactly one.
fn predicate(at: &At<'_>, key: &str, c: &CheckSection) -> Result<Predicate, FileError> {
    let given = [
        c.equals.is_some(),
        c.one_of.is_some(),
        c.exists.is_some(),
        c.contains.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(at.error(
            key,
            "a check says one thing of its subject",
            "give exactly one of equals = ..., in = [...], exists = true or contains = \"text\"",
        ));
    }
    if let Some(v) = &c.equals {
        let k = format!("{}.{key}.equals", at.key);
        return Ok(Predicate::Equals(match v.as_str() {
            Some(text) => match at.json_text(text, &k)? {
                JsonText::Literal(v) => Expected::Value(v),
                JsonText::Slot(s) => Expected::Slot(s),
                JsonText::Template(t) => match t.as_literal() {
                    Some(lit) => Expected::Value(serde_json::Value::String(lit)),
                    None => Expected::Text(t),
                },
            },
            None => Expected::Value(json_of(v)),
        }));
    }
    if let Some(list) = &c.one_of {
        if list.is_empty() {
            return Err(at.error(
                &format!("{key}.in"),
                "an empty list",
                "list the values allowed",
            ));
        }
        return Ok(Predicate::In(list.iter().map(json_of).collect()));
    }
    if let Some(e) = c.exists {
        return Ok(Predicate::Exists(e));
    }
    let text = c.contains.as_deref().unwrap_or_default();
    Ok(Predicate::Contains(
        at.template(&format!("{key}.contains"), text)?,
    ))
}

fn path(at: &At<'_>, key: &str, text: &str) -> Result<JsonPath, FileError> {
    JsonPath::parse(text)
        .map_err(|m| at.error(key, m, format!("write a JSON path: {}", json_path::FORM)))
}

fn header(at: &At<'_>, key: &str, name: &str) -> Result<HeaderName, FileError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        at.error(
            key,
            format!("{name:?} is not a header name"),
            "use letters, digits and -",
        )
    })
}

/// `name = "$.path"`, `name = { json = "$.path" }` or `name = { header = "etag" }`.
fn capture(at: &At<'_>, name: &str, value: &toml::Value) -> Result<Capture, FileError> {
    let key = format!("capture.{name}");
    let from = match value {
        toml::Value::String(p) => Subject::Json(path(at, &key, p)?),
        toml::Value::Table(t) if t.len() == 1 && t.contains_key("json") => {
            let p = t["json"].as_str().unwrap_or_default();
            Subject::Json(path(at, &format!("{key}.json"), p)?)
        }
        toml::Value::Table(t) if t.len() == 1 && t.contains_key("header") => {
            let h = t["header"].as_str().unwrap_or_default();
            Subject::Header(header(at, &format!("{key}.header"), h)?)
        }
        _ => {
            return Err(at.error(
                &key,
                "a capture takes a JSON path or a header",
                "write name = \"$.field\", or name = { header = \"etag\" }",
            ));
        }
    };
    Ok(Capture {
        name: name.to_string(),
        slot: at.scope.slot(name),
        from,
    })
}

/// `repeat = { until, fail_if, every, deadline, from, on_deadline, stop_on }`.
fn repeat(at: &At<'_>, r: &RepeatSection, step: &str) -> Result<Repeat, FileError> {
    if r.until.is_empty() {
        return Err(at.error(
            "repeat.until",
            "no condition to stop repeating",
            "add until = [{ json = \"$.status\", equals = \"completed\" }]",
        ));
    }
    let mut until = Vec::new();
    for (i, c) in r.until.iter().enumerate() {
        until.push(check_one(at, &format!("repeat.until[{i}]"), c, false)?.check);
    }
    let mut fail_if = Vec::new();
    for (i, c) in r.fail_if.iter().enumerate() {
        let read = check_one(at, &format!("repeat.fail_if[{i}]"), c, true)?;
        fail_if.push(FailIf {
            check: read.check,
            kind: read.kind.unwrap_or(FailKind::Failed),
            reason: read.reason,
        });
    }
    let key = |k: &str| format!("{}.repeat.{k}", at.key);
    let every = params::duration(at.src, &key("every"), &r.every, at.scope.params())?;
    if every < MIN_EVERY {
        return Err(at.error(
            "repeat.every",
            "shorter than 10ms",
            "repeat every 10ms or slower",
        ));
    }
    let deadline = params::duration(at.src, &key("deadline"), &r.deadline, at.scope.params())?;
    let on = r.on_deadline.as_ref();
    let message = match on.and_then(|o| o.message.as_deref()) {
        Some(m) => at.template("repeat.on_deadline.message", m)?,
        None => Template::literal(&format!(
            "{step} not done after {}",
            humantime::format_duration(deadline)
        )),
    };
    let stop_on = statuses(
        at,
        "repeat.stop_on",
        Some(&toml::Value::Array(
            r.stop_on
                .iter()
                .map(|s| toml::Value::Integer(*s as i64))
                .collect(),
        )),
    )?;
    Ok(Repeat {
        until,
        fail_if,
        every,
        deadline,
        from_iteration: r.from.unwrap_or(DeadlineFrom::Iteration) == DeadlineFrom::Iteration,
        deadline_kind: on.and_then(|o| o.kind).unwrap_or(FailKind::Deadline),
        deadline_message: message,
        stop_on,
    })
}
