use std::path::Path;
use std::time::Duration;

use slo::toml_file::{self, FileError};

use super::file::ScenarioFile;
use super::*;

fn parse(text: &str) -> Result<Scenario, FileError> {
    let file: ScenarioFile = toml_file::parse(Path::new("t.toml"), text)?;
    check::check(
        Path::new("scenarios/t.toml"),
        text.to_string(),
        file,
        flows::FlowFiles::Beside,
    )
}

const GOOD: &str = r#"
name = "t"
[target.embedded]
llm_latency_p50 = "100ms"
[load]
users = 10
hatch_rate = 5
duration = "30s"
[[flows]]
name = "onboarding"
weight = 2
[[flows]]
name = "plans"
poll_interval = "200ms"
"#;

#[test]
fn a_good_scenario_becomes_ramp_and_steady() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.stages.len(), 2);
    assert_eq!(s.stages[0].duration, Duration::from_secs(2));
    // A linear ramp to 10 users in 2 s, then 10 held.
    let at = |ms: u64| users_at(&s.stages, Duration::from_millis(ms));
    assert_eq!(
        (at(0), at(1000), at(2000), at(29_000)),
        (0.0, 5.0, 10.0, 10.0)
    );
    assert_eq!(at(30_000), 0.0);
    assert_eq!(
        s.steady_offsets(),
        Some((Duration::from_secs(2), Duration::from_secs(30)))
    );
    // No [slo] file: the set built into the binary; a named file is relative to
    // the scenario.
    assert_eq!(s.slo_file, SloFile::BuiltIn);
    let named = parse(&format!("{GOOD}\n[slo]\nfile = \"../slo/mine.toml\"\n")).unwrap();
    assert_eq!(
        named.slo_file,
        SloFile::Path("scenarios/../slo/mine.toml".into())
    );
    assert!(
        matches!(s.flows[1].native, Some(FlowKind::Plans { poll_interval, .. }) if poll_interval == Duration::from_millis(200))
    );
}

#[test]
fn stages_with_ramp_down_have_a_steady_window() {
    let s = parse(&GOOD.replace(
        "users = 10\nhatch_rate = 5\nduration = \"30s\"",
        "stages = [\n {kind = \"ramp\", users = 10, duration = \"5s\"},\n {kind = \"steady\", users = 10, duration = \"20s\"},\n {kind = \"spike\", users = 30, duration = \"5s\"},\n {kind = \"ramp\", users = 0, duration = \"5s\"},\n]",
    ))
    .unwrap();
    let at = |ms: u64| users_at(&s.stages, Duration::from_millis(ms));
    assert_eq!(at(2500), 5.0, "ramp: linear");
    assert_eq!(at(15_000), 10.0, "steady: held");
    assert_eq!(at(25_000), 30.0, "spike: a jump at its start, not a ramp");
    assert_eq!(at(29_999), 30.0);
    assert_eq!(at(32_500), 15.0, "ramp down from the spike's users");
    assert_eq!(
        s.steady_offsets(),
        Some((Duration::from_secs(5), Duration::from_secs(30)))
    );
    assert_eq!(s.peak_users(), 30);
}

#[test]
fn a_steady_stage_at_other_users_is_refused_with_the_fix() {
    let e = error_of(&GOOD.replace(
        "users = 10\nhatch_rate = 5\nduration = \"30s\"",
        "stages = [\n {kind = \"ramp\", users = 10, duration = \"5s\"},\n {kind = \"steady\", users = 20, duration = \"20s\"},\n]",
    ));
    assert_eq!(e.key.as_deref(), Some("load.stages[1].kind"), "{e}");
    assert!(
        e.message
            .contains("holds the users the previous stage ended with (10)"),
        "{e}"
    );
    assert!(e.fix.as_ref().unwrap().contains("\"spike\""), "{e}");
}

#[test]
fn flows_may_have_their_own_executors() {
    let text = GOOD.replace(
        "[[flows]]\nname = \"plans\"\npoll_interval = \"200ms\"",
        "[[flows]]\nname = \"health\"\nexecutor = \"ramping-arrival-rate\"\nstart = \"5s\"\nstages = [{rate = 50, duration = \"10s\"}, {rate = 50, duration = \"20s\"}]\nmax_users = 20",
    );
    let s = parse(&text).unwrap();
    let Executor::Arrival(plan) = &s.flows[1].executor else {
        panic!("an arrival-rate flow: {:?}", s.flows[1].executor);
    };
    assert_eq!(plan.max_users, 20);
    assert_eq!(
        plan.pre_allocated, 5,
        "a tenth of a second's iterations at the peak"
    );
    // 0 to 50/s over 10 s, then 50/s for 20 s: 250 + 1000.
    assert!((plan.planned() - 1250.0).abs() < 1e-6);
    // The run lasts until the later of [load] (30 s) and the flow (5 s + 30 s).
    assert_eq!(s.duration(), Duration::from_secs(35));
}

#[test]
fn pace_keeps_working_as_a_constant_arrival_rate() {
    let text = GOOD.replace(
        "weight = 2",
        "weight = 2\npace = 4\nmax_start_delay = \"2s\"",
    );
    let s = parse(&text).unwrap();
    let Executor::Arrival(plan) = &s.flows[0].executor else {
        panic!("pace is an arrival rate: {:?}", s.flows[0].executor);
    };
    assert!(plan.shares_load);
    assert_eq!(plan.max_start_delay, Duration::from_secs(2));
    assert!((plan.peak_rate() - 4.0).abs() < 1e-9);
}

fn error_of(text: &str) -> FileError {
    parse(text).unwrap_err()
}

#[test]
fn errors_name_the_line_and_the_fix() {
    let e = error_of(&GOOD.replace("users = 10", "userz = 10"));
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.message.contains("unknown field `userz`"), "{e}");

    let e = error_of(&GOOD.replace("users = 10", "users = -3"));
    assert_eq!(e.line, Some(6), "{e}");

    let e = error_of(&GOOD.replace("duration = \"30s\"", "duration = \"30 parsecs\""));
    assert_eq!(e.line, Some(8), "{e}");
    assert_eq!(e.key.as_deref(), Some("load.duration"));
    assert!(e.fix.as_ref().unwrap().contains("30s"), "{e}");

    let e = error_of(&GOOD.replace("name = \"plans\"", "name = \"yoga\""));
    assert_eq!(e.key.as_deref(), Some("flows[1].name"));
    assert_eq!(e.line, Some(13), "{e}");

    // A parameter of another flow: refused at its key, with the flow's own.
    let e = error_of(&GOOD.replace("poll_interval = \"200ms\"", "abandon_share = 0.5"));
    assert_eq!(e.key.as_deref(), Some("flows[1].abandon_share"), "{e}");
    assert!(
        e.message
            .contains("\"abandon_share\" is not a parameter of the flow \"plans\""),
        "{e}"
    );
    assert!(e.fix.as_ref().unwrap().contains("poll_interval"), "{e}");

    let e = error_of(&GOOD.replace("hatch_rate = 5", "hatch_rate = 0.1"));
    assert_eq!(e.key.as_deref(), Some("load.hatch_rate"), "{e}");

    let e = error_of(&GOOD.replace("[target.embedded]\nllm_latency_p50 = \"100ms\"", "[target]"));
    assert!(e.message.contains("no target"), "{e}");
}

#[test]
fn stage_durations_must_be_whole_seconds() {
    let text = GOOD.replace(
        "users = 10\nhatch_rate = 5\nduration = \"30s\"",
        "stages = [{kind = \"ramp\", users = 10, duration = \"1500ms\"}]",
    );
    let e = error_of(&text);
    assert_eq!(e.key.as_deref(), Some("load.stages[0].duration"), "{e}");
    let text = GOOD.replace(
        "users = 10\nhatch_rate = 5\nduration = \"30s\"",
        "stages = [{kind = \"plateau\", users = 10, duration = \"10s\"}]",
    );
    assert!(
        error_of(&text)
            .fix
            .unwrap()
            .contains("ramp, steady, spike or soak")
    );
}

#[test]
fn a_fixed_token_is_not_kept_in_results() {
    let secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl";
    let text = GOOD.replace(
        "[target.embedded]\nllm_latency_p50 = \"100ms\"",
        &format!("[target]\nurl = \"http://127.0.0.1:4000\"\ntoken = \"{secret}\""),
    );
    let s = parse(&text).unwrap();
    let kept = s.text_for_results();
    assert!(!kept.contains(secret), "{kept}");
    assert!(kept.contains(REDACTED_TOKEN), "{kept}");
    // What is kept still reads as a scenario (merge and report re-read it).
    parse(&kept).unwrap();
    // Without a fixed token the text is kept as written.
    assert_eq!(parse(GOOD).unwrap().text_for_results(), GOOD);
}

/// A scenario's flow files are copied into the run directory, and the run's copy
/// of the scenario reads them there (what `loadgen report` and `merge` do).
#[test]
fn a_run_directory_keeps_the_flow_files_it_ran() {
    let dir = std::env::temp_dir().join(format!("lg-flow-copies-{}", std::process::id()));
    let (scenarios, run) = (dir.join("scenarios"), dir.join("run"));
    std::fs::create_dir_all(scenarios.join("flows")).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    let flow = "name = \"mine\"\n[[steps]]\nname = \"ping\"\npath = \"/ping\"\n";
    std::fs::write(scenarios.join("flows/mine.toml"), flow).unwrap();
    let text = GOOD.replace(
        "name = \"plans\"\npoll_interval = \"200ms\"",
        "file = \"flows/mine.toml\"",
    );
    std::fs::write(scenarios.join("s.toml"), &text).unwrap();
    let s = load(&scenarios.join("s.toml")).unwrap();
    assert_eq!(s.flows[1].name, "mine");
    assert_eq!(s.flows[1].native, None, "a flow file has no Rust twin");
    std::fs::write(run.join("scenario.toml"), &s.text).unwrap();
    flows::write_copies(&run, &s.flows).unwrap();
    assert_eq!(
        std::fs::read_to_string(run.join("flows/1-mine.toml")).unwrap(),
        flow
    );
    // The original is gone: the run's copy is what is read.
    std::fs::remove_dir_all(&scenarios).unwrap();
    let again = parse_run_copy(&run.join("scenario.toml"), &s.text).unwrap();
    assert_eq!(again.flows[1].program, s.flows[1].program);
    assert_eq!(*again.series, *s.series);
    std::fs::remove_dir_all(&dir).unwrap();
}
