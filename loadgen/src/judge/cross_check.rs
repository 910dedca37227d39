//! Prometheus against the services' own metrics: where the two disagree beyond
//! the set's tolerance, the verdict and the warnings say so.

use slo::definition::SloKind;
use slo::verdict::{Status, Verdict};

/// Notes where Prometheus and the services' own metrics disagree beyond `tolerance`.
pub fn compare(
    verdicts: &mut [Verdict],
    scraped: &[Verdict],
    tolerance: f64,
    warnings: &mut Vec<String>,
) {
    for v in verdicts.iter_mut() {
        let Some(o) = scraped.iter().find(|o| o.slo == v.slo) else {
            continue;
        };
        let differs = match (v.value, o.value) {
            (Some(a), Some(b)) if v.kind != SloKind::Gauge => (a - b).abs() > tolerance,
            _ => false,
        } || (v.status != o.status
            && v.status != Status::Inconclusive
            && o.status != Status::Inconclusive);
        if differs {
            let message = format!(
                "{}: Prometheus says {} ({}), the services' metrics say {} ({})",
                v.slo, v.display, v.status, o.display, o.status
            );
            slo::evaluate::add_note(v, &message);
            warnings.push(message);
        }
    }
}
