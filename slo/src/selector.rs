//! Metric selectors as the SLO file writes them: `name` or `name{label="v",other!="w"}`.
//!
//! The same selector becomes PromQL for the Prometheus source and the alert rules,
//! and a filter over scraped samples for the embedded source, so both read the same
//! series. Only `=` and `!=` matchers are supported: enough for SLO definitions and
//! exact in both sources.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::error::Error;

/// A label matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    /// The label matched.
    pub label: String,
    /// `=` (true) or `!=` (false).
    pub equal: bool,
    /// The value compared with (a missing label is the empty string).
    pub value: String,
}

/// A metric name with label matchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name.
    pub name: String,
    /// Every matcher must hold.
    pub matchers: Vec<Matcher>,
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl Selector {
    /// Parses `name{a="b",c!="d"}`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Selector, Error> {
        Self::read(text).map_err(Error::Selector)
    }

    fn read(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let (name, rest) = match text.find('{') {
            Some(i) => (&text[..i], Some(&text[i..])),
            None => (text, None),
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(format!(
                "{name:?} is not a metric name (letters, digits, _ and :)"
            ));
        }
        let mut matchers = Vec::new();
        if let Some(rest) = rest {
            let inner = rest
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .ok_or_else(|| format!("{text:?}: labels must be inside {{ }} at the end"))?;
            let mut s = inner.trim();
            while !s.is_empty() {
                let op_at = s
                    .find(['=', '!'])
                    .ok_or_else(|| format!("{text:?}: expected label=\"value\""))?;
                let label = s[..op_at].trim();
                if !valid_name(label) || label.contains(':') {
                    return Err(format!("{text:?}: {label:?} is not a label name"));
                }
                let (equal, after) = if s[op_at..].starts_with("!=") {
                    (false, &s[op_at + 2..])
                } else if s[op_at..].starts_with("=~") || s[op_at..].starts_with("!~") {
                    return Err(format!(
                        "{text:?}: regular expression matchers are not supported; use = or !="
                    ));
                } else {
                    (true, &s[op_at + 1..])
                };
                let after = after.trim_start();
                let body = after.strip_prefix('"').ok_or_else(|| {
                    format!("{text:?}: the value of {label} must be in double quotes")
                })?;
                let (value, rest) = quoted(body)
                    .ok_or_else(|| format!("{text:?}: unterminated value of {label}"))?
                    .map_err(|e| format!("{text:?}: the value of {label}: {e}"))?;
                matchers.push(Matcher {
                    label: label.to_string(),
                    equal,
                    value,
                });
                let rest = rest.trim_start();
                s = match rest.strip_prefix(',') {
                    Some(next) => next.trim_start(),
                    None if rest.is_empty() => rest,
                    None => return Err(format!("{text:?}: expected , between matchers")),
                };
            }
        }
        Ok(Selector {
            name: name.to_string(),
            matchers,
        })
    }

    /// This selector with another metric name (`_bucket`, `_count` of a histogram).
    pub fn with_name(&self, name: impl Into<String>) -> Selector {
        Selector {
            name: name.into(),
            matchers: self.matchers.clone(),
        }
    }

    /// This selector with one more matcher.
    pub fn with(&self, label: &str, equal: bool, value: &str) -> Selector {
        let mut s = self.clone();
        s.matchers.retain(|m| m.label != label);
        s.matchers.push(Matcher {
            label: label.to_string(),
            equal,
            value: value.to_string(),
        });
        s
    }

    /// Whether a sample with this name and these labels is selected.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        name == self.name
            && self.matchers.iter().all(|m| {
                let v = labels.get(&m.label).map(String::as_str).unwrap_or("");
                (v == m.value) == m.equal
            })
    }

    /// PromQL with extra matchers appended (`le=~"..."`).
    pub fn promql_with(&self, extra: &str) -> String {
        self.promql(&[extra])
    }

    /// PromQL `name{label="value",...,extra}`, every value escaped, extra matchers
    /// (already PromQL) appended.
    pub fn promql(&self, extra: &[&str]) -> String {
        let mut parts: Vec<String> = self
            .matchers
            .iter()
            .map(|m| {
                format!(
                    "{}{}\"{}\"",
                    m.label,
                    if m.equal { "=" } else { "!=" },
                    escape(&m.value)
                )
            })
            .collect();
        parts.extend(
            extra
                .iter()
                .filter(|e| !e.is_empty())
                .map(|e| e.to_string()),
        );
        if parts.is_empty() {
            self.name.clone()
        } else {
            format!("{}{{{}}}", self.name, parts.join(","))
        }
    }
}

/// A label value inside a PromQL double-quoted string.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The double-quoted value at the start of `body` (its opening quote already
/// read), unescaped as PromQL does (`\\`, `\"`, `\n`), and what follows its
/// closing quote; `None` when it is not closed.
fn quoted(body: &str) -> Option<Result<(String, &str), String>> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some(Ok((value, &body[i + 1..]))),
            '\\' => match chars.next()?.1 {
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                'n' => value.push('\n'),
                other => {
                    return Some(Err(format!(
                        "\\{other} is not an escape (use \\\\, \\\" or \\n)"
                    )));
                }
            },
            c => value.push(c),
        }
    }
    None
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.promql(&[]))
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Selector::read(&text).map_err(|e| {
            serde::de::Error::custom(crate::toml_file::with_fix(
                &e,
                "write a selector like name{label=\"value\"}",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_selectors() {
        let s = Selector::parse(
            r#"onboarding_requests_total{step="purpose_selection", outcome!="error"}"#,
        )
        .unwrap();
        assert_eq!(s.name, "onboarding_requests_total");
        assert_eq!(s.matchers.len(), 2);
        assert!(!s.matchers[1].equal);
        assert_eq!(
            s.to_string(),
            r#"onboarding_requests_total{step="purpose_selection",outcome!="error"}"#
        );
        assert_eq!(Selector::parse("up").unwrap().to_string(), "up");
        assert_eq!(
            s.with_name("x_bucket").promql_with(r#"le="2""#),
            r#"x_bucket{step="purpose_selection",outcome!="error",le="2"}"#
        );
    }

    #[test]
    fn rejects_what_it_cannot_judge_exactly() {
        assert!(Selector::parse("9lives").is_err());
        assert!(
            Selector::parse(r#"a{b=~"x.*"}"#)
                .unwrap_err()
                .to_string()
                .contains("regular expression")
        );
        assert!(Selector::parse(r#"a{b="x""#).is_err());
        assert!(
            Selector::parse(r#"a{b=x}"#)
                .unwrap_err()
                .to_string()
                .contains("double quotes")
        );
    }

    /// Found by the selector fuzz target: a value was cut at its first quote, escaped
    /// or not, and a matcher right after another without a comma was accepted, so
    /// `job!="x\"le="y"` read as two matchers and printed back as something else.
    #[test]
    fn values_unescape_as_promql_does_and_matchers_need_commas() {
        let s = Selector::parse(r#"a{b="x\"y\\z\n",c="}"}"#).unwrap();
        assert_eq!(s.matchers[0].value, "x\"y\\z\n");
        assert_eq!(s.matchers[1].value, "}");
        assert_eq!(Selector::parse(&s.to_string()).unwrap(), s);
        let e = Selector::parse(r#"a{b="x" c="y"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected , between matchers"), "{e}");
        assert!(Selector::parse(r#"a{job!="x\"le="y"}"#).is_err());
        let e = Selector::parse(r#"a{b="\d"}"#).unwrap_err().to_string();
        assert!(e.contains("not an escape"), "{e}");
    }

    #[test]
    fn matches_samples_like_prometheus() {
        let s = Selector::parse(r#"api_errors_total{job="gateway-bff",route!="/health"}"#).unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("job".to_string(), "gateway-bff".to_string());
        labels.insert("route".to_string(), "/api/v1/onboarding".to_string());
        assert!(s.matches("api_errors_total", &labels));
        labels.insert("route".to_string(), "/health".to_string());
        assert!(!s.matches("api_errors_total", &labels));
        labels.remove("route");
        assert!(
            s.matches("api_errors_total", &labels),
            "a missing label is the empty string"
        );
        assert!(!s.matches("api_requests_total", &labels));
    }
}
