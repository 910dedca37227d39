use std::path::Path;

use super::*;

const SET: &str = r#"
name = "t"
services = ["gateway-bff"]
[[slo]]
name = "api_error_rate"
kind = "ratio"
bad = ['api_errors_total{job="gateway-bff"}']
total = ['api_requests_total{job="gateway-bff"}']
objective = "< 0.01"
[[slo]]
name = "api_p95"
kind = "latency"
histogram = 'api_response_time_seconds{job="gateway-bff"}'
quantile = 0.95
threshold_seconds = 2
[[slo]]
name = "memory"
kind = "gauge"
metric = "process_resident_memory_bytes"
aggregation = "max_over_time"
objective = "< 1e9"
unit = "bytes"
"#;

#[test]
fn parses_the_three_kinds() {
    let set = parse(Path::new("s.toml"), SET).unwrap();
    assert_eq!(set.slos.len(), 3);
    assert_eq!(set.slos[0].objective_text(), "< 1%");
    assert_eq!(set.slos[1].objective_text(), "p95 <= 2 s");
    assert_eq!(set.slos[2].objective_text(), "< 1000 MB");
    assert_eq!(set.slos[0].min_samples, 20);
    assert!(matches!(
        set.slos[0].kind,
        Kind::Ratio(Ratio {
            numerator_is_bad: true,
            ..
        })
    ));
}

#[test]
fn objectives_parse_and_hold() {
    let o = Objective::parse(">= 0.80").unwrap();
    assert!(o.holds(0.8) && !o.holds(0.79));
    assert!(Objective::parse("< 1e9").unwrap().holds(5e8));
    assert!(Objective::parse("== 1").unwrap().holds(1.0));
    assert!(Objective::parse("about 3").is_err());
    assert!(Objective::parse(">= x").is_err());
}

#[test]
fn errors_point_at_the_slo_and_key() {
    let e = parse(
        Path::new("s.toml"),
        &SET.replace("quantile = 0.95", "quantile = 95"),
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("slo[1].quantile"));
    assert_eq!(e.line, Some(14), "{e}");
    let e = parse(
        Path::new("s.toml"),
        &SET.replace("kind = \"gauge\"", "kind = \"vibe\""),
    )
    .unwrap_err();
    assert!(
        e.fix
            .as_ref()
            .unwrap()
            .contains("ratio, latency, gauge or query"),
        "{e}"
    );
    let e = parse(
        Path::new("s.toml"),
        &SET.replace("objective = \"< 0.01\"", "objective = \"less than 1%\""),
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("slo[0].objective"));
    let e = parse(
        Path::new("s.toml"),
        &SET.replace(
            "histogram = 'api_response_time_seconds{",
            "histogram = 'api_response_time_seconds_bucket{",
        ),
    )
    .unwrap_err();
    assert!(e.message.contains("base name"), "{e}");
    let e = parse(
        Path::new("s.toml"),
        &SET.replace("name = \"memory\"", "name = \"api_p95\""),
    )
    .unwrap_err();
    assert!(e.message.contains("defined twice"), "{e}");
}

#[test]
fn the_period_defaults_to_30_days_and_must_be_a_day_or_more() {
    let set = parse(Path::new("s.toml"), SET).unwrap();
    assert!(set.slos.iter().all(|s| s.period.as_secs() == 30 * 86_400));
    let weekly = SET.replace(
        "objective = \"< 0.01\"",
        "objective = \"< 0.01\"\nperiod = \"7d\"",
    );
    let set = parse(Path::new("s.toml"), &weekly).unwrap();
    assert_eq!(set.slos[0].period.as_secs(), 7 * 86_400);
    let hourly = SET.replace(
        "objective = \"< 0.01\"",
        "objective = \"< 0.01\"\nperiod = \"1h\"",
    );
    let e = parse(Path::new("s.toml"), &hourly).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("slo[0].period"), "{e}");
    assert!(e.fix.as_ref().unwrap().contains("at least 1d"), "{e}");
}

const QUERY_SET: &str = r#"
name = "q"
[[slo]]
name = "availability"
kind = "query"
bad_query = 'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))'
total_query = 'sum(rate(http_requests_total[{{.window}}]))'
objective = "<= 0.001"
"#;

#[test]
fn query_slos_hold_promql_and_say_why_exact_judging_cannot_read_it() {
    let set = parse(Path::new("q.toml"), QUERY_SET).unwrap();
    let Kind::Query(q) = &set.slos[0].kind else {
        panic!("{:?}", set.slos[0].kind)
    };
    assert!(q.numerator_is_bad);
    assert_eq!(q.numerator.counts, QueryCounts::Rate);
    assert!(q.why.contains("regular-expression"), "{}", q.why);
    assert_eq!(set.slos[0].objective_text(), "<= 0.1%");
    assert_eq!(set.slos[0].allowed_bad_share(), Some(0.001));
}

#[test]
fn query_slos_are_refused_with_the_line_and_the_fix() {
    for (from, to, key, line, fix) in [
        (
            "[{{.window}}]))'\ntotal",
            "[5m]))'\ntotal",
            "slo[0].bad_query",
            6,
            "{{.window}}",
        ),
        (
            "sum(rate(http_requests_total[",
            "sum(increase(http_requests_total[",
            "slo[0].total_query",
            7,
            "both with rate",
        ),
        (
            "objective",
            "client = \"api_errors\"\nobjective",
            "slo[0].client",
            8,
            "remove it",
        ),
        (
            "bad_query",
            "good = [\"x\"]\nbad_query",
            "slo[0].good",
            6,
            "remove it",
        ),
    ] {
        let text = QUERY_SET.replacen(from, to, 1);
        let e = parse(Path::new("q.toml"), &text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.fix.as_deref().unwrap_or("").contains(fix), "{e}");
    }
}
