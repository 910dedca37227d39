//! Run integrity: whether the load happened as planned, before any verdict is
//! believed. A run stopped early, an arrival-rate flow that dropped iterations
//! beyond the bound or did not reach its planned rate, more than 1% of the
//! requests still unanswered at the hard stop, or a generator short of CPU or
//! late on its own timers ([`crate::generator`]), is invalid: no verdict of it
//! can pass (exit 3), and only a proven breach still fails it (exit 1).
//!
//! Why: with too little load, every SLO can pass without proving anything about
//! the load the run was meant to apply, and a generator that cannot keep its
//! schedule charges its own delay to the server.

use reports::summary::{FlowLoad, Integrity, RequestOutcomes, RunSummary};

use crate::exit::Exit;
use crate::recorder::Results;
use crate::scenario::{Executor, Scenario};

/// Iterations dropped above this share of those planned make a run invalid: a
/// few late slots in thousands are noise, more mean the load was not applied.
pub const MAX_DROPPED_SHARE: f64 = 0.001;
/// Iterations started below this share of those planned make a run invalid.
pub const MIN_ACHIEVED_SHARE: f64 = 0.95;
/// Requests still unanswered at the hard stop above this share of those started
/// make a run invalid: their true outcome is unknown, and so many unknowns say
/// the target stopped answering while the run could not see how it would end.
pub const MAX_CANCELLED_SHARE: f64 = 0.01;

/// What the requests cancelled at the hard stop say about the run, if anything.
fn cancelled_problem(o: &RequestOutcomes) -> Option<String> {
    let share = o.cancelled as f64 / o.started().max(1) as f64;
    (share > MAX_CANCELLED_SHARE).then(|| {
        format!(
            "{} of {} requests ({:.1}%, more than {}%) were still unanswered when the graceful stop ended and were cancelled: their outcome is unknown (find why the target stopped answering, or give the graceful_stop longer)",
            o.cancelled,
            o.started(),
            share * 100.0,
            MAX_CANCELLED_SHARE * 100.0
        )
    })
}

/// The planned against the achieved load of each arrival-rate flow.
fn flow_loads(scenario: &Scenario, results: &Results) -> Vec<FlowLoad> {
    scenario
        .flows
        .iter()
        .filter_map(|f| {
            let Executor::Arrival(plan) = &f.executor else {
                return None;
            };
            let r = results.get(f.series.flow);
            let planned = plan.planned().floor() as u64;
            let started = r.started_slots;
            Some(FlowLoad {
                name: f.name.as_str().to_string(),
                planned_per_second: plan.peak_rate(),
                planned,
                started,
                dropped: r.dropped,
                achieved_share: if planned > 0 {
                    started as f64 / planned as f64
                } else {
                    1.0
                },
                pre_allocated_users: plan.pre_allocated.min(plan.max_users),
                max_users: plan.max_users,
                peak_users: r.pool.size,
            })
        })
        .collect()
}

/// What a flow's load says about the run, if anything is wrong.
fn flow_problems(f: &FlowLoad) -> Vec<String> {
    let mut out = Vec::new();
    let dropped_share = f.dropped as f64 / f.planned.max(1) as f64;
    if dropped_share > MAX_DROPPED_SHARE {
        out.push(format!(
            "{}: {} of {} planned iterations dropped ({:.2}%, more than {}%): the generator could not start them in time (more users, or a lower pace)",
            f.name,
            f.dropped,
            f.planned,
            dropped_share * 100.0,
            MAX_DROPPED_SHARE * 100.0
        ));
    }
    if f.achieved_share < MIN_ACHIEVED_SHARE {
        out.push(format!(
            "{}: {} of {} planned iterations started ({:.1}% of {}/s, below {}%): the planned load was not applied",
            f.name,
            f.started,
            f.planned,
            f.achieved_share * 100.0,
            f.planned_per_second,
            MIN_ACHIEVED_SHARE * 100.0
        ));
    }
    out
}

/// Whether the run's load happened as planned.
pub fn check(scenario: &Scenario, results: &Results, summary: &RunSummary) -> Integrity {
    let flows = flow_loads(scenario, results);
    let mut problems: Vec<String> = flows.iter().flat_map(flow_problems).collect();
    problems.extend(cancelled_problem(&summary.outcomes));
    if let Some(g) = summary.generator.as_ref().filter(|g| g.limited) {
        problems.extend(g.reasons.iter().cloned());
    }
    if summary.interrupted {
        problems.insert(
            0,
            format!(
                "stopped early ({}): the planned load did not run to its end",
                summary.stop_reason.as_deref().unwrap_or("interrupted")
            ),
        );
    }
    Integrity {
        valid: problems.is_empty(),
        problems,
        flows,
    }
}

/// The exit once integrity counts: an invalid run never passes; a proven breach
/// still fails it.
pub fn gate(verdict: Exit, integrity: &Integrity) -> Exit {
    match verdict {
        _ if integrity.valid => verdict,
        Exit::Fail => Exit::Fail,
        _ => Exit::Inconclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_run_never_passes_but_still_fails() {
        let invalid = Integrity {
            valid: false,
            problems: vec!["stopped early".into()],
            flows: Vec::new(),
        };
        assert_eq!(gate(Exit::Pass, &invalid), Exit::Inconclusive);
        assert_eq!(gate(Exit::Inconclusive, &invalid), Exit::Inconclusive);
        assert_eq!(gate(Exit::Fail, &invalid), Exit::Fail);
        let valid = Integrity {
            valid: true,
            ..Default::default()
        };
        assert_eq!(gate(Exit::Pass, &valid), Exit::Pass);
    }

    #[test]
    fn more_than_one_percent_cancelled_is_named() {
        let o = RequestOutcomes {
            accepted: 441,
            cancelled: 239,
            ..Default::default()
        };
        let p = cancelled_problem(&o).expect("35% cancelled");
        assert!(p.contains("239 of 680 requests"), "{p}");
        let few = RequestOutcomes {
            accepted: 1000,
            cancelled: 10,
            ..Default::default()
        };
        assert!(cancelled_problem(&few).is_none(), "1% is the bound");
    }

    #[test]
    fn drops_and_a_missed_rate_are_named() {
        let f = FlowLoad {
            name: "health".into(),
            planned_per_second: 200.0,
            planned: 4000,
            started: 760,
            dropped: 1426,
            achieved_share: 0.19,
            ..FlowLoad::default()
        };
        let p = flow_problems(&f);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("1426 of 4000"), "{p:?}");
        assert!(p[1].contains("760 of 4000"), "{p:?}");
        let fine = FlowLoad {
            dropped: 2,
            started: 3990,
            achieved_share: 0.9975,
            ..f
        };
        assert!(flow_problems(&fine).is_empty());
    }
}
