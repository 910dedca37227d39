//! One test per precedence rule, for every setting that has all four layers:
//! the flag beats the environment, which beats the scenario file, which beats the
//! default.

use std::path::{Path, PathBuf};

use super::*;

/// A scenario with every layered setting set in the file (`with_file`) or none.
fn scenario(with_file: bool) -> Scenario {
    let text = if with_file {
        r#"name = "s"
[target]
url = "http://127.0.0.1:7000"
token = "file-token"
jaeger_url = "http://127.0.0.1:16686"
[load]
users = 1
duration = "5s"
[[flows]]
name = "health"
[prometheus]
url = "http://127.0.0.1:9099"
[output]
results = "file-results"
"#
    } else {
        r#"name = "s"
[target.embedded]
[load]
users = 1
duration = "5s"
[[flows]]
name = "health"
"#
    };
    crate::scenario::parse(Path::new("scenarios/s.toml"), text).unwrap()
}

fn layer<T>(flag: Option<T>, env: Option<T>) -> Layer<T> {
    Layer { flag, env }
}

fn resolve(inputs: &RunInputs, with_file: bool) -> Settings {
    Settings::resolve(inputs, &scenario(with_file)).unwrap()
}

#[test]
fn results_flag_beats_env_beats_file_beats_default() {
    let mut i = RunInputs {
        results: layer(Some("flag".into()), Some("env".into())),
        ..Default::default()
    };
    assert_eq!(resolve(&i, true).results, PathBuf::from("flag"));
    i.results = layer(None, Some("env".into()));
    assert_eq!(resolve(&i, true).results, PathBuf::from("env"));
    i.results = layer(None, None);
    assert_eq!(resolve(&i, true).results, PathBuf::from("file-results"));
    assert_eq!(resolve(&i, false).results, PathBuf::from(DEFAULT_RESULTS));
}

fn base_url(s: &Settings) -> String {
    match &s.target {
        Target::Url(u) => u.base_url.clone(),
        Target::Embedded(_) => "embedded".into(),
    }
}

#[test]
fn target_flag_beats_env_beats_file_beats_default() {
    let mut i = RunInputs {
        target_url: layer(
            Some("http://127.0.0.1:1".into()),
            Some("http://127.0.0.1:2".into()),
        ),
        ..Default::default()
    };
    assert_eq!(base_url(&resolve(&i, true)), "http://127.0.0.1:1");
    i.target_url = layer(None, Some("http://127.0.0.1:2/".into()));
    let s = resolve(&i, true);
    assert_eq!(base_url(&s), "http://127.0.0.1:2");
    assert_eq!(
        s.tokens,
        Tokens::Endpoint(DEFAULT_TOKEN_PATH.into()),
        "the file's token belongs to the file's target"
    );
    i.target_url = layer(None, None);
    let s = resolve(&i, true);
    assert_eq!(base_url(&s), "http://127.0.0.1:7000");
    assert_eq!(s.tokens, Tokens::Fixed("file-token".into()));
    assert_eq!(base_url(&resolve(&i, false)), "embedded");
}

#[test]
fn prometheus_flag_beats_env_beats_file_beats_default() {
    let flag = "http://127.0.0.1:9001".to_string();
    let env = "http://127.0.0.1:9002".to_string();
    let mut i = RunInputs {
        prometheus: layer(Some(flag.clone()), Some(env.clone())),
        ..Default::default()
    };
    assert_eq!(resolve(&i, true).source, SourcePlan::Prometheus(flag));
    i.prometheus = layer(None, Some(env.clone()));
    assert_eq!(
        resolve(&i, true).source,
        SourcePlan::Prometheus(env.clone())
    );
    // A flag of another kind beats the environment and the file too.
    i.no_prometheus = true;
    assert_eq!(resolve(&i, true).source, SourcePlan::Scrape);
    i.no_prometheus = false;
    i.managed_prometheus = true;
    assert!(matches!(
        resolve(&i, true).source,
        SourcePlan::Managed { .. }
    ));
    i.managed_prometheus = false;
    i.prometheus = layer(None, None);
    assert_eq!(
        resolve(&i, true).source,
        SourcePlan::Prometheus("http://127.0.0.1:9099".into())
    );
    assert_eq!(resolve(&i, false).source, SourcePlan::Scrape);
}

#[test]
fn jaeger_flag_beats_env_beats_file_beats_default() {
    let mut i = RunInputs {
        jaeger_url: layer(
            Some("http://127.0.0.1:1".into()),
            Some("http://127.0.0.1:2".into()),
        ),
        ..Default::default()
    };
    assert_eq!(
        resolve(&i, true).jaeger_url.as_deref(),
        Some("http://127.0.0.1:1")
    );
    i.jaeger_url = layer(None, Some("http://127.0.0.1:2".into()));
    assert_eq!(
        resolve(&i, true).jaeger_url.as_deref(),
        Some("http://127.0.0.1:2")
    );
    i.jaeger_url = layer(None, None);
    assert_eq!(
        resolve(&i, true).jaeger_url.as_deref(),
        Some("http://127.0.0.1:16686")
    );
    assert_eq!(resolve(&i, false).jaeger_url, None);
}

#[test]
fn prometheus_binary_flag_beats_env_beats_default() {
    let mut i = RunInputs {
        managed_prometheus: true,
        prometheus_bin: layer(
            Some("/flag/prometheus".into()),
            Some("/env/prometheus".into()),
        ),
        ..Default::default()
    };
    let binary = |i: &RunInputs| match resolve(i, false).source {
        SourcePlan::Managed { binary } => binary,
        other => panic!("{other:?}"),
    };
    assert_eq!(binary(&i), PathBuf::from("/flag/prometheus"));
    i.prometheus_bin = layer(None, Some("/env/prometheus".into()));
    assert_eq!(binary(&i), PathBuf::from("/env/prometheus"));
    i.prometheus_bin = layer(None, None);
    assert_eq!(binary(&i), PathBuf::from(DEFAULT_PROMETHEUS_BIN));
}

#[test]
fn conflicting_flags_and_bad_urls_are_usage_errors() {
    let i = RunInputs {
        prometheus: layer(Some("http://127.0.0.1:9".into()), None),
        no_prometheus: true,
        ..Default::default()
    };
    assert!(Settings::resolve(&i, &scenario(false)).is_err());
    // The environment's URL does not conflict with a flag: the flag wins.
    let i = RunInputs {
        prometheus: layer(None, Some("http://127.0.0.1:9".into())),
        no_prometheus: true,
        ..Default::default()
    };
    assert_eq!(resolve(&i, false).source, SourcePlan::Scrape);
    let i = RunInputs {
        target_url: layer(Some("ftp://x".into()), None),
        ..Default::default()
    };
    let e = Settings::resolve(&i, &scenario(false)).unwrap_err();
    assert!(e.0.contains("--target-url"), "{e}");
}

#[test]
fn logs_and_span_export_have_their_defaults() {
    assert_eq!(log_filter(None), DEFAULT_LOG);
    assert_eq!(log_filter(Some("debug")), "debug");
    let t = TracingArgs {
        otlp_endpoint: None,
        jaeger_endpoint: Some("http://127.0.0.1:4317".into()),
        trace_sample_ratio: Some("7".into()),
    };
    assert_eq!(
        span_export(&t),
        (
            Some("http://127.0.0.1:4317".into()),
            DEFAULT_TRACE_SAMPLE_RATIO
        )
    );
}
