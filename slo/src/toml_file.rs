//! Reading the project's TOML files (SLO sets, scenarios) with errors a person can
//! act on: the file, the line and column, the key, what is wrong and the fix.
//!
//! Syntax and type errors come from the TOML parser with their position, and
//! [`key_at`] names the key there; values read into types of their own (durations,
//! selectors, closed sets of names) say what is wrong and the fix through
//! [`with_fix`]. Checks made after parsing name a key path (`load.stages[2].duration`);
//! [`locate`] finds that key's line in the text, so every error points into the file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A problem in a file, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    /// The file, as named on the command line or in another file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The key path, when the error is about one key.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileError {}

impl FileError {
    /// An error about the file as a whole (cannot read it, ...).
    pub fn whole(file: &Path, message: impl Into<String>, fix: Option<String>) -> Self {
        FileError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
            fix,
        }
    }

    /// An error about `key` of a parsed file, located in `text`.
    pub fn at_key(
        file: &Path,
        text: &str,
        key: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        let position = locate(text, key);
        FileError {
            file: file.to_path_buf(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            key: Some(key.to_string()),
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// 1-based (line, column) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map(|nl| offset - nl)
        .unwrap_or(offset + 1);
    (line, column)
}

/// Reads and parses a file.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<(T, String), FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        FileError::whole(
            path,
            format!("cannot read the file: {e}"),
            Some("check the path (relative paths start at the current directory)".to_string()),
        )
    })?;
    let value = parse(path, &text)?;
    Ok((value, text))
}

/// Parses text read from `path`.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, FileError> {
    toml::from_str(text).map_err(|e| {
        let position = e.span().map(|s| line_column(text, s.start));
        let key = e.span().and_then(|s| key_at(text, s.start));
        let message = e.message().trim().to_string();
        let (message, fix) = match message.split_once(FIX_MARK) {
            Some((m, f)) => (m.to_string(), f.to_string()),
            None => {
                let fix = fix_for(&message);
                (message, fix)
            }
        };
        FileError {
            file: path.to_path_buf(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            key,
            fix: Some(fix),
            message,
        }
    })
}

/// Separates a value's error message from its fix inside a deserializer's error.
const FIX_MARK: &str = "; fix: ";

/// A deserializer's error message carrying its fix, which [`parse`] moves into
/// [`FileError::fix`]: for types that check their own values (durations, selectors).
pub fn with_fix(message: &str, fix: &str) -> String {
    format!("{message}{FIX_MARK}{fix}")
}

/// A suggestion for a serde/TOML message.
fn fix_for(message: &str) -> String {
    if message.starts_with("unknown field") {
        "remove or rename the key: the message lists the keys allowed here".to_string()
    } else if message.starts_with("missing field") {
        "add the key named above".to_string()
    } else if message.starts_with("invalid type") {
        "give the value the type named after \"expected\"".to_string()
    } else if message.starts_with("unknown variant") {
        "use one of the values listed".to_string()
    } else {
        "correct the TOML at this position".to_string()
    }
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Key(name.to_string()));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                steps.push(Step::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    steps
}

/// 1-based (line, column) of the deepest part of a key path (`a.b[2].c`) found in
/// the document: the key itself when it exists, else its nearest parent.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let (document, _) = DeTable::parse_recoverable(text);
    let mut best: Option<usize> = None;
    let mut table: Option<&DeTable> = Some(document.get_ref());
    let mut value: Option<&toml::Spanned<DeValue>> = None;
    for step in parse_path(path) {
        match step {
            Step::Key(k) => {
                let t = match (table, value) {
                    (Some(t), None) => t,
                    (_, Some(v)) => match v.get_ref() {
                        DeValue::Table(t) => t,
                        _ => break,
                    },
                    _ => break,
                };
                let Some((key, v)) = t.iter().find(|(key, _)| key.get_ref().as_ref() == k) else {
                    break;
                };
                best = Some(key.span().start);
                value = Some(v);
                table = None;
            }
            Step::Index(i) => {
                let Some(v) = value else { break };
                let DeValue::Array(items) = v.get_ref() else {
                    break;
                };
                let Some(item) = items.get(i) else { break };
                best = Some(item.span().start);
                value = Some(item);
            }
        }
    }
    best.map(|offset| line_column(text, offset))
}

/// The key path (`flows[1].name`) of the deepest value at a byte offset of the
/// document, for errors the TOML parser reports by position.
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    fn in_value(v: &toml::Spanned<DeValue>, offset: usize, path: &str) -> Option<String> {
        let inner = match v.get_ref() {
            DeValue::Table(t) => in_table(t, offset, path),
            DeValue::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| in_value(item, offset, &format!("{path}[{i}]"))),
            _ => None,
        };
        inner.or_else(|| v.span().contains(&offset).then(|| path.to_string()))
    }
    fn in_table(t: &DeTable, offset: usize, path: &str) -> Option<String> {
        t.iter().find_map(|(k, v)| {
            let key = k.get_ref().as_ref();
            let path = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            in_value(v, offset, &path)
        })
    }
    let (document, _) = DeTable::parse_recoverable(text);
    in_table(document.get_ref(), offset, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        load: Load,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Load {
        users: u32,
        stages: Vec<Stage>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Stage {
        users: u32,
        duration: String,
    }

    const TEXT: &str = "name = \"x\"\n\n[load]\nusers = 3\nstages = [\n  { users = 1, duration = \"10s\" },\n  { users = 2, duration = \"3x\" },\n]\n";

    #[test]
    fn locates_keys_and_array_items() {
        assert_eq!(locate(TEXT, "name"), Some((1, 1)));
        assert_eq!(locate(TEXT, "load.users"), Some((4, 1)));
        assert_eq!(
            locate(TEXT, "load.stages[1].duration").map(|p| p.0),
            Some(7)
        );
        // A missing key points at its nearest parent.
        assert_eq!(locate(TEXT, "load.hatch_rate").map(|p| p.0), Some(3));
        assert_eq!(locate(TEXT, "nothing"), None);
    }

    #[test]
    fn parse_errors_carry_line_and_fix() {
        let bad = TEXT.replace("users = 3", "userz = 3");
        let err = parse::<Doc>(Path::new("s.toml"), &bad).unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.message.contains("unknown field `userz`"), "{err}");
        assert!(err.to_string().starts_with("s.toml:4:"), "{err}");
        assert!(err.fix.is_some());

        let bad = TEXT.replace("users = 3", "users = \"three\"");
        let err = parse::<Doc>(Path::new("s.toml"), &bad).unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.message.contains("invalid type"), "{err}");
    }

    #[test]
    fn parse_errors_name_their_key() {
        let bad = TEXT.replace("duration = \"3x\"", "duration = 3");
        let err = parse::<Doc>(Path::new("s.toml"), &bad).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("load.stages[1].duration"), "{err}");
        assert_eq!(key_at(TEXT, 0).as_deref(), None);
        assert_eq!(
            key_at(TEXT, TEXT.find("3\n").unwrap()).as_deref(),
            Some("load.users")
        );
    }

    #[test]
    fn errors_at_keys_render_with_the_fix() {
        let err = FileError::at_key(
            Path::new("s.toml"),
            TEXT,
            "load.stages[1].duration",
            "`3x` is not a duration",
            "use 30s, 2m or 1h",
        );
        assert_eq!(err.line, Some(7));
        let text = err.to_string();
        assert!(text.starts_with("s.toml:7:"), "{text}");
        assert!(
            text.contains("load.stages[1].duration: `3x` is not a duration"),
            "{text}"
        );
        assert!(text.contains("fix: use 30s, 2m or 1h"), "{text}");
    }
}
