//! The process exit codes CI pipelines gate on, in one place: what each means, how
//! verdicts map to them, and the text `--help` shows.

use slo::verdict::Status;

/// How `loadgen` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: every SLO passed (or the command did what it was asked).
    Pass,
    /// 1: an SLO failed (or, with `--fail-on-regression`, a regression).
    Fail,
    /// 2: bad input or usage; nothing was run.
    Usage,
    /// 3: nothing failed, but an SLO could not be judged.
    Inconclusive,
}

/// A setting that cannot be used: exit 2, nothing started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit codes as `--help` shows them.
pub const HELP: &str = "Exit codes:
  0  every SLO passed
  1  an SLO failed (or, with --fail-on-regression, a regression against the baseline)
  2  bad input or usage: nothing was run
  3  inconclusive: nothing failed, but an SLO could not be judged (no data, target or
     Prometheus unreachable), or the release check before the load failed";

impl Exit {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Pass => 0,
            Exit::Fail => 1,
            Exit::Usage => 2,
            Exit::Inconclusive => 3,
        }
    }

    /// The exit of a verdict status.
    pub fn of(status: Status) -> Exit {
        match status {
            Status::Pass => Exit::Pass,
            Status::Fail => Exit::Fail,
            Status::Inconclusive => Exit::Inconclusive,
        }
    }

    /// The exit a summary recorded (`summary.json`'s `exit_code`).
    pub fn from_code(code: u8) -> Exit {
        match code {
            0 => Exit::Pass,
            1 => Exit::Fail,
            2 => Exit::Usage,
            _ => Exit::Inconclusive,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_map_to_the_documented_codes() {
        assert_eq!(Exit::of(Status::Pass).code(), 0);
        assert_eq!(Exit::of(Status::Fail).code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::of(Status::Inconclusive).code(), 3);
        for e in [Exit::Pass, Exit::Fail, Exit::Usage, Exit::Inconclusive] {
            assert_eq!(Exit::from_code(e.code()), e);
            assert!(HELP.contains(&format!("  {}  ", e.code())));
        }
    }
}
