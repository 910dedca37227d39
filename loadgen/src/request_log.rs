//! The request log (`loadgen run --request-log`): every request the run started
//! and every iteration that ended, one JSON line each, in `requests.jsonl` in the
//! run directory, with its outcome and times on the run's clock. It is the raw
//! truth an audit (or the torture harness's oracle, `scripts/torture.sh`)
//! recounts the verdicts from, independently of the recorder and the verifier.
//!
//! ```text
//! {"type":"request","at_ms":1796686054042,"flow":"plans","name":"plan_status","outcome":"status","status":503,"service_us":1834}
//! {"type":"iteration","at_ms":1796686053970,"flow":"plans","outcome":"failed","duration_us":2210455}
//! ```
//!
//! `at_ms` is when the request was sent (an iteration: its start, intended when
//! scheduled), unix milliseconds; `outcome` is one of `accepted`, `status`,
//! `check`, `transport`, `timeout`, `cancelled` (a request) or `completed`,
//! `failed`, `abandoned`, `interrupted` (an iteration). Off by default: a line of
//! I/O per request is not free.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::recorder::{FlowOutcome, Outcome, SeriesInfo};

/// The file a run directory's request log is written to.
pub const FILE: &str = "requests.jsonl";

/// A run's request log.
pub struct RequestLog {
    out: Mutex<BufWriter<File>>,
    /// The run's clock: this instant is `origin_ms`.
    origin: Instant,
    origin_ms: u64,
}

/// A request outcome's name in the log.
fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Accepted => "accepted",
        Outcome::Status => "status",
        Outcome::Check => "check",
        Outcome::Transport => "transport",
        Outcome::Timeout => "timeout",
        Outcome::Cancelled => "cancelled",
    }
}

impl RequestLog {
    /// A log at `dir/requests.jsonl` whose clock reads `origin_ms` at `origin`.
    pub fn create(dir: &Path, origin: Instant, origin_ms: u64) -> std::io::Result<RequestLog> {
        Ok(RequestLog {
            out: Mutex::new(BufWriter::new(File::create(dir.join(FILE))?)),
            origin,
            origin_ms,
        })
    }

    /// Unix milliseconds of `t` on the run's clock.
    fn unix_ms(&self, t: Instant) -> u64 {
        self.origin_ms + t.saturating_duration_since(self.origin).as_millis() as u64
    }

    /// A request sent at `sent` that ended so.
    pub fn request(
        &self,
        info: &SeriesInfo,
        sent: Instant,
        outcome: Outcome,
        status: Option<u16>,
        service: Duration,
    ) {
        let status = status.map_or("null".to_string(), |s| s.to_string());
        let line = format!(
            "{{\"type\":\"request\",\"at_ms\":{},\"flow\":\"{}\",\"name\":\"{}\",\"outcome\":\"{}\",\"status\":{status},\"service_us\":{}}}\n",
            self.unix_ms(sent),
            info.flow,
            info.name,
            outcome_name(outcome),
            service.as_micros()
        );
        let _ = self.out.lock().write_all(line.as_bytes());
    }

    /// An iteration of `flow` that started at `start` and ended so.
    pub fn iteration(&self, flow: &str, start: Instant, outcome: &FlowOutcome) {
        let (name, took) = match outcome {
            FlowOutcome::Completed(t) => ("completed", Some(t.response)),
            FlowOutcome::Failed(_, _, t) => ("failed", Some(t.response)),
            FlowOutcome::Abandoned => ("abandoned", None),
            FlowOutcome::Interrupted(age) => ("interrupted", Some(*age)),
        };
        let took = took.map_or("null".to_string(), |d| d.as_micros().to_string());
        let line = format!(
            "{{\"type\":\"iteration\",\"at_ms\":{},\"flow\":\"{flow}\",\"outcome\":\"{name}\",\"duration_us\":{took}}}\n",
            self.unix_ms(start)
        );
        let _ = self.out.lock().write_all(line.as_bytes());
    }

    /// Writes what is buffered.
    pub fn flush(&self) -> std::io::Result<()> {
        self.out.lock().flush()
    }
}
