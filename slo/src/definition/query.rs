//! Event SLOs written as PromQL (`kind = "query"`): what an imported Sloth or OpenSLO
//! file holds when its queries use something the exact judging cannot read the same
//! way in every source (regular-expression matchers, functions, arithmetic).
//!
//! Such an SLO is judged through Prometheus only: the queries are evaluated at the
//! window's end with `[{{.window}}]` (Sloth's placeholder) replaced by the window, and
//! the verdict says so. The embedded source leaves it inconclusive.

use serde::Serialize;

use super::Objective;

/// Where the range goes in an event query, as Sloth writes it.
pub const WINDOW_PLACEHOLDER: &str = "[{{.window}}]";

crate::closed_set! {
    /// What an event query's value is: a per-second rate or a count.
    pub enum QueryCounts ("a query unit") {
        /// `rate(...)`: events per second over the window.
        Rate = "rate",
        /// `increase(...)`: events in the window.
        Increase = "increase",
    }
}

/// A PromQL expression of events over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventQuery {
    /// The query, with [`WINDOW_PLACEHOLDER`] where each range goes.
    pub template: String,
    /// Whether its value is a rate or a count.
    pub counts: QueryCounts,
}

/// What to write instead of a query that cannot count events.
pub const QUERY_FIX: &str = "write the events as sum(rate(metric{...}[{{.window}}])) or sum(increase(metric{...}[{{.window}}]))";

/// Words followed by a parenthesis that are not functions.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Aggregations and binary operators written as words (`sum by (x) (...)`, `and`).
const OPERATORS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
];

/// The function names a query calls (`sum`, `rate`, ...), in order.
pub fn functions(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote = None;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' || c == b'`' => quote = Some(c),
            None if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i + 1 < bytes.len()
                    && (bytes[i + 1].is_ascii_alphanumeric()
                        || bytes[i + 1] == b'_'
                        || bytes[i + 1] == b':')
                {
                    i += 1;
                }
                let rest = text[i + 1..].trim_start();
                let word = &text[start..=i];
                if rest.starts_with('(') && !KEYWORDS.contains(&word) {
                    out.push(word);
                }
            }
            None => {}
        }
        i += 1;
    }
    out
}

/// The metric names a query reads: names outside quotes, label matchers and ranges
/// that are not functions or keywords (`by (job)` lists labels, not metrics).
pub fn metric_names(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut quote, mut skip_to) = (0, None, None::<u8>);
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else if let Some(end) = skip_to {
            if c == end {
                skip_to = None;
            }
        } else if c == b'"' || c == b'\'' || c == b'`' {
            quote = Some(c);
        } else if c == b'{' || c == b'[' {
            skip_to = Some(if c == b'{' { b'}' } else { b']' });
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i + 1 < b.len()
                && (b[i + 1].is_ascii_alphanumeric() || b[i + 1] == b'_' || b[i + 1] == b':')
            {
                i += 1;
            }
            let word = &text[start..=i];
            let call = text[i + 1..].trim_start().starts_with('(');
            if KEYWORDS.contains(&word) && call {
                skip_to = Some(b')');
            } else {
                let after_digit = start > 0 && b[start - 1].is_ascii_digit();
                let not_metric =
                    call || after_digit || KEYWORDS.contains(&word) || OPERATORS.contains(&word);
                if !not_metric {
                    out.push(word.to_string());
                }
            }
        }
        i += 1;
    }
    out.sort();
    out.dedup();
    out
}

impl EventQuery {
    /// Reads an event query; the error says what is wrong (the fix is [`QUERY_FIX`]).
    pub fn parse(text: &str) -> Result<EventQuery, String> {
        let template = text.trim().to_string();
        if template.is_empty() {
            return Err("the query is empty".to_string());
        }
        if !template.contains(WINDOW_PLACEHOLDER) {
            return Err(format!(
                "{template:?} has no {WINDOW_PLACEHOLDER} range: the window it counts over is unknown"
            ));
        }
        let calls = functions(&template);
        if calls.contains(&"irate") {
            return Err(format!(
                "{template:?} uses irate, which reads only the last two samples, not the window's events"
            ));
        }
        let rate = calls.contains(&"rate");
        let increase = calls.contains(&"increase");
        let counts = match (rate, increase) {
            (true, false) => QueryCounts::Rate,
            (false, true) => QueryCounts::Increase,
            (true, true) => {
                return Err(format!(
                    "{template:?} mixes rate and increase: its value is neither a rate nor a count"
                ));
            }
            (false, false) => {
                return Err(format!(
                    "{template:?} uses neither rate nor increase: its value cannot be read as events"
                ));
            }
        };
        Ok(EventQuery { template, counts })
    }

    /// The query with every range replaced by `range` (`[5m]`, or
    /// `[30250ms] @ 1700000030.250` to pin it to a window's end).
    pub fn over(&self, range: &str) -> String {
        self.template.replace(WINDOW_PLACEHOLDER, range)
    }

    /// The events over `range`, which lasts `seconds`: a rate times the window's
    /// length, a count as it is.
    pub fn events(&self, range: &str, seconds: f64) -> String {
        match self.counts {
            QueryCounts::Rate => format!(
                "({}) * {}",
                self.over(range),
                crate::format::trim_float(seconds)
            ),
            QueryCounts::Increase => self.over(range),
        }
    }

    /// Events from the query's value over a window of `seconds`.
    pub fn to_events(&self, value: f64, seconds: f64) -> f64 {
        match self.counts {
            QueryCounts::Rate => value * seconds,
            QueryCounts::Increase => value,
        }
    }
}

/// Good (or bad) events over all events, as PromQL judged through Prometheus only.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Good events, or bad ones (`numerator_is_bad`).
    pub numerator: EventQuery,
    /// True when `numerator` counts bad events.
    pub numerator_is_bad: bool,
    /// All events.
    pub total: EventQuery,
    /// What the ratio must meet.
    pub objective: Objective,
    /// Why exact judging cannot read it, for the verdict.
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_queries_need_a_window_and_a_rate_or_an_increase() {
        let q = EventQuery::parse(r#"sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))"#)
            .unwrap();
        assert_eq!(q.counts, QueryCounts::Rate);
        assert_eq!(
            q.over("[5m]"),
            r#"sum(rate(http_requests_total{code=~"5.."}[5m]))"#
        );
        assert_eq!(
            q.events("[300s] @ 100.000", 300.0),
            r#"(sum(rate(http_requests_total{code=~"5.."}[300s] @ 100.000))) * 300"#
        );
        assert_eq!(q.to_events(0.5, 300.0), 150.0);
        let q = EventQuery::parse("sum(increase(x_total[{{.window}}]))").unwrap();
        assert_eq!(q.counts, QueryCounts::Increase);
        assert_eq!(q.to_events(7.0, 300.0), 7.0);
        for bad in [
            "sum(rate(x_total[5m]))",
            "sum(irate(x_total[{{.window}}]))",
            "sum(x_total[{{.window}}])",
            "rate(a[{{.window}}]) / increase(b[{{.window}}])",
            "",
        ] {
            assert!(EventQuery::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metric_names_skip_labels_ranges_and_groupings() {
        assert_eq!(
            metric_names(
                r#"sum by (job) (rate(a_total{l="b_total"}[{{.window}}])) - sum(c:rate5m) * 2e3"#
            ),
            vec!["a_total", "c:rate5m"]
        );
    }

    #[test]
    fn function_names_skip_quoted_text() {
        assert_eq!(
            functions(r#"sum by (x) (rate(a{l="rate(b)"}[{{.window}}])) + sum(increase(c[1m]))"#),
            vec!["rate", "sum", "increase"]
        );
    }
}
