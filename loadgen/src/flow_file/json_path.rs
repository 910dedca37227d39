//! A small JSON path: `$` for the whole answer, then `.name`, `[index]` or
//! `["any key"]` steps: `$.jobId`, `$.plan.sessions[0].day`, `$["x-y"]`. Enough
//! to capture a field or check it; no wildcards, filters or slices, so a path
//! names exactly one value or none.

use std::fmt;

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How a path is written, for error fixes.
pub const FORM: &str = "$.field, $.list[0].field or $[\"odd key\"]";

impl JsonPath {
    /// Parses `text`; the error says where and what is wrong.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| format!("{text:?} does not start with $"))?;
        let mut steps = Vec::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '.' => {
                    let mut name = String::new();
                    while let Some(&(_, c)) = chars.peek() {
                        if c == '.' || c == '[' {
                            break;
                        }
                        name.push(c);
                        chars.next();
                    }
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_alphanumeric() || "_-".contains(c))
                    {
                        return Err(format!(
                            "{text:?}: a . at byte {} is not followed by a name (letters, digits, _ or -; quote others as [\"...\"])",
                            i + 1
                        ));
                    }
                    steps.push(Step::Key(name));
                }
                '[' => steps.push(bracket(text, i + 1, &mut chars)?),
                other => {
                    return Err(format!(
                        "{text:?}: {other:?} at byte {} where . or [ was expected",
                        i + 1
                    ));
                }
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            steps,
        })
    }

    /// The value it names in `root`, if any.
    pub fn find<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut v = root;
        for step in &self.steps {
            v = match step {
                Step::Key(k) => v.as_object()?.get(k)?,
                Step::Index(i) => v.as_array()?.get(*i)?,
            };
        }
        Some(v)
    }
}

/// A `[0]` or `["key"]` step, after its `[` (at byte `at` of the text).
fn bracket(
    text: &str,
    at: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<Step, String> {
    let unclosed = || format!("{text:?}: the [ at byte {at} is not closed");
    if chars.peek().is_some_and(|&(_, c)| c == '"') {
        chars.next();
        let mut key = String::new();
        loop {
            match chars.next().ok_or_else(unclosed)?.1 {
                '\\' => key.push(chars.next().ok_or_else(unclosed)?.1),
                '"' => break,
                c => key.push(c),
            }
        }
        return match chars.next() {
            Some((_, ']')) => Ok(Step::Key(key)),
            _ => Err(unclosed()),
        };
    }
    let mut digits = String::new();
    loop {
        match chars.next().ok_or_else(unclosed)?.1 {
            ']' => break,
            c => digits.push(c),
        }
    }
    digits
        .parse()
        .map(Step::Index)
        .map_err(|_| format!("{text:?}: [{digits}] is neither an index nor a quoted key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_find_fields_indexes_and_quoted_keys() {
        let v = json!({ "jobId": "j1", "plan": { "sessions": [{ "day": 2 }] }, "x-y.z": true });
        let find = |p: &str| JsonPath::parse(p).unwrap().find(&v).cloned();
        assert_eq!(find("$.jobId"), Some(json!("j1")));
        assert_eq!(find("$.plan.sessions[0].day"), Some(json!(2)));
        assert_eq!(find("$[\"x-y.z\"]"), Some(json!(true)));
        assert_eq!(find("$"), Some(v.clone()));
        assert_eq!(find("$.plan.sessions[3]"), None);
        assert_eq!(find("$.jobId.deeper"), None);
    }

    #[test]
    fn bad_paths_say_where() {
        for bad in [
            "jobId", "$.", "$..a", "$[", "$[x]", "$[\"a\"", "$a", "$.a b", "$.a]",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
        assert!(JsonPath::parse("$.a b").unwrap_err().contains("byte 1"));
    }
}
