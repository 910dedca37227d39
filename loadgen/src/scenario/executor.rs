//! Checks of each flow's executor and shape: closed users (a share of `[load]`,
//! or the flow's own stages), a constant or ramping arrival rate, and the old
//! `pace` spelling of a constant rate.
//!
//! Stage kinds mean what they say: a `ramp` changes users linearly, a `steady` or
//! `soak` stage holds the users the previous stage ended with (a steady stage at
//! another count is refused, with the fix), a `spike` jumps to its users at once.

use std::time::Duration;

use slo::schema::Checker;
use slo::toml_file::FileError;

use super::file::{FlowSection, FlowStageSection};
use super::{ArrivalRate, Arrivals, Executor, ExecutorKind, RateStage, Stage, StageKind};

/// Paced flows (the old `pace`): an iteration may wait this long for a user.
pub const DEFAULT_MAX_START_DELAY: Duration = Duration::from_secs(5);
/// Arrival rates: users ready before the load, per iteration per second (enough
/// when an iteration takes up to 100 ms).
const PRE_ALLOCATED_PER_RATE: f64 = 0.1;
/// Arrival rates: the pool may grow to this many users per iteration per second
/// (enough when an iteration takes up to 2 s).
const MAX_USERS_PER_RATE: f64 = 2.0;

/// Refuses the keys of one kind of executor set on another.
fn forbid_keys(c: &Checker, i: usize, kind: &str, keys: &[(&str, bool)]) -> Result<(), FileError> {
    for (key, set) in keys {
        c.forbid(
            &format!("flows[{i}].{key}"),
            *set,
            &format!("{key} does not apply to a {kind} flow"),
            "remove it, or choose the executor it belongs to",
        )?;
    }
    Ok(())
}

/// Checks stage kinds against the users they start from.
pub fn check_shape(c: &Checker, key: &str, stages: &[Stage]) -> Result<(), FileError> {
    let mut users = 0;
    for (i, s) in stages.iter().enumerate() {
        if matches!(s.kind, StageKind::Steady | StageKind::Soak) && s.users != users {
            return Err(c.error(
                &format!("{key}[{i}].kind"),
                format!(
                    "a {} stage holds the users the previous stage ended with ({users}), not {}",
                    s.kind, s.users
                ),
                format!(
                    "use kind = \"ramp\" to change to {} users gradually, or \"spike\" to jump at once",
                    s.users
                ),
            ));
        }
        users = s.users;
    }
    Ok(())
}

fn whole_seconds(c: &Checker, key: &str, d: Duration) -> Result<Duration, FileError> {
    if d >= Duration::from_secs(1) && d.subsec_millis() == 0 {
        Ok(d)
    } else {
        Err(c.error(
            key,
            format!(
                "{} is not a whole number of seconds",
                humantime::format_duration(d)
            ),
            "stages last whole seconds: 1s or more",
        ))
    }
}

/// A flow's own closed stages (`stages`, or `users` for `duration`).
fn closed_stages(c: &Checker, i: usize, f: &FlowSection) -> Result<Option<Vec<Stage>>, FileError> {
    let key = format!("flows[{i}].stages");
    let stages = match (&f.stages, f.users, f.duration) {
        (None, None, None) => return Ok(None),
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(c.error(
                &key,
                "both stages and users/duration are set",
                "keep stages, or users with duration",
            ));
        }
        (Some(list), None, None) => list
            .iter()
            .enumerate()
            .map(|(j, s)| closed_stage(c, &format!("{key}[{j}]"), j, s))
            .collect::<Result<Vec<_>, _>>()?,
        (None, users, duration) => {
            let users = users.ok_or_else(|| {
                c.error(
                    &format!("flows[{i}].users"),
                    "missing",
                    "set users with duration",
                )
            })?;
            let d = duration.ok_or_else(|| {
                c.error(
                    &format!("flows[{i}].duration"),
                    "missing",
                    "set duration with users",
                )
            })?;
            vec![Stage {
                name: "users".to_string(),
                kind: StageKind::Spike,
                users,
                duration: whole_seconds(c, &format!("flows[{i}].duration"), d.get())?,
            }]
        }
    };
    if stages.is_empty() || stages.iter().all(|s| s.users == 0) {
        return Err(c.error(
            &key,
            "no users in any stage",
            "give at least one stage some users",
        ));
    }
    check_shape(c, &key, &stages)?;
    Ok(Some(stages))
}

fn closed_stage(
    c: &Checker,
    key: &str,
    j: usize,
    s: &FlowStageSection,
) -> Result<Stage, FileError> {
    c.forbid(
        &format!("{key}.rate"),
        s.rate.is_some(),
        "rate is for arrival-rate stages",
        "set users instead",
    )?;
    let users = s
        .users
        .ok_or_else(|| c.error(&format!("{key}.users"), "missing", "set users = N"))?;
    let kind = s.kind.unwrap_or(StageKind::Ramp);
    Ok(Stage {
        name: s
            .name
            .clone()
            .unwrap_or_else(|| format!("{kind} {}", j + 1)),
        kind,
        users,
        duration: whole_seconds(c, &format!("{key}.duration"), s.duration.get())?,
    })
}

fn positive_rate(c: &Checker, key: &str, rate: f64) -> Result<f64, FileError> {
    if rate > 0.0 && rate.is_finite() {
        Ok(rate)
    } else {
        Err(c.error(
            key,
            format!("{rate} is not a rate"),
            "use a positive number of iterations per second",
        ))
    }
}

/// The users of an arrival rate: given, or sized from its peak rate.
fn pool(c: &Checker, i: usize, f: &FlowSection, peak: f64) -> Result<(u64, u64), FileError> {
    let pre = f
        .pre_allocated_users
        .unwrap_or_else(|| (peak * PRE_ALLOCATED_PER_RATE).ceil().max(1.0) as u64);
    let max = f
        .max_users
        .unwrap_or_else(|| pre.max((peak * MAX_USERS_PER_RATE).ceil() as u64));
    c.forbid(
        &format!("flows[{i}].pre_allocated_users"),
        pre == 0,
        "0 users",
        "pre-allocate at least 1 user",
    )?;
    c.forbid(
        &format!("flows[{i}].max_users"),
        max < pre,
        &format!("max_users ({max}) is below pre_allocated_users ({pre})"),
        "raise max_users to at least pre_allocated_users",
    )?;
    Ok((pre, max))
}

/// The rate stages of a ramping arrival rate.
fn ramping_stages(c: &Checker, i: usize, f: &FlowSection) -> Result<Vec<RateStage>, FileError> {
    let key = |k: &str| format!("flows[{i}].{k}");
    let list = f.stages.as_ref().ok_or_else(|| {
        c.error(
            &key("stages"),
            "missing",
            "list stages = [{ rate = 10, duration = \"30s\" }, ...]",
        )
    })?;
    let mut out = Vec::new();
    for (j, s) in list.iter().enumerate() {
        let at = format!("flows[{i}].stages[{j}]");
        c.forbid(
            &format!("{at}.users"),
            s.users.is_some(),
            "users are for closed stages",
            "set rate instead",
        )?;
        let rate = s.rate.ok_or_else(|| {
            c.error(
                &format!("{at}.rate"),
                "missing",
                "set rate = iterations per second at the stage's end",
            )
        })?;
        c.forbid(
            &format!("{at}.rate"),
            !(rate >= 0.0 && rate.is_finite()),
            "not a rate",
            "use 0 or more iterations per second",
        )?;
        out.push(RateStage {
            rate,
            duration: whole_seconds(c, &format!("{at}.duration"), s.duration.get())?,
        });
    }
    Ok(out)
}

/// A constant or ramping arrival rate.
fn arrival(
    c: &Checker,
    i: usize,
    f: &FlowSection,
    kind: ExecutorKind,
    load: Duration,
) -> Result<ArrivalRate, FileError> {
    let key = |k: &str| format!("flows[{i}].{k}");
    forbid_keys(
        c,
        i,
        kind.as_str(),
        &[
            ("users", f.users.is_some()),
            ("iterations", f.iterations.is_some()),
        ],
    )?;
    let (initial_rate, stages) = if kind == ExecutorKind::ConstantArrivalRate {
        c.forbid(
            &key("stages"),
            f.stages.is_some(),
            "stages are for ramping-arrival-rate",
            "set rate and duration",
        )?;
        let rate = positive_rate(
            c,
            &key("rate"),
            f.rate.ok_or_else(|| {
                c.error(&key("rate"), "missing", "set rate = iterations per second")
            })?,
        )?;
        let duration = match f.duration {
            Some(d) => d.get(),
            None if !load.is_zero() => load,
            None => {
                return Err(c.error(&key("duration"), "missing", "set duration, such as \"30s\""));
            }
        };
        (
            rate,
            vec![RateStage {
                rate,
                duration: whole_seconds(c, &key("duration"), duration)?,
            }],
        )
    } else {
        (f.rate.unwrap_or(0.0).max(0.0), ramping_stages(c, i, f)?)
    };
    let mut plan = ArrivalRate {
        stages,
        initial_rate,
        pre_allocated: 0,
        max_users: 0,
        arrivals: f.arrivals.unwrap_or(Arrivals::Uniform),
        max_start_delay: f.max_start_delay.map_or(Duration::ZERO, |d| d.get()),
        shares_load: false,
    };
    c.forbid(
        &key("stages"),
        plan.peak_rate() <= 0.0,
        "every rate is 0",
        "give a stage a rate above 0",
    )?;
    (plan.pre_allocated, plan.max_users) = pool(c, i, f, plan.peak_rate())?;
    Ok(plan)
}

/// The old spelling of a constant arrival rate: `pace` over the whole `[load]`,
/// by the flow's share of the users (`share`, filled in once shares are known).
fn paced(
    c: &Checker,
    i: usize,
    f: &FlowSection,
    pace: f64,
    load: Duration,
) -> Result<ArrivalRate, FileError> {
    forbid_keys(
        c,
        i,
        "paced",
        &[
            ("rate", f.rate.is_some()),
            ("stages", f.stages.is_some()),
            ("users", f.users.is_some()),
        ],
    )?;
    let rate = positive_rate(c, &format!("flows[{i}].pace"), pace)?;
    Ok(ArrivalRate {
        stages: vec![RateStage {
            rate,
            duration: load,
        }],
        initial_rate: rate,
        pre_allocated: 0,
        max_users: 0,
        arrivals: f.arrivals.unwrap_or(Arrivals::Uniform),
        max_start_delay: f
            .max_start_delay
            .map_or(DEFAULT_MAX_START_DELAY, |d| d.get()),
        shares_load: true,
    })
}

/// A flow's executor; `load` is the length of `[load]` (zero when there is none).
pub fn check_executor(
    c: &Checker,
    i: usize,
    f: &FlowSection,
    load: Duration,
) -> Result<Executor, FileError> {
    let key = |k: &str| format!("flows[{i}].{k}");
    match (f.executor, f.pace) {
        (Some(_), Some(_)) => Err(c.error(
            &key("pace"),
            "pace and executor are both set",
            "pace is the old spelling of executor = \"constant-arrival-rate\" with rate: keep one",
        )),
        (None, Some(pace)) => Ok(Executor::Arrival(paced(c, i, f, pace, load)?)),
        (None | Some(ExecutorKind::Closed), None) => {
            forbid_keys(
                c,
                i,
                "closed",
                &[
                    ("rate", f.rate.is_some()),
                    ("pre_allocated_users", f.pre_allocated_users.is_some()),
                    ("max_users", f.max_users.is_some()),
                    ("arrivals", f.arrivals.is_some()),
                    ("max_start_delay", f.max_start_delay.is_some()),
                ],
            )?;
            Ok(Executor::Closed {
                stages: closed_stages(c, i, f)?,
                iterations: f.iterations,
            })
        }
        (Some(kind), None) => Ok(Executor::Arrival(arrival(c, i, f, kind, load)?)),
    }
}

/// Whether a flow takes a share of `[load]`'s users (a closed flow without its
/// own shape, or a paced one).
pub fn shares_load(e: &Executor, f: &FlowSection) -> bool {
    matches!(e, Executor::Closed { stages: None, .. }) || f.pace.is_some()
}
