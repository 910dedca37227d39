//! The terminal tables printed when a run ends: requests, flows, errors, verdicts.

use std::fmt::Write;

use reports::summary::RunSummary;
use slo::verdict::{Status, Verdicts};

fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The first line: what ran, how long, how much.
fn headline(s: &RunSummary) -> String {
    format!(
        "\n{} on {} ({}): {:.1}s, {} requests, {:.1} req/s, {} errors{}",
        s.scenario,
        s.target.base_url,
        s.target.kind,
        s.duration_seconds(),
        s.total_requests,
        s.requests_per_second,
        s.total_errors,
        if s.interrupted {
            format!(
                " (stopped early: {})",
                s.stop_reason.as_deref().unwrap_or("interrupted")
            )
        } else {
            String::new()
        }
    )
}

/// Successful requests: response time (from the intended start) and service
/// time (from the actual send: what the server saw) side by side.
fn requests_table(s: &RunSummary, out: &mut String) {
    let _ = writeln!(
        out,
        "\n{:<20} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "request (ms)",
        "count",
        "errors",
        "p50",
        "p90",
        "p95",
        "p99",
        "p99.9",
        "max",
        "svc p95",
        "svc p99"
    );
    for r in s.requests.iter().filter(|r| r.count > 0) {
        let l = &r.latency_ms;
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            r.name,
            r.count,
            r.errors,
            ms(l.p50),
            ms(l.p90),
            ms(l.p95),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            ms(r.service_ms.p95),
            ms(r.service_ms.p99)
        );
    }
    let _ = writeln!(
        out,
        "(p50..max: response time from the intended start; svc: service time from the actual send; errors' times kept apart)"
    );
    let _ = writeln!(out, "requests: {}", s.outcomes.describe());
}

fn flows_table(s: &RunSummary, out: &mut String) {
    let _ = writeln!(
        out,
        "\n{:<20} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "flow (ms)", "done", "failed", "abandon", "dropped", "p50", "p95", "p99", "max"
    );
    for f in &s.flows {
        let l = &f.latency_ms;
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            f.name,
            f.iterations.saturating_sub(f.failed),
            f.failed,
            f.abandoned,
            f.dropped,
            ms(l.p50),
            ms(l.p95),
            ms(l.p99),
            ms(l.max)
        );
    }
}

fn errors_table(s: &RunSummary, out: &mut String) {
    if s.errors.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{:<14} {:<20} {:>8}  example",
        "error", "request", "count"
    );
    for e in &s.errors {
        let example: String = e.example.chars().take(80).collect();
        let _ = writeln!(
            out,
            "{:<14} {:<20} {:>8}  {}",
            e.kind,
            e.request,
            e.count,
            example.replace('\n', " ")
        );
    }
}

/// The requests, flows and errors tables.
pub fn summary_tables(s: &RunSummary) -> String {
    let mut out = headline(s);
    out.push('\n');
    requests_table(s, &mut out);
    flows_table(s, &mut out);
    errors_table(s, &mut out);
    generator_line(s, &mut out);
    out
}

/// The generator's own health, one line.
fn generator_line(s: &RunSummary, out: &mut String) {
    let Some(g) = &s.generator else { return };
    let _ = writeln!(
        out,
        "\ngenerator: cpu {:.0}% of {} cores (max {:.0}%), {:.0} us cpu/request, timer lag p99 {:.1} ms (max {:.1} ms){}",
        g.cpu_share_mean * 100.0,
        s.environment.cpus,
        g.cpu_share_max * 100.0,
        g.cpu_us_per_request,
        g.scheduler_lag_p99_ms,
        g.scheduler_lag_max_ms,
        if g.limited { ": LIMITED the run" } else { "" }
    );
}

/// Whether the load happened as planned, and what went wrong.
pub fn integrity(i: &reports::summary::Integrity) -> String {
    let mut out = String::new();
    for f in &i.flows {
        let _ = writeln!(
            out,
            "\n  load {:<11} planned {:.1}/s at peak: {} of {} iterations started ({:.1}%), {} dropped; users {} pre-allocated, {} at most, {} used",
            f.name,
            f.planned_per_second,
            f.started,
            f.planned,
            f.achieved_share * 100.0,
            f.dropped,
            f.pre_allocated_users,
            f.max_users,
            f.peak_users
        );
    }
    if i.valid {
        let _ = writeln!(out, "\nrun integrity: valid (the load ran as planned)");
    } else {
        let _ = writeln!(out, "\nrun integrity: INVALID, so no verdict can pass:");
        for p in &i.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}

/// The workers of a merged run, one line each.
pub fn workers(runs: &[reports::summary::WorkerRun]) -> String {
    let mut out = String::new();
    if !runs.is_empty() {
        let _ = writeln!(out, "\nworkers");
    }
    for w in runs {
        let health = w.generator.as_ref().map_or(String::new(), |g| {
            format!(
                ", cpu {:.0}%, timer lag p99 {:.1} ms{}",
                g.cpu_share_mean * 100.0,
                g.scheduler_lag_p99_ms,
                if g.limited { " (LIMITED)" } else { "" }
            )
        });
        let _ = writeln!(
            out,
            "  worker {:<3} {:<11} {:>9} requests{health}{}",
            w.index,
            w.status,
            w.requests,
            w.dir.as_deref().map_or(String::new(), |d| format!("  {d}"))
        );
    }
    out
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Inconclusive => "INCONCLUSIVE",
    }
}

/// The verdict table.
pub fn verdict_table(v: &Verdicts) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nSLO verdicts (judged from {}, {} SLOs, in {:.0} ms)",
        v.source,
        v.whole.len(),
        v.evaluation_ms
    );
    for (title, verdicts) in [
        ("whole run", Some(&v.whole)),
        ("steady window", v.steady.as_ref()),
    ] {
        let Some(verdicts) = verdicts else { continue };
        let _ = writeln!(
            out,
            "\n  {:<13} {:<30} {:<28} {:<14} {:>9} {:<10} {:>7}",
            title, "SLO", "value", "objective", "samples", "source", "burn"
        );
        for x in verdicts {
            let _ = writeln!(
                out,
                "  {:<13} {:<30} {:<28} {:<14} {:>9} {:<10} {:>7}",
                mark(x.status),
                x.slo,
                x.display.chars().take(28).collect::<String>(),
                x.objective,
                x.samples,
                format!("{}{}", x.source, if x.exact { "" } else { "~" }),
                x.burn_rate
                    .or(x.budget_consumed)
                    .map(|b| format!("{b:.2}x"))
                    .unwrap_or_default()
            );
            let bounds = reports::html::bounds_text(x);
            if !bounds.is_empty() {
                let _ = writeln!(out, "  {:<13} {bounds}", "");
            }
            if let Some(note) = &x.note
                && x.status != Status::Pass
            {
                let _ = writeln!(out, "  {:<13} {note}", "");
            }
            if let Some(c) = &x.client
                && let Some(d) = &c.disagreement
            {
                let _ = writeln!(out, "  {:<13} client disagrees: {d}", "");
            }
        }
    }
    for w in &v.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    if let Some(c) = &v.clock {
        let _ = writeln!(out, "  clock: Prometheus's is {c} from loadgen's");
    }
    if let Some(r) = &v.alerts {
        let _ = writeln!(
            out,
            "\n  alert replay: {}",
            r.headline(v.whole_window.start_ms)
        );
        for b in &r.burn {
            let _ = writeln!(
                out,
                "    peak burn of {} over {}: {:.2}x",
                b.slo, b.window, b.peak
            );
        }
        for e in &r.errors {
            let _ = writeln!(out, "    replay query failed: {e}");
        }
    }
    let _ = writeln!(out, "  (~ estimated: no histogram bucket at the threshold)");
    out
}
