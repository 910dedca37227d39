//! Flows as data, end to end through the `loadgen` binary against the embedded
//! services: a flow file that captures a job id and polls it to completion, a
//! check that fails, a flow written in the scenario that abandons, a bad flow
//! file refused with its line, and the shipped flow files against the Rust
//! journeys they replace on one seeded scenario.

mod common;

use std::collections::BTreeMap;

use common::*;
use reports::summary::RunSummary;

/// The SLO set, for `[slo] file`.
fn slo() -> String {
    root().join("slo/athlete-ally.toml").display().to_string()
}

/// Runs `scenario` (written in `dir` beside `files`) judged by scrape; the exit
/// code, the summary and what loadgen printed.
fn run_in(
    dir: &TempDir,
    scenario: &str,
    files: &[(&str, &str)],
    extra: &[&str],
) -> (i32, RunSummary, String) {
    for (name, text) in files {
        dir.write(name, text);
    }
    let file = dir.write("scenario.toml", scenario);
    let results = dir.path().join("results");
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
        "--no-prometheus",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    let s = RunSummary::read(&run_dir(&results)).unwrap_or_else(|e| panic!("{e}\n{out}{err}"));
    (code, s, format!("{out}{err}"))
}

/// A 3 s run of two users against the embedded services, judged on the API error
/// rate, with the flow written as `flow` (the keys of a `[[flows]]` table and its
/// sub-tables: a flow written in the scenario).
fn inline_scenario(head: &str, think_ms: u64, flow: &str) -> String {
    format!(
        r#"{head}
[target.embedded]
[load]
users = 2
hatch_rate = 2
duration = "3s"
think_time = {{ min = "{think_ms}ms", max = "{think_ms}ms" }}
[[flows]]
{flow}
[slo]
file = "{}"
only = ["api_error_rate"]
"#,
        slo()
    )
}

/// A plan flow of our own: sign in once per user (again before the token
/// expires), ask for a plan, capture its job id, poll it until completed.
const MY_PLANS: &str = r#"
name = "my_plans"
description = "Ask for a plan and wait for it"

[params]
every = "50ms"

[[setup]]
name = "my_sign_in"
sign_in = "lg-{{run.nonce}}-mine-{{user.id}}"

[[steps]]
name = "ask"
method = "POST"
path = "/api/v1/plans/generate"
headers = { authorization = "Bearer {{token}}" }
json = { complexity = "basic", equipmentCount = 2, availabilityDays = 4 }
status = 202
capture = { job = "$.jobId" }

[[steps]]
name = "wait"
path = "/api/v1/plans/status?jobId={{job}}"
headers = { authorization = "Bearer {{token}}" }
check = [{ json = "$.jobId", equals = "{{job}}" }]

[steps.repeat]
until = [{ json = "$.status", equals = "completed" }]
fail_if = [{ json = "$.status", equals = "failed", reason = "$.error" }]
every = "{{params.every}}"
deadline = "20s"
"#;

#[test]
fn a_flow_file_captures_a_job_id_and_polls_it_to_completion() {
    let dir = TempDir::new("lg-flow-poll");
    let scenario = format!(
        r#"name = "mine"
[target.embedded]
token_ttl = "2s"
llm_latency_p50 = "100ms"
llm_latency_p95 = "150ms"
llm_failure_rate = 0.0
[load]
users = 3
hatch_rate = 3
duration = "6s"
think_time = {{ min = "50ms", max = "100ms" }}
[[flows]]
file = "flows/my-plans.toml"
params = {{ every = "80ms" }}
[slo]
file = "{}"
only = ["plan_generation_failure_rate", "api_error_rate"]
"#,
        slo()
    );
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    let (_, s, log) = run_in(&dir, &scenario, &[("flows/my-plans.toml", MY_PLANS)], &[]);
    let mine = flow(&s, "my_plans");
    assert!(mine.iterations >= 6, "{mine:?}\n{log}");
    assert_eq!(
        (mine.failed, s.total_errors),
        (0, 0),
        "{:?}\n{log}",
        s.errors
    );
    let (ask, wait) = (request(&s, "ask"), request(&s, "wait"));
    // Every plan polled at least twice: the first poll is immediate, the plan
    // takes 100 ms, and polls come every 80 ms (the scenario's parameter).
    assert!(
        wait.count >= 2 * ask.count - 3,
        "{} polls for {} plans",
        wait.count,
        ask.count
    );
    // Tokens live 2 s: each user's setup signs in again before its token
    // expires (no 401 above), about three times in the 6 s.
    let sign_ins = request(&s, "my_sign_in").count;
    assert!(
        (6..=15).contains(&sign_ins),
        "{sign_ins} sign-ins for 3 users"
    );
    // The run directory keeps the flow file as it ran.
    let copy = run_dir(&dir.path().join("results")).join("flows/0-my-plans.toml");
    assert_eq!(std::fs::read_to_string(copy).unwrap(), MY_PLANS);
}

#[test]
fn a_failing_check_fails_the_request_and_the_iteration_with_what_it_found() {
    let dir = TempDir::new("lg-flow-check");
    let scenario = inline_scenario(
        "name = \"checks\"",
        100,
        r#"name = "picky"
[[flows.steps]]
name = "picky_health"
path = "/api/health"
check = [{ json = "$.status", equals = "sleeping" }]
[[flows.steps]]
name = "never_sent"
path = "/api/health""#,
    );
    let (_, s, log) = run_in(&dir, &scenario, &[], &[]);
    let picky = request(&s, "picky_health");
    assert!(picky.count > 5, "{log}");
    assert_eq!(picky.errors, picky.count, "every answer fails the check");
    assert!(
        s.requests.iter().all(|r| r.name != "never_sent"),
        "a failed step ends the iteration"
    );
    let f = flow(&s, "picky");
    assert_eq!(f.failed, f.iterations);
    let e = s
        .errors
        .iter()
        .find(|e| e.request == "picky_health")
        .unwrap();
    assert_eq!(e.kind, "body");
    assert!(
        e.example
            .contains(r#"check failed: $.status is "ok", expected "sleeping""#),
        "{}",
        e.example
    );
}

#[test]
fn a_flow_written_in_the_scenario_abandons_after_its_chosen_steps() {
    let dir = TempDir::new("lg-flow-abandon");
    let scenario = inline_scenario(
        "name = \"abandon\"\nseed = 7",
        20,
        r#"name = "browse"
abandon = { share = 1.0, after = ["first"] }
[flows.vars]
n = { range = [1, 9] }
[[flows.steps]]
name = "first"
path = "/api/health?n={{n}}"
[[flows.steps]]
name = "second"
path = "/api/health""#,
    );
    let (_, s, log) = run_in(&dir, &scenario, &[], &[]);
    let f = flow(&s, "browse");
    assert!(f.abandoned > 10, "{f:?}\n{log}");
    assert_eq!(f.iterations, 0, "no iteration completes or fails: {f:?}");
    assert_eq!(request(&s, "first").count, f.abandoned + f.interrupted);
    assert!(
        s.requests.iter().all(|r| r.name != "second"),
        "{:?}",
        s.requests
    );
}

#[test]
fn a_bad_flow_file_is_refused_with_its_line_and_fix_before_anything_runs() {
    let dir = TempDir::new("lg-flow-bad");
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    let bad = MY_PLANS.replace("jobId={{job}}", "jobId={{jobb}}");
    let file = dir.write("flows/my-plans.toml", &bad);
    let (code, out, err) = run(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let line = bad.lines().position(|l| l.contains("{{jobb}}")).unwrap() + 1;
    assert!(err.contains(&format!("my-plans.toml:{line}:")), "{err}");
    assert!(
        err.contains("{{jobb}} is not a variable of this flow"),
        "{err}"
    );
    assert!(
        err.contains("fix: use one of") && err.contains("job"),
        "{err}"
    );
    // The same file named by a scenario stops `run` before any load (exit 2).
    let scenario = format!(
        "name = \"bad\"\n[target.embedded]\n[load]\nusers = 1\nduration = \"2s\"\n[[flows]]\nfile = \"flows/my-plans.toml\"\n[slo]\nfile = \"{}\"\n",
        slo()
    );
    let file = dir.write("scenario.toml", &scenario);
    let results = dir.path().join("results");
    let (code, _, err) = run(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("{{jobb}}"), "{err}");
    assert!(!results.exists(), "nothing ran");
}

/// One seeded scenario run by both engines: the shipped flow files and the Rust
/// journeys they replace send the same requests, under the same names, and get
/// the same verdicts.
#[test]
fn the_shipped_flows_match_the_rust_journeys_on_one_seeded_scenario() {
    let scenario = format!(
        r#"name = "engines"
seed = 2026
[target.embedded]
llm_latency_p50 = "20ms"
llm_latency_p95 = "20ms"
llm_failure_rate = 0.0
[load]
stages = [{{ kind = "spike", users = 6, duration = "12s" }}]
think_time = {{ min = "10ms", max = "20ms" }}
[[flows]]
name = "onboarding"
abandon_share = 0.3
iterations = 5
[[flows]]
name = "plans"
poll_interval = "400ms"
iterations = 4
[slo]
file = "{}"
gate = "whole"
"#,
        slo()
    );
    let run_with = |engine: &str| {
        let dir = TempDir::new(&format!("lg-engine-{engine}"));
        let (code, s, log) = run_in(&dir, &scenario, &[], &["--flow-engine", engine]);
        (code, s, log)
    };
    let (native_code, native, nlog) = run_with("native");
    let (data_code, data, dlog) = run_with("data");
    let counts = |s: &RunSummary| -> BTreeMap<String, (u64, u64)> {
        s.requests
            .iter()
            .map(|r| (r.name.clone(), (r.count, r.errors)))
            .collect()
    };
    assert_eq!(
        counts(&data),
        counts(&native),
        "data:\n{dlog}\nnative:\n{nlog}"
    );
    let flows = |s: &RunSummary| -> Vec<(String, u64, u64, u64)> {
        s.flows
            .iter()
            .map(|f| (f.name.clone(), f.iterations, f.failed, f.abandoned))
            .collect()
    };
    assert_eq!(flows(&data), flows(&native));
    let onboarding = flow(&data, "onboarding");
    assert!(
        onboarding.abandoned > 0 && onboarding.iterations > 0,
        "{onboarding:?}"
    );
    let verdicts = |s: &RunSummary| -> Vec<(String, String)> {
        let v = s.verdicts.as_ref().expect("judged");
        v.whole
            .iter()
            .map(|v| (v.slo.clone(), v.status.as_str().to_string()))
            .collect()
    };
    assert_eq!(verdicts(&data), verdicts(&native));
    // A dozen plans prove little either way (inconclusive, exit 3): the two
    // engines must only agree.
    assert_eq!(data_code, native_code, "{dlog}");
}

/// The README's tutorial as shipped (`examples/flows/`): onboarding with a
/// "read my profile" step, judged by latency and error SLOs kept to that request
/// on both sides, the server's route and the client's request.
#[test]
fn the_readme_tutorial_adds_a_step_and_judges_it_with_its_own_slos() {
    let dir = TempDir::new("lg-tutorial");
    let results = dir.path().join("results");
    let (code, out, err) = run(&[
        "run",
        "examples/flows/read-profile.toml",
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ]);
    let s = summary(&results);
    assert_eq!(code, 0, "{out}{err}");
    let reads = request(&s, "read_profile");
    assert!(reads.count > 300 && reads.errors == 0, "{reads:?}");
    let verdicts = &s.verdicts.as_ref().unwrap().whole;
    for v in verdicts {
        let side = v.client_side.as_ref().unwrap();
        assert_eq!(side.requests, ["read_profile"], "{}", v.slo);
        let client = v.client.as_ref().unwrap();
        assert_eq!(
            client.samples, reads.count,
            "{}: the client counts read_profile only",
            v.slo
        );
        assert_eq!(
            v.samples, reads.count,
            "{}: the server counts its route",
            v.slo
        );
    }
    assert_eq!(verdicts.len(), 2);
}

/// An SLO whose client side names a request no flow sends would be judged with
/// an empty client side: refused before the run, at the SLO file's key.
#[test]
fn client_requests_no_flow_sends_are_refused() {
    let dir = TempDir::new("lg-client-requests");
    let slo = std::fs::read_to_string(root().join("examples/flows/read-profile.slo.toml"))
        .unwrap()
        .replacen(
            "client_requests = [\"read_profile\"]",
            "client_requests = [\"read_profiel\"]",
            1,
        );
    dir.write("read-profile.slo.toml", &slo);
    for f in ["read-profile.toml", "onboarding-read-profile.toml"] {
        let text = std::fs::read_to_string(root().join("examples/flows").join(f)).unwrap();
        dir.write(f, &text);
    }
    let scenario = dir.path().join("read-profile.toml");
    let (code, _, err) = run(&["check", scenario.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no flow of") && err.contains("\"read_profiel\""),
        "{err}"
    );
    let line = slo
        .lines()
        .position(|l| l.contains("read_profiel"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("read-profile.slo.toml:{line}:")),
        "{err}"
    );
    assert!(
        err.contains("read_profile"),
        "the fix lists the requests: {err}"
    );
}

/// `status = 404` makes a not-found the expected answer (checked like any
/// other), where an error status otherwise fails the request.
#[test]
fn an_expected_error_status_is_an_answer_not_a_failure() {
    let dir = TempDir::new("lg-flow-404");
    let scenario = inline_scenario(
        "name = \"notfound\"",
        100,
        r#"name = "lost"
[[flows.setup]]
name = "lost_sign_in"
sign_in = "lg-{{run.nonce}}-lost-{{user.id}}"
[[flows.steps]]
name = "unknown_job"
path = "/api/v1/plans/status?jobId=nope"
headers = { authorization = "Bearer {{token}}" }
status = 404
check = [{ json = "$.error", equals = "job_not_found" }]
[[flows.steps]]
name = "also_unknown"
path = "/api/v1/plans/status?jobId=nope"
headers = { authorization = "Bearer {{token}}" }"#,
    );
    let (_, s, log) = run_in(&dir, &scenario, &[], &[]);
    let expected = request(&s, "unknown_job");
    assert!(expected.count > 5, "{log}");
    assert_eq!(expected.errors, 0, "the 404 was expected");
    assert_eq!(expected.status_classes.get("4xx"), Some(&expected.count));
    let unexpected = request(&s, "also_unknown");
    assert_eq!(
        unexpected.errors, unexpected.count,
        "without status = 404 it fails"
    );
    assert_eq!(flow(&s, "lost").failed, flow(&s, "lost").iterations);
}
