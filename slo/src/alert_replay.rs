//! What replaying a run's generated alerts found ([`crate::rules::replay`] does the
//! replaying): which alerts would have fired and when, each error budget's peak
//! burn, and whether the run would have paged. Plain data, kept apart so verdicts
//! can carry it without depending on the rules.

use serde::{Deserialize, Serialize};

/// Which of an SLO's alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// The operations guide's threshold (`<Name>SloBreach`).
    Threshold,
    /// The fast-burn page (`<Name>BudgetBurnPage`).
    Page,
    /// The slow-burn ticket (`<Name>BudgetBurnTicket`).
    Ticket,
}

/// What one alert would have done during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertOutcome {
    /// The alert's name.
    pub alert: String,
    /// Its SLO.
    pub slo: String,
    /// Which alert of the SLO.
    pub kind: AlertKind,
    /// Its `severity` label.
    pub severity: String,
    /// When its condition first held (unix ms); `None`: never.
    pub pending_ms: Option<u64>,
    /// When it would have fired, its condition held for its `for` (unix ms).
    pub firing_ms: Option<u64>,
    /// How long it would have been firing within the window, in milliseconds.
    pub firing_for_ms: u64,
}

/// The highest burn rate of an error budget over a sliding window during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnPeak {
    /// The SLO.
    pub slo: String,
    /// The sliding window (`5m`, `1h`).
    pub window: String,
    /// The highest error ratio over the window divided by the budget.
    pub peak: f64,
    /// When (unix ms).
    pub at_ms: u64,
}

/// The replay of a run's window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// The evaluation step, in milliseconds.
    pub step_ms: u64,
    /// Every alert, in the rules' order.
    pub alerts: Vec<AlertOutcome>,
    /// Each error budget's peak burn rates.
    pub burn: Vec<BurnPeak>,
    /// Queries that failed (their alerts are missing above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Replay {
    /// Whether a critical alert would have fired: the run would have paged.
    pub fn would_page(&self) -> bool {
        self.fired().any(|a| a.severity == "critical")
    }

    /// The alerts that would have fired, earliest first.
    pub fn fired(&self) -> impl Iterator<Item = &AlertOutcome> {
        let mut fired: Vec<&AlertOutcome> = self
            .alerts
            .iter()
            .filter(|a| a.firing_ms.is_some())
            .collect();
        fired.sort_by_key(|a| a.firing_ms);
        fired.into_iter()
    }

    /// One line: would it have paged, and which alerts fired when.
    pub fn headline(&self, start_ms: u64) -> String {
        let fired: Vec<String> = self
            .fired()
            .map(|a| {
                let at = a.firing_ms.unwrap_or(start_ms).saturating_sub(start_ms);
                format!(
                    "{} ({}) at +{:.0}s",
                    a.alert,
                    a.severity,
                    at as f64 / 1000.0
                )
            })
            .collect();
        let verdict = if self.would_page() {
            "would have paged"
        } else if fired.is_empty() {
            "would not have paged: no alert fired"
        } else {
            "would not have paged, but opened tickets"
        };
        if fired.is_empty() {
            verdict.to_string()
        } else {
            format!("{verdict}: {}", fired.join(", "))
        }
    }
}
