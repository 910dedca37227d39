//! Steps: what each sends (a request, or a sign-in), with its placeholders
//! resolved where the step runs; the answer's checks, captures and repeat are in
//! [`answer`].

use http::{HeaderName, HeaderValue, Method};
use slo::toml_file::FileError;

use super::Source;
use super::answer;
use super::params::json_of;
use super::scope::{Place, Scope};
use crate::flow_file::file::{MethodName, StepSection};
use crate::flow_file::template::{self, JsonTemplate, JsonText, Resolved, Template};
use crate::flow_file::{Action, Body, Request, Step, TOKEN_VAR, Think};

/// The steps of `list` (`setup` or `steps`); their request names join `requests`.
pub fn check_all(
    src: Source<'_>,
    list: &str,
    steps: &[StepSection],
    scope: &Scope<'_>,
    requests: &mut Vec<String>,
) -> Result<Vec<Step>, FileError> {
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let place = if list == "setup" {
            Place::Setup(i)
        } else {
            Place::Step(i)
        };
        let at = At {
            src,
            key: format!("{list}[{i}]"),
            place,
            scope,
        };
        out.push(check_step(&at, step, requests)?);
    }
    Ok(out)
}

/// Where a step is: its key and place, for resolving and for errors.
pub struct At<'a> {
    pub src: Source<'a>,
    pub key: String,
    pub place: Place,
    pub scope: &'a Scope<'a>,
}

impl At<'_> {
    /// An error at `key` of this step.
    pub fn error(
        &self,
        key: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> FileError {
        self.src.error(&format!("{}.{key}", self.key), message, fix)
    }

    /// Text at `key` of this step, its placeholders resolved.
    pub fn template(&self, key: &str, text: &str) -> Result<Template, FileError> {
        let full = format!("{}.{key}", self.key);
        let pieces =
            template::parse(text).map_err(|m| self.src.error(&full, m, "write {{name}}"))?;
        Template::compile(&pieces, |p| {
            self.scope.resolve(self.src, &full, p, self.place)
        })
    }

    /// A string of a JSON value: a whole placeholder keeps its value's type.
    pub fn json_text(&self, text: &str, key: &str) -> Result<JsonText, FileError> {
        let pieces = template::parse(text).map_err(|m| self.src.error(key, m, "write {{name}}"))?;
        if let [template::Piece::Name(p)] = pieces.as_slice() {
            return Ok(match self.scope.resolve(self.src, key, p, self.place)? {
                Resolved::Slot(s) => JsonText::Slot(s),
                Resolved::Value(v) => JsonText::Literal(v),
            });
        }
        let t = Template::compile(&pieces, |p| {
            self.scope.resolve(self.src, key, p, self.place)
        })?;
        Ok(JsonText::Template(t))
    }
}

fn check_step(
    at: &At<'_>,
    step: &StepSection,
    requests: &mut Vec<String>,
) -> Result<Step, FileError> {
    if !super::valid_series_name(&step.name) {
        return Err(at.error(
            "name",
            format!("{:?} cannot name a request", step.name),
            "use up to 64 letters, digits, _, - or .",
        ));
    }
    let request = match requests.iter().position(|r| r == &step.name) {
        Some(i) => i,
        None => {
            requests.push(step.name.clone());
            requests.len() - 1
        }
    };
    let mut action = match &step.sign_in {
        Some(athlete) => sign_in(at, step, athlete)?,
        None => Action::Request(request_of(at, step)?),
    };
    let answer = answer::check(at, step)?;
    if let Action::Request(r) = &mut action {
        // The statuses that pass (none listed: any 2xx); `status = 404` makes
        // that error status the expected answer.
        r.accept = answer.status.clone();
    }
    Ok(Step {
        name: step.name.clone(),
        request,
        action,
        status: answer.status,
        reads_json: answer.reads_json,
        checks: answer.checks,
        captures: answer.captures,
        think: think(at, step.think.as_ref())?,
        repeat: answer.repeat,
    })
}

/// `sign_in = "<athlete>"`: the run's token request, nothing else.
fn sign_in(at: &At<'_>, step: &StepSection, athlete: &str) -> Result<Action, FileError> {
    let others = [
        ("method", step.method.is_some()),
        ("path", step.path.is_some()),
        ("headers", !step.headers.is_empty()),
        ("json", step.json.is_some()),
        ("body", step.body.is_some()),
        ("status", step.status.is_some()),
        ("check", !step.check.is_empty()),
        ("capture", !step.capture.is_empty()),
        ("repeat", step.repeat.is_some()),
    ];
    if let Some((key, _)) = others.iter().find(|(_, set)| *set) {
        return Err(at.error(
            key,
            format!("a sign_in step sends the run's token request: {key} does not apply"),
            "remove it, or write the request yourself with path, json and capture",
        ));
    }
    Ok(Action::SignIn {
        athlete: at.template("sign_in", athlete)?,
        slot: at.scope.slot(TOKEN_VAR),
    })
}

/// A request: method, path, headers and body.
fn request_of(at: &At<'_>, step: &StepSection) -> Result<Request, FileError> {
    let Some(path) = &step.path else {
        return Err(at.error(
            "path",
            "the step sends nothing",
            "add path = \"/api/...\" (and method), or sign_in = \"<athlete id>\"",
        ));
    };
    let method = step.method.unwrap_or(MethodName::Get);
    let path_t = at.template("path", path)?;
    if !path_t.starts_with("/") {
        return Err(at.error(
            "path",
            format!("{path:?} does not start with /"),
            "write it like /api/v1/onboarding",
        ));
    }
    let mut headers = Vec::new();
    for (name, value) in &step.headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            at.error(
                &format!("headers.{name}"),
                format!("{name:?} is not a header name"),
                "use letters, digits and -",
            )
        })?;
        headers.push((header, at.template(&format!("headers.{name}"), value)?));
    }
    let body = body(at, step)?;
    if body.is_some() && matches!(method, MethodName::Get | MethodName::Head) {
        return Err(at.error(
            "method",
            format!("a {method} request carries no body"),
            "write method = \"POST\" (or PUT, PATCH), or remove the body",
        ));
    }
    Ok(Request {
        method: Method::from_bytes(method.as_str().as_bytes()).unwrap_or(Method::GET),
        path: path_t,
        headers,
        body,
        accept: Vec::new(),
    })
}

/// `json = {...}` or `body = "..."` (with `content_type`).
fn body(at: &At<'_>, step: &StepSection) -> Result<Option<Body>, FileError> {
    match (&step.json, &step.body) {
        (Some(_), Some(_)) => Err(at.error("body", "both json and body", "keep one of them")),
        (Some(json), None) => {
            if step.content_type.is_some() {
                return Err(at.error(
                    "content_type",
                    "a json body is sent as application/json",
                    "remove content_type, or send a text body with body = \"...\"",
                ));
            }
            let key = format!("{}.json", at.key);
            let mut text = |s: &str, k: &str| at.json_text(s, k);
            let t = JsonTemplate::compile(&json_of(json), &key, &mut text)?;
            Ok(Some(Body::Json(t)))
        }
        (None, Some(text)) => {
            let ct = step.content_type.as_deref().unwrap_or("text/plain");
            let value = HeaderValue::from_str(ct).map_err(|_| {
                at.error(
                    "content_type",
                    format!("{ct:?} is not a header value"),
                    "write it like text/plain",
                )
            })?;
            Ok(Some(Body::Text(at.template("body", text)?, value)))
        }
        (None, None) => Ok(None),
    }
}

/// `think = true | false | { min, max }`.
fn think(at: &At<'_>, value: Option<&toml::Value>) -> Result<Think, FileError> {
    let Some(value) = value else {
        return Ok(Think::No);
    };
    if let Some(b) = value.as_bool() {
        return Ok(if b { Think::Flow } else { Think::No });
    }
    let bound = |k: &str| -> Result<std::time::Duration, FileError> {
        let key = format!("{}.think.{k}", at.key);
        match value.get(k).and_then(|v| v.as_str()) {
            Some(text) => super::params::duration(at.src, &key, text, at.scope.params()),
            None => Err(at.src.error(
                &key,
                "think takes true, false or { min, max }",
                "write think = true (the flow's think time) or think = { min = \"1s\", max = \"3s\" }",
            )),
        }
    };
    let (min, max) = (bound("min")?, bound("max")?);
    if min > max {
        return Err(at.error("think", "min is above max", "give min up to max"));
    }
    Ok(Think::Own(min, max))
}
