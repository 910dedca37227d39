//! The client's own view: what the load generator measured, by the client
//! measurement an SLO names (`client = "api_latency"`, ...).
//!
//! This crate does not know how a measurement is made: the load generator fills
//! [`ClientData`] with each SLO's [`Measurement`] (as its measure, flow and
//! requests say), and the verifier judges each the same way as the server's value. Client latencies
//! come from HDR histograms (3 significant digits), so a share at or under a
//! threshold is estimated to within 0.1% of the threshold.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// One measurement of the client.
#[derive(Debug, Clone)]
pub enum Measurement {
    /// `part` events of `total` (bad or good, as the SLO's ratio counts them).
    Ratio {
        /// The events the SLO's numerator counts.
        part: u64,
        /// All events.
        total: u64,
    },
    /// Times of events that succeeded, in microseconds, and the ages of events
    /// that failed or were still unfinished when the run ended. A failure is
    /// never a good event: one that took longer than the threshold counts as
    /// late, a fast one not at all (a fast 503 says nothing of how fast the
    /// service answers, and must not pull the share within the threshold up).
    Latency {
        /// Times of events that succeeded.
        finished: Histogram<u64>,
        /// Ages of failed and unfinished events.
        unfinished: Option<Histogram<u64>>,
    },
}

/// What the load generator measured over a window, per SLO: each SLO's client
/// measurement as the load generator found it (by the SLO's measure, flow and
/// requests), the flow it read, or why it found nothing.
#[derive(Debug, Clone, Default)]
pub struct ClientData {
    measures: BTreeMap<String, Measured>,
}

/// One SLO's client measurement.
#[derive(Debug, Clone)]
enum Measured {
    /// Found, in this flow (when it reads one).
    Found(Measurement, Option<String>),
    /// Nothing in the run measures it, for this reason.
    Missing(String),
}

/// One client measurement: the value judged the same way as the server's, how many
/// events it covers, and how to show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientValue {
    /// A ratio, or the share within a latency threshold.
    pub value: f64,
    /// Events behind it.
    pub samples: u64,
    /// The events counted (`k` of `samples`), for the confidence bounds.
    pub part: u64,
    /// As people read it.
    pub display: String,
}

/// A share of events, shown as `12.50% (5/40)`.
fn ratio(part: u64, total: u64) -> Option<ClientValue> {
    (total > 0).then(|| {
        let value = part as f64 / total as f64;
        ClientValue {
            value,
            samples: total,
            part,
            display: format!("{:.2}% ({part}/{total})", value * 100.0),
        }
    })
}

/// The share of events within `threshold` seconds, with the p95 of the ones that
/// succeeded; failed and unfinished events older than the threshold count as late.
fn latency(
    finished: &Histogram<u64>,
    unfinished: Option<&Histogram<u64>>,
    threshold: Option<f64>,
) -> Option<ClientValue> {
    let t = threshold?;
    let micros = (t * 1e6).round() as u64;
    let within = if finished.is_empty() {
        0
    } else {
        finished.count_between(0, micros)
    };
    let late_open = unfinished
        .filter(|h| !h.is_empty())
        .map(|h| h.len() - h.count_between(0, micros))
        .unwrap_or(0);
    let samples = finished.len() + late_open;
    if samples == 0 {
        return None;
    }
    let value = within as f64 / samples as f64;
    let open = if late_open > 0 {
        format!(", {late_open} failed or unfinished past {t} s")
    } else {
        String::new()
    };
    Some(ClientValue {
        value,
        samples,
        part: within,
        display: format!(
            "{:.2}% <= {t} s (p95 {:.3} s{open})",
            value * 100.0,
            finished.value_at_quantile(0.95) as f64 / 1e6
        ),
    })
}

impl ClientData {
    /// Records what the client measured for the SLO named `slo`, from `flow`
    /// (when it reads one flow).
    pub fn insert(&mut self, slo: &str, value: Measurement, flow: Option<String>) {
        self.measures
            .insert(slo.to_string(), Measured::Found(value, flow));
    }

    /// Records that nothing in the run measures the SLO named `slo`, and why.
    pub fn missing(&mut self, slo: &str, why: String) {
        self.measures
            .insert(slo.to_string(), Measured::Missing(why));
    }

    /// The SLO's measurement, judged like the server's value (latency ones with
    /// the SLO's threshold). `None` when the client saw no such events.
    pub fn measure(&self, slo: &str, threshold_seconds: Option<f64>) -> Option<ClientValue> {
        match self.measures.get(slo)? {
            Measured::Found(Measurement::Ratio { part, total }, _) => ratio(*part, *total),
            Measured::Found(
                Measurement::Latency {
                    finished,
                    unfinished,
                },
                _,
            ) => latency(finished, unfinished.as_ref(), threshold_seconds),
            Measured::Missing(_) => None,
        }
    }

    /// The flow the SLO's measurement read, when it read one.
    pub fn flow(&self, slo: &str) -> Option<&str> {
        match self.measures.get(slo)? {
            Measured::Found(_, flow) => flow.as_deref(),
            Measured::Missing(_) => None,
        }
    }

    /// Why the client has no measurement of the SLO, when it was looked for and
    /// nothing in the run measures it.
    pub fn why_missing(&self, slo: &str) -> Option<&str> {
        match self.measures.get(slo)? {
            Measured::Missing(why) => Some(why),
            Measured::Found(..) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for ms in 1..=100u64 {
            h.record(ms * 30_000).unwrap(); // 30 ms .. 3 s
        }
        let mut data = ClientData::default();
        let ratio = |part, total| Measurement::Ratio { part, total };
        data.insert("errors", ratio(3, 200), None);
        let latency = Measurement::Latency {
            finished: h,
            unfinished: None,
        };
        data.insert("latency", latency, None);
        data.insert("completion", ratio(8, 10), Some("signup".into()));
        data.missing("plans", "no flow declares a job".into());
        let e = data.measure("errors", None).unwrap();
        assert_eq!((e.value, e.samples), (0.015, 200));
        let l = data.measure("latency", Some(2.0)).unwrap();
        assert!((l.value - 0.66).abs() < 0.011, "{l:?}");
        // Failures are never within the threshold: a fast one does not count,
        // a slow one is late.
        let mut ok = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        ok.record(1_000).unwrap();
        let mut failed = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        failed.record_n(1_000, 5).unwrap();
        failed.record(30_000_000).unwrap();
        let m = Measurement::Latency {
            finished: ok,
            unfinished: Some(failed),
        };
        data.insert("latency", m, None);
        let l = data.measure("latency", Some(2.0)).unwrap();
        assert_eq!((l.part, l.samples), (1, 2), "{l:?}");
        assert_eq!(data.measure("completion", None).unwrap().value, 0.8);
        assert_eq!(data.flow("completion"), Some("signup"));
        assert!(data.measure("plans", None).is_none(), "no plans, no value");
        assert_eq!(data.why_missing("plans"), Some("no flow declares a job"));
    }
}
