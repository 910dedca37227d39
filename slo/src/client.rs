//! The client's own view: what the load generator measured, per SLO that names a
//! client measurement (`client = "api_latency"`, ...).
//!
//! Client latencies come from HDR histograms (3 significant digits), so a share at
//! or under a threshold is estimated to within 0.1% of the threshold.

use hdrhistogram::Histogram;

/// What the load generator measured over the whole run.
#[derive(Debug, Clone, Default)]
pub struct ClientData {
    /// Every request sent to the gateway: count, 5xx answers, full response times (µs).
    pub api: Option<ApiData>,
    /// Plan jobs: finished (completed or failed), failed, end-to-end times of completed ones (µs).
    pub plans: Option<PlanData>,
    /// Onboardings started (first step accepted) and completed.
    pub onboarding: Option<OnboardingData>,
}

#[derive(Debug, Clone)]
pub struct ApiData {
    pub requests: u64,
    pub server_errors: u64,
    pub latency_us: Histogram<u64>,
}

#[derive(Debug, Clone)]
pub struct PlanData {
    pub finished: u64,
    pub failed: u64,
    pub end_to_end_us: Histogram<u64>,
}

#[derive(Debug, Clone, Copy)]
pub struct OnboardingData {
    pub started: u64,
    pub completed: u64,
}

/// One client measurement: the value judged the same way as the server's, how many
/// events it covers, and how to show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientValue {
    pub value: f64,
    pub samples: u64,
    pub display: String,
}

fn share_within(h: &Histogram<u64>, threshold_seconds: f64) -> Option<(f64, u64)> {
    if h.is_empty() {
        return None;
    }
    let micros = (threshold_seconds * 1e6).round() as u64;
    let within = h.count_between(0, micros);
    Some((within as f64 / h.len() as f64, h.len()))
}

/// A share of events, shown as `12.50% (5/40)`.
fn ratio(part: u64, total: u64) -> Option<ClientValue> {
    (total > 0).then(|| {
        let value = part as f64 / total as f64;
        ClientValue {
            value,
            samples: total,
            display: format!("{:.2}% ({part}/{total})", value * 100.0),
        }
    })
}

/// The share of a latency histogram within `threshold` seconds, with its p95.
fn latency(h: &Histogram<u64>, threshold: Option<f64>) -> Option<ClientValue> {
    let t = threshold?;
    let (value, samples) = share_within(h, t)?;
    Some(ClientValue {
        value,
        samples,
        display: format!(
            "{:.2}% <= {t} s (p95 {:.3} s)",
            value * 100.0,
            h.value_at_quantile(0.95) as f64 / 1e6
        ),
    })
}

impl ClientData {
    /// The measurement `name` (`api_errors`, `api_latency`, `onboarding_completion`,
    /// `plan_failure`, `plan_duration`); latency ones need the SLO's threshold.
    pub fn measure(&self, name: &str, threshold_seconds: Option<f64>) -> Option<ClientValue> {
        match name {
            "api_errors" => self
                .api
                .as_ref()
                .and_then(|a| ratio(a.server_errors, a.requests)),
            "api_latency" => latency(&self.api.as_ref()?.latency_us, threshold_seconds),
            "plan_duration" => latency(&self.plans.as_ref()?.end_to_end_us, threshold_seconds),
            "plan_failure" => self
                .plans
                .as_ref()
                .and_then(|p| ratio(p.failed, p.finished)),
            "onboarding_completion" => self.onboarding.and_then(|o| ratio(o.completed, o.started)),
            _ => None,
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
        let data = ClientData {
            api: Some(ApiData {
                requests: 200,
                server_errors: 3,
                latency_us: h,
            }),
            plans: None,
            onboarding: Some(OnboardingData {
                started: 10,
                completed: 8,
            }),
        };
        let e = data.measure("api_errors", None).unwrap();
        assert_eq!((e.value, e.samples), (0.015, 200));
        let l = data.measure("api_latency", Some(2.0)).unwrap();
        assert!((l.value - 0.66).abs() < 0.011, "{l:?}");
        assert_eq!(
            data.measure("onboarding_completion", None).unwrap().value,
            0.8
        );
        assert!(
            data.measure("plan_failure", None).is_none(),
            "no plans, no value"
        );
    }
}
