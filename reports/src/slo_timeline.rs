//! When each SLO went bad: its indicator per time slice, measured the way the
//! client measures it, against its objective, and the first slice that crossed it.
//!
//! Latency indicators come from the HdrHistogram interval log
//! (`histograms.hlog`), read one record at a time (a long run's log is never held
//! whole); the error rate from the timeline's per-slice counts; completion and plan
//! failure from how the iterations that ended in each slice ended (a journey's
//! start and its completion fall in different slices, so starts against
//! completions per slice would read 0% until the first journeys finish). A slice
//! with fewer than [`MIN_EVENTS`] events has no value: one failure in two requests
//! is not a trend.

use std::path::Path;

use serde::Serialize;
use slo::definition::{ClientMeasure, Op};
use slo::format::percent;
use slo::verdict::{ClientSide, Verdict};

use crate::hdr::{LogReader, decode_counts};
use crate::summary::{RunSummary, StageRun, Timeline};

/// Events a slice needs before its value counts.
pub const MIN_EVENTS: u64 = 5;
/// Consecutive slices (with a value) past the objective that name a breach: a
/// single noisy slice (journeys that started in one slice and finished in the
/// next) is not when an SLO went bad.
pub const PERSIST: usize = 3;

/// One slice's indicator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SliPoint {
    /// Seconds since the run's start, at the slice's start.
    pub t_s: f64,
    /// The indicator in the objective's terms (a bad share, a good share, a
    /// share within the threshold); `None` with too few events.
    pub value: Option<f64>,
    /// Events in the slice.
    pub events: u64,
}

/// The first slice that missed the objective.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    /// Seconds since the run's start.
    pub t_s: f64,
    /// Its value.
    pub value: f64,
    /// The stage it fell in.
    pub stage: Option<String>,
    /// In words: "first missed the objective at 1m35s (stage steady): 4.2% against < 1%".
    pub text: String,
}

/// One SLO's indicator over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloTimeline {
    /// The SLO.
    pub slo: String,
    /// Its comparison and goal.
    pub op: Op,
    /// The goal the indicator is compared with.
    pub goal: f64,
    /// One point per slice.
    pub points: Vec<SliPoint>,
    /// The first slice past the objective, if any.
    pub first_breach: Option<Breach>,
}

/// Counts of one slice: the part the indicator is about, and all events.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    part: u64,
    total: u64,
}

/// How one interval-log tag feeds an indicator.
enum Feed {
    /// Events within `threshold` (microseconds) count in the part, all in the total.
    Within(u64),
    /// Events past `threshold` (microseconds) count in the total only (failures:
    /// late when slow, not counted when fast).
    Late(u64),
}

/// The interval-log tags an indicator is made of, and how.
fn feed(side: &ClientSide, tag: &str) -> Option<Feed> {
    let micros = side.threshold_seconds.map(|s| (s * 1e6) as u64);
    match side.measure {
        // Accepted requests within the threshold; failed ones are late.
        ClientMeasure::ApiLatency => match tag.strip_prefix("svc.req.") {
            Some(request) => side.counts(request).then_some(micros.map(Feed::Within)?),
            None => tag
                .strip_prefix("failed.svc.req.")
                .filter(|r| side.counts(r))
                .and(micros.map(Feed::Late)),
        },
        ClientMeasure::PlanDuration => {
            let flow = side.flow.as_deref().unwrap_or("plans");
            match tag.strip_prefix("failed.") {
                Some(rest) if rest.strip_prefix("flow.") == Some(flow) => micros.map(Feed::Late),
                None if tag.strip_prefix("flow.") == Some(flow) => micros.map(Feed::Within),
                _ => None,
            }
        }
        ClientMeasure::PlanFailure
        | ClientMeasure::OnboardingCompletion
        | ClientMeasure::ApiErrors => None,
    }
}

impl Tally {
    fn add(&mut self, feed: &Feed, counts: &[(u64, u64)]) {
        let all: u64 = counts.iter().map(|c| c.1).sum();
        match *feed {
            Feed::Late(micros) => {
                self.total += counts
                    .iter()
                    .filter(|c| c.0 > micros)
                    .map(|c| c.1)
                    .sum::<u64>();
            }
            Feed::Within(micros) => {
                self.total += all;
                self.part += counts
                    .iter()
                    .filter(|c| c.0 <= micros)
                    .map(|c| c.1)
                    .sum::<u64>();
            }
        }
    }
}

/// The SLOs a timeline can be drawn for: those the client measures (but the
/// error rate of some requests only: the timeline counts errors of all).
fn sides(verdicts: &[Verdict]) -> Vec<(&Verdict, &ClientSide)> {
    verdicts
        .iter()
        .filter_map(|v| v.client_side.as_ref().map(|s| (v, s)))
        .filter(|(_, s)| s.requests.is_empty() || s.measure != ClientMeasure::ApiErrors)
        .collect()
}

/// Per SLO, per slice tallies from the interval log.
fn from_log(sides: &[(&Verdict, &ClientSide)], slice_s: f64, log: &Path) -> Vec<Vec<Tally>> {
    let mut tallies = vec![Vec::new(); sides.len()];
    let Ok(mut reader) = LogReader::open(log) else {
        return tallies;
    };
    while let Some(Ok(record)) = reader.next_encoded() {
        let tag = record.tag.as_deref().unwrap_or_default();
        let feeds: Vec<(usize, Feed)> = sides
            .iter()
            .enumerate()
            .filter_map(|(i, (_, side))| feed(side, tag).map(|f| (i, f)))
            .collect();
        if feeds.is_empty() {
            continue;
        }
        let Ok(counts) = decode_counts(&record.bytes) else {
            continue;
        };
        let slice = (record.start.as_secs_f64() / slice_s + 1e-6).floor() as usize;
        for (i, f) in feeds {
            let t = &mut tallies[i];
            if t.len() <= slice {
                t.resize(slice + 1, Tally::default());
            }
            t[slice].add(&f, &counts);
        }
    }
    tallies
}

/// Per slice tallies from the timeline: the error rate's requests not accepted
/// over requests; completion's completed journeys over journeys that ended;
/// plan failure's failed jobs over jobs that ended (of the flow the SLO reads).
fn from_timeline(side: &ClientSide, timeline: &Timeline) -> Vec<Tally> {
    let ended =
        |s: &crate::summary::Slice, flow: &str| s.outcomes.get(flow).copied().unwrap_or_default();
    let flow = |default: &'static str| side.flow.as_deref().unwrap_or(default);
    timeline
        .slices
        .iter()
        .map(|s| match side.measure {
            ClientMeasure::OnboardingCompletion => {
                let o = ended(s, flow("onboarding"));
                Tally {
                    part: o.completed,
                    total: o.completed + o.failed + o.abandoned,
                }
            }
            ClientMeasure::PlanFailure => {
                let o = ended(s, flow("plans"));
                Tally {
                    part: o.failed,
                    total: o.completed + o.failed,
                }
            }
            _ => Tally {
                part: s.errors,
                total: s.requests,
            },
        })
        .collect()
}

/// The stage running `t_s` seconds into the run.
fn stage_at(stages: &[StageRun], start_ms: u64, t_s: f64) -> Option<String> {
    let at = start_ms + (t_s * 1000.0) as u64;
    stages
        .iter()
        .find(|s| s.start_ms <= at && at < s.end_ms)
        .map(|s| s.name.clone())
}

/// "1m35s", "42s".
fn clock(t_s: f64) -> String {
    let s = t_s.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The first slice of [`PERSIST`] consecutive valued slices past the objective
/// (of all of them, in a run with fewer).
fn first_persistent_miss<'a>(side: &ClientSide, points: &'a [SliPoint]) -> Option<&'a SliPoint> {
    let valued: Vec<&SliPoint> = points.iter().filter(|p| p.value.is_some()).collect();
    let need = PERSIST.min(valued.len()).max(1);
    let misses = |p: &SliPoint| p.value.is_some_and(|v| !side.op.holds(v, side.goal));
    valued
        .windows(need)
        .find(|w| w.iter().all(|p| misses(p)))
        .map(|w| w[0])
}

fn breach(side: &ClientSide, points: &[SliPoint], summary: &RunSummary) -> Option<Breach> {
    let p = first_persistent_miss(side, points)?;
    let value = p.value?;
    let stage = stage_at(&summary.stages, summary.start_ms, p.t_s);
    let what = match side.threshold_seconds {
        Some(t) => format!("{} within {} s", percent(value), slo::format::trim_float(t)),
        None => percent(value),
    };
    let text = format!(
        "first missed the objective {}{}: {what} against {} {}",
        clock(p.t_s),
        stage
            .as_ref()
            .map(|s| format!(" into the run (stage {s})"))
            .unwrap_or_else(|| " into the run".into()),
        side.op.as_str(),
        percent(side.goal)
    );
    Some(Breach {
        t_s: p.t_s,
        value,
        stage,
        text,
    })
}

/// Each client-measured SLO's indicator per slice, for the verdicts of one window.
pub fn timelines(
    verdicts: &[Verdict],
    summary: &RunSummary,
    timeline: &Timeline,
    log: &Path,
) -> Vec<SloTimeline> {
    let slice_s = if summary.slice_seconds > 0.0 {
        summary.slice_seconds
    } else {
        timeline.slice_seconds.max(0.001)
    };
    let sides = sides(verdicts);
    let mut logged = from_log(&sides, slice_s, log);
    sides
        .iter()
        .enumerate()
        .map(|(i, (verdict, side))| {
            let tallies = match side.measure {
                ClientMeasure::ApiLatency | ClientMeasure::PlanDuration => {
                    std::mem::take(&mut logged[i])
                }
                _ => from_timeline(side, timeline),
            };
            let points: Vec<SliPoint> = tallies
                .iter()
                .enumerate()
                .map(|(k, t)| SliPoint {
                    t_s: k as f64 * slice_s,
                    value: (t.total >= MIN_EVENTS).then(|| t.part as f64 / t.total as f64),
                    events: t.total,
                })
                .collect();
            SloTimeline {
                slo: verdict.slo.clone(),
                op: side.op,
                goal: side.goal,
                first_breach: breach(side, &points, summary),
                points,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side() -> ClientSide {
        ClientSide {
            requests: Vec::new(),
            flow: None,
            measure: ClientMeasure::ApiErrors,
            threshold_seconds: None,
            op: Op::Lt,
            goal: 0.01,
        }
    }

    fn points(values: &[Option<f64>]) -> Vec<SliPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| SliPoint {
                t_s: i as f64,
                value: *v,
                events: 10,
            })
            .collect()
    }

    #[test]
    fn a_breach_is_the_first_of_three_slices_past_the_objective() {
        let s = side();
        let noisy = points(&[Some(0.0), Some(0.5), Some(0.0), Some(0.0), Some(0.0)]);
        assert_eq!(first_persistent_miss(&s, &noisy), None, "one noisy slice");
        let bad = points(&[Some(0.0), Some(0.2), None, Some(0.3), Some(0.1), Some(0.0)]);
        assert_eq!(
            first_persistent_miss(&s, &bad).map(|p| p.t_s),
            Some(1.0),
            "gaps skipped"
        );
        let short = points(&[Some(0.2), Some(0.3)]);
        assert_eq!(first_persistent_miss(&s, &short).map(|p| p.t_s), Some(0.0));
        assert_eq!(first_persistent_miss(&s, &points(&[None, None])), None);
    }

    #[test]
    fn feeds_follow_the_client_measurements() {
        let mut t = Tally::default();
        let latency = ClientSide {
            requests: Vec::new(),
            flow: None,
            measure: ClientMeasure::ApiLatency,
            threshold_seconds: Some(2.0),
            op: Op::Ge,
            goal: 0.95,
        };
        let ok = feed(&latency, "svc.req.plan_status").unwrap();
        t.add(&ok, &[(1_000, 3), (2_000_000, 1), (2_500_000, 2)]);
        assert_eq!((t.part, t.total), (4, 6), "accepted ones within 2 s");
        let failed = feed(&latency, "failed.svc.req.plan_status").unwrap();
        t.add(&failed, &[(1_000, 3), (30_000_000, 2)]);
        assert_eq!(
            (t.part, t.total),
            (4, 8),
            "slow failures are late, fast ones not counted"
        );
        assert!(
            feed(&latency, "req.plan_status").is_none(),
            "service time only"
        );
    }

    #[test]
    fn completion_per_slice_is_over_the_journeys_that_ended_in_it() {
        let slice = |completed, failed, abandoned| crate::summary::Slice {
            outcomes: [(
                "onboarding".to_string(),
                crate::summary::Outcomes {
                    completed,
                    failed,
                    abandoned,
                },
            )]
            .into(),
            ..Default::default()
        };
        let timeline = Timeline {
            slice_seconds: 1.0,
            slices: vec![slice(0, 0, 0), slice(6, 2, 2)],
        };
        let side = ClientSide {
            measure: ClientMeasure::OnboardingCompletion,
            flow: Some("signup".into()),
            op: Op::Ge,
            goal: 0.8,
            ..side()
        };
        let renamed = |s: crate::summary::Slice| crate::summary::Slice {
            outcomes: s
                .outcomes
                .into_values()
                .map(|o| ("signup".to_string(), o))
                .collect(),
            ..s
        };
        let timeline = Timeline {
            slice_seconds: 1.0,
            slices: timeline.slices.into_iter().map(renamed).collect(),
        };
        let t = from_timeline(&side, &timeline);
        assert_eq!(
            (t[0].part, t[0].total),
            (0, 0),
            "no journey ended yet: no value"
        );
        assert_eq!(
            (t[1].part, t[1].total),
            (6, 10),
            "abandoned ones count against"
        );
    }
}
