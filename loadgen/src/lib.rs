//! The Athlete Ally load generator and SLO verifier: the `loadgen` command.
//!
//! The command line: [`cli`] defines every command, flag and environment variable;
//! [`settings`] resolves them with the scenario file (the one place precedence is
//! decided); [`commands`] runs each command; [`exit`] is the exit codes.
//!
//! The main job (`loadgen run`, [`job`]), in the order data flows through it:
//! - `scenario`: scenario files, checked before anything starts.
//! - `target`: the embedded reference services, or a deployment by URL.
//! - `engine`: each flow's executor (closed model, constant or ramping arrival
//!   rate with an elastic pool of users); `user`: a virtual user and its token,
//!   renewed before it expires; `flows`: the
//!   onboarding, plans and health journeys; `context`: what virtual users share
//!   (the clock, the stop); `client`: one request, timed to the last byte both
//!   from the send and from the intended start, traced, checked, recorded; `http`:
//!   the pooled HTTP client every user shares.
//! - `recorder`: HDR histograms per request and flow, per fixed time slice,
//!   bounded memory; `request_log`: every request and iteration with its
//!   outcome (`--request-log`); `monitor`: emits the slices and shows live progress;
//!   `generator`: the generator's own CPU share and timer lag; `signals`: Ctrl-C
//!   and SIGTERM (the first stops and judges, the second writes and exits).
//! - `summary`: the run's summary built from what was recorded; `printer`: the
//!   terminal tables.
//! - `preflight`: the runbook's release check before any load.
//! - `integrity`: whether the load happened as planned (an invalid run never passes);
//!   `judge`: choosing the SLO source and judging the run against the SLO set;
//!   `slo_file`: the SLO set named, or the one built into the binary.
//! - `report`: the reports, the baseline comparison and the exit code.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cli;
mod client;
pub mod commands;
mod context;
mod engine;
pub mod exit;
pub mod flow_file;
mod flows;
mod generator;
mod http;
mod integrity;
pub mod job;
mod judge;
mod merge;
mod monitor;
mod preflight;
mod printer;
mod recorder;
mod report;
mod request_log;
mod scenario;
pub mod settings;
mod signals;
mod slo_file;
mod summary;
mod target;
mod user;
mod worker;
