//! Every kind of bad flow file is refused with the file, the line of its key, what
//! is wrong and the fix.

use std::path::Path;

use slo::schema::Checker;
use slo::toml_file::FileError;

use super::*;

const GOOD: &str = r#"name = "t"

[params]
every = { default = "100ms", min = "10ms" }
days = { default = 3, min = 1, max = 7 }

[vars]
athlete = "a-{{user.id}}-{{user.iteration}}"
home = { value = "h-{{user.id}}", per = "user" }
pick = { one_of = ["x", "y"] }

[abandon]
share = 0.2
after = ["make"]

[[setup]]
name = "sign"
sign_in = "{{home}}"

[[steps]]
name = "make"
method = "POST"
path = "/jobs"
headers = { authorization = "Bearer {{token}}" }
json = { who = "{{athlete}}", days = "{{params.days}}", pick = "{{pick}}" }
status = 202
capture = { job = "$.jobId" }

[[steps]]
name = "poll"
path = "/jobs/{{job}}"
check = [{ json = "$.id", equals = "{{job}}" }]

[steps.repeat]
until = [{ json = "$.status", equals = "done" }]
fail_if = [{ json = "$.status", equals = "failed", kind = "plan_failed", reason = "$.error" }]
every = "{{params.every}}"
deadline = "30s"
"#;

fn check_flow(text: &str) -> Result<Program, FileError> {
    check_text(Path::new("flows/t.toml"), text)
}

/// The error of `GOOD` with `from` replaced by `to`; it must name a line and a fix.
fn error_of(from: &str, to: &str) -> FileError {
    assert!(GOOD.contains(from), "{from}");
    let e = check_flow(&GOOD.replacen(from, to, 1)).expect_err(to);
    assert!(e.line.is_some(), "no line: {e}");
    assert!(e.fix.is_some(), "no fix: {e}");
    e
}

#[test]
fn the_good_flow_compiles() {
    let p = check_flow(GOOD).unwrap();
    assert_eq!(p.requests, ["sign", "make", "poll"]);
    assert_eq!(
        (
            p.user_vars.len(),
            p.vars.len(),
            p.setup.len(),
            p.steps.len()
        ),
        (1, 2, 1, 2)
    );
    assert!(p.steps[1].reads_json && p.steps[1].repeat.is_some());
    assert_eq!(p.abandon.as_ref().unwrap().after, [0]);
}

#[test]
fn names_used_where_they_are_not_known_are_refused_with_where_they_are() {
    let cases = [
        (
            "/jobs/{{job}}",
            "/jobs/{{jobb}}",
            "steps[1].path",
            "{{jobb}} is not a variable of this flow",
        ),
        (
            "path = \"/jobs\"",
            "path = \"/jobs/{{job}}\"",
            "steps[0].path",
            "is captured from this step's own answer",
        ),
        (
            "sign_in = \"{{home}}\"",
            "sign_in = \"{{pick}}\"",
            "setup[0].sign_in",
            "is drawn per iteration",
        ),
        (
            "\"h-{{user.id}}\"",
            "\"h-{{user.iteration}}\"",
            "vars.home.value",
            "changes every iteration",
        ),
        (
            "{{params.days}}",
            "{{params.weeks}}",
            "steps[0].json.days",
            "the flow has no parameter \"weeks\"",
        ),
        (
            "\"a-{{user.id}}",
            "\"a-{{athlete}}",
            "vars.athlete",
            "vars.athlete uses itself",
        ),
        (
            "/jobs/{{job}}",
            "/jobs/{{job",
            "steps[1].path",
            "never closed",
        ),
        (
            "/jobs/{{job}}",
            "/jobs/{{ j-b }}",
            "steps[1].path",
            "is not a variable name",
        ),
    ];
    for (from, to, key, message) in cases {
        let e = error_of(from, to);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.message.contains(message), "{to}: {e}");
    }
    // The fix lists what is known there.
    let e = error_of("/jobs/{{job}}", "/jobs/{{jobb}}");
    assert!(e.fix.as_ref().unwrap().contains("job, "), "{e}");
}

/// Each case's error: at its key, saying what is wrong.
fn refused_at_their_keys(cases: &[(&str, &str, &str, &str)]) {
    for (from, to, key, message) in cases {
        let e = error_of(from, to);
        assert_eq!(e.key.as_deref(), Some(*key), "{to}: {e}");
        assert!(e.message.contains(message), "{to}: {e}");
    }
}

#[test]
fn bad_requests_and_answers_are_refused_at_their_key() {
    let cases = [
        (
            "capture = { job = \"$.jobId\" }",
            "capture = { job = \"jobId\" }",
            "steps[0].capture.job",
            "does not start with $",
        ),
        (
            "equals = \"done\"",
            "equals = \"done\", exists = true",
            "steps[1].repeat.until[0]",
            "says one thing",
        ),
        (
            "{ json = \"$.id\", equals",
            "{ json = \"$.id\", header = \"x\", equals",
            "steps[1].check[0]",
            "looks at one thing",
        ),
        (
            "check = [{ json = \"$.id\", equals = \"{{job}}\" }]",
            "check = [{ json = \"$.id\", equals = \"{{job}}\", kind = \"failed\" }]",
            "steps[1].check[0]",
            "belong to fail_if",
        ),
        (
            "deadline = \"30s\"",
            "deadline = \"soon\"",
            "steps[1].repeat.deadline",
            "is not a duration",
        ),
        (
            "default = \"100ms\", min",
            "default = \"1ms\", min",
            "params.every",
            "below the least",
        ),
        (
            "status = 202",
            "status = 999",
            "steps[0].status",
            "is not an HTTP status",
        ),
        (
            "method = \"POST\"",
            "method = \"FETCH\"",
            "steps[0].method",
            "is not an HTTP method",
        ),
        (
            "method = \"POST\"",
            "method = \"GET\"",
            "steps[0].method",
            "carries no body",
        ),
        (
            "name = \"make\"",
            "name = \"make it\"",
            "steps[0].name",
            "cannot name a request",
        ),
        (
            "headers = { authorization",
            "headers = { \"bad header\"",
            "steps[0].headers.bad header",
            "not a header name",
        ),
    ];
    refused_at_their_keys(&cases);
}

#[test]
fn bad_variables_captures_and_abandons_are_refused_at_their_key() {
    let cases = [
        (
            "share = 0.2",
            "share = 1.5",
            "abandon.share",
            "out of range",
        ),
        (
            "after = [\"make\"]",
            "after = [\"poll\"]",
            "abandon.after[0]",
            "is the last step",
        ),
        (
            "after = [\"make\"]",
            "after = [\"mkae\"]",
            "abandon.after[0]",
            "not a step of this flow",
        ),
        (
            "pick = { one_of = [\"x\", \"y\"] }",
            "pick = { one_of = [\"x\"], range = [1, 2] }",
            "vars.pick",
            "2 ways to draw it",
        ),
        (
            "pick = { one_of = [\"x\", \"y\"] }",
            "pick = { range = [5, 2] }",
            "vars.pick.range",
            "is not a range",
        ),
        (
            "sign_in = \"{{home}}\"",
            "sign_in = \"{{home}}\"\npath = \"/x\"",
            "setup[0].path",
            "does not apply",
        ),
        (
            "path = \"/jobs\"",
            "path = \"jobs\"",
            "steps[0].path",
            "does not start with /",
        ),
        (
            "[[steps]]\nname = \"poll\"\npath = \"/jobs/{{job}}\"",
            "[[steps]]\nname = \"poll\"",
            "steps[1].path",
            "sends nothing",
        ),
        (
            "capture = { job = \"$.jobId\" }",
            "capture = { token = \"$.jobId\" }",
            "steps[0].capture.token",
            "already captured in setup",
        ),
        (
            "capture = { job = \"$.jobId\" }",
            "capture = { pick = \"$.jobId\" }",
            "steps[0].capture.pick",
            "already a variable",
        ),
    ];
    refused_at_their_keys(&cases);
}

#[test]
fn unknown_keys_are_refused_with_the_keys_allowed() {
    let e = error_of("name = \"make\"", "name = \"make\"\nmethd = \"GET\"");
    assert!(
        e.message.contains("unknown field `methd`") && e.message.contains("`method`"),
        "{e}"
    );
    assert_eq!(
        e.line,
        Some(GOOD.lines().position(|l| l == "name = \"make\"").unwrap() + 2)
    );
}

#[test]
fn a_flow_without_steps_or_a_name_is_refused() {
    let e = check_flow("name = \"empty\"\n").unwrap_err();
    assert!(e.message.contains("no steps"), "{e}");
    let e = check_flow("[[steps]]\nname = \"a\"\npath = \"/\"\n").unwrap_err();
    assert!(e.message.contains("no name"), "{e}");
}

#[test]
fn a_scenario_s_parameter_values_are_checked_at_the_scenario_s_key() {
    let scenario_text = "[[flows]]\nfile = \"flows/t.toml\"\ndays = 9\nevery = 5\nother = 1\n";
    let scenario = Checker::new(Path::new("s.toml"), scenario_text);
    let flow: FlowFile = toml::from_str(GOOD).unwrap();
    let src = Source {
        checker: Checker::new(Path::new("flows/t.toml"), GOOD),
        prefix: "",
    };
    let set = |name: &str, value: toml::Value| Override {
        name: name.to_string(),
        value,
        key: format!("flows[0].{name}"),
    };
    let e = check(src, &flow, None, &[set("days", 9.into())], &scenario).unwrap_err();
    assert_eq!(
        (e.file.as_path(), e.line),
        (Path::new("s.toml"), Some(3)),
        "{e}"
    );
    assert!(e.message.contains("above the most, 7"), "{e}");
    let e = check(src, &flow, None, &[set("every", 5.into())], &scenario).unwrap_err();
    assert!(
        e.message
            .contains("integer where the flow's default is string"),
        "{e}"
    );
    let e = check(src, &flow, None, &[set("other", 1.into())], &scenario).unwrap_err();
    assert!(
        e.message.contains("not a parameter") && e.fix.as_ref().unwrap().contains("days or every"),
        "{e}"
    );
    let ok = check(
        src,
        &flow,
        Some("renamed"),
        &[set("days", 5.into())],
        &scenario,
    )
    .unwrap();
    assert_eq!(
        (ok.name.as_str(), &ok.params["days"]),
        ("renamed", &serde_json::json!(5))
    );
}
