//! SLOs as data, and the verdicts on them.
//!
//! - [`definition`]: the SLO set file (`slo/athlete-ally.toml`, or OpenSLO and Sloth
//!   YAML): ratio, latency, gauge and query SLOs; [`convert`]: the set written in any
//!   of those formats.
//! - [`selector`]: metric selectors, read the same way by every source; [`promql`]:
//!   every PromQL text the verifier sends and the rules hold, escaped, in one place.
//! - [`evaluate`]: judging a set over a window from any [`evaluate::Reader`], on
//!   the confidence bounds of [`stats`].
//! - [`prometheus`]: the Prometheus source (PromQL at the window's end, `@` modifier);
//!   [`managed`]: a Prometheus started for one run.
//! - [`scrape`] and [`exposition`]: the embedded source, from the services' own `/metrics`.
//! - [`client`]: the load generator's own measurements, shown beside the server's;
//!   [`clock`]: another clock's offset from this machine's.
//! - [`verdict`]: pass / fail / inconclusive verdicts.
//! - [`rules`]: Prometheus recording and alerting rules derived from the set
//!   (threshold and burn-rate alerts, their promtool tests, their replay over a run);
//!   [`alert_replay`]: what a replay found.
//! - [`toml_file`] and [`schema`]: reading files with errors that name the file, line,
//!   key and fix, and the checker and closed sets their schemas share;
//!   [`duration`]: the one duration grammar; [`format`]: numbers as verdicts show them.
//! - [`error`]: the crate's error type.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod alert_replay;
pub mod client;
pub mod clock;
pub mod convert;
pub mod definition;
pub mod duration;
pub mod error;
pub mod evaluate;
pub mod exposition;
pub mod format;
pub mod managed;
pub mod prometheus;
pub mod promql;
pub mod rules;
pub mod schema;
pub mod scrape;
pub mod selector;
pub mod stats;
pub mod toml_file;
pub mod verdict;

pub use error::Error;
