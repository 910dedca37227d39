//! `junit.xml`: one test case per SLO (and window), for CI systems that show tests.
//!
//! - pass: a plain test case, with the value, objective and source in `system-out`;
//! - fail: a `<failure type="slo_breach">` whose message has the value, objective,
//!   source and sample count;
//! - inconclusive: an `<error type="inconclusive">` (the SLO could not be judged:
//!   not a breach, not a pass); CI systems count it as an error, which matches exit
//!   code 3.
//!
//! A run's file opens with a `run_integrity` test case: an `<error type="invalid">`
//! when the load did not happen as planned (then no verdict passes). A failed or
//! inconclusive case's message ends with the SLO's one-line evidence (the failing
//! requests, the funnel, the share within the threshold) and when it went bad.

use slo::verdict::{Status, Verdict, Verdicts};

use crate::evidence::Lines;
use crate::summary::Integrity;

/// Escapes text for XML attributes and content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            // Not characters in XML 1.0: a parser rejects the whole file.
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn describe(v: &Verdict, evidence: Option<&String>) -> String {
    let mut text = format!(
        "{}: {} (objective {}, source {}, {} samples, {}{})",
        v.slo,
        v.display,
        v.objective,
        v.source,
        v.samples,
        if v.exact { "exact" } else { "estimated" },
        v.burn_rate
            .or(v.budget_consumed)
            .map(|b| format!(", error budget burnt at {b:.2}x"))
            .unwrap_or_default()
    );
    if let (Some((lo, hi)), Some(c)) = (v.bounds, v.confidence) {
        text.push_str(&format!(
            "; {:.0}% bounds {:.3}%-{:.3}%",
            c * 100.0,
            lo * 100.0,
            hi * 100.0
        ));
    }
    if let Some(note) = &v.note {
        text.push_str(&format!("; {note}"));
    }
    if let Some(line) = evidence.filter(|_| v.status != Status::Pass) {
        text.push_str(&format!("; evidence: {line}"));
    }
    text
}

fn suite(name: &str, verdicts: &[Verdict], evidence: &Lines) -> String {
    let failures = verdicts.iter().filter(|v| v.status == Status::Fail).count();
    let errors = verdicts
        .iter()
        .filter(|v| v.status == Status::Inconclusive)
        .count();
    let mut out = format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">\n",
        xml_escape(name),
        verdicts.len()
    );
    for v in verdicts {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">\n",
            xml_escape(name),
            xml_escape(&v.slo)
        ));
        let text = xml_escape(&describe(v, evidence.get(&v.slo)));
        match v.status {
            Status::Fail => out.push_str(&format!(
                "      <failure type=\"slo_breach\" message=\"{text}\">{text}</failure>\n"
            )),
            Status::Inconclusive => out.push_str(&format!(
                "      <error type=\"inconclusive\" message=\"{text}\">{text}</error>\n"
            )),
            Status::Pass => {}
        }
        out.push_str(&format!(
            "      <system-out>{text}</system-out>\n    </testcase>\n"
        ));
    }
    out.push_str("  </testsuite>\n");
    out
}

/// The JUnit XML of a window's verdicts.
pub fn render(verdicts: &Verdicts, name: &str) -> String {
    render_run(verdicts, name, None, &Lines::new())
}

/// The `run_integrity` suite: one case, an error when the run is invalid.
fn integrity_suite(name: &str, i: &Integrity) -> String {
    let text = xml_escape(&if i.valid {
        "the load ran as planned".to_string()
    } else {
        format!(
            "invalid run, no verdict can pass: {}",
            i.problems.join("; ")
        )
    });
    let error = if i.valid {
        String::new()
    } else {
        format!("      <error type=\"invalid\" message=\"{text}\">{text}</error>\n")
    };
    format!(
        "  <testsuite name=\"{n}.run\" tests=\"1\" failures=\"0\" errors=\"{}\" skipped=\"0\">\n    <testcase classname=\"{n}.run\" name=\"run_integrity\" time=\"0\">\n{error}      <system-out>{text}</system-out>\n    </testcase>\n  </testsuite>\n",
        u8::from(!i.valid),
        n = xml_escape(name),
    )
}

/// The alert replay as one passing test case whose name says whether the run would
/// have paged (the verdicts, not the alerts, decide the exit code).
fn alerts_suite(name: &str, replay: &slo::rules::replay::Replay, start_ms: u64) -> String {
    let case = if replay.would_page() {
        "alert_replay: would have paged"
    } else {
        "alert_replay: would not have paged"
    };
    format!(
        "  <testsuite name=\"{n}.alerts\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\">\n    <testcase classname=\"{n}.alerts\" name=\"{case}\" time=\"0\">\n      <system-out>{}</system-out>\n    </testcase>\n  </testsuite>\n",
        xml_escape(&replay.headline(start_ms)),
        n = xml_escape(name),
    )
}

/// The JUnit XML of a run: its integrity first, then its verdicts (with their
/// evidence) and the alert replay.
pub fn render_run(
    verdicts: &Verdicts,
    name: &str,
    integrity: Option<&Integrity>,
    evidence: &Lines,
) -> String {
    let all: Vec<&Verdict> = verdicts.all().collect();
    let failures = all.iter().filter(|v| v.status == Status::Fail).count();
    let invalid = integrity.is_some_and(|i| !i.valid);
    let errors = all
        .iter()
        .filter(|v| v.status == Status::Inconclusive)
        .count()
        + usize::from(invalid);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{} SLOs\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
        xml_escape(name),
        all.len() + usize::from(integrity.is_some()) + usize::from(verdicts.alerts.is_some())
    );
    if let Some(i) = integrity {
        out.push_str(&integrity_suite(name, i));
    }
    out.push_str(&suite(
        &format!("{name}.slo.whole_run"),
        &verdicts.whole,
        evidence,
    ));
    if let Some(steady) = &verdicts.steady {
        out.push_str(&suite(
            &format!("{name}.slo.steady_window"),
            steady,
            evidence,
        ));
    }
    if let Some(replay) = &verdicts.alerts {
        out.push_str(&alerts_suite(name, replay, verdicts.whole_window.start_ms));
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use slo::verdict::{Source, Window, WindowKind};

    #[test]
    fn xml_escape_leaves_only_xml_characters() {
        let text = xml_escape("a\u{FFFE}b\u{FFFF}c\u{0}d<&>\"'");
        assert_eq!(text, "a\u{FFFD}b\u{FFFD}c d&lt;&amp;&gt;&quot;&apos;");
    }

    pub(crate) fn verdict(name: &str, status: Status) -> Verdict {
        Verdict {
            slo: name.into(),
            description: name.into(),
            area: "performance".into(),
            kind: slo::definition::SloKind::Ratio,
            window: WindowKind::Whole,
            status,
            value: Some(0.02),
            display: "2% (20/1000)".into(),
            objective: "< 1%".into(),
            source: Source::Prometheus,
            samples: 1000,
            exact: true,
            budget_consumed: Some(2.0),
            burn_rate: Some(2.0),
            bounds: None,
            confidence: None,
            events_needed: None,
            edges: None,
            resets: 0,
            note: Some("<b>note</b>".into()),
            details: vec![],
            client: None,
            query: None,
            client_side: None,
        }
    }

    #[test]
    fn one_case_per_slo_with_failures_and_errors() {
        let v = Verdicts {
            source: Source::Prometheus,
            slo_set: "s".into(),
            whole: vec![
                verdict("a", Status::Pass),
                verdict("b", Status::Fail),
                verdict("c", Status::Inconclusive),
            ],
            steady: None,
            whole_window: Window {
                start_ms: 0,
                end_ms: 1,
            },
            steady_window: None,
            evaluation_ms: 1.0,
            warnings: vec![],
            alerts: None,
            cross_check: None,
            server_funnel: Vec::new(),
            clock: None,
        };
        let xml = render(&v, "smoke");
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert!(xml.contains("tests=\"3\" failures=\"1\" errors=\"1\""));
        assert!(xml.contains("<failure type=\"slo_breach\" message=\"b: 2% (20/1000) (objective &lt; 1%, source prometheus, 1000 samples, exact, error budget burnt at 2.00x)"));
        assert!(xml.contains("<error type=\"inconclusive\""));
        assert!(!xml.contains("<b>"), "escaped");
    }
}
