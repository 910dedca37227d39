//! `summary.md`: a compact Markdown summary for a pull-request comment: the verdict,
//! the SLO table, the busiest requests and the top regressions against a baseline.

use std::fmt::Write;

use slo::verdict::Status;

use crate::baseline::Comparison;
use crate::summary::RunSummary;

/// Text made safe for a table cell: nothing in it can end the cell or the row,
/// open code or HTML, or escape the next character.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '`' => out.push_str("\\`"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅ pass",
        Status::Fail => "❌ fail",
        Status::Inconclusive => "⚠️ inconclusive",
    }
}

/// The verdict as a word.
pub fn headline(summary: &RunSummary) -> &'static str {
    match summary.exit_code {
        0 => "PASS",
        1 => "FAIL",
        2 => "BAD INPUT",
        _ => "INCONCLUSIVE",
    }
}

fn verdicts_table(s: &RunSummary, out: &mut String) {
    let Some(v) = &s.verdicts else { return };
    let _ = writeln!(out, "SLOs judged from **{}**.\n", v.source);
    let _ = writeln!(
        out,
        "| SLO | verdict | value | objective | samples | burn |"
    );
    let _ = writeln!(out, "|---|---|---|---|---:|---:|");
    for (window, verdicts) in [("", Some(&v.whole)), (" (steady)", v.steady.as_ref())] {
        for x in verdicts.into_iter().flatten() {
            let _ = writeln!(
                out,
                "| {}{} | {} | {}{} | {} | {} | {} |",
                cell(&x.slo),
                window,
                mark(x.status),
                cell(&x.display),
                if x.exact { "" } else { " (est.)" },
                cell(&x.objective),
                x.samples,
                x.burn_rate
                    .or(x.budget_consumed)
                    .map(|b| format!("{b:.2}x"))
                    .unwrap_or_default()
            );
        }
    }
    out.push('\n');
}

fn requests_table(s: &RunSummary, out: &mut String) {
    let mut busiest: Vec<_> = s.requests.iter().collect();
    busiest.sort_by_key(|r| std::cmp::Reverse(r.count));
    if busiest.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| request | count | errors | p50 ms | p95 ms | p99 ms | service p95 ms |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for r in busiest.iter().take(8) {
        let l = &r.latency_ms;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            cell(&r.name),
            r.count,
            r.errors,
            l.p50,
            l.p95,
            l.p99,
            r.service_ms.p95
        );
    }
    out.push('\n');
}

fn comparison_table(c: &Comparison, out: &mut String) {
    let regressions: Vec<_> = c.regressions().collect();
    if regressions.is_empty() {
        let _ = writeln!(
            out,
            "No regression against baseline `{}`.",
            cell(&c.baseline_run)
        );
        return;
    }
    let _ = writeln!(
        out,
        "**{} regressions** against baseline `{}`:\n",
        regressions.len(),
        cell(&c.baseline_run)
    );
    let _ = writeln!(out, "| item | metric | baseline | now | change |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for r in regressions.iter().take(10) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(&r.item),
            cell(&r.metric),
            cell(&r.baseline),
            cell(&r.current),
            r.change
                .map(|c| format!("{:+.0}%", c * 100.0))
                .unwrap_or_default()
        );
    }
}

/// `summary.md`: the verdicts and the requests, for a pull-request comment.
pub fn render(s: &RunSummary, comparison: Option<&Comparison>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} · `{}` (exit {})\n",
        headline(s),
        cell(&s.scenario),
        s.exit_code
    );
    let _ = writeln!(
        out,
        "Run `{}` against {} ({}): {:.0} s, {} requests, {:.1} req/s, {} errors{}.\n",
        cell(&s.run_id),
        cell(&s.target.base_url),
        s.target.kind,
        s.duration_seconds(),
        s.total_requests,
        s.requests_per_second,
        s.total_errors,
        if s.interrupted { ", stopped early" } else { "" }
    );
    if let Some(i) = &s.integrity
        && !i.valid
    {
        let _ = writeln!(out, "**Run integrity: invalid, so no verdict can pass.**\n");
        for p in &i.problems {
            let _ = writeln!(out, "- {}", cell(p));
        }
        out.push('\n');
    }
    verdicts_table(s, &mut out);
    if let Some(r) = s.verdicts.as_ref().and_then(|v| v.alerts.as_ref()) {
        let _ = writeln!(
            out,
            "**Alert replay:** {}.\n",
            cell(&r.headline(s.start_ms))
        );
    }
    requests_table(s, &mut out);
    if let Some(c) = comparison {
        comparison_table(c, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn a_cell_cannot_break_its_table() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("line\r\nnext"), "line  next");
        assert_eq!(cell("`code` and \\| pipe"), "\\`code\\` and \\\\\\| pipe");
        assert_eq!(cell("<img src=x>&"), "&lt;img src=x&gt;&amp;");
    }
}
