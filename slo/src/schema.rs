//! What the file schemas of this project share: closed sets of names as enums
//! ([`closed_set!`]), and the [`Checker`] that validates a parsed file section by
//! section, every error carrying the file, the line of its key and the fix.

use std::collections::BTreeMap;
use std::path::Path;

use crate::toml_file::FileError;

/// "a, b or c", for a fix listing the allowed names.
pub fn choices(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// An enum for a closed set of names written in files: each variant has its
/// spelling; reading an unknown name is an error saying what it is not (the noun,
/// with its article) and listing the names allowed. The enum also compares equal
/// to its spelling (`kind == "gauge"`).
///
/// ```
/// slo::closed_set! {
///     /// How fast.
///     pub enum Speed ("a speed") { Slow = "slow", Fast = "fast" }
/// }
/// assert_eq!(Speed::parse("fast"), Some(Speed::Fast));
/// assert_eq!(Speed::Slow.as_str(), "slow");
/// assert!(Speed::Slow == "slow");
/// ```
#[macro_export]
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($noun:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every member, in the order written.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// What a member is, with its article ("a flow").
            pub const NOUN: &'static str = $noun;

            /// The spelling in files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The member spelled `text`.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// "a, b or c": the names allowed.
            pub fn choices() -> String {
                $crate::schema::choices(&[$($text),+])
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| {
                    <D::Error as ::serde::de::Error>::custom($crate::toml_file::with_fix(
                        &format!("{text:?} is not {}", $noun),
                        &format!("use {}", $name::choices()),
                    ))
                })
            }
        }
    };
}

/// Where the keys of a file translated from another format came from: our key
/// path (`slo[2].objective`) to the other file's key and line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Locations(BTreeMap<String, (String, usize)>);

impl Locations {
    /// Records where `key` came from.
    pub fn insert(&mut self, key: String, their_key: String, line: usize) {
        self.0.insert(key, (their_key, line));
    }

    /// Where `key` came from, or else the nearest of its parents.
    pub fn find(&self, key: &str) -> Option<&(String, usize)> {
        let mut k = key;
        loop {
            if let Some(found) = self.0.get(k) {
                return Some(found);
            }
            k = &k[..k.rfind(['.', '['])?];
        }
    }
}

/// Validates a parsed file: every error names the file, the line of the key and
/// the fix.
#[derive(Debug, Clone, Copy)]
pub struct Checker<'a> {
    /// The file, as named in errors.
    pub path: &'a Path,
    /// Its text, to find the line of a key.
    pub text: &'a str,
    /// For a file translated from another format, where its keys came from.
    pub locations: Option<&'a Locations>,
}

impl<'a> Checker<'a> {
    /// A checker of `text`, read from `path`.
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Checker {
            path,
            text,
            locations: None,
        }
    }

    /// A checker of a file translated from another format: errors name its keys.
    pub fn translated(path: &'a Path, text: &'a str, locations: &'a Locations) -> Self {
        Checker {
            path,
            text,
            locations: Some(locations),
        }
    }

    /// An error at `key` (a path such as `load.stages[2].duration`).
    pub fn error(
        &self,
        key: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> FileError {
        match self.locations {
            Some(l) => {
                let found = l.find(key);
                FileError {
                    file: self.path.to_path_buf(),
                    line: found.map(|f| f.1),
                    column: None,
                    key: Some(found.map_or_else(|| key.to_string(), |f| f.0.clone())),
                    message: message.into(),
                    fix: Some(fix.into()),
                }
            }
            None => FileError::at_key(self.path, self.text, key, message, fix),
        }
    }

    /// A share between 0 and 1.
    pub fn fraction(&self, key: &str, value: f64) -> Result<f64, FileError> {
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(self.error(
                key,
                format!("{value} is out of range"),
                "use a share between 0 and 1 (0.1 is 10%)",
            ))
        }
    }

    /// An `http://` or `https://` URL.
    pub fn http_url(&self, key: &str, url: &str, example: &str) -> Result<(), FileError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(())
        } else {
            Err(self.error(
                key,
                format!("{url:?} is not an http(s) URL"),
                format!("write it like {example}"),
            ))
        }
    }

    /// Fails when `set` holds: a key that does not apply where it is.
    pub fn forbid(&self, key: &str, set: bool, message: &str, fix: &str) -> Result<(), FileError> {
        if set {
            Err(self.error(key, message, fix))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::closed_set! {
        /// A test set.
        enum Colour ("a colour") { Red = "red", Green = "green", Blue = "blue" }
    }

    #[test]
    fn closed_sets_read_and_refuse_with_the_choices() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            colour: Colour,
        }
        let doc: Doc = crate::toml_file::parse(Path::new("c.toml"), "colour = \"green\"").unwrap();
        assert_eq!(doc.colour, Colour::Green);
        let e =
            crate::toml_file::parse::<Doc>(Path::new("c.toml"), "colour = \"mauve\"").unwrap_err();
        assert_eq!(e.message, "\"mauve\" is not a colour");
        assert_eq!(e.fix.as_deref(), Some("use red, green or blue"));
        assert_eq!(e.key.as_deref(), Some("colour"));
        assert_eq!(Colour::ALL.len(), 3);
        assert_eq!(Colour::NOUN, "a colour");
        assert!(Colour::Blue == "blue");
    }
}
