//! SLOs as data, and the verdicts on them.
//!
//! - [`definition`]: the SLO set file (`slo/athlete-ally.toml`): ratio, latency and gauge SLOs.
//! - [`selector`]: metric selectors, read the same way by every source.
//! - [`evaluate`]: judging a set over a window from any [`evaluate::Reader`].
//! - [`prometheus`]: the Prometheus source (PromQL at the window's end, `@` modifier).
//! - [`scrape`] and [`exposition`]: the embedded source, from the services' own `/metrics`.
//! - [`client`]: the load generator's own measurements, shown beside the server's.
//! - [`verdict`]: pass / fail / inconclusive verdicts and the exit codes they map to.
//! - [`rules`]: Prometheus recording and alerting rules derived from the set.
//! - [`toml_file`]: reading TOML files with errors that name the file, line, key and fix.

pub mod client;
pub mod definition;
pub mod evaluate;
pub mod exposition;
pub mod prometheus;
pub mod rules;
pub mod scrape;
pub mod selector;
pub mod toml_file;
pub mod verdict;
