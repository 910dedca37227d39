//! The Athlete Ally load generator and SLO verifier: the `loadgen` command.
//!
//! The command line: [`cli`] defines every command, flag and environment variable;
//! [`settings`] resolves them with the scenario file (the one place precedence is
//! decided); [`commands`] runs each command; [`exit`] is the exit codes.
//!
//! The main job (`loadgen run`, [`job`]), in the order data flows through it:
//! - `scenario`: scenario files, checked before anything starts.
//! - `target`: the embedded reference services, or a deployment by URL.
//! - `attack` and `flows`: goose drives the onboarding, plans and health flows;
//!   `context`: what virtual users share (pacing, the stop signal); `client`: one
//!   request, timed to the last byte, traced, checked, recorded; `http`: the pooled
//!   HTTP client every user shares.
//! - `recorder`: HDR histograms per request and flow, per time slice, bounded memory;
//!   `monitor`: the run's clock and live progress.
//! - `summary`: the run's summary built from what was recorded; `printer`: the
//!   terminal tables.
//! - `integrity`: whether the load happened as planned (an invalid run never passes);
//!   `judge`: choosing the SLO source and judging the run against the SLO set.
//! - `report`: the reports, the baseline comparison and the exit code.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod attack;
pub mod cli;
mod client;
pub mod commands;
mod context;
pub mod exit;
mod flows;
mod http;
mod integrity;
pub mod job;
mod judge;
mod monitor;
mod printer;
mod recorder;
mod report;
mod scenario;
pub mod settings;
mod summary;
mod target;
