//! `summary.md`: a compact Markdown summary for a pull-request comment: the verdict;
//! the failures first, each with its one-line evidence; the passes collapsed in a
//! `<details>` block; what got worse against a baseline; the busiest requests,
//! collapsed too.

use std::fmt::Write;

use slo::verdict::{Status, Verdict};

use crate::baseline::Comparison;
use crate::evidence::Lines;
use crate::summary::RunSummary;

/// Regressions listed against a baseline (the report has them all).
const REGRESSIONS_SHOWN: usize = 5;

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

/// Every verdict with the window it covers ("" or " (steady)").
fn all_verdicts(s: &RunSummary) -> Vec<(&'static str, &Verdict)> {
    let Some(v) = &s.verdicts else {
        return Vec::new();
    };
    let whole = v.whole.iter().map(|x| ("", x));
    let steady = v.steady.iter().flatten().map(|x| (" (steady)", x));
    whole.chain(steady).collect()
}

/// The failed and inconclusive verdicts, failures first, each with its evidence.
fn failures(s: &RunSummary, evidence: &Lines, out: &mut String) {
    let mut bad: Vec<_> = all_verdicts(s)
        .into_iter()
        .filter(|(_, x)| x.status != Status::Pass)
        .collect();
    bad.sort_by_key(|(_, x)| x.status != Status::Fail);
    for (window, x) in bad {
        let _ = write!(
            out,
            "- {} **{}**{}: {}{} against {}",
            mark(x.status),
            cell(&x.slo),
            window,
            cell(&x.display),
            if x.exact { "" } else { " (est.)" },
            cell(&x.objective)
        );
        if let Some(note) = x.note.as_ref().filter(|_| x.status == Status::Inconclusive) {
            let _ = write!(out, " ({})", cell(note));
        }
        if let Some(line) = evidence.get(&x.slo).filter(|_| window.is_empty()) {
            let _ = write!(out, "  \n  evidence: {}", cell(line));
        }
        out.push('\n');
    }
    out.push('\n');
}

/// The passed verdicts as a table inside a collapsed `<details>` block.
fn passes(s: &RunSummary, out: &mut String) {
    let passed: Vec<_> = all_verdicts(s)
        .into_iter()
        .filter(|(_, x)| x.status == Status::Pass)
        .collect();
    if passed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>{} SLO verdicts passed</summary>\n",
        passed.len()
    );
    let _ = writeln!(out, "| SLO | value | objective | samples | burn |");
    let _ = writeln!(out, "|---|---|---|---:|---:|");
    for (window, x) in passed {
        let _ = writeln!(
            out,
            "| {}{} | {}{} | {} | {} | {} |",
            cell(&x.slo),
            window,
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
    let _ = writeln!(out, "\n</details>\n");
}

fn verdicts_section(s: &RunSummary, evidence: &Lines, out: &mut String) {
    let Some(v) = &s.verdicts else { return };
    let _ = writeln!(out, "SLOs judged from **{}**.\n", v.source);
    failures(s, evidence, out);
    passes(s, out);
}

fn requests_table(s: &RunSummary, out: &mut String) {
    let mut busiest: Vec<_> = s.requests.iter().collect();
    busiest.sort_by_key(|r| std::cmp::Reverse(r.count));
    if busiest.is_empty() {
        return;
    }
    let _ = writeln!(out, "<details><summary>Busiest requests</summary>\n");
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
    let _ = writeln!(out, "\n</details>\n");
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
        "**{} regressions** against baseline `{}`{}:\n",
        regressions.len(),
        cell(&c.baseline_run),
        if regressions.len() > REGRESSIONS_SHOWN {
            format!(", the {REGRESSIONS_SHOWN} largest (the report lists all)")
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "| what got worse | metric | baseline | now | change |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    let mut worst = regressions.clone();
    worst.sort_by(|a, b| {
        let size = |r: &&crate::baseline::Row| r.change.map(f64::abs).unwrap_or(f64::INFINITY);
        size(b).total_cmp(&size(a))
    });
    for r in worst.iter().take(REGRESSIONS_SHOWN) {
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

/// `summary.md`: the verdicts (failures first, with `evidence`), the regressions
/// and the requests, for a pull-request comment.
pub fn render(s: &RunSummary, evidence: &Lines, comparison: Option<&Comparison>) -> String {
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
    verdicts_section(s, evidence, &mut out);
    if let Some(r) = s.verdicts.as_ref().and_then(|v| v.alerts.as_ref()) {
        let _ = writeln!(
            out,
            "**Alert replay:** {}.\n",
            cell(&r.headline(s.start_ms))
        );
    }
    if let Some(c) = comparison {
        comparison_table(c, &mut out);
        out.push('\n');
    }
    requests_table(s, &mut out);
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
