//! The errors of this crate, one type for every source and parser (file errors,
//! which carry a line and a fix, are [`crate::toml_file::FileError`]).

/// What went wrong while reading a selector, an objective or a metrics page, or
/// while asking a source for measurements.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A selector (`name{label="value"}`) that cannot be read.
    #[error("{0}")]
    Selector(String),
    /// An objective (`>= 0.80`) that cannot be read.
    #[error("{0}")]
    Objective(String),
    /// A line of a `/metrics` page that cannot be read.
    #[error("line {line}: {message}: {text}")]
    Exposition {
        /// 1-based line of the page.
        line: usize,
        /// What is wrong with it.
        message: String,
        /// The line as written.
        text: String,
    },
    /// A Prometheus client could not be set up for a URL.
    #[error("{url}: {message}")]
    Client {
        /// The Prometheus URL.
        url: String,
        /// Why not.
        message: String,
    },
    /// Prometheus could not answer a query.
    #[error("query {query} at {url}: {message}")]
    Query {
        /// The Prometheus URL.
        url: String,
        /// The PromQL sent.
        query: String,
        /// The error it met.
        message: String,
    },
    /// A metrics endpoint could not be scraped.
    #[error("{url}: {message}")]
    Scrape {
        /// The metrics URL.
        url: String,
        /// Why it could not be read.
        message: String,
    },
    /// The source holds nothing to answer with (no page around a window edge, a
    /// failed scrape at an edge, no scrape after the window's end).
    #[error("{0}")]
    NoData(String),
    /// A managed Prometheus could not be started.
    #[error("the managed Prometheus: {0}")]
    Managed(String),
    /// A histogram bucket whose `le` is not a number.
    #[error("{histogram}: bad le {le:?}")]
    BadBucket {
        /// The bucket series' name.
        histogram: String,
        /// The `le` label as found.
        le: String,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
