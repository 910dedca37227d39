//! Judging an SLO set over a window, from any source that can answer three questions
//! (a [`Reader`]): how much did these counters increase, how did this histogram's
//! buckets increase, and what did this gauge do per service.
//!
//! The rules that make a verdict trustworthy live here, once, for every source:
//! - missing series, too few events or an unreachable source: inconclusive, never pass;
//! - latency is judged as "share of events at or under the threshold >= quantile",
//!   read from the bucket whose `le` is the threshold (exact); without such a bucket
//!   the share is interpolated and the verdict says estimated; a quantile estimate is
//!   shown beside it, never used for the verdict;
//! - the error budget consumed is the bad share over the allowed bad share.

use std::collections::BTreeMap;

use crate::client::ClientData;
use crate::definition::{
    Aggregation, Kind, Slo, SloSet, percent, quantile_name, trim_float, with_unit,
};
use crate::selector::Selector;
use crate::verdict::{ClientView, Detail, Source, Status, Verdict, Window, WindowKind};

/// A gauge's value for one service over the window, with the scrapes behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaugeValue {
    pub value: f64,
    pub samples: u64,
}

/// A source of measurements over a window. `Ok(None)` means the series does not
/// exist in the source; `Err` means the source could not answer.
pub trait Reader {
    fn source(&self) -> Source;

    /// Sum over the selectors' series of their increase within the window.
    fn increase(
        &self,
        selector: &Selector,
        window: Window,
    ) -> impl Future<Output = Result<Option<f64>, String>> + Send;

    /// Increase of each bucket of a histogram (by `le`, `+Inf` last) within the window.
    fn buckets(
        &self,
        histogram: &Selector,
        window: Window,
    ) -> impl Future<Output = Result<Option<Vec<(f64, f64)>>, String>> + Send;

    /// A gauge aggregated over the window, per service (Prometheus job).
    fn gauge(
        &self,
        metric: &Selector,
        aggregation: Aggregation,
        window: Window,
        services: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, GaugeValue>, String>> + Send;

    /// Something the source wants every verdict to mention (window edges, ...).
    fn note(&self, _window: Window) -> Option<String> {
        None
    }

    /// The PromQL this source would evaluate for the SLO, when it speaks PromQL.
    fn query_text(&self, _slo: &Slo, _window: Window) -> Option<String> {
        None
    }
}

fn inconclusive(slo: &Slo, window_kind: WindowKind, source: Source, note: String) -> Verdict {
    Verdict {
        slo: slo.name.clone(),
        description: slo.description.clone(),
        area: slo.area.clone(),
        kind: slo.kind_name().to_string(),
        window: window_kind,
        status: Status::Inconclusive,
        value: None,
        display: "no data".to_string(),
        objective: slo.objective_text(),
        source,
        samples: 0,
        exact: true,
        budget_consumed: None,
        note: Some(note),
        details: Vec::new(),
        client: None,
        query: None,
    }
}

/// Sums the increases of several selectors; missing if any is missing.
async fn sum_increase<R: Reader>(
    reader: &R,
    selectors: &[Selector],
    window: Window,
) -> Result<Result<f64, String>, String> {
    let mut total = 0.0;
    for s in selectors {
        match reader.increase(s, window).await? {
            Some(v) => total += v,
            None => return Ok(Err(format!("no series {s} in the {}", reader.source()))),
        }
    }
    Ok(Ok(total))
}

/// Adds up bucket increases by bound, from (labels, increase) rows: `le` values like
/// `2` and `2.0` are one bound; rows without `le` are skipped; `+Inf` sorts last.
pub fn merge_buckets<'a>(
    histogram: &str,
    rows: impl IntoIterator<Item = (&'a BTreeMap<String, String>, f64)>,
) -> Result<Vec<(f64, f64)>, String> {
    let mut merged: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for (labels, value) in rows {
        let le = match labels.get("le").map(String::as_str) {
            Some("+Inf") => f64::INFINITY,
            Some(v) => v
                .parse()
                .map_err(|_| format!("{histogram}: bad le {v:?}"))?,
            None => continue,
        };
        merged.entry(le.to_bits()).or_insert((le, 0.0)).1 += value;
    }
    let mut buckets: Vec<(f64, f64)> = merged.into_values().collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(buckets)
}

/// Share of a histogram's events at or under `threshold`: (share, exact, count).
pub fn share_within(buckets: &[(f64, f64)], threshold: f64) -> Option<(f64, bool, f64)> {
    let count = buckets
        .iter()
        .find(|(le, _)| le.is_infinite())
        .map(|b| b.1)?;
    if count <= 0.0 {
        return Some((0.0, true, 0.0));
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    if let Some((_, within)) = buckets.iter().find(|(le, _)| close(*le, threshold)) {
        return Some((within / count, true, count));
    }
    // Interpolate linearly inside the bucket holding the threshold.
    let mut lower = (0.0, 0.0);
    for &(le, n) in buckets {
        if le > threshold {
            if le.is_infinite() {
                return Some((lower.1 / count, false, count));
            }
            let fraction = (threshold - lower.0) / (le - lower.0);
            let within = lower.1 + (n - lower.1) * fraction;
            return Some((within / count, false, count));
        }
        lower = (le, n);
    }
    Some((lower.1 / count, false, count))
}

/// The bucket a quantile falls in: its lower and upper bounds (`None` upper when it
/// lies in `+Inf`). Shown beside a latency verdict instead of an interpolated
/// number, which can be far off inside a wide bucket.
pub fn quantile_bucket(buckets: &[(f64, f64)], q: f64) -> Option<(f64, Option<f64>)> {
    let count = buckets
        .iter()
        .find(|(le, _)| le.is_infinite())
        .map(|b| b.1)?;
    if count <= 0.0 {
        return None;
    }
    let rank = q * count;
    let mut lower = 0.0;
    for &(le, n) in buckets {
        if n >= rank {
            return Some((lower, (!le.is_infinite()).then_some(le)));
        }
        lower = le;
    }
    None
}

fn seconds(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v < 1.0 {
        format!("{} ms", trim_float(v * 1000.0))
    } else {
        format!("{} s", trim_float(v))
    }
}

/// Judges one SLO over one window.
pub async fn judge_slo<R: Reader>(
    set: &SloSet,
    slo: &Slo,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
    client: Option<&ClientData>,
) -> Verdict {
    let source = reader.source();
    let mut verdict = match judge_server(set, slo, reader, window, window_kind).await {
        Ok(v) => v,
        Err(e) => inconclusive(
            slo,
            window_kind,
            source,
            format!("{source} could not answer: {e}"),
        ),
    };
    verdict.query = reader.query_text(slo, window);
    if let Some(note) = reader.note(window) {
        verdict.note = Some(match verdict.note.take() {
            Some(n) => format!("{n}; {note}"),
            None => note,
        });
    }
    if let (Some(client), Some(measure)) = (client, &slo.client) {
        verdict.client = client_view(set, slo, measure, client, &verdict);
    }
    verdict
}

async fn judge_server<R: Reader>(
    set: &SloSet,
    slo: &Slo,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
) -> Result<Verdict, String> {
    let source = reader.source();
    let mut v = inconclusive(slo, window_kind, source, String::new());
    v.note = None;
    match &slo.kind {
        Kind::Ratio {
            numerator,
            numerator_is_bad,
            total,
            objective,
        } => {
            let total_value = match sum_increase(reader, total, window).await? {
                Ok(t) => t,
                Err(missing) => return Ok(inconclusive(slo, window_kind, source, missing)),
            };
            let part = match sum_increase(reader, numerator, window).await? {
                Ok(t) => t,
                Err(missing) => return Ok(inconclusive(slo, window_kind, source, missing)),
            };
            let samples = total_value.round().max(0.0) as u64;
            v.samples = samples;
            if samples < slo.min_samples || total_value <= 0.0 {
                v.note = Some(format!(
                    "only {samples} events in the window; at least {} are needed",
                    slo.min_samples
                ));
                return Ok(v);
            }
            let ratio = (part / total_value).clamp(0.0, 1.0);
            let bad_share = if *numerator_is_bad {
                ratio
            } else {
                1.0 - ratio
            };
            let allowed_bad = if *numerator_is_bad {
                objective.value
            } else {
                1.0 - objective.value
            };
            v.value = Some(ratio);
            v.display = format!(
                "{} ({}/{})",
                percent(ratio),
                trim_float(part.round()),
                samples
            );
            v.status = if objective.holds(ratio) {
                Status::Pass
            } else {
                Status::Fail
            };
            v.budget_consumed = (allowed_bad > 0.0).then(|| bad_share / allowed_bad);
        }
        Kind::Latency {
            histogram,
            quantile,
            threshold_seconds,
        } => {
            let Some(buckets) = reader.buckets(histogram, window).await? else {
                return Ok(inconclusive(
                    slo,
                    window_kind,
                    source,
                    format!("no series {histogram}_bucket in the {source}"),
                ));
            };
            let Some((share, exact, count)) = share_within(&buckets, *threshold_seconds) else {
                return Ok(inconclusive(
                    slo,
                    window_kind,
                    source,
                    format!("{histogram} has no +Inf bucket"),
                ));
            };
            let samples = count.round().max(0.0) as u64;
            v.samples = samples;
            v.exact = exact;
            if samples < slo.min_samples || count <= 0.0 {
                v.note = Some(format!(
                    "only {samples} events in the window; at least {} are needed",
                    slo.min_samples
                ));
                return Ok(v);
            }
            let estimate = match quantile_bucket(&buckets, *quantile) {
                Some((lo, Some(hi))) => format!(
                    "p{} in {}-{}",
                    quantile_name(*quantile),
                    seconds(lo),
                    seconds(hi)
                ),
                Some((lo, None)) => format!("p{} above {}", quantile_name(*quantile), seconds(lo)),
                None => format!("p{} unknown", quantile_name(*quantile)),
            };
            v.value = Some(share);
            v.display = format!(
                "{} <= {} s ({estimate})",
                percent(share),
                trim_float(*threshold_seconds)
            );
            v.status = if share >= *quantile {
                Status::Pass
            } else {
                Status::Fail
            };
            v.budget_consumed = Some((1.0 - share) / (1.0 - quantile));
            if !exact {
                v.note = Some(format!(
                    "no bucket at {} s: the share is interpolated",
                    trim_float(*threshold_seconds)
                ));
            }
        }
        Kind::Gauge {
            metric,
            aggregation,
            objective,
            unit,
        } => {
            let values = reader
                .gauge(metric, *aggregation, window, &set.services)
                .await?;
            let mut details = Vec::new();
            for service in &set.services {
                match values.get(service) {
                    Some(g)
                        if g.samples >= 2
                            || (*aggregation != Aggregation::Rate && g.samples >= 1) =>
                    {
                        details.push(Detail {
                            target: service.clone(),
                            status: if objective.holds(g.value) {
                                Status::Pass
                            } else {
                                Status::Fail
                            },
                            value: Some(g.value),
                            display: with_unit(g.value, unit),
                            samples: g.samples,
                        })
                    }
                    Some(g) => details.push(Detail {
                        target: service.clone(),
                        status: Status::Inconclusive,
                        value: None,
                        display: format!("{} scrapes: not enough", g.samples),
                        samples: g.samples,
                    }),
                    None => details.push(Detail {
                        target: service.clone(),
                        status: Status::Inconclusive,
                        value: None,
                        display: format!("no {} series", metric.name),
                        samples: 0,
                    }),
                }
            }
            let status = crate::verdict::overall(details.iter().map(|d| d.status));
            let worst = details
                .iter()
                .filter_map(|d| d.value.map(|x| (x, d)))
                .reduce(|a, b| {
                    let b_worse = if objective.op.larger_is_worse() {
                        b.0 > a.0
                    } else {
                        b.0 < a.0
                    };
                    if b_worse { b } else { a }
                });
            v.status = status;
            v.samples = details.iter().map(|d| d.samples).sum();
            if let Some((value, d)) = worst {
                v.value = Some(value);
                v.display = format!("{} ({})", with_unit(value, unit), d.target);
            }
            let failing: Vec<&str> = details
                .iter()
                .filter(|d| d.status != Status::Pass)
                .map(|d| d.target.as_str())
                .collect();
            if !failing.is_empty() {
                v.note = Some(format!(
                    "{} for {}",
                    if status == Status::Fail {
                        "breached"
                    } else {
                        "no data"
                    },
                    failing.join(", ")
                ));
            }
            v.details = details;
        }
    }
    Ok(v)
}

fn client_view(
    set: &SloSet,
    slo: &Slo,
    measure: &str,
    client: &ClientData,
    server: &Verdict,
) -> Option<ClientView> {
    let threshold = match &slo.kind {
        Kind::Latency {
            threshold_seconds, ..
        } => Some(*threshold_seconds),
        _ => None,
    };
    let c = client.measure(measure, threshold)?;
    let status = match &slo.kind {
        Kind::Ratio { objective, .. } => objective.holds(c.value),
        Kind::Latency { quantile, .. } => c.value >= *quantile,
        Kind::Gauge { objective, .. } => objective.holds(c.value),
    };
    let status = if status { Status::Pass } else { Status::Fail };
    let disagreement = server.value.and_then(|s| {
        let diff = (c.value - s).abs();
        (diff > set.client_tolerance
            || (server.status != Status::Inconclusive && status != server.status))
            .then(|| {
                format!(
                    "client {} vs {} {} (difference {:.2} points, tolerance {:.2})",
                    percent(c.value),
                    server.source,
                    percent(s),
                    diff * 100.0,
                    set.client_tolerance * 100.0
                )
            })
    });
    Some(ClientView {
        status,
        value: Some(c.value),
        display: c.display,
        samples: c.samples,
        disagreement,
    })
}

/// Judges every SLO of the set over one window, concurrently.
pub async fn judge_all<R: Reader + Sync>(
    set: &SloSet,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
    client: Option<&ClientData>,
) -> Vec<Verdict> {
    futures::future::join_all(
        set.slos
            .iter()
            .map(|slo| judge_slo(set, slo, reader, window, window_kind, client)),
    )
    .await
}

/// Judges from the client's data alone (no server-side source reachable): SLOs
/// without a client measurement are inconclusive.
pub fn judge_client_only(
    set: &SloSet,
    window_kind: WindowKind,
    client: &ClientData,
) -> Vec<Verdict> {
    set.slos
        .iter()
        .map(|slo| {
            let mut v = inconclusive(
                slo,
                window_kind,
                Source::Client,
                "no server-side source, and no client measurement for this SLO".to_string(),
            );
            let threshold = match &slo.kind {
                Kind::Latency {
                    threshold_seconds, ..
                } => Some(*threshold_seconds),
                _ => None,
            };
            let Some(c) = slo
                .client
                .as_deref()
                .and_then(|m| client.measure(m, threshold))
            else {
                return v;
            };
            v.samples = c.samples;
            if c.samples < slo.min_samples {
                v.note = Some(format!(
                    "only {} events measured by the client; at least {} are needed",
                    c.samples, slo.min_samples
                ));
                return v;
            }
            let pass = match &slo.kind {
                Kind::Ratio { objective, .. } | Kind::Gauge { objective, .. } => {
                    objective.holds(c.value)
                }
                Kind::Latency { quantile, .. } => c.value >= *quantile,
            };
            v.status = if pass { Status::Pass } else { Status::Fail };
            v.value = Some(c.value);
            v.display = c.display;
            v.exact = !matches!(slo.kind, Kind::Latency { .. });
            v.note = Some("judged from the client's measurements only".to_string());
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    #[test]
    fn share_at_a_bucket_is_exact() {
        let b = [(1.0, 80.0), (2.0, 95.0), (5.0, 99.0), (INF, 100.0)];
        assert_eq!(share_within(&b, 2.0), Some((0.95, true, 100.0)));
        let (share, exact, _) = share_within(&b, 1.5).unwrap();
        assert!(!exact);
        assert!((share - 0.875).abs() < 1e-12);
        // Everything in +Inf beyond the last bound: the share is what the bounds hold.
        assert_eq!(
            share_within(&[(1.0, 0.0), (INF, 10.0)], 3.0),
            Some((0.0, false, 10.0))
        );
    }

    #[test]
    fn quantile_bucket_never_invents_a_bound_for_inf() {
        let b = [(1.0, 50.0), (2.0, 90.0), (INF, 100.0)];
        assert_eq!(
            quantile_bucket(&b, 0.95),
            Some((2.0, None)),
            "p95 lies in +Inf: no upper bound"
        );
        assert_eq!(quantile_bucket(&b, 0.7), Some((1.0, Some(2.0))));
        assert_eq!(quantile_bucket(&b, 0.3), Some((0.0, Some(1.0))));
    }
}
