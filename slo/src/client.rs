//! The client's own view: what the load generator measured, by the client
//! measurement an SLO names (`client = "api_latency"`, ...).
//!
//! This crate does not know how a measurement is made: the load generator fills
//! [`ClientData`] with one [`Measurement`] per [`ClientMeasure`] it can see, and
//! the verifier judges each the same way as the server's value. Client latencies
//! come from HDR histograms (3 significant digits), so a share at or under a
//! threshold is estimated to within 0.1% of the threshold.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::definition::ClientMeasure;

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
    /// Times of finished events, in microseconds, and the ages of events still
    /// unfinished when the run ended (beyond the threshold, they count as late).
    Latency {
        /// Times of finished events.
        finished: Histogram<u64>,
        /// Ages of unfinished events.
        unfinished: Option<Histogram<u64>>,
    },
}

/// What the load generator measured over the whole run: each measurement over
/// every request, and over the requests an SLO keeps it to (`client_requests`).
#[derive(Debug, Clone, Default)]
pub struct ClientData {
    measures: BTreeMap<(ClientMeasure, Vec<String>), Measurement>,
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

/// The share of events within `threshold` seconds, with the p95 of the finished
/// ones; unfinished events older than the threshold count as late.
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
        format!(", {late_open} unfinished past {t} s")
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
    /// Records what the client measured for `measure`, over every request.
    pub fn insert(&mut self, measure: ClientMeasure, value: Measurement) {
        self.measures.insert((measure, Vec::new()), value);
    }

    /// Records what the client measured for `measure` over the requests named
    /// `requests` (empty: every request).
    pub fn insert_for(&mut self, measure: ClientMeasure, requests: &[String], value: Measurement) {
        self.measures.insert((measure, requests.to_vec()), value);
    }

    /// The measurement `measure` over `requests` (empty: all), judged like the
    /// server's value; latency ones need the SLO's threshold. `None` when the
    /// client saw no such events.
    pub fn measure(
        &self,
        measure: ClientMeasure,
        requests: &[String],
        threshold_seconds: Option<f64>,
    ) -> Option<ClientValue> {
        match self.measures.get(&(measure, requests.to_vec()))? {
            Measurement::Ratio { part, total } => ratio(*part, *total),
            Measurement::Latency {
                finished,
                unfinished,
            } => latency(finished, unfinished.as_ref(), threshold_seconds),
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
        data.insert(
            ClientMeasure::ApiErrors,
            Measurement::Ratio {
                part: 3,
                total: 200,
            },
        );
        data.insert(
            ClientMeasure::ApiLatency,
            Measurement::Latency {
                finished: h,
                unfinished: None,
            },
        );
        data.insert(
            ClientMeasure::OnboardingCompletion,
            Measurement::Ratio { part: 8, total: 10 },
        );
        let e = data.measure(ClientMeasure::ApiErrors, &[], None).unwrap();
        assert_eq!((e.value, e.samples), (0.015, 200));
        let l = data
            .measure(ClientMeasure::ApiLatency, &[], Some(2.0))
            .unwrap();
        assert!((l.value - 0.66).abs() < 0.011, "{l:?}");
        assert_eq!(
            data.measure(ClientMeasure::OnboardingCompletion, &[], None)
                .unwrap()
                .value,
            0.8
        );
        assert!(
            data.measure(ClientMeasure::PlanFailure, &[], None)
                .is_none(),
            "no plans, no value"
        );
    }
}
