//! What is measured: the series (a named request or a flow), the measures each
//! series keeps (two latencies, failures apart, unfinished ages, schedule lag),
//! and how requests and iterations end.

use std::time::Duration;

use crate::scenario::FlowName;

/// Every measured series: one per named request, one per flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Series {
    AuthToken,
    PurposeSelection,
    Proficiency,
    Equipment,
    Availability,
    Complete,
    PlanAuthToken,
    PlanGenerate,
    PlanStatus,
    Health,
    FlowOnboarding,
    FlowPlans,
    FlowHealth,
}

/// Number of series.
pub const SERIES_COUNT: usize = 13;

impl Series {
    pub const ALL: [Series; SERIES_COUNT] = [
        Series::AuthToken,
        Series::PurposeSelection,
        Series::Proficiency,
        Series::Equipment,
        Series::Availability,
        Series::Complete,
        Series::PlanAuthToken,
        Series::PlanGenerate,
        Series::PlanStatus,
        Series::Health,
        Series::FlowOnboarding,
        Series::FlowPlans,
        Series::FlowHealth,
    ];

    /// Its place in per-series tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The request or flow name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Series::AuthToken => "auth_token",
            Series::PurposeSelection => "purpose_selection",
            Series::Proficiency => "proficiency",
            Series::Equipment => "equipment",
            Series::Availability => "availability",
            Series::Complete => "complete",
            Series::PlanAuthToken => "plan_auth_token",
            Series::PlanGenerate => "plan_generate",
            Series::PlanStatus => "plan_status",
            Series::Health => "health",
            Series::FlowOnboarding => "onboarding",
            Series::FlowPlans => "plans",
            Series::FlowHealth => "health",
        }
    }

    /// The flow a request belongs to (a flow series belongs to itself).
    pub fn flow(self) -> &'static str {
        match self {
            Series::AuthToken
            | Series::PurposeSelection
            | Series::Proficiency
            | Series::Equipment
            | Series::Availability
            | Series::Complete
            | Series::FlowOnboarding => "onboarding",
            Series::PlanAuthToken
            | Series::PlanGenerate
            | Series::PlanStatus
            | Series::FlowPlans => "plans",
            Series::Health | Series::FlowHealth => "health",
        }
    }

    /// Whether it is a flow (iterations), not a request.
    pub fn is_flow(self) -> bool {
        matches!(
            self,
            Series::FlowOnboarding | Series::FlowPlans | Series::FlowHealth
        )
    }

    /// Tag in the interval log: `req.<name>` or `flow.<name>`.
    pub fn tag(self) -> String {
        if self.is_flow() {
            format!("flow.{}", self.name())
        } else {
            format!("req.{}", self.name())
        }
    }

    /// Tag of one measure: `req.<name>`, `svc.req.<name>`, `open.flow.<name>`, ...
    pub fn measure_tag(self, m: Measure) -> String {
        format!("{}{}", m.prefix(), self.tag())
    }

    /// The series of an onboarding step.
    pub fn of_step(step: api::OnboardingStep) -> Series {
        match step {
            api::OnboardingStep::PurposeSelection => Series::PurposeSelection,
            api::OnboardingStep::Proficiency => Series::Proficiency,
            api::OnboardingStep::Equipment => Series::Equipment,
            api::OnboardingStep::Availability => Series::Availability,
            api::OnboardingStep::Complete => Series::Complete,
        }
    }

    /// The flow series of a flow.
    pub fn of_flow(flow: FlowName) -> Series {
        match flow {
            FlowName::Onboarding => Series::FlowOnboarding,
            FlowName::Plans => Series::FlowPlans,
            FlowName::Health => Series::FlowHealth,
        }
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

    /// The histogram slot of a series for this measure.
    pub fn slot(self, series: Series) -> usize {
        self as usize * SERIES_COUNT + series.index()
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

/// Histogram slots: every measure of every series.
pub const SLOTS: usize = SERIES_COUNT * MEASURES;

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
    /// Cancelled by the run's stop: neither passed nor failed.
    Interrupted,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Transport,
        ErrorKind::RateLimited,
        ErrorKind::Http4xx,
        ErrorKind::Http5xx,
        ErrorKind::Body,
        ErrorKind::PlanFailed,
        ErrorKind::PlanTimeout,
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
            ErrorKind::RateLimited => "http_429",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::Body => "body",
            ErrorKind::PlanFailed => "plan_failed",
            ErrorKind::PlanTimeout => "plan_timeout",
            ErrorKind::Interrupted => "interrupted",
        }
    }

    /// The kind of an HTTP error status.
    pub fn of_status(status: u16) -> ErrorKind {
        match status {
            429 => ErrorKind::RateLimited,
            500.. => ErrorKind::Http5xx,
            _ => ErrorKind::Http4xx,
        }
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
