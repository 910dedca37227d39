//! Judging a step's accepted answer: the checks, the captures,
//! and for a repeated step whether it is done, failed or still pending. A check
//! that fails (or a capture not in the answer) fails the request with a message
//! saying what was found and what was expected.

use serde_json::Value;

use crate::client::Reply;
use crate::flow_file::file::FailKind;
use crate::flow_file::template::{Escape, text_of};
use crate::flow_file::{Check, Expected, Predicate, Step, Subject};
use crate::recorder::ErrorKind;

/// The longest part of a body quoted in a message.
const EXCERPT: usize = 200;

/// Where a repeated step stands after an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Done (every `until` holds, or the step does not repeat).
    Done,
    /// Send it again.
    Pending,
    /// A `fail_if` held: the iteration fails so, for this reason.
    Failed(ErrorKind, String),
}

/// An answer that passed: its captured values and the step's state.
#[derive(Debug)]
pub struct Answered {
    captures: Vec<(usize, Value)>,
    /// Where the step stands.
    pub state: State,
}

impl Answered {
    /// Stores the captured values.
    pub fn capture(self, vars: &mut [Value]) {
        for (slot, value) in self.captures {
            vars[slot] = value;
        }
    }
}

/// How a flow's failure kind is counted.
pub fn error_kind(kind: FailKind) -> ErrorKind {
    match kind {
        FailKind::Failed => ErrorKind::Failed,
        FailKind::Deadline => ErrorKind::Deadline,
        FailKind::PlanFailed => ErrorKind::PlanFailed,
        FailKind::PlanTimeout => ErrorKind::PlanTimeout,
    }
}

/// Judges `reply` to `step` (its status was accepted by the client already).
pub fn judge(step: &Step, reply: &Reply, vars: &[Value]) -> Result<Answered, String> {
    let json = if step.reads_json {
        Some(
            serde_json::from_slice::<Value>(&reply.body)
                .map_err(|e| format!("body is not JSON ({e}): {}", excerpt(&reply.body)))?,
        )
    } else {
        None
    };
    let answer = Answer {
        reply,
        json: json.as_ref(),
        vars,
    };
    for check in &step.checks {
        answer.holds(check)?;
    }
    let mut captures = Vec::with_capacity(step.captures.len());
    for c in &step.captures {
        let value = answer.subject(&c.from).ok_or_else(|| {
            format!(
                "capture {}: {} is not in the answer: {}",
                c.name,
                describe(&c.from),
                excerpt(&reply.body)
            )
        })?;
        captures.push((c.slot, value));
    }
    let state = match &step.repeat {
        None => State::Done,
        Some(r) if r.until.iter().all(|c| answer.holds(c).is_ok()) => State::Done,
        Some(r) => match r.fail_if.iter().find(|f| answer.holds(&f.check).is_ok()) {
            Some(f) => {
                let reason = match &f.reason {
                    Some(path) => json
                        .as_ref()
                        .and_then(|j| path.find(j))
                        .map_or_else(|| "no reason given".to_string(), text_of),
                    None => answer.found(&f.check.subject),
                };
                State::Failed(error_kind(f.kind), reason)
            }
            None => State::Pending,
        },
    };
    Ok(Answered { captures, state })
}

/// An answer being judged.
struct Answer<'a> {
    reply: &'a Reply,
    json: Option<&'a Value>,
    vars: &'a [Value],
}

impl Answer<'_> {
    /// The value `subject` names, if the answer has it.
    fn subject(&self, subject: &Subject) -> Option<Value> {
        match subject {
            Subject::Json(path) => self.json.and_then(|j| path.find(j)).cloned(),
            Subject::Header(name) => self
                .reply
                .headers
                .get(name)
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())),
            Subject::Body => Some(Value::String(
                String::from_utf8_lossy(&self.reply.body).into_owned(),
            )),
        }
    }

    /// "`$.status` is \"failed\"": what the answer holds there.
    fn found(&self, subject: &Subject) -> String {
        match self.subject(subject) {
            Some(v) => format!("{} is {}", describe(subject), shown(&v)),
            None => format!("{} is missing", describe(subject)),
        }
    }

    /// Whether `check` holds; else what was found and what was expected.
    fn holds(&self, check: &Check) -> Result<(), String> {
        let actual = self.subject(&check.subject);
        let ok = match &check.predicate {
            Predicate::Equals(e) => actual.as_ref().is_some_and(|a| same(a, &self.expected(e))),
            Predicate::In(list) => actual
                .as_ref()
                .is_some_and(|a| list.iter().any(|v| same(a, v))),
            Predicate::Exists(want) => actual.as_ref().is_some_and(|a| !a.is_null()) == *want,
            Predicate::Contains(t) => actual
                .as_ref()
                .is_some_and(|a| text_of(a).contains(&t.render(self.vars, Escape::None))),
        };
        if ok {
            return Ok(());
        }
        let expected = match &check.predicate {
            Predicate::Equals(e) => format!("expected {}", shown(&self.expected(e))),
            Predicate::In(list) => {
                let list: Vec<String> = list.iter().map(shown).collect();
                format!("expected one of {}", list.join(", "))
            }
            Predicate::Exists(true) => "expected it to be there".to_string(),
            Predicate::Exists(false) => "expected it not to be there".to_string(),
            Predicate::Contains(t) => format!(
                "expected it to contain {:?}",
                t.render(self.vars, Escape::None)
            ),
        };
        let found = match (&check.subject, &actual) {
            (Subject::Body, _) => format!("the body ({})", excerpt(&self.reply.body)),
            _ => self.found(&check.subject),
        };
        Err(format!("check failed: {found}, {expected}"))
    }

    fn expected(&self, e: &Expected) -> Value {
        match e {
            Expected::Value(v) => v.clone(),
            Expected::Slot(s) => self.vars[*s].clone(),
            Expected::Text(t) => Value::String(t.render(self.vars, Escape::None)),
        }
    }
}

/// Equal as JSON, or as numbers, or as text when either is a string.
fn same(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        return x == y;
    }
    (a.is_string() || b.is_string()) && text_of(a) == text_of(b)
}

/// A value in a message: JSON, shortened.
fn shown(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > EXCERPT {
        let mut cut = EXCERPT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn describe(subject: &Subject) -> String {
    match subject {
        Subject::Json(path) => path.to_string(),
        Subject::Header(name) => format!("header {name}"),
        Subject::Body => "the body".to_string(),
    }
}

/// The start of a body, for a message.
fn excerpt(body: &[u8]) -> String {
    shown(&Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn step(flow: &str, index: usize) -> Step {
        let p = crate::flow_file::check_text(Path::new("t.toml"), flow).unwrap();
        p.steps[index].clone()
    }

    fn reply(status: u16, body: &str) -> Reply {
        let mut headers = http::HeaderMap::new();
        headers.insert("etag", http::HeaderValue::from_static("v1"));
        Reply {
            status,
            headers,
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    const POLL: &str = r#"
name = "t"
[[steps]]
name = "make"
method = "POST"
path = "/jobs"
json = {}
status = 202
capture = { job = "$.jobId", tag = { header = "etag" } }
[[steps]]
name = "poll"
path = "/jobs/{{job}}"
check = [{ json = "$.status", in = ["queued", "done", "failed"] }]
[steps.repeat]
until = [{ json = "$.status", equals = "done" }]
fail_if = [{ json = "$.status", equals = "failed", reason = "$.error", kind = "plan_failed" }]
every = "100ms"
deadline = "5s"
"#;

    #[test]
    fn statuses_checks_and_captures_judge_an_accepted_answer() {
        let make = step(POLL, 0);
        let mut vars = vec![Value::Null; 8];
        // The step's statuses are the client's to accept (before any check).
        let crate::flow_file::Action::Request(request) = &make.action else {
            panic!("a request step")
        };
        assert_eq!(request.accept, [202]);
        assert!(!crate::client::accepts(&request.accept, 200));
        let e = judge(&make, &reply(202, r#"{"id":"j1"}"#), &vars).unwrap_err();
        assert!(
            e.starts_with("capture job: $.jobId is not in the answer"),
            "{e}"
        );
        let ok = judge(&make, &reply(202, r#"{"jobId":"j1"}"#), &vars).unwrap();
        assert_eq!(ok.state, State::Done);
        ok.capture(&mut vars);
        assert!(vars.contains(&Value::from("j1")) && vars.contains(&Value::from("v1")));
        let e = judge(&make, &reply(202, "not json"), &vars).unwrap_err();
        assert!(e.starts_with("body is not JSON"), "{e}");
    }

    #[test]
    fn a_repeated_step_is_done_pending_or_failed_with_the_answer_s_reason() {
        let poll = step(POLL, 1);
        let vars = vec![Value::Null; 8];
        let state = |body: &str| judge(&poll, &reply(200, body), &vars).map(|a| a.state);
        assert_eq!(state(r#"{"status":"queued"}"#), Ok(State::Pending));
        assert_eq!(state(r#"{"status":"done"}"#), Ok(State::Done));
        assert_eq!(
            state(r#"{"status":"failed","error":"model down"}"#),
            Ok(State::Failed(ErrorKind::PlanFailed, "model down".into()))
        );
        assert_eq!(
            state(r#"{"status":"failed"}"#),
            Ok(State::Failed(
                ErrorKind::PlanFailed,
                "no reason given".into()
            ))
        );
        assert_eq!(
            state(r#"{"status":"lost"}"#),
            Err("check failed: $.status is \"lost\", expected one of \"queued\", \"done\", \"failed\"".into())
        );
    }

    #[test]
    fn values_compare_as_json_numbers_or_text() {
        assert!(same(&Value::from(3), &Value::from(3.0)));
        assert!(same(&Value::from("42"), &Value::from(42)));
        assert!(!same(&Value::from(true), &Value::from(1)));
        assert!(!same(&Value::from("a"), &Value::from("b")));
    }
}
