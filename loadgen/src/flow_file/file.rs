//! A flow as written (TOML): every key typed, unknown keys refused. Values that
//! may hold placeholders (paths, bodies, durations written as `{{params.x}}`)
//! stay text here; `check` parses and resolves them with the line and the fix.

use std::collections::BTreeMap;

use serde::Deserialize;

slo::closed_set! {
    /// The HTTP methods a step may send.
    pub enum MethodName ("an HTTP method") {
        /// `GET`.
        Get = "GET",
        /// `POST`.
        Post = "POST",
        /// `PUT`.
        Put = "PUT",
        /// `PATCH`.
        Patch = "PATCH",
        /// `DELETE`.
        Delete = "DELETE",
        /// `HEAD`.
        Head = "HEAD",
    }
}

slo::closed_set! {
    /// How an iteration that a flow fails on purpose is counted in reports.
    pub enum FailKind ("a failure kind") {
        /// A `fail_if` condition held.
        Failed = "failed",
        /// A repeated step was not done by its deadline.
        Deadline = "deadline",
        /// A plan job ended failed (the plans flow).
        PlanFailed = "plan_failed",
        /// A plan job was not done in time (the plans flow).
        PlanTimeout = "plan_timeout",
    }
}

slo::closed_set! {
    /// Where a repeated step's deadline is counted from.
    pub enum DeadlineFrom ("a deadline start") {
        /// The iteration's start (its intended start when scheduled).
        Iteration = "iteration",
        /// The step's first attempt.
        Step = "step",
    }
}

/// The whole flow: in a file of its own, or the keys of a scenario's `[[flows]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    /// The flow's name (the flow series in reports).
    pub name: Option<String>,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Settings a scenario may change: `name = default` or `{ default, min, max, one_of }`.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Values drawn per iteration (or per user).
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// Steps run once per user, and again before a token they got expires.
    #[serde(default)]
    pub setup: Vec<StepSection>,
    /// The iteration's steps, in order.
    #[serde(default)]
    pub steps: Vec<StepSection>,
    /// A share of iterations stopping after a random step.
    pub abandon: Option<AbandonSection>,
    /// What the client measures from this flow's iterations for SLOs.
    pub measures: Option<MeasuresSection>,
}

/// `[measures]`: the client measures this flow's iterations make, found by this
/// role and not by the flow's or its requests' names (a renamed copy keeps them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuresSection {
    /// `onboarding_completion`: iterations answered at `to` over those answered
    /// at `from`.
    pub completion: Option<CompletionSection>,
    /// `plan_failure` and `plan_duration`: each iteration is a job, succeeding
    /// or failing as this repeated step decides (its `until` and `fail_if`).
    pub job: Option<String>,
}

/// `completion = { from = "purpose_selection", to = "complete" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionSection {
    /// The step that starts the funnel.
    pub from: String,
    /// The step that completes it.
    pub to: String,
}

/// `[abandon]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbandonSection {
    /// Share of iterations that abandon: a number or `"{{params.x}}"`.
    pub share: toml::Value,
    /// The steps after which they may stop, one chosen at random.
    pub after: Vec<String>,
}

/// One step: a request (or a sign-in) and what to make of its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSection {
    /// The request's name in metrics and reports.
    pub name: String,
    /// Default `GET`.
    pub method: Option<MethodName>,
    /// Path and query, starting with `/`; placeholders allowed.
    pub path: Option<String>,
    /// Sign in as this athlete through the run's token source; captures `token`.
    pub sign_in: Option<String>,
    /// Request headers; placeholders allowed in values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body; placeholders allowed in its strings.
    pub json: Option<toml::Value>,
    /// A text body; placeholders allowed.
    pub body: Option<String>,
    /// The text body's content type (default `text/plain`).
    pub content_type: Option<String>,
    /// The statuses that pass: `202` or `[200, 201]` (default: any 2xx).
    pub status: Option<toml::Value>,
    /// Checks of the answer: any failing fails the request.
    #[serde(default)]
    pub check: Vec<CheckSection>,
    /// Values taken from the answer: `name = "$.path"`, `{ json = ... }` or `{ header = ... }`.
    #[serde(default)]
    pub capture: BTreeMap<String, toml::Value>,
    /// Wait before the step: `true` (the flow's think time) or `{ min, max }`.
    pub think: Option<toml::Value>,
    /// Send again until a condition holds: polling.
    pub repeat: Option<RepeatSection>,
}

/// One check: a subject (`json`, `header` or `body_contains`) and what must
/// hold of it (`equals`, `in`, `exists`, `contains`). In `fail_if`, `kind` and
/// `reason` say how the failure is counted and explained.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    /// A JSON path into the answer's body.
    pub json: Option<String>,
    /// A response header's name.
    pub header: Option<String>,
    /// The body holds this text.
    pub body_contains: Option<String>,
    /// The value equals this (placeholders allowed in a string).
    pub equals: Option<toml::Value>,
    /// The value is one of these.
    #[serde(rename = "in")]
    pub one_of: Option<Vec<toml::Value>>,
    /// The value is there (`true`) or not (`false`).
    pub exists: Option<bool>,
    /// The value, as text, holds this.
    pub contains: Option<String>,
    /// `fail_if` only: how the failed iteration is counted (default `failed`).
    pub kind: Option<FailKind>,
    /// `fail_if` only: a JSON path to the answer's own reason.
    pub reason: Option<String>,
}

/// `repeat = { ... }`: polling until a condition holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatSection {
    /// The step is done when every one of these holds.
    pub until: Vec<CheckSection>,
    /// The iteration fails when any of these holds.
    #[serde(default)]
    pub fail_if: Vec<CheckSection>,
    /// Wait between attempts (a duration or `"{{params.x}}"`).
    pub every: String,
    /// Give up after this long (a duration or `"{{params.x}}"`).
    pub deadline: String,
    /// Count the deadline from the iteration's start (default) or the step's.
    pub from: Option<DeadlineFrom>,
    /// How an iteration past the deadline is counted and explained.
    pub on_deadline: Option<OnDeadlineSection>,
    /// Error statuses that end the iteration; any other error is recorded and
    /// the step is sent again.
    #[serde(default)]
    pub stop_on: Vec<u16>,
}

/// `on_deadline = { kind = "plan_timeout", message = "..." }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnDeadlineSection {
    /// How the failed iteration is counted (default `deadline`).
    pub kind: Option<FailKind>,
    /// What it says; placeholders allowed.
    pub message: Option<String>,
}
