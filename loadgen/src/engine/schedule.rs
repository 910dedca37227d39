//! When an arrival rate's iterations are due: the slots of a rate plan.
//!
//! The plan is stages whose rate changes linearly from the previous stage's; the
//! `k`-th uniform slot is where the planned count reaches `k` (`∫ rate dt = k`,
//! solved exactly inside a stage), so a ramp's slots are as many as its area.
//! Poisson slots draw exponential gaps at the rate of the moment. A worker `I`
//! of `N` (distributed runs) takes slots `I/N` of a slot apart from the others.

use std::time::Duration;

use rand_distr::{Distribution, Exp};

use crate::scenario::{ArrivalRate, Arrivals};

/// The due times of a plan's iterations, from the flow's start.
pub struct Schedule {
    /// (start s, duration s, rate at start, rate at end, slots before the stage).
    stages: Vec<(f64, f64, f64, f64, f64)>,
    end: f64,
    arrivals: Arrivals,
    /// The next slot's number (uniform), or the last slot's time (Poisson).
    k: f64,
    t: f64,
}

impl Schedule {
    /// The schedule of `plan`, shifted by `phase` of a slot (0 for a lone generator).
    pub fn new(plan: &ArrivalRate, phase: f64) -> Schedule {
        let mut stages = Vec::new();
        let (mut start, mut from, mut count) = (0.0, plan.initial_rate, 0.0);
        for s in &plan.stages {
            let d = s.duration.as_secs_f64();
            stages.push((start, d, from, s.rate, count));
            count += (from + s.rate) / 2.0 * d;
            start += d;
            from = s.rate;
        }
        Schedule {
            stages,
            end: start,
            arrivals: plan.arrivals,
            k: phase.clamp(0.0, 1.0),
            t: 0.0,
        }
    }

    /// The rate at `t` seconds.
    fn rate_at(&self, t: f64) -> f64 {
        self.stages
            .iter()
            .find(|(s, d, ..)| t >= *s && t < s + d)
            .map(|(s, d, r0, r1, _)| r0 + (r1 - r0) * (t - s) / d)
            .unwrap_or(0.0)
    }

    /// When the planned count reaches `k`; `None` past the plan's end.
    fn time_of(&self, k: f64) -> Option<f64> {
        for &(start, d, r0, r1, before) in &self.stages {
            let need = k - before;
            let area = (r0 + r1) / 2.0 * d;
            if need > area {
                continue;
            }
            // r0·x + (r1 - r0)/(2d)·x² = need, for x in [0, d].
            let a = (r1 - r0) / (2.0 * d);
            let x = if a.abs() < 1e-12 {
                if r0 <= 0.0 { d } else { need / r0 }
            } else {
                let disc = (r0 * r0 + 4.0 * a * need).max(0.0);
                (-r0 + disc.sqrt()) / (2.0 * a)
            };
            return Some(start + x.clamp(0.0, d));
        }
        None
    }

    /// The next slot, from the flow's start; `None` when the plan is over.
    pub fn next_slot(&mut self) -> Option<Duration> {
        let t = match self.arrivals {
            Arrivals::Uniform => {
                let t = self.time_of(self.k)?;
                self.k += 1.0;
                t
            }
            Arrivals::Poisson => loop {
                let rate = self.rate_at(self.t).max(self.rate_at(self.t + 0.001));
                if rate <= 0.0 {
                    // A stage at rate 0: move to the next instant that has a rate.
                    self.t += 0.01;
                    if self.t >= self.end {
                        return None;
                    }
                    continue;
                }
                let gap = Exp::new(rate)
                    .map(|e| e.sample(&mut rand::rng()))
                    .unwrap_or(1.0 / rate);
                self.t += gap;
                break self.t;
            },
        };
        (t < self.end).then(|| Duration::from_secs_f64(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::RateStage;

    fn plan(initial: f64, stages: &[(f64, u64)], arrivals: Arrivals) -> ArrivalRate {
        ArrivalRate {
            stages: stages
                .iter()
                .map(|(rate, s)| RateStage {
                    rate: *rate,
                    duration: Duration::from_secs(*s),
                })
                .collect(),
            initial_rate: initial,
            pre_allocated: 1,
            max_users: 1,
            arrivals,
            max_start_delay: Duration::ZERO,
            shares_load: false,
        }
    }

    fn all(mut s: Schedule) -> Vec<f64> {
        std::iter::from_fn(|| s.next_slot().map(|d| d.as_secs_f64())).collect()
    }

    #[test]
    fn a_constant_rate_has_evenly_spaced_slots() {
        let slots = all(Schedule::new(
            &plan(10.0, &[(10.0, 2)], Arrivals::Uniform),
            0.0,
        ));
        assert_eq!(slots.len(), 20);
        assert!((slots[1] - slots[0] - 0.1).abs() < 1e-9);
        assert!((slots[19] - 1.9).abs() < 1e-9);
        // Half a slot later for a second worker.
        let shifted = all(Schedule::new(
            &plan(10.0, &[(10.0, 2)], Arrivals::Uniform),
            0.5,
        ));
        assert!((shifted[0] - 0.05).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_holds_as_many_slots_as_its_area() {
        // 0 to 100/s over 10 s: 500 slots, denser at the end.
        let slots = all(Schedule::new(
            &plan(0.0, &[(100.0, 10)], Arrivals::Uniform),
            0.0,
        ));
        assert!((499..=501).contains(&slots.len()), "{}", slots.len());
        let first_half = slots.iter().filter(|t| **t < 5.0).count();
        assert!((120..=130).contains(&first_half), "{first_half}");
        // Then hold 100/s for 2 s: 200 more.
        let slots = all(Schedule::new(
            &plan(0.0, &[(100.0, 10), (100.0, 2)], Arrivals::Uniform),
            0.0,
        ));
        assert!((699..=701).contains(&slots.len()), "{}", slots.len());
    }

    #[test]
    fn poisson_arrivals_keep_the_mean_rate() {
        let slots = all(Schedule::new(
            &plan(200.0, &[(200.0, 20)], Arrivals::Poisson),
            0.0,
        ));
        let n = slots.len() as f64;
        assert!((n - 4000.0).abs() < 4.0 * 4000f64.sqrt(), "{n}");
        let gaps: Vec<f64> = slots.windows(2).map(|w| w[1] - w[0]).collect();
        let sd = {
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt()
        };
        assert!(
            (sd - 0.005).abs() < 0.001,
            "exponential gaps: sd near the mean, {sd}"
        );
    }
}
