//! Templates: text with `{{name}}` placeholders, and JSON bodies whose strings may
//! hold them. A template is parsed and its names resolved to variable slots once,
//! when the flow is checked; sending a request only copies literal bytes and
//! writes the current values.
//!
//! - In text (paths, headers, messages) a value is written as text: a string as
//!   it is, a number or a boolean as JSON writes it, a list or table as JSON. In
//!   a path the values are percent-encoded (the literal text is not).
//! - In a JSON body a string that is exactly one placeholder, `"{{days}}"`, is
//!   that value with its JSON type (a number stays a number, a list a list);
//!   any other string is a JSON string with the values written into it.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

/// Characters percent-encoded in a value written into a path: all but RFC 3986's
/// unreserved ones (letters, digits, `-`, `.`, `_`, `~`).
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A placeholder's name as written, and where it starts in the text (bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Placeholder {
    /// `athlete`, `params.timeout`, `user.id`.
    pub name: String,
    /// Byte offset of its `{{`.
    pub at: usize,
}

/// A piece of a parsed template: literal text or a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Text as written.
    Text(String),
    /// A placeholder, by name.
    Name(Placeholder),
}

/// Splits `text` into literal text and placeholders; a `{{` without a valid name
/// and `}}` is an error naming what is wrong.
pub fn parse(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("a {{{{ at byte {} is never closed by }}}}", offset + open))?;
        let name = after[..close].trim();
        if !valid_name(name) {
            return Err(format!(
                "{{{{{}}}}} is not a variable name (letters, digits and _, parts joined by dots)",
                &after[..close]
            ));
        }
        pieces.push(Piece::Name(Placeholder {
            name: name.to_string(),
            at: offset + open,
        }));
        let used = open + 2 + close + 2;
        offset += used;
        rest = &rest[used..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// A variable name: identifiers joined by dots (`user.id`, `job_id`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// A piece of a compiled text template.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Slot(usize),
}

/// A text template with its placeholders resolved to variable slots.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    segments: Vec<Segment>,
}

/// How values are written into a text template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Escape {
    /// As they are (headers, messages, JSON strings before their own escaping).
    None,
    /// Percent-encoded (a path and its query).
    Path,
}

impl Template {
    /// A template of literal text only.
    pub fn literal(text: &str) -> Template {
        Template {
            segments: vec![Segment::Text(text.to_string())],
        }
    }

    /// Compiles parsed pieces: `resolve` gives a placeholder's slot, or its value
    /// when it is known now (a parameter), or an error.
    pub fn compile<E>(
        pieces: &[Piece],
        mut resolve: impl FnMut(&Placeholder) -> Result<Resolved, E>,
    ) -> Result<Template, E> {
        let mut segments: Vec<Segment> = Vec::new();
        for piece in pieces {
            let text = match piece {
                Piece::Text(t) => t.clone(),
                Piece::Name(p) => match resolve(p)? {
                    Resolved::Slot(slot) => {
                        segments.push(Segment::Slot(slot));
                        continue;
                    }
                    Resolved::Value(v) => text_of(&v),
                },
            };
            match segments.last_mut() {
                Some(Segment::Text(last)) => last.push_str(&text),
                _ => segments.push(Segment::Text(text)),
            }
        }
        Ok(Template { segments })
    }

    /// Its text when it has no placeholders left.
    pub fn as_literal(&self) -> Option<String> {
        match self.segments.as_slice() {
            [] => Some(String::new()),
            [Segment::Text(t)] => Some(t.clone()),
            _ => None,
        }
    }

    /// Whether it starts with the literal text `prefix`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        matches!(self.segments.first(), Some(Segment::Text(t)) if t.starts_with(prefix))
    }

    /// The slots it reads.
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Slot(i) => Some(*i),
            Segment::Text(_) => None,
        })
    }

    /// Writes it with the values of `env` into `out`.
    pub fn render_into(&self, env: &[Value], escape: Escape, out: &mut String) {
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Slot(i) => {
                    let value = &env[*i];
                    match (escape, value) {
                        (Escape::None, Value::String(s)) => out.push_str(s),
                        (Escape::None, v) => {
                            let _ = write!(out, "{v}");
                        }
                        (Escape::Path, v) => {
                            let text = text_of(v);
                            let encoded = percent_encoding::utf8_percent_encode(&text, PATH_VALUE);
                            let _ = write!(out, "{encoded}");
                        }
                    }
                }
            }
        }
    }

    /// It with the values of `env`, borrowed when it has no placeholder (a
    /// fixed path costs no allocation per request).
    pub fn render_cow(&self, env: &[Value], escape: Escape) -> std::borrow::Cow<'_, str> {
        match self.segments.as_slice() {
            [Segment::Text(t)] => std::borrow::Cow::Borrowed(t),
            _ => std::borrow::Cow::Owned(self.render(env, escape)),
        }
    }

    /// It with the values of `env`.
    pub fn render(&self, env: &[Value], escape: Escape) -> String {
        let mut out = String::new();
        self.render_into(env, escape, &mut out);
        out
    }
}

/// What a placeholder stands for once resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A variable's slot, read when the template is written.
    Slot(usize),
    /// A value known when the flow is checked (a parameter).
    Value(Value),
}

/// A value written as text: a string as it is, anything else as JSON.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A piece of a compiled JSON body.
#[derive(Debug, Clone, PartialEq)]
enum JsonPiece {
    /// JSON text written as it is (the literal parts, already serialised).
    Raw(String),
    /// A whole value: the slot's value with its JSON type.
    Value(usize),
    /// A JSON string with values written into it.
    Text(Template),
}

/// A JSON body with its placeholders resolved: literal parts are serialised once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsonTemplate {
    pieces: Vec<JsonPiece>,
}

impl JsonTemplate {
    /// Compiles `value`, whose strings may hold placeholders; `parse_text` parses
    /// and resolves one string (its key path given for errors) into a template,
    /// or a whole value when the string is one placeholder.
    pub fn compile<E>(
        value: &Value,
        key: &str,
        text: &mut impl FnMut(&str, &str) -> Result<JsonText, E>,
    ) -> Result<JsonTemplate, E> {
        let mut out = JsonTemplate::default();
        out.add(value, key, text)?;
        Ok(out)
    }

    fn raw(&mut self, s: &str) {
        match self.pieces.last_mut() {
            Some(JsonPiece::Raw(last)) => last.push_str(s),
            _ => self.pieces.push(JsonPiece::Raw(s.to_string())),
        }
    }

    fn add<E>(
        &mut self,
        value: &Value,
        key: &str,
        text: &mut impl FnMut(&str, &str) -> Result<JsonText, E>,
    ) -> Result<(), E> {
        match value {
            Value::String(s) => match text(s, key)? {
                JsonText::Literal(v) => self.raw(&v.to_string()),
                JsonText::Slot(slot) => self.pieces.push(JsonPiece::Value(slot)),
                JsonText::Template(t) => match t.as_literal() {
                    Some(lit) => self.raw(&Value::String(lit).to_string()),
                    None => self.pieces.push(JsonPiece::Text(t)),
                },
            },
            Value::Array(items) => {
                self.raw("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(",");
                    }
                    self.add(item, &format!("{key}[{i}]"), text)?;
                }
                self.raw("]");
            }
            Value::Object(map) => {
                self.raw("{");
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        self.raw(",");
                    }
                    self.raw(&Value::String(k.clone()).to_string());
                    self.raw(":");
                    self.add(v, &format!("{key}.{k}"), text)?;
                }
                self.raw("}");
            }
            literal => self.raw(&literal.to_string()),
        }
        Ok(())
    }

    /// The slots it reads.
    pub fn slots(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for p in &self.pieces {
            match p {
                JsonPiece::Raw(_) => {}
                JsonPiece::Value(s) => out.push(*s),
                JsonPiece::Text(t) => out.extend(t.slots()),
            }
        }
        out
    }

    /// The body with the values of `env`.
    pub fn render(&self, env: &[Value]) -> Vec<u8> {
        let mut out = String::new();
        let mut scratch = String::new();
        for p in &self.pieces {
            match p {
                JsonPiece::Raw(r) => out.push_str(r),
                JsonPiece::Value(slot) => {
                    let _ = write!(out, "{}", env[*slot]);
                }
                JsonPiece::Text(t) => {
                    scratch.clear();
                    t.render_into(env, Escape::None, &mut scratch);
                    let _ = write!(out, "{}", Value::String(std::mem::take(&mut scratch)));
                }
            }
        }
        out.into_bytes()
    }
}

/// One string of a JSON body, resolved.
pub enum JsonText {
    /// Known when the flow is checked: written as this JSON value.
    Literal(Value),
    /// Exactly one placeholder: the slot's value with its JSON type.
    Slot(usize),
    /// Text with values written into it.
    Template(Template),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slots<'a>(
        names: &'a [&'a str],
    ) -> impl FnMut(&Placeholder) -> Result<Resolved, String> + 'a {
        move |p| match p.name.as_str() {
            "params.n" => Ok(Resolved::Value(json!(7))),
            n => names
                .iter()
                .position(|x| *x == n)
                .map(Resolved::Slot)
                .ok_or_else(|| format!("unknown {n}")),
        }
    }

    #[test]
    fn text_templates_write_values_and_encode_them_in_paths() {
        let pieces = parse("/plans/status?jobId={{ job }}&n={{params.n}}").unwrap();
        let t = Template::compile(&pieces, slots(&["job"])).unwrap();
        let env = vec![json!("a b/c.d")];
        assert_eq!(
            t.render(&env, Escape::Path),
            "/plans/status?jobId=a%20b%2Fc.d&n=7"
        );
        assert_eq!(
            t.render(&env, Escape::None),
            "/plans/status?jobId=a b/c.d&n=7"
        );
        let env = vec![json!(42)];
        assert_eq!(t.render(&env, Escape::None), "/plans/status?jobId=42&n=7");
    }

    #[test]
    fn bad_placeholders_say_what_is_wrong() {
        assert!(parse("a {{ b").unwrap_err().contains("never closed"));
        assert!(parse("{{}}").unwrap_err().contains("not a variable name"));
        assert!(
            parse("{{a-b}}")
                .unwrap_err()
                .contains("not a variable name")
        );
        assert!(parse("{{1a}}").is_err());
        assert_eq!(parse("plain }} text").unwrap().len(), 1);
        assert!(valid_name("user.id") && valid_name("_x.y2") && !valid_name("a..b"));
    }

    #[test]
    fn json_bodies_keep_a_whole_placeholder_s_type() {
        let names = ["days", "purpose"];
        let mut resolve = slots(&names);
        let mut text = |s: &str, _key: &str| -> Result<JsonText, String> {
            let pieces = parse(s)?;
            if let [Piece::Name(p)] = pieces.as_slice() {
                return Ok(match resolve(p)? {
                    Resolved::Slot(slot) => JsonText::Slot(slot),
                    Resolved::Value(v) => JsonText::Literal(v),
                });
            }
            Ok(JsonText::Template(Template::compile(
                &pieces,
                &mut resolve,
            )?))
        };
        let body = json!({
            "step": "availability",
            "data": { "days": "{{days}}", "note": "for {{purpose}} \"x\"", "n": "{{params.n}}" },
            "list": [1, "{{days}}"]
        });
        let t = JsonTemplate::compile(&body, "json", &mut text).unwrap();
        let env = vec![json!(4), json!("weight_loss")];
        let out: Value = serde_json::from_slice(&t.render(&env)).unwrap();
        assert_eq!(
            out,
            json!({
                "step": "availability",
                "data": { "days": 4, "note": "for weight_loss \"x\"", "n": 7 },
                "list": [1, 4]
            })
        );
        assert_eq!(t.slots(), vec![0, 1, 0]);
    }
}
