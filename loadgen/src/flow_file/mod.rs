//! Flows as data: a journey written in TOML (a file of its own under
//! `scenarios/flows/`, or the keys of a scenario's `[[flows]]`), checked and
//! compiled before anything runs. The README's "Flow files" section is the full
//! reference; in short, a flow has
//!
//! - `params`: settings a scenario may change, each with its default;
//! - `vars`: values drawn for every iteration (or once per user): templates,
//!   `one_of`, `some_of`, `range`, `unique`;
//! - `setup`: steps run once per user, and again before a token they got
//!   expires (a sign-in);
//! - `steps`: requests in order, each named (the name in metrics and reports),
//!   with placeholders (`{{name}}`), checks, captures from the answer, think
//!   time, and `repeat` for polling until a condition holds or a deadline;
//! - `abandon`: a share of iterations stopping after a random step;
//! - `measures`: what the client measures from its iterations for SLOs (a
//!   completion funnel, or each iteration a job), by role, not by name.
//!
//! The parts: [`file`] is the flow as written; [`template`] and [`json_path`]
//! the two small languages inside it; `check` turns a written flow into the
//! [`Program`] defined here (every name resolved to a variable slot, every
//! duration parsed, every error with its line and fix); [`builtin`] the shipped
//! flows (onboarding, plans, health), compiled into the binary.

pub mod builtin;
mod check;
pub mod file;
pub mod json_path;
pub mod template;

use std::time::Duration;

use serde_json::Value;

pub use check::{Override, Params, Source, check, check_text};
use file::FailKind;
use json_path::JsonPath;
use template::{JsonTemplate, Template};

/// The variables every flow has: their names and slots.
pub const BUILTINS: [&str; 4] = ["run.nonce", "run.worker", "user.id", "user.iteration"];
/// Slot of `run.nonce`: a random tag of the run (and worker).
pub const SLOT_NONCE: usize = 0;
/// Slot of `run.worker`: the worker's index (0 alone).
pub const SLOT_WORKER: usize = 1;
/// Slot of `user.id`: the virtual user's number, unique in the run.
pub const SLOT_USER: usize = 2;
/// Slot of `user.iteration`: the user's iteration number, from 1.
pub const SLOT_ITERATION: usize = 3;
/// The variable a sign-in step captures its token into.
pub const TOKEN_VAR: &str = "token";

/// A checked, compiled flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The flow's name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its parameters as resolved (defaults, then the scenario's values).
    pub params: Params,
    /// Variables drawn once per user, in the order they depend on each other.
    pub user_vars: Vec<Var>,
    /// Variables drawn per iteration, in order.
    pub vars: Vec<Var>,
    /// Steps run once per user (and again when a token they got goes stale).
    pub setup: Vec<Step>,
    /// The iteration's steps.
    pub steps: Vec<Step>,
    /// Who stops part-way.
    pub abandon: Option<Abandon>,
    /// Variable slots a user needs.
    pub slots: usize,
    /// The names of its requests, setup first, each once, in order.
    pub requests: Vec<String>,
    /// The client measures its iterations make.
    pub measures: Measures,
}

/// The client measures a flow's iterations make (`[measures]`): how an SLO's
/// client side finds its events by the flow's role, whatever the flow is called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measures {
    /// `onboarding_completion`: the requests that start and complete the
    /// funnel, by name.
    pub completion: Option<(String, String)>,
    /// `plan_failure`, `plan_duration`: the repeated step whose outcome is the
    /// iteration's (each iteration a job).
    pub job: Option<String>,
}

/// A variable and how it is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    /// Where its value goes.
    pub slot: usize,
    /// How it is made.
    pub draw: Draw,
}

/// How a variable's value is made.
#[derive(Debug, Clone, PartialEq)]
pub enum Draw {
    /// A fixed value.
    Value(Value),
    /// Text with other variables written in.
    Text(Template),
    /// One of these, at random.
    OneOf(Vec<Value>),
    /// `count` different ones of these, at random, as a list.
    SomeOf(Vec<Value>, usize),
    /// A whole number from `lo` to `hi`, both included.
    Range(i64, i64),
    /// A random id (32 hex digits), unique in practice.
    Unique,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The request's name.
    pub name: String,
    /// Its place in [`Program::requests`].
    pub request: usize,
    /// What it sends.
    pub action: Action,
    /// The statuses that pass; empty: any 2xx.
    pub status: Vec<u16>,
    /// Checks of the answer.
    pub checks: Vec<Check>,
    /// Values taken from the answer.
    pub captures: Vec<Capture>,
    /// Wait before it.
    pub think: Think,
    /// Polling.
    pub repeat: Option<Repeat>,
    /// Whether the answer's body is read as JSON (a check or capture needs it).
    pub reads_json: bool,
}

/// What a step sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A request.
    Request(Request),
    /// A sign-in as this athlete through the run's token source (the token
    /// endpoint, or the scenario's fixed token: then nothing is sent).
    SignIn {
        /// The athlete's id.
        athlete: Template,
        /// The slot the token goes to.
        slot: usize,
    },
}

/// A request's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Its method.
    pub method: http::Method,
    /// Path and query; values percent-encoded.
    pub path: Template,
    /// Headers.
    pub headers: Vec<(http::HeaderName, Template)>,
    /// The body.
    pub body: Option<Body>,
    /// The statuses that pass (the step's `status`); empty: any 2xx.
    pub accept: Vec<u16>,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// JSON (`content-type: application/json`).
    Json(JsonTemplate),
    /// Text, with its content type.
    Text(Template, http::HeaderValue),
}

/// Where a check or capture looks.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// A value in the JSON body.
    Json(JsonPath),
    /// A response header.
    Header(http::HeaderName),
    /// The whole body, as text.
    Body,
}

/// What must hold of a subject.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Equal to this (a whole placeholder keeps its value's type).
    Equals(Expected),
    /// Equal to one of these.
    In(Vec<Value>),
    /// There (`true`) or not.
    Exists(bool),
    /// Its text holds this.
    Contains(Template),
}

/// An expected value: known when checked, or a variable's, or text.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A fixed value.
    Value(Value),
    /// A variable's value.
    Slot(usize),
    /// Text with values written in.
    Text(Template),
}

/// One check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Where it looks.
    pub subject: Subject,
    /// What must hold.
    pub predicate: Predicate,
}

/// A `fail_if` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct FailIf {
    /// When it holds, the iteration fails.
    pub check: Check,
    /// How the failure is counted.
    pub kind: FailKind,
    /// Where the answer gives its own reason.
    pub reason: Option<JsonPath>,
}

/// A value taken from the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Its name (for errors).
    pub name: String,
    /// Its slot.
    pub slot: usize,
    /// Where it comes from (never [`Subject::Body`]).
    pub from: Subject,
}

/// A wait before a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Think {
    /// None.
    No,
    /// The flow's think time.
    Flow,
    /// Its own, from `min` to `max`.
    Own(Duration, Duration),
}

/// Polling: sending the step again until `until` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Repeat {
    /// Done when all of these hold.
    pub until: Vec<Check>,
    /// Failed when any of these holds.
    pub fail_if: Vec<FailIf>,
    /// Wait between attempts.
    pub every: Duration,
    /// Give up after this long.
    pub deadline: Duration,
    /// From the iteration's start (or the step's first attempt).
    pub from_iteration: bool,
    /// How an iteration past its deadline is counted.
    pub deadline_kind: FailKind,
    /// What it says.
    pub deadline_message: Template,
    /// Error statuses that end the iteration.
    pub stop_on: Vec<u16>,
}

/// Who abandons.
#[derive(Debug, Clone, PartialEq)]
pub struct Abandon {
    /// The share of iterations.
    pub share: f64,
    /// Indexes of the steps after which they may stop.
    pub after: Vec<usize>,
}
