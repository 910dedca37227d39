//! The three formats read and written: round trips of the Athlete Ally set, real
//! OpenSLO and Sloth files, and their errors with line and fix.

use std::path::{Path, PathBuf};

use super::*;
use std::time::Duration;

use crate::definition::{QueryCounts, parse};
use crate::toml_file;

const BUILT_IN: &str = include_str!("../../../slo/athlete-ally.toml");
const OPENSLO: &str = include_str!("../definition/testdata/openslo-checkout.yaml");
const SLOTH: &str = include_str!("../definition/testdata/sloth-myservice.yaml");

fn athlete_ally() -> SloSet {
    parse(Path::new("athlete-ally.toml"), BUILT_IN).unwrap()
}

fn reread(set: &SloSet, format: Format, name: &str) -> SloSet {
    let (text, _) = write(set, format).unwrap();
    assert_eq!(Format::detect(&text), format, "{text}");
    let mut back = parse(Path::new(name), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    back.path = PathBuf::from("athlete-ally.toml");
    back
}

#[test]
fn every_format_gives_the_same_set_back() {
    let set = athlete_ally();
    assert_eq!(reread(&set, Format::Toml, "a.toml"), set);
    assert_eq!(reread(&set, Format::OpenSlo, "a.yaml"), set);
    let (_, left_out) = write(&set, Format::Sloth).unwrap();
    assert_eq!(
        left_out,
        ["service_up", "memory_per_service", "cpu_per_service"]
    );
    let mut events_only = set.clone();
    events_only
        .slos
        .retain(|s| !matches!(s.kind, Kind::Gauge(_)));
    assert_eq!(reread(&set, Format::Sloth, "a.yaml"), events_only);
}

#[test]
fn query_slos_survive_the_round_trip() {
    let set = parse(Path::new("sloth.yaml"), SLOTH).unwrap();
    assert_eq!(reread(&set, Format::Toml, "q.toml").slos, set.slos);
    assert_eq!(reread(&set, Format::OpenSlo, "q.yaml").slos, set.slos);
    assert_eq!(reread(&set, Format::Sloth, "q.yaml").slos, set.slos);
}

#[test]
fn an_openslo_file_reads_exactly_where_it_can() {
    let set = parse(Path::new("checkout.yaml"), OPENSLO).unwrap();
    assert_eq!(set.name, "checkout");
    assert_eq!(set.description, "The checkout API");
    let [availability, latency] = &set.slos[..] else {
        panic!("{:?}", set.slos)
    };
    assert_eq!(availability.name, "checkout_availability");
    assert_eq!(availability.period, Duration::from_secs(28 * 86_400));
    let Kind::Query(q) = &availability.kind else {
        panic!("{:?}", availability.kind)
    };
    assert!(q.numerator_is_bad);
    assert_eq!(
        q.numerator.template,
        r#"sum(increase(http_requests_total{service="checkout",code=~"5.."}[{{.window}}]))"#
    );
    assert!(q.why.contains("regular-expression"), "{}", q.why);
    assert_eq!(availability.objective_text(), "<= 0.5%");
    let Kind::Latency(l) = &latency.kind else {
        panic!("{:?}", latency.kind)
    };
    assert_eq!(
        l.histogram.to_string(),
        r#"http_request_duration_seconds{service="checkout"}"#
    );
    assert_eq!((l.quantile, l.threshold_seconds), (0.9, 0.5));
}

#[test]
fn a_sloth_file_reads_exactly_where_it_can() {
    let set = parse(Path::new("myservice.yaml"), SLOTH).unwrap();
    assert_eq!(set.name, "myservice");
    let [availability, latency] = &set.slos[..] else {
        panic!("{:?}", set.slos)
    };
    assert_eq!(availability.name, "requests_availability");
    assert_eq!(
        availability.runbook.as_deref(),
        Some("https://runbooks.example/myservice/errors")
    );
    let Kind::Query(q) = &availability.kind else {
        panic!("{:?}", availability.kind)
    };
    assert_eq!(q.numerator.counts, QueryCounts::Rate);
    assert_eq!(q.objective.value, 0.001);
    let Kind::Latency(l) = &latency.kind else {
        panic!("{:?}", latency.kind)
    };
    assert_eq!((l.quantile, l.threshold_seconds), (0.99, 0.3));
}

/// Replaces `from` by `to` in `text` (which must hold it) and reads the result.
fn error(name: &str, text: &str, from: &str, to: &str) -> toml_file::FileError {
    assert!(text.contains(from), "{from}");
    parse(Path::new(name), &text.replacen(from, to, 1)).unwrap_err()
}

#[test]
fn sloth_errors_name_the_line_and_the_fix() {
    let line_of = |needle: &str| SLOTH.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let cases = [
        (
            "objective: 99.9",
            "objective: 120",
            line_of("objective: 99.9"),
            "in percent",
        ),
        (
            "    sli:\n      events:\n        error_query: sum(rate(http_request_duration_seconds_count{job=\"myservice\",code",
            "    sli:\n      raw:\n        error_ratio_query: x\n      xevents:\n        error_query: sum(rate(http_request_duration_seconds_count{job=\"myservice\",code",
            line_of("      events:") + 2,
            "remove or rename",
        ),
        (
            "[{{.window}}]))\n        total_query",
            "[5m]))\n        total_query",
            line_of("      events:"),
            "{{.window}}",
        ),
        (
            "      category: availability",
            "      loadgen_min_sample: \"3\"",
            line_of("requests-availability"),
            "loadgen_min_samples",
        ),
        (
            "      category: availability",
            "      loadgen_severity: loud",
            line_of("requests-availability"),
            "critical",
        ),
        (
            "version: \"prometheus/v1\"",
            "version: \"prometheus/v2\"",
            2,
            "prometheus/v1",
        ),
    ];
    for (from, to, line, fix) in cases {
        let e = error("s.yaml", SLOTH, from, to);
        assert_eq!(e.line, Some(line), "{to}: {e}");
        assert!(e.fix.as_deref().unwrap_or("").contains(fix), "{to}: {e}");
        assert!(e.to_string().starts_with(&format!("s.yaml:{line}")), "{e}");
    }
}

#[test]
fn openslo_errors_name_the_line_and_the_fix() {
    let line_of = |needle: &str| OPENSLO.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let cases = [
        (
            "budgetingMethod: Occurrences\n  objectives:\n    - displayName",
            "budgetingMethod: Timeslices\n  objectives:\n    - displayName",
            line_of("budgetingMethod"),
            "Occurrences",
        ),
        (
            "indicatorRef: checkout-errors",
            "indicatorRef: nowhere",
            line_of("indicatorRef"),
            "inline",
        ),
        (
            "      target: 0.995",
            "      target: 0.995\n    - target: 0.99",
            line_of("displayName: Good"),
            "one objective",
        ),
        (
            "  displayName: Checkout availability",
            "  displayName: Checkout availability\n  annotations:\n    loadgen/min-sample: \"3\"",
            line_of("name: checkout-availability"),
            "loadgen/min_samples",
        ),
        (
            "apiVersion: openslo/v1\nkind: SLI",
            "apiVersion: openslo/v1alpha\nkind: SLI",
            line_of("kind: SLI") - 1,
            "openslo/v1",
        ),
        (
            "    - duration: 28d",
            "    - duratoin: 28d",
            line_of("duration: 28d"),
            "remove or rename",
        ),
    ];
    for (from, to, line, fix) in cases {
        let e = error("o.yaml", OPENSLO, from, to);
        assert_eq!(e.line, Some(line), "{to}: {e}");
        assert!(e.fix.as_deref().unwrap_or("").contains(fix), "{to}: {e}");
    }
}

#[test]
fn the_set_checks_point_into_the_yaml() {
    // A confidence out of range is found by the checks of every format.
    let text = SLOTH.replacen(
        "      category: availability",
        "      loadgen_confidence: \"2\"",
        1,
    );
    let e = parse(Path::new("s.yaml"), &text).unwrap_err();
    let line = SLOTH
        .lines()
        .position(|l| l.contains("requests-availability"))
        .unwrap()
        + 1;
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.key.as_deref(), Some("slos[0].labels"), "{e}");
    assert!(e.fix.unwrap().contains("0.95"));
}

#[test]
fn a_yaml_file_of_another_kind_is_refused_with_the_fix() {
    let e = parse(Path::new("x.yaml"), "groups: []\n").unwrap_err();
    assert!(e.fix.unwrap().contains("openslo/v1"), "{}", e.message);
}
