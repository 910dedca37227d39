//! `loadgen check` and the command line: bad input is refused with the file, line,
//! key and fix, exit code 2, and nothing starts.

mod common;

use common::*;

const GOOD: &str = r#"
name = "t"
[target.embedded]
[load]
users = 2
duration = "5s"
[[flows]]
name = "health"
[slo]
file = "SLO"
"#;

fn scenario(dir: &TempDir, text: &str) -> String {
    let slo = root().join("slo/athlete-ally.toml");
    dir.write("s.toml", &text.replace("SLO", &slo.display().to_string()))
        .display()
        .to_string()
}

#[test]
fn every_shipped_file_checks() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["scenarios", "scenarios/flows"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                files.push(format!("{dir}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    files.push("slo/athlete-ally.toml".into());
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().map(String::as_str))
        .collect();
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(": ok").count(), files.len(), "{out}");
}

#[test]
fn bad_scenarios_name_the_line_key_and_fix_and_exit_2() {
    let dir = TempDir::new("lg-check");
    let cases = [
        ("users = 2", "userz = 2", "unknown field `userz`", Some(5)),
        ("users = 2", "users = -2", "invalid value", Some(5)),
        ("users = 2", "users = \"two\"", "invalid type", Some(5)),
        (
            "duration = \"5s\"",
            "duration = \"five seconds\"",
            "is not a duration",
            Some(6),
        ),
        ("users = 2", "users = 0", "0 users", Some(5)),
        (
            "name = \"health\"",
            "name = \"yoga\"",
            "is not a shipped flow",
            Some(8),
        ),
        (
            "users = 2\nduration = \"5s\"",
            "stages = [{ kind = \"ramp\", users = 2, duration = \"1.5s\" }]",
            "whole number of seconds",
            Some(5),
        ),
    ];
    for (from, to, message, line) in cases {
        let file = scenario(&dir, &GOOD.replace(from, to));
        let (code, out, err) = run(&["check", &file]);
        assert_eq!(code, 2, "{to}: {out}{err}");
        assert!(err.contains(message), "{to}: {err}");
        if let Some(line) = line {
            assert!(
                err.contains(&format!("s.toml:{line}:")),
                "{to}: expected line {line} in {err}"
            );
        }
        assert!(err.contains("fix:"), "{to}: no fix in {err}");
    }
}

#[test]
fn a_bad_slo_file_is_refused_with_its_line() {
    let dir = TempDir::new("lg-check-slo");
    let text = std::fs::read_to_string(root().join("slo/athlete-ally.toml"))
        .unwrap()
        .replace("objective = \">= 0.80\"", "objective = \"at least 80%\"");
    let file = dir.write("slo.toml", &text);
    let (code, _, err) = run(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("slo[0].objective"), "{err}");
    assert!(err.contains("fix:"), "{err}");
}

#[test]
fn run_refuses_bad_input_before_starting_anything() {
    let dir = TempDir::new("lg-run-bad");
    let file = scenario(&dir, &GOOD.replace("users = 2", "users = \"many\""));
    let results = dir.path().join("results");
    let (code, _, err) = run(&["run", &file, "--results", results.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(!results.exists(), "nothing was started or written");
    let (code, _, err) = run(&["run", "no/such/scenario.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the file"), "{err}");
    let (code, _, _) = run(&["run"]);
    assert_eq!(code, 2, "usage error");
    let good = scenario(&dir, GOOD);
    let (code, _, err) = run(&[
        "run",
        &good,
        "--baseline",
        "no/such/run",
        "--results",
        results.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("baseline"), "{err}");
    assert!(!results.exists());
}

#[test]
fn help_documents_the_exit_codes() {
    let (code, out, _) = run(&["run", "--help"]);
    assert_eq!(code, 0);
    for line in [
        "0  every SLO passed",
        "1  an SLO failed",
        "2  bad input",
        "3  inconclusive",
    ] {
        assert!(out.contains(line), "{out}");
    }
}

#[test]
fn rules_in_monitoring_are_generated_from_the_slo_file() {
    let (code, out, err) = run(&[
        "rules",
        "slo/athlete-ally.toml",
        "--check",
        "monitoring/rules/athlete-ally.rules.yml",
        "--tests",
        "monitoring/rules/athlete-ally.budget.test.yml",
    ]);
    assert_eq!(
        code, 0,
        "regenerate with `loadgen rules slo/athlete-ally.toml --out monitoring/rules/athlete-ally.rules.yml --tests monitoring/rules/athlete-ally.budget.test.yml`: {out}{err}"
    );
    assert_eq!(out.matches("up to date").count(), 2, "{out}");
    let dir = TempDir::new("lg-rules");
    let stale = dir.write("stale.yml", "groups: []\n");
    let (code, _, err) = run(&[
        "rules",
        "slo/athlete-ally.toml",
        "--check",
        stale.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("differs"), "{err}");
    let (code, _, err) = run(&["rules", "--tests", stale.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tests needs --out or --check"), "{err}");
}

#[test]
fn the_default_slo_set_is_built_in_and_works_from_any_directory() {
    let dir = TempDir::new("lg-anywhere");
    let scenario = dir.write("s.toml", &GOOD.replace("[slo]\nfile = \"SLO\"\n", ""));
    let in_dir = |args: &[&str]| {
        let o = loadgen()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = in_dir(&["check", scenario.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("SLOs of slo/athlete-ally.toml (built in)"),
        "{out}"
    );
    let (code, out, err) = in_dir(&["rules"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("- alert: ApiErrorRateBudgetBurnPage"), "{out}");
    let (code, out, err) = in_dir(&[
        "rules",
        "--check",
        root()
            .join("monitoring/rules/athlete-ally.rules.yml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // A file on the command line still wins.
    let mine = dir.write("mine.toml", "name = \"x\"\n");
    let (code, _, err) = in_dir(&["rules", mine.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mine.toml"), "{err}");
}

#[test]
fn help_lists_every_environment_variable_a_command_reads() {
    let (_, out, _) = run(&["run", "--help"]);
    let help = out.replace('\n', " ").replace("  ", " ");
    for var in [
        "LOADGEN_LOG",
        "LOADGEN_RESULTS",
        "LOADGEN_PUSHGATEWAY_URL",
        "NATS_MONITORING_URL",
        "LOADGEN_TARGET_URL",
        "PROMETHEUS_URL",
        "PROMETHEUS_BIN",
        "JAEGER_UI_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "JAEGER_ENDPOINT",
        "OTEL_TRACES_SAMPLER_ARG",
    ] {
        assert!(help.contains(var), "run --help lacks {var}");
    }
    let (_, out, _) = run(&["services", "--help"]);
    for var in ["GATEWAY_BFF_PORT", "NATS_URL", "AUTH_SECRET", "FAULTS_FILE"] {
        assert!(out.contains(var), "services --help lacks {var}");
    }
    let (_, out, _) = run(&["verify", "--help"]);
    assert!(out.contains("PROMETHEUS_URL"), "{out}");
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    let (code, bash, err) = run(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    // bash itself loads the script and registers the completion.
    let dir = TempDir::new("lg-shell");
    let script = dir.write("loadgen.bash", &bash);
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p loadgen",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("loadgen"));
    for sub in ["run", "verify", "preflight", "rules", "merge"] {
        assert!(
            bash.contains(sub),
            "{sub} missing from the bash completions"
        );
    }
    let (_, zsh, _) = run(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef loadgen"), "{zsh}");
    let (_, fish, _) = run(&["completions", "fish"]);
    assert!(fish.contains("complete -c loadgen"), "{fish}");
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");

    let (code, page, err) = run(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH loadgen 1"), "{page}");
    assert!(page.contains("preflight"), "{page}");
    let (code, _, err) = run(&["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let run_page = std::fs::read_to_string(dir.path().join("loadgen-run.1")).unwrap();
    assert!(run_page.contains("LOADGEN_PUSHGATEWAY_URL"), "{run_page}");
    assert!(run_page.contains("no\\-preflight"), "{run_page}");
}

#[test]
fn slo_sets_convert_between_the_three_formats_and_each_is_accepted_everywhere() {
    let dir = TempDir::new("lg-convert");
    let in_dir = |args: &[&str]| {
        let o = loadgen()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = in_dir(&["slo", "convert", "--to", "openslo", "-o", "a.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("10 SLOs written as openslo"), "{out}");
    // Sloth holds no gauge SLO: refused unless the user agrees to leave them out.
    let (code, _, err) = in_dir(&["slo", "convert", "a.yaml", "--to", "sloth"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--skip-gauges"), "{err}");
    let (code, out, err) = in_dir(&[
        "slo",
        "convert",
        "a.yaml",
        "--to",
        "sloth",
        "--skip-gauges",
        "-o",
        "s.yaml",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("7 SLOs written as sloth"), "{out}");
    assert!(err.contains("service_up"), "{err}");
    let (code, out, err) = in_dir(&["slo", "convert", "s.yaml", "--to", "toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kind = \"latency\""), "{out}");
    let (code, out, err) = in_dir(&["check", "a.yaml", "s.yaml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("openslo") && out.contains("sloth"), "{out}");
    let (code, out, err) = in_dir(&["rules", "s.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("BudgetBurnPage"), "{out}");
    let scenario = dir.write("sc.toml", &GOOD.replace("SLO", "a.yaml"));
    let (code, out, err) = in_dir(&["check", scenario.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    // A bad objective is refused with the YAML's own line and the fix.
    let bad = std::fs::read_to_string(dir.path().join("s.yaml"))
        .unwrap()
        .replacen("objective: 99", "objective: 199", 1);
    let line = bad
        .lines()
        .position(|l| l.contains("objective: 199"))
        .unwrap()
        + 1;
    dir.write("bad.yaml", &bad);
    let (code, _, err) = in_dir(&["check", "bad.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("bad.yaml:{line}")), "{err}");
    assert!(err.contains("percent"), "{err}");
}
