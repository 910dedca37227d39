//! promtool unit tests of the generated budget alerts, synthesised from each SLO's
//! selectors: for each burn-rate alert a breaching series (it fires, with its exact
//! labels and annotations) once per window pair with only that pair burning, a
//! healthy series (silent) and too few events (silent: every request fails, but
//! fewer than `min_samples` of them); for each threshold alert of an event SLO the
//! same too-few case. The expectations come from the SLO's budget, windows
//! and minimum event count, not from the alert expressions, so promtool checks the
//! generated PromQL against what each alert is meant to do.
//!
//! `loadgen rules --tests FILE` writes them; `promtool test rules FILE` runs them.

use std::fmt::Write;
use std::time::Duration;

use super::burn::{self, Urgency, WindowPair};
use super::{threshold, yaml_string};
use crate::definition::{Kind, Slo, SloSet};
use crate::duration::promql as window_text;
use crate::format::{percent, trim_float};
use crate::selector::Selector;

/// Rule evaluation step of the tests: coarse, so three days take about 80 steps.
/// Each step reads the raw samples, so the windows are exact at every step; a
/// `for` up to an hour is met by the next step, a longer one within its cases'
/// margin (each firing case has burnt for its pair's `for` and a step more).
const EVALUATION_INTERVAL: Duration = Duration::from_secs(3600);
/// Events per sample step of the synthetic series: enough for the ratios to be
/// written to three decimals.
const EVENTS_PER_STEP: u64 = 1000;

/// The values of one synthetic counter, sample by sample.
#[derive(Debug, Clone)]
enum Counts {
    /// Grows by `.0` a step for `.1` steps, phase after phase; the last phase lasts
    /// to the end of the series.
    Phases(Vec<(u64, u64)>),
    /// One event every `.0` steps, the last at step `.1`.
    Trickle(u64, u64),
}

impl Counts {
    const ZERO: Counts = Counts::Phases(Vec::new());

    /// promtool's expanding notation for `steps` steps (`steps + 1` samples).
    fn values(&self, steps: u64) -> String {
        let phases = match self {
            &Counts::Trickle(gap, last) => return trickle(gap, last, steps),
            Counts::Phases(p) if p.is_empty() => return format!("0x{steps}"),
            Counts::Phases(p) => p,
        };
        let (mut terms, mut value, mut left) = (vec!["0".to_string()], 0, steps);
        for (i, &(inc, n)) in phases.iter().enumerate() {
            let n = if i + 1 == phases.len() {
                left
            } else {
                n.min(left)
            };
            if n == 0 {
                continue;
            }
            terms.push(format!("{}+{inc}x{}", value + inc, n - 1));
            value += inc * n;
            left -= n;
        }
        terms.join(" ")
    }
}

/// promtool notation of a counter growing by one at `last`, `last - gap`, ...
fn trickle(gap: u64, last: u64, steps: u64) -> String {
    let first = last % gap;
    let mut terms = Vec::new();
    let (mut value, mut at) = (0, 0);
    for event in (first..=last).step_by(gap as usize).filter(|&e| e > 0) {
        terms.push(format!("{value}x{}", event - at - 1));
        value += 1;
        at = event;
    }
    terms.push(format!("{value}x{}", steps - at));
    terms.join(" ")
}

/// Bad, good and total counters for phases of (bad, total) events a step.
fn split(phases: &[(u64, u64, u64)]) -> [Counts; 3] {
    let each = |f: &dyn Fn(u64, u64) -> u64| {
        Counts::Phases(phases.iter().map(|&(b, t, n)| (f(b, t), n)).collect())
    };
    [each(&|b, _| b), each(&|b, t| t - b), each(&|_, t| t)]
}

/// A series matched by `selector` (its `=` matchers as labels) with `extra` labels.
fn series_name(selector: &Selector, name: &str, extra: &[(&str, String)]) -> String {
    let mut labels: Vec<String> = selector
        .matchers
        .iter()
        .filter_map(|m| match (m.equal, m.value.is_empty()) {
            (true, _) => Some(format!("{}={:?}", m.label, m.value)),
            // A label that must not be empty gets a value; `!= "v"` is met by absence.
            (false, true) => Some(format!("{}=\"x\"", m.label)),
            (false, false) => None,
        })
        .collect();
    labels.extend(extra.iter().map(|(k, v)| format!("{k}={v:?}")));
    format!("{name}{{{}}}", labels.join(","))
}

/// The input series giving `bad` bad and `total` events a step, or `None` when the
/// selectors overlap in a way these tests cannot synthesise.
fn input_series(slo: &Slo, [bad, good, total]: [Counts; 3]) -> Option<Vec<(String, Counts)>> {
    match &slo.kind {
        Kind::Ratio(r) => {
            let (mine, other) = if r.numerator_is_bad {
                (bad, good)
            } else {
                (good, bad)
            };
            let rest: Vec<&Selector> = r
                .total
                .iter()
                .filter(|t| !r.numerator.contains(t))
                .collect();
            let mut out = vec![(
                series_name(&r.numerator[0], &r.numerator[0].name, &[]),
                mine,
            )];
            out.extend(
                r.numerator[1..]
                    .iter()
                    .map(|s| (series_name(s, &s.name, &[]), Counts::ZERO)),
            );
            if rest.len() < r.total.len() {
                // The numerator is part of the total: the rest of the total is the complement.
                if rest.len() + r.numerator.len() != r.total.len() || rest.is_empty() {
                    return None;
                }
                out.push((series_name(rest[0], &rest[0].name, &[]), other));
                out.extend(
                    rest[1..]
                        .iter()
                        .map(|s| (series_name(s, &s.name, &[]), Counts::ZERO)),
                );
            } else {
                if r.total
                    .iter()
                    .any(|t| r.numerator.iter().any(|n| n.name == t.name))
                {
                    return None;
                }
                out.push((series_name(&r.total[0], &r.total[0].name, &[]), total));
                out.extend(
                    r.total[1..]
                        .iter()
                        .map(|s| (series_name(s, &s.name, &[]), Counts::ZERO)),
                );
            }
            Some(out)
        }
        Kind::Latency(l) => {
            let h = &l.histogram;
            Some(vec![
                (
                    series_name(
                        h,
                        &format!("{}_bucket", h.name),
                        &[("le", trim_float(l.threshold_seconds))],
                    ),
                    good,
                ),
                (series_name(h, &format!("{}_count", h.name), &[]), total),
            ])
        }
        Kind::Gauge(_) | Kind::Query(_) => None,
    }
}

/// Bad events a step for a share of bad events clearly above `threshold`, and at
/// most all events.
fn above(threshold: f64) -> u64 {
    let e = (threshold * 1.5).min((threshold + 1.0) / 2.0);
    let bad = (e * EVENTS_PER_STEP as f64).round() as u64;
    bad.max((threshold * EVENTS_PER_STEP as f64).floor() as u64 + 1)
        .min(EVENTS_PER_STEP)
}

/// Bad events a step for a share of bad events strictly between two thresholds.
fn between(low: f64, high: f64) -> u64 {
    ((low + high) / 2.0 * EVENTS_PER_STEP as f64).round() as u64
}

/// One test group: series, then whether `alert` fires at `eval` with `expected`.
struct Case<'a> {
    name: String,
    step: Duration,
    eval: Duration,
    series: Vec<(String, Counts)>,
    alert: String,
    expected: Option<&'a dyn Fn(&mut String)>,
}

fn write_case(case: &Case, out: &mut String) {
    let steps = (case.eval + case.step * 2).as_secs() / case.step.as_secs();
    let _ = writeln!(out, "  - name: {}", yaml_string(&case.name));
    let _ = writeln!(out, "    interval: {}", window_text(case.step));
    let _ = writeln!(out, "    input_series:");
    for (series, counts) in &case.series {
        let _ = writeln!(out, "      - series: {}", yaml_string(series));
        let _ = writeln!(out, "        values: '{}'", counts.values(steps));
    }
    let _ = writeln!(out, "    alert_rule_test:");
    let _ = writeln!(out, "      - eval_time: {}", window_text(case.eval));
    let _ = writeln!(out, "        alertname: {}", case.alert);
    match case.expected {
        None => {
            let _ = writeln!(out, "        exp_alerts: []");
        }
        Some(write) => {
            let _ = writeln!(out, "        exp_alerts:");
            write(out);
        }
    }
    out.push('\n');
}

/// The step of a pair's series: a minute for windows up to 6 hours, else 15 minutes
/// (the shortest window there, 2 hours, still holds 8 steps).
fn step_for(pair: &WindowPair) -> Duration {
    if pair.long <= Duration::from_secs(6 * 3600) {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(900)
    }
}

/// The firing pair rule's labels and annotations, as [`burn`] writes them.
fn expected_burn_alert(
    slo: &Slo,
    urgency: Urgency,
    pair: &WindowPair,
    budget: f64,
    out: &mut String,
) {
    let _ = writeln!(out, "          - exp_labels:");
    let _ = writeln!(out, "              severity: {}", urgency.severity());
    let _ = writeln!(out, "              slo: {}", slo.name);
    if !slo.area.is_empty() {
        let _ = writeln!(out, "              area: {}", slo.area);
    }
    let _ = writeln!(out, "              long_window: {}", window_text(pair.long));
    let _ = writeln!(
        out,
        "              short_window: {}",
        window_text(pair.short)
    );
    let _ = writeln!(out, "            exp_annotations:");
    for (key, value) in burn::annotations(slo, pair, budget) {
        let _ = writeln!(out, "              {key}: {}", yaml_string(&value));
    }
}

/// `d` rounded up to a whole number of evaluation steps.
fn on_step(d: Duration) -> Duration {
    let ei = EVALUATION_INTERVAL.as_secs();
    Duration::from_secs(d.as_secs().div_ceil(ei) * ei)
}

/// The share of a step's events `bad` is, as a percentage.
fn share(bad: u64) -> String {
    percent(bad as f64 / EVENTS_PER_STEP as f64)
}

/// Writes one burn-rate case over steady or phased counts.
struct BurnAlert<'a> {
    slo: &'a Slo,
    urgency: Urgency,
    budget: f64,
    pairs: Vec<WindowPair>,
    step: Duration,
    eval: Duration,
}

impl BurnAlert<'_> {
    /// A case; `fires`: the pair whose rule alone fires.
    fn case(
        &self,
        name: String,
        phases: &[(u64, u64, u64)],
        fires: Option<&WindowPair>,
        out: &mut String,
    ) {
        let Some(series) = input_series(self.slo, split(phases)) else {
            return;
        };
        let pair = fires.copied();
        let fire = |o: &mut String| {
            if let Some(p) = &pair {
                expected_burn_alert(self.slo, self.urgency, p, self.budget, o)
            }
        };
        write_case(
            &Case {
                name,
                step: self.step,
                eval: self.eval,
                series,
                alert: burn::alert_name(self.slo, self.urgency),
                expected: fires.map(|_| &fire as &dyn Fn(&mut String)),
            },
            out,
        );
    }

    fn pair_text(p: &WindowPair) -> String {
        format!(
            "{}x over {} and {}",
            trim_float(p.factor),
            window_text(p.long),
            window_text(p.short)
        )
    }

    /// The shorter pair alone: a burst above its threshold after enough good events
    /// that the longer pair's long window stays under half its threshold.
    fn burst(&self, p: &WindowPair, q: &WindowPair, out: &mut String) {
        let (t, bad) = (EVENTS_PER_STEP as f64, above(p.threshold(self.budget)));
        // Long enough that the pair's condition has held for its `for` at the evaluation.
        let burst = p.long + p.hold() + EVALUATION_INTERVAL;
        let (d, l) = (burst.as_secs_f64(), q.long.as_secs_f64());
        let needed = (2.0 * bad as f64 * d / q.threshold(self.budget) - t * d) / (t * (l - d));
        let background = (needed.max(0.0).ceil() as u64 + 1) * EVENTS_PER_STEP;
        let quiet_steps = (self.eval - burst).as_secs() / self.step.as_secs();
        let name = format!(
            "{}: {} bad for the last {} after {background} good events every {}: {} fires, {} does not",
            self.slo.name,
            share(bad),
            window_text(burst),
            window_text(self.step),
            Self::pair_text(p),
            Self::pair_text(q),
        );
        let phases = [(0, background, quiet_steps), (bad, EVENTS_PER_STEP, 0)];
        self.case(name, &phases, Some(p), out);
    }

    /// A steady share of bad events for the whole series.
    fn steady(&self, bad: u64, what: &str, fires: Option<&WindowPair>, out: &mut String) {
        let name = format!(
            "{}: {} bad ({}x the budget) throughout: {what}",
            self.slo.name,
            share(bad),
            trim_float(bad as f64 / EVENTS_PER_STEP as f64 / self.budget),
        );
        self.case(name, &[(bad, EVENTS_PER_STEP, 0)], fires, out);
    }
}

/// The cases of one burn-rate alert: each window pair firing on its own, a healthy
/// series and too few events (both silent).
fn burn_cases(slo: &Slo, urgency: Urgency, budget: f64, out: &mut String) {
    let pairs = burn::reachable(slo, urgency, budget);
    let Some(last) = pairs.last().copied() else {
        return;
    };
    let step = step_for(&last);
    let alert = BurnAlert {
        slo,
        urgency,
        budget,
        eval: on_step(last.long + last.hold() + EVALUATION_INTERVAL * 2),
        step,
        pairs,
    };
    let thr = |p: &WindowPair| p.threshold(budget);
    let name = burn::alert_name(slo, urgency);
    match alert.pairs.as_slice() {
        [first, second] => {
            alert.burst(first, second, out);
            let bad = between(thr(second), thr(first));
            let what = format!(
                "{} fires, {} does not",
                BurnAlert::pair_text(second),
                BurnAlert::pair_text(first)
            );
            alert.steady(bad, &what, Some(second), out);
        }
        _ => alert.steady(
            above(thr(&last)),
            &format!("{name} fires"),
            Some(&last),
            out,
        ),
    }
    let lowest = alert.pairs.iter().map(thr).fold(1.0, f64::min);
    let cool = (lowest * 0.5 * EVENTS_PER_STEP as f64).floor() as u64;
    alert.steady(cool, &format!("{name} is silent"), None, out);
    too_few(slo, &name, step, alert.eval, last.long, out);
}

/// Too few events: every request fails, but the longest window the alert reads
/// holds fewer than `min_samples` of them. The last one lands a step before the
/// evaluation, inside every short window, so only the minimum count keeps the
/// alert silent.
fn too_few(
    slo: &Slo,
    alert: &str,
    step: Duration,
    eval: Duration,
    longest: Duration,
    out: &mut String,
) {
    if slo.min_samples <= 4 {
        return;
    }
    let steps = |d: Duration| d.as_secs() / step.as_secs();
    let gap = steps(longest).div_ceil(slo.min_samples - 3).max(1);
    let events = Counts::Trickle(gap, steps(eval) - 1);
    let Some(series) = input_series(slo, [events.clone(), Counts::ZERO, events]) else {
        return;
    };
    write_case(
        &Case {
            name: format!(
                "{}: every request fails, but one every {} is fewer than {} events in {}: {alert} is silent",
                slo.name,
                window_text(step * gap as u32),
                slo.min_samples,
                window_text(longest),
            ),
            step,
            eval,
            series,
            alert: alert.to_string(),
            expected: None,
        },
        out,
    );
}

/// The test file of a set's budget alerts; `rules_file` is the rules' path relative
/// to the test file.
pub fn render(set: &SloSet, rules_file: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated from {} by `loadgen rules --tests`: do not edit by hand.",
        set.path.display()
    );
    let _ = writeln!(out, "#\n#   promtool test rules <this file>\n#");
    let _ = writeln!(
        out,
        "# Budget alerts: each burn-rate alert fires on a breaching series, is silent on a\n\
         # healthy one and on too few events (all failing, fewer than min_samples); each\n\
         # threshold alert of an event SLO is silent on too few events."
    );
    let _ = writeln!(out, "\nrule_files:\n  - {rules_file}\n");
    let _ = writeln!(
        out,
        "evaluation_interval: {}\n",
        window_text(EVALUATION_INTERVAL)
    );
    let _ = writeln!(
        out,
        "# Recording group first, then the alerts, at every step.\ngroup_eval_order:\n  - {0}-slo-recording\n  - {0}-slo-alerts\n",
        set.name
    );
    let _ = writeln!(out, "tests:");
    for slo in &set.slos {
        let ok = input_series(slo, [Counts::ZERO, Counts::ZERO, Counts::ZERO]).is_some();
        match &slo.kind {
            Kind::Query(q) if !ok => {
                let _ = writeln!(
                    out,
                    "  # {}: written as PromQL ({}); no synthetic series",
                    slo.name, q.why
                );
            }
            Kind::Gauge(_) => {}
            _ if !ok => {
                let _ = writeln!(
                    out,
                    "  # {}: selectors overlap; no synthetic series",
                    slo.name
                );
            }
            _ => {}
        }
        if let Some(budget) = burn::budget(slo) {
            for urgency in Urgency::ALL {
                if ok {
                    burn_cases(slo, urgency, budget, &mut out);
                }
            }
        }
        if ok {
            let step = Duration::from_secs(60);
            let eval = slo.alert_window + slo.alert_for + EVALUATION_INTERVAL * 2;
            too_few(
                slo,
                &threshold::alert_name(slo),
                step,
                eval,
                slo.alert_window,
                &mut out,
            );
        }
    }
    out
}
