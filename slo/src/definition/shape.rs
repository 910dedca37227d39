//! What an imported PromQL query counts, when exact judging can read it: the
//! shapes Sloth and OpenSLO files write for event SLOs.
//!
//! Recognised: a selector, `rate(sel[w])` or `increase(sel[w])`, either inside a
//! plain `sum(...)`, and sums (`+`) of those; a histogram's `_count` minus one of its
//! `_bucket{le="T"}` series (the events above the threshold). Anything else (a
//! regular-expression matcher, `sum by`, other functions, division) is
//! [`Shape::Other`], with the reason, and is judged through Prometheus only.

use crate::selector::Selector;

/// What a query counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// The increases of the `plus` counters less those of the `minus` ones: exact
    /// in every source when read as counters.
    Sum {
        /// Counters added.
        plus: Vec<Selector>,
        /// Counters subtracted (a histogram's buckets from its `_count`, good
        /// events from all).
        minus: Vec<Selector>,
    },
    /// Anything else, and why exact judging cannot read it.
    Other(String),
}

/// One term of a sum: a selector, perhaps inside `rate`/`increase` and `sum`.
struct Term {
    selector: Selector,
    negative: bool,
}

/// Reads a query's shape.
pub fn shape(query: &str) -> Shape {
    match terms(query) {
        Ok(terms) => {
            let (minus, plus): (Vec<Term>, Vec<Term>) = terms.into_iter().partition(|t| t.negative);
            Shape::Sum {
                plus: plus.into_iter().map(|t| t.selector).collect(),
                minus: minus.into_iter().map(|t| t.selector).collect(),
            }
        }
        Err(why) => Shape::Other(why),
    }
}

/// The histogram a `_count` or `_bucket` series belongs to.
pub fn histogram_of(s: &Selector, suffix: &str) -> Option<Selector> {
    s.name.strip_suffix(suffix).map(|base| Selector {
        name: base.to_string(),
        matchers: s.matchers.clone(),
    })
}

/// The terms of `t (+|-) t ...`.
fn terms(query: &str) -> Result<Vec<Term>, String> {
    let mut p = Cursor { s: query.trim() };
    let mut out = Vec::new();
    let mut negative = false;
    loop {
        out.push(Term {
            selector: term(&mut p)?,
            negative,
        });
        p.skip_space();
        if p.s.is_empty() {
            return Ok(out);
        }
        negative = match p.s.as_bytes()[0] {
            b'+' => false,
            b'-' => true,
            _ => return Err(format!("it goes on with {:?}", p.s)),
        };
        p.s = &p.s[1..];
    }
}

/// `sum(inner)` or `inner`.
fn term(p: &mut Cursor) -> Result<Selector, String> {
    p.skip_space();
    let save = p.s;
    if p.word() == Some("sum") {
        p.skip_space();
        if !p.eat('(') {
            return Err("it aggregates with sum by or without: series are grouped".into());
        }
        let s = inner(p)?;
        p.expect(')')?;
        return Ok(s);
    }
    p.s = save;
    inner(p)
}

/// `rate(sel[w])`, `increase(sel[w])` or `sel`.
fn inner(p: &mut Cursor) -> Result<Selector, String> {
    p.skip_space();
    let save = p.s;
    match p.word() {
        Some(f @ ("rate" | "increase")) => {
            p.skip_space();
            p.expect('(')?;
            let s = selector(p)?;
            p.skip_space();
            if !p.eat('[') {
                return Err(format!("{f} has no range"));
            }
            let end = p.s.find(']').ok_or("a range is not closed")?;
            p.s = &p.s[end + 1..];
            p.expect(')')?;
            Ok(s)
        }
        Some(name) if p.s.trim_start().starts_with('(') => Err(format!(
            "it calls {name}, which exact judging does not read"
        )),
        _ => {
            p.s = save;
            selector(p)
        }
    }
}

/// A selector: a name and `{...}`, quotes respected.
fn selector(p: &mut Cursor) -> Result<Selector, String> {
    p.skip_space();
    let start = p.s;
    p.word()
        .ok_or_else(|| format!("expected a metric name at {:?}", p.s))?;
    if p.s.starts_with('{') {
        let close = closing_brace(p.s).ok_or("a selector's { is not closed")?;
        p.s = &p.s[close + 1..];
    }
    let text = exact_le(&start[..start.len() - p.s.len()]);
    let text = text.as_str();
    if has_regex(text) {
        return Err(format!(
            "{text} has a regular-expression matcher, which exact judging does not read"
        ));
    }
    Selector::parse(text).map_err(|e| e.to_string())
}

/// `le=~"2(\\.0+)?"` (how the rules' `le` matcher matches a whole-number
/// bound written either way) as the exact `le="2"` it means.
fn exact_le(text: &str) -> String {
    const TAIL: &str = r#"(\\.0+)?""#;
    let Some(at) = text.find(r#"le=~""#) else {
        return text.to_string();
    };
    let value_at = at + 5;
    let Some(len) = text[value_at..].find(TAIL) else {
        return text.to_string();
    };
    let value = &text[value_at..value_at + len];
    if value.parse::<f64>().is_err() {
        return text.to_string();
    }
    format!(
        "{}le=\"{value}\"{}",
        &text[..at],
        &text[value_at + len + TAIL.len()..]
    )
}

/// Whether a selector's matchers hold `=~` or `!~` outside quotes.
fn has_regex(text: &str) -> bool {
    let mut quoted = false;
    let b = text.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b'"' if i == 0 || b[i - 1] != b'\\' => quoted = !quoted,
            b'~' if !quoted && i > 0 && (b[i - 1] == b'=' || b[i - 1] == b'!') => return true,
            _ => {}
        }
    }
    false
}

/// The offset of the `}` closing the `{` at the start.
fn closing_brace(s: &str) -> Option<usize> {
    let mut quoted = false;
    let b = s.as_bytes();
    for i in 1..b.len() {
        match b[i] {
            b'"' if b[i - 1] != b'\\' => quoted = !quoted,
            b'}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// What is left of the query.
struct Cursor<'a> {
    s: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_space(&mut self) {
        self.s = self.s.trim_start();
    }

    /// A name (letters, digits, `_`, `:`), if one starts here.
    fn word(&mut self) -> Option<&'a str> {
        let end = self
            .s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(self.s.len());
        let w = &self.s[..end];
        (!w.is_empty() && !w.starts_with(|c: char| c.is_ascii_digit())).then(|| {
            self.s = &self.s[end..];
            w
        })
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        match self.s.strip_prefix(c) {
            Some(rest) => {
                self.s = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {c:?} at {:?}", self.s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap()
    }

    fn sum(plus: &[&str], minus: &[&str]) -> Shape {
        Shape::Sum {
            plus: plus.iter().map(|s| sel(s)).collect(),
            minus: minus.iter().map(|s| sel(s)).collect(),
        }
    }

    #[test]
    fn sums_of_counters_are_exact() {
        assert_eq!(
            shape(r#"sum(rate(api_errors_total{job="gateway-bff"}[{{.window}}]))"#),
            sum(&[r#"api_errors_total{job="gateway-bff"}"#], &[])
        );
        assert_eq!(
            shape("sum(increase(a_total[5m])) + sum(rate(b_total[{{.window}}]))"),
            sum(&["a_total", "b_total"], &[])
        );
        assert_eq!(
            shape(r#"sum(onboarding_completions_total{step!="x"})"#),
            sum(&[r#"onboarding_completions_total{step!="x"}"#], &[])
        );
        assert_eq!(
            shape(
                r#"sum(rate(h_count{job="g"}[{{.window}}])) - sum(rate(h_bucket{job="g",le=~"2(\\.0+)?"}[{{.window}}]))"#
            ),
            sum(&[r#"h_count{job="g"}"#], &[r#"h_bucket{job="g",le="2"}"#])
        );
    }

    #[test]
    fn anything_else_says_why() {
        for (q, why) in [
            (
                r#"sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))"#,
                "regular-expression",
            ),
            ("sum by (job) (rate(a_total[{{.window}}]))", "sum by"),
            ("sum(rate(a_total[1m])) / sum(rate(b_total[1m]))", "goes on"),
            ("histogram_quantile(0.9, x)", "histogram_quantile"),
            (r#"a{l="}"#, "not closed"),
        ] {
            match shape(q) {
                Shape::Other(w) => assert!(w.contains(why), "{q}: {w}"),
                s => panic!("{q}: {s:?}"),
            }
        }
    }
}
