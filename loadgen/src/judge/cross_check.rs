//! Prometheus against the services' own metrics: two sources of the same SLO
//! settled by [`slo::evaluate::reconcile`] (the worse verdict stands when they
//! disagree), every disagreement in the warnings.

use slo::definition::SloSet;
use slo::evaluate::reconcile::{Other, settle};
use slo::verdict::Verdict;

/// Settles each Prometheus verdict with the services' metrics' verdict.
pub fn compare(
    set: &SloSet,
    verdicts: &mut [Verdict],
    scraped: &[Verdict],
    warnings: &mut Vec<String>,
) {
    for v in verdicts.iter_mut() {
        let (Some(o), Some(slo)) = (
            scraped.iter().find(|o| o.slo == v.slo),
            set.slos.iter().find(|s| s.name == v.slo),
        ) else {
            continue;
        };
        let other = Other {
            name: "the services' own metrics",
            status: o.status,
            value: o.value,
            display: &o.display,
        };
        if let Some(message) = settle(v, &other, slo, set.source_tolerance) {
            warnings.push(format!("{}: {message}", v.slo));
        }
    }
}
