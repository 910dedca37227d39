//! Fuzz targets for every parser that reads user files or network data, so none
//! of them can be made to panic, hang or lose its invariants by what it reads.
//!
//! - [`targets`]: one function per parser (scenario TOML, SLO files in TOML,
//!   OpenSLO and Sloth YAML, the Prometheus text format, the interval log, the
//!   selector, event-query and objective grammars, durations), each taking raw
//!   bytes and checking what must hold of any input, not only that it returns.
//! - [`mutate`]: how an input is made: a seed of the target's corpus
//!   (`fuzz/corpus/<target>/`, real files of each format) with random edits and
//!   tokens of the format spliced in, so the inputs get past the first byte of a
//!   parser instead of failing there as random bytes would.
//!
//! `tests/targets.rs` runs each target under `bolero`: every seed, then random
//! inputs for one second (the test command), or `BOLERO_RANDOM_ITERATIONS` of them
//! (`scripts/fuzz.sh`). A crash prints its `BOLERO_RANDOM_SEED` to replay it.

pub mod mutate;
pub mod targets;
