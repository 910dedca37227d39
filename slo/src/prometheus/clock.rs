//! Prometheus's clock against this machine's.
//!
//! A run's window is taken on the load generator's clock; Prometheus stamps its
//! samples with its own. When the two differ, the window read is not the window
//! that ran: 35 s of skew once put a run's slow first 18 s outside its window and
//! passed it. Prometheus evaluates `time()` at the moment it receives the query,
//! so asking for it between two reads of the local clock bounds the offset by
//! half the round trip.

use super::Prometheus;
use crate::clock::{ClockOffset, exchange};
use crate::error::Error;
use crate::scrape::now_ms;

/// Exchanges per measurement: the one with the shortest round trip is kept.
const EXCHANGES: usize = 5;

impl Prometheus {
    /// Prometheus's clock against this machine's: the exchange with the shortest
    /// round trip of a few `time()` queries.
    pub async fn clock_offset(&self) -> Result<ClockOffset, Error> {
        let mut best: Option<ClockOffset> = None;
        for _ in 0..EXCHANGES {
            let sent = now_ms();
            let rows = self.query("time()").await?;
            let received = now_ms();
            let Some((_, seconds)) = rows.first() else {
                continue;
            };
            let this = exchange(sent, (seconds * 1000.0).round() as u64, received);
            if best.is_none_or(|b| this.uncertainty_ms < b.uncertainty_ms) {
                best = Some(this);
            }
        }
        best.ok_or_else(|| {
            Error::NoData(format!(
                "Prometheus at {} did not answer time()",
                self.url()
            ))
        })
    }
}
