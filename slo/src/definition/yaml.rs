//! Reading the YAML SLO files of other tools (OpenSLO, Sloth) with errors that
//! point into them: each document parsed on its own with its line offset kept, and
//! the [`Locations`] that send the checks of the SLO set (written for our TOML keys)
//! to the YAML line they came from.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use crate::schema::Locations;
use crate::toml_file::FileError;

/// One YAML document of a file, and the line it starts on.
pub(super) struct Document<'a> {
    pub text: &'a str,
    /// Lines before it in the file.
    pub offset: usize,
}

/// The documents of a multi-document file, split at `---` lines.
pub(super) fn documents(text: &str) -> Vec<Document<'_>> {
    let mut out = Vec::new();
    let (mut start, mut start_line, mut at) = (0, 0, 0);
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let marker = line.trim_end();
        if marker == "---" || marker.starts_with("--- ") || marker == "..." {
            out.push(Document {
                text: &text[start..at],
                offset: start_line,
            });
            start = at + line.len();
            start_line = n + 1;
        }
        at += line.len();
    }
    out.push(Document {
        text: &text[start..],
        offset: start_line,
    });
    out.retain(|d| {
        d.text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    out
}

/// A YAML file being read: where errors point.
pub(super) struct YamlFile<'a> {
    pub path: &'a Path,
    /// Our key paths, mapped to where they came from in the YAML.
    pub locations: Locations,
}

/// The 1-based line of a spanned value in the file.
pub(super) fn line<T>(doc: &Document, value: &Spanned<T>) -> usize {
    value.referenced.line() as usize + doc.offset
}

impl<'a> YamlFile<'a> {
    pub fn new(path: &'a Path) -> Self {
        YamlFile {
            path,
            locations: Locations::default(),
        }
    }

    /// Parses one document; a syntax or type error names its line and the fix.
    pub fn parse<T: DeserializeOwned>(&self, doc: &Document) -> Result<T, FileError> {
        serde_saphyr::from_str(doc.text).map_err(|e| {
            let location = e.location();
            let message = e.without_snippet().to_string();
            let message = message
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .trim_end_matches('.')
                .to_string();
            let message = strip_position(&message);
            let (message, fix) = match message.split_once("; fix: ") {
                Some((m, f)) => (m.to_string(), f.to_string()),
                None => {
                    let fix = fix_for(&message);
                    (message, fix)
                }
            };
            FileError {
                file: self.path.to_path_buf(),
                line: location.map(|l| l.line() as usize + doc.offset),
                column: location.map(|l| l.column() as usize),
                key: None,
                message,
                fix: Some(fix),
            }
        })
    }

    /// An error at a line of the file, about a YAML key.
    pub fn error(
        &self,
        key: &str,
        line: usize,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> FileError {
        FileError {
            file: self.path.to_path_buf(),
            line: Some(line),
            column: None,
            key: Some(key.to_string()),
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    /// Records that our `key` came from the YAML `yaml_key` at `line`.
    pub fn map(&mut self, key: impl Into<String>, yaml_key: impl Into<String>, line: usize) {
        self.locations.insert(key.into(), yaml_key.into(), line);
    }
}

/// A deserializer's message without the position it appends (the error carries it).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A suggestion for a YAML deserializer's message.
fn fix_for(message: &str) -> String {
    if message.contains("unknown field") {
        "remove or rename the key: the message lists the keys allowed here".to_string()
    } else if message.contains("missing field") {
        "add the key named above".to_string()
    } else if message.contains("invalid type") {
        "give the value the type named after \"expected\"".to_string()
    } else {
        "correct the YAML at this position".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_first_line() {
        let text = "# head\n---\na: 1\n---\n\n---\nb: 2\n";
        let docs = documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!(docs[0].offset, 2);
        assert_eq!(docs[1].text, "b: 2\n");
        assert_eq!(docs[1].offset, 6);
        assert_eq!(documents("a: 1\n")[0].offset, 0);
    }

    #[test]
    fn errors_point_at_the_line_in_the_file() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            a: u32,
        }
        let text = "---\na: 1\n---\n# c\na: 1\nb: 2\n";
        let f = YamlFile::new(Path::new("x.yaml"));
        let docs = documents(text);
        assert!(f.parse::<Doc>(&docs[0]).is_ok());
        let e = f.parse::<Doc>(&docs[1]).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
        assert!(e.fix.unwrap().contains("remove or rename"));
    }
}
