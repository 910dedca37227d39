//! The scenario file as written: every key, typed. Closed sets (flows, stage
//! kinds, the gate) are enums and durations are read by the one duration grammar,
//! so a bad value is an error at its key with the fix before any check runs.

use std::collections::BTreeMap;

use serde::Deserialize;
use slo::duration::DurationField;

use super::{Arrivals, ExecutorKind, Gate, StageKind};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Each iteration's random draws (variables, abandon) follow this seed.
    pub seed: Option<u64>,
    pub target: TargetSection,
    #[serde(default)]
    pub load: LoadSection,
    pub flows: Vec<FlowSection>,
    #[serde(default)]
    pub slo: SloSection,
    #[serde(default)]
    pub prometheus: PrometheusSection,
    #[serde(default)]
    pub output: OutputSection,
}

/// `[target]`: the embedded services, or a deployment by URL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// Start the reference services in-process with these settings.
    pub embedded: Option<EmbeddedSection>,
    /// Or drive a running deployment: the gateway's base URL.
    pub url: Option<String>,
    /// Path of the test-token endpoint (default `/api/v1/auth/token`).
    pub token_path: Option<String>,
    /// A fixed bearer token for every virtual user, instead of the token endpoint.
    pub token: Option<String>,
    /// Metrics endpoints of a deployment, by Prometheus job name, for the scrape source.
    #[serde(default)]
    pub metrics: BTreeMap<String, String>,
    /// Jaeger UI base URL, for trace links in the report.
    pub jaeger_url: Option<String>,
    /// Timeout of one request (default 30s).
    pub request_timeout: Option<DurationField>,
}

/// `[target.embedded]`: settings of the embedded reference services.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSection {
    pub llm_latency_p50: Option<DurationField>,
    pub llm_latency_p95: Option<DurationField>,
    pub llm_failure_rate: Option<f64>,
    pub llm_completion_tokens: Option<u32>,
    pub plan_concurrency: Option<usize>,
    pub plan_max_deliveries: Option<u32>,
    /// Per-athlete rate limit at the gateway (0: off; default off for load tests).
    pub rate_limit_per_second: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    /// JetStream server for plan jobs; without it, the in-process queue.
    pub nats_url: Option<String>,
    /// Worker threads of each embedded service's runtime (gateway: twice this).
    pub workers: Option<usize>,
    /// Lifetime of the tokens the gateway issues (default 1h).
    pub token_ttl: Option<DurationField>,
    /// Faults, one table per service: `gateway_bff`, `profile_onboarding`, `planning_engine`.
    pub faults: Option<toml::Table>,
}

/// `[load]`: users and duration, or stages.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    pub users: Option<u64>,
    /// Users started per second (default: all within 10 s).
    pub hatch_rate: Option<f64>,
    pub duration: Option<DurationField>,
    pub stages: Option<Vec<StageSection>>,
    /// Wait between iterations and between steps: `{ min = "1s", max = "3s" }`.
    pub think_time: Option<ThinkTimeSection>,
    /// After the planned end, iterations in flight may finish for this long (default 10s).
    pub graceful_stop: Option<DurationField>,
}

/// One stage of `[load] stages`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSection {
    pub name: Option<String>,
    pub kind: StageKind,
    pub users: u64,
    pub duration: DurationField,
}

/// `think_time = { min, max }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThinkTimeSection {
    pub min: DurationField,
    pub max: DurationField,
}

/// One `[[flows]]` table: which flow (a shipped one by name, a flow file, or
/// steps written here), its parameters, and how its iterations are started.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSection {
    /// A shipped flow (onboarding, plans, health), or the name this run gives
    /// the flow of `file` or of the steps written here.
    pub name: Option<String>,
    /// A flow file, relative to the scenario.
    pub file: Option<String>,
    /// The flow's parameters: `params = { poll_interval = "1s" }`.
    pub params: Option<BTreeMap<String, toml::Value>>,
    pub weight: Option<u32>,
    /// Wait between the steps of this flow (default: the load's think time).
    pub think_time: Option<ThinkTimeSection>,
    /// The shipped flows' parameters, as keys of the table (as `params`):
    /// onboarding's share of athletes who stop part-way.
    pub abandon_share: Option<toml::Value>,
    /// Plans: status poll interval.
    pub poll_interval: Option<toml::Value>,
    /// Plans: give up on a plan after this long.
    pub timeout: Option<toml::Value>,
    /// Plans: request parameters.
    pub complexity: Option<toml::Value>,
    pub equipment_count: Option<toml::Value>,
    pub availability_days: Option<toml::Value>,
    /// Health: the path to request.
    pub path: Option<toml::Value>,
    /// A flow written here: its variables.
    pub vars: Option<BTreeMap<String, toml::Value>>,
    /// A flow written here: steps run once per user.
    pub setup: Option<Vec<crate::flow_file::file::StepSection>>,
    /// A flow written here: its steps.
    pub steps: Option<Vec<crate::flow_file::file::StepSection>>,
    /// A flow written here: who abandons.
    pub abandon: Option<crate::flow_file::file::AbandonSection>,
    /// A flow written here: the client measures its iterations make.
    pub measures: Option<crate::flow_file::file::MeasuresSection>,
    /// Open model: target iterations per second for this flow (a constant arrival
    /// rate over the whole load, with the flow's share of the users).
    pub pace: Option<f64>,
    /// Paced: an iteration starting later than this after its intended time is dropped (default 5s).
    pub max_start_delay: Option<DurationField>,
    /// How iterations are started: `closed` (users loop), `constant-arrival-rate`
    /// or `ramping-arrival-rate`.
    pub executor: Option<ExecutorKind>,
    /// Constant arrival rate: iterations per second.
    pub rate: Option<f64>,
    /// The flow's own length (closed with `users`, or a constant arrival rate).
    pub duration: Option<DurationField>,
    /// Closed: the flow's own users (with `duration`), instead of a share of `[load]`.
    pub users: Option<u64>,
    /// The flow's own shape: closed `{ kind, users, duration }` or ramping-arrival-rate
    /// `{ rate, duration }` stages.
    pub stages: Option<Vec<FlowStageSection>>,
    /// Arrival rate: users started before the load, ready to take iterations.
    pub pre_allocated_users: Option<u64>,
    /// Arrival rate: the most users the pool may grow to when iterations lag.
    pub max_users: Option<u64>,
    /// Arrival rate: `uniform` (evenly spaced) or `poisson` (random, same mean).
    pub arrivals: Option<Arrivals>,
    /// When the flow starts, after the run starts (default 0s).
    pub start: Option<DurationField>,
    /// Closed: iterations each user runs before it stops (default: until the end).
    pub iterations: Option<u64>,
}

/// One stage of a flow's own shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowStageSection {
    pub name: Option<String>,
    /// Closed stages: ramp, steady, spike or soak.
    pub kind: Option<StageKind>,
    /// Closed stages: users at the stage's end.
    pub users: Option<u64>,
    /// Ramping arrival rate: iterations per second at the stage's end (reached
    /// linearly from the previous stage's rate).
    pub rate: Option<f64>,
    pub duration: DurationField,
}

/// `[slo]`: the SLO set and which verdicts decide the exit code.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSection {
    /// The SLO set, relative to the scenario file (default: the Athlete Ally set
    /// built into loadgen).
    pub file: Option<String>,
    /// Which verdicts decide the exit code: `both` (default), `whole` or `steady`.
    pub gate: Option<Gate>,
    /// Judge only these SLOs of the set (by name), for scenarios that exercise part
    /// of the system.
    pub only: Option<Vec<String>>,
}

/// `[prometheus]`: judge against a Prometheus, or a managed one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSection {
    /// Judge against this Prometheus.
    pub url: Option<String>,
    /// Start a local Prometheus scraping the embedded services (needs `prometheus` installed).
    pub managed: Option<bool>,
    /// Scrape interval of the managed Prometheus (default 1s).
    pub scrape_interval: Option<DurationField>,
    /// Extra label matchers every query gets beside the SLO set's jobs, so a
    /// shared Prometheus's other traffic stays out: `{ env = "staging" }`.
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
}

/// `[output]`: where results go and how they are sliced.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Results directory, relative to the current directory (default `results`).
    pub results: Option<String>,
    /// Time slice of the timeline and interval log: 1s to 60s (default 1s, 5s past 15 minutes).
    pub slice: Option<DurationField>,
    /// Share of requests sent with a sampled `traceparent` (default 0.05).
    pub trace_sample: Option<f64>,
}
