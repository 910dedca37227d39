//! The Athlete Ally load generator and SLO verifier: the `loadgen` command.
//!
//! The main job (`loadgen run`), in the order data flows through it:
//! - [`scenario`]: scenario files, checked before anything starts.
//! - [`target`]: the embedded reference services, or a deployment by URL.
//! - [`attack`] and [`flows`]: goose drives the onboarding, plans and health flows.
//! - [`context`]: what virtual users share (pacing, the stop signal).
//! - [`client`]: one request, timed to the last byte, traced, checked, recorded;
//!   [`http`]: the pooled HTTP client every user shares.
//! - [`recorder`]: HDR histograms per request and flow, per time slice, bounded memory.
//! - [`monitor`]: the run's clock and live progress; [`printer`]: the final tables.
//! - [`verify`] and [`managed_prometheus`]: choosing the SLO source and judging.
//! - [`report`]: the reports, the baseline comparison and the exit code.
//! - [`run`]: the main job end to end; [`cli`]: every command and flag; [`rules`]:
//!   the Prometheus rules of an SLO set.

pub mod attack;
pub mod cli;
pub mod client;
pub mod context;
pub mod flows;
pub mod http;
pub mod managed_prometheus;
pub mod monitor;
pub mod printer;
pub mod recorder;
pub mod report;
pub mod rules;
pub mod run;
pub mod scenario;
pub mod target;
pub mod verify;
