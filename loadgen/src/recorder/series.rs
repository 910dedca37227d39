//! What is measured: the series (a named request or a flow), the table of a
//! run's series, the measures each series keeps (two latencies, failures apart,
//! unfinished ages, schedule lag), and how requests and iterations end.
//!
//! The series are the scenario's: every flow's requests, by the names its steps
//! give them, and the flow itself. They are known when the scenario is checked,
//! so the recorder's tables are sized once and a series is a small index.

use std::time::Duration;

/// A measured series: an index into the run's [`SeriesTable`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series(u16);

impl Series {
    /// Its place in per-series tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A series' names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    /// The request or flow name in reports (`purpose_selection`, `onboarding`).
    pub name: String,
    /// The flow a request belongs to (a flow series belongs to itself).
    pub flow: String,
    /// Whether it is a flow (iterations), not a request.
    pub is_flow: bool,
    /// Its interval log tag per measure (`req.<name>`, `svc.req.<name>`, ...).
    tags: [String; MEASURES],
}

impl SeriesInfo {
    fn new(name: &str, flow: &str, is_flow: bool) -> SeriesInfo {
        let tag = if is_flow {
            format!("flow.{name}")
        } else {
            format!("req.{name}")
        };
        SeriesInfo {
            name: name.to_string(),
            flow: flow.to_string(),
            is_flow,
            tags: Measure::ALL.map(|m| format!("{}{tag}", m.prefix())),
        }
    }

    /// Tag in the interval log: `req.<name>` or `flow.<name>`.
    pub fn tag(&self) -> &str {
        &self.tags[Measure::Response as usize]
    }

    /// Tag of one measure: `req.<name>`, `svc.req.<name>`, `open.flow.<name>`, ...
    pub fn measure_tag(&self, m: Measure) -> &str {
        &self.tags[m as usize]
    }
}

/// The series of a run: every flow's requests, flow by flow in the scenario's
/// order, then the flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesTable {
    entries: Vec<SeriesInfo>,
}

impl SeriesTable {
    /// The table of `flows`: each a flow name and its request names in order. A
    /// request name listed twice in one flow is one series.
    pub fn new<'a>(flows: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>) -> SeriesTable {
        let flows: Vec<(&str, Vec<&str>)> = flows.into_iter().collect();
        let mut entries: Vec<SeriesInfo> = Vec::new();
        for (flow, requests) in &flows {
            for name in requests {
                if !entries.iter().any(|e| !e.is_flow && e.name == *name) {
                    entries.push(SeriesInfo::new(name, flow, false));
                }
            }
        }
        for (flow, _) in &flows {
            entries.push(SeriesInfo::new(flow, flow, true));
        }
        SeriesTable { entries }
    }

    /// How many series.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every series, in order.
    pub fn all(&self) -> impl Iterator<Item = Series> + use<> {
        (0..self.entries.len() as u16).map(Series)
    }

    /// The names of `series`.
    pub fn info(&self, series: Series) -> &SeriesInfo {
        &self.entries[series.index()]
    }

    /// The request named `name`.
    pub fn request(&self, name: &str) -> Option<Series> {
        self.find(name, false)
    }

    /// The flow named `name`.
    pub fn flow(&self, name: &str) -> Option<Series> {
        self.find(name, true)
    }

    fn find(&self, name: &str, is_flow: bool) -> Option<Series> {
        self.entries
            .iter()
            .position(|e| e.is_flow == is_flow && e.name == name)
            .map(|i| Series(i as u16))
    }
}

#[cfg(test)]
impl SeriesTable {
    /// The shipped flows' series (onboarding, plans, health), for tests.
    pub fn standard() -> SeriesTable {
        SeriesTable::new([
            (
                "onboarding",
                vec![
                    "auth_token",
                    "purpose_selection",
                    "proficiency",
                    "equipment",
                    "availability",
                    "complete",
                ],
            ),
            (
                "plans",
                vec!["plan_auth_token", "plan_generate", "plan_status"],
            ),
            ("health", vec!["health"]),
        ])
    }

    /// The request `name` of [`SeriesTable::standard`].
    pub fn req(name: &str) -> Series {
        SeriesTable::standard()
            .request(name)
            .expect("a shipped request")
    }

    /// The flow `name` of [`SeriesTable::standard`].
    pub fn flow_of(name: &str) -> Series {
        SeriesTable::standard().flow(name).expect("a shipped flow")
    }
}

/// What a histogram of a series holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Successes' response time from the intended start (coordinated omission
    /// corrected); the same as the service time on no schedule (closed model).
    Response,
    /// Successes' service time, from the actual send: what the server can be
    /// compared with.
    Service,
    /// Failures' response time (error answers, timeouts, failed iterations): kept
    /// apart so fast errors do not pull the successes' percentiles down.
    Failed,
    /// Failures' service time.
    FailedService,
    /// Ages of iterations still unfinished when the run stopped (flows only).
    Open,
    /// How late iterations started after their slot (arrival-rate flows only).
    Lag,
}

/// Histograms of a series: one per measure.
pub const MEASURES: usize = 6;

impl Measure {
    /// Every measure.
    pub const ALL: [Measure; MEASURES] = [
        Measure::Response,
        Measure::Service,
        Measure::Failed,
        Measure::FailedService,
        Measure::Open,
        Measure::Lag,
    ];

    /// The histogram slot of a series for this measure, in a table of `series` series.
    pub fn slot(self, series: Series, count: usize) -> usize {
        self as usize * count + series.index()
    }

    /// The interval log tag's prefix.
    fn prefix(self) -> &'static str {
        match self {
            Measure::Response => "",
            Measure::Service => "svc.",
            Measure::Failed => "failed.",
            Measure::FailedService => "failed.svc.",
            Measure::Open => "open.",
            Measure::Lag => "lag.",
        }
    }
}

/// How long a request or an iteration took: from the actual send (service) and
/// from the intended start (response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From the actual send (or start) to the last byte (or the end).
    pub service: Duration,
    /// From the intended start (arrival-rate flows) or the send, to the end.
    pub response: Duration,
}

/// Why a request or an iteration failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The connection could not be made.
    Connect,
    /// No answer within the request timeout.
    Timeout,
    /// Another transport failure (reset, unreadable body).
    Transport,
    /// A 3xx the step does not accept (a redirect to a sign-in page is no answer).
    Http3xx,
    /// A 1xx or 2xx status the step does not accept (`status = 202`, answered 200).
    UnexpectedStatus,
    /// 429 from the rate limiter.
    RateLimited,
    /// Another 4xx.
    Http4xx,
    /// A 5xx.
    Http5xx,
    /// A 2xx whose body says failure or is not what the API documents.
    Body,
    /// The plan job ended `failed`.
    PlanFailed,
    /// The plan did not finish within the flow's timeout.
    PlanTimeout,
    /// A flow's `fail_if` condition held.
    Failed,
    /// A flow's repeated step was not done by its deadline.
    Deadline,
    /// Still unanswered when the run's hard stop came: cancelled, a bad event
    /// whose true outcome is unknown.
    Interrupted,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Transport,
        ErrorKind::Http3xx,
        ErrorKind::UnexpectedStatus,
        ErrorKind::RateLimited,
        ErrorKind::Http4xx,
        ErrorKind::Http5xx,
        ErrorKind::Body,
        ErrorKind::PlanFailed,
        ErrorKind::PlanTimeout,
        ErrorKind::Failed,
        ErrorKind::Deadline,
        ErrorKind::Interrupted,
    ];

    /// The kind named `name` in reports.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Http3xx => "http_3xx",
            ErrorKind::UnexpectedStatus => "http_status",
            ErrorKind::RateLimited => "http_429",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::Body => "body",
            ErrorKind::PlanFailed => "plan_failed",
            ErrorKind::PlanTimeout => "plan_timeout",
            ErrorKind::Failed => "failed",
            ErrorKind::Deadline => "deadline",
            ErrorKind::Interrupted => "interrupted",
        }
    }

    /// The kind of a status the step does not accept.
    pub fn of_status(status: u16) -> ErrorKind {
        match status {
            429 => ErrorKind::RateLimited,
            500.. => ErrorKind::Http5xx,
            400..=499 => ErrorKind::Http4xx,
            300..=399 => ErrorKind::Http3xx,
            _ => ErrorKind::UnexpectedStatus,
        }
    }

    /// The outcome of a request that failed so.
    pub fn outcome(self) -> Outcome {
        match self {
            ErrorKind::Connect | ErrorKind::Transport => Outcome::Transport,
            ErrorKind::Timeout => Outcome::Timeout,
            ErrorKind::Http3xx
            | ErrorKind::UnexpectedStatus
            | ErrorKind::RateLimited
            | ErrorKind::Http4xx
            | ErrorKind::Http5xx => Outcome::Status,
            ErrorKind::Interrupted => Outcome::Cancelled,
            // A check failed, or (iterations only) the flow's own verdict.
            ErrorKind::Body
            | ErrorKind::PlanFailed
            | ErrorKind::PlanTimeout
            | ErrorKind::Failed
            | ErrorKind::Deadline => Outcome::Check,
        }
    }
}

/// How a request the generator started ended: exactly one of these, so the
/// requests started are the sum of the outcomes (conservation: a request never
/// vanishes), and every outcome but `Accepted` is a bad event for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Answered with a status the step accepts, and every check held.
    Accepted,
    /// Answered with a status the step does not accept: a 5xx, a 4xx (429
    /// included), a 3xx, or another status it does not list.
    Status,
    /// Answered with an accepted status, but a check or capture failed.
    Check,
    /// No answer: refused, reset, or cut short.
    Transport,
    /// No answer within the request timeout.
    Timeout,
    /// Still unanswered when the run's hard stop came.
    Cancelled,
}

/// How many outcomes there are (the variants of [`Outcome`], in order).
pub const OUTCOMES: usize = 6;

impl Outcome {
    /// Its slot in a count of outcomes.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A request that ended with `error` (none: accepted).
    pub fn of(error: Option<ErrorKind>) -> Outcome {
        error.map_or(Outcome::Accepted, ErrorKind::outcome)
    }
}

/// How a flow iteration ended.
#[derive(Debug, Clone)]
pub enum FlowOutcome {
    /// Finished: its time end to end.
    Completed(Timing),
    /// Failed: why, and its time until it failed.
    Failed(ErrorKind, String, Timing),
    /// Stopped on purpose part-way (onboarding).
    Abandoned,
    /// Cut short by the run's stop, this long after it was due.
    Interrupted(Duration),
}

/// A request's trace: a sampled one for the report's slowest-requests table, any
/// failed one as an example of its error.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The W3C trace id.
    pub trace_id: String,
    /// When it was sent (Unix ms).
    pub at_ms: u64,
    /// Whether it was sent sampled (only those reach a trace backend).
    pub sampled: bool,
}
