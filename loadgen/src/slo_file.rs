//! Which SLO set a command judges: a file named on the command line or in the
//! scenario (loadgen TOML, OpenSLO v1 or Sloth `prometheus/v1`, told apart by their
//! content), or else the Athlete Ally set built into the binary. Built in, because
//! `loadgen verify`, `rules` and `check` must work from any directory: a relative
//! default path only worked from the repository's root.

use std::fmt;
use std::path::{Path, PathBuf};

use slo::definition::SloSet;
use slo::toml_file::FileError;

/// The built-in set's name where a path is shown (in errors, rules and reports).
pub const BUILT_IN_PATH: &str = "slo/athlete-ally.toml";

/// The operations guide's SLOs (SEED.md), the same file the repository keeps.
const BUILT_IN_TEXT: &str = include_str!("../../slo/athlete-ally.toml");

/// Where an SLO set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SloFile {
    /// The Athlete Ally set compiled into the binary.
    BuiltIn,
    /// A file.
    Path(PathBuf),
}

/// An SLO set and its text (copied into the run directory).
pub struct LoadedSlo {
    /// The checked set.
    pub set: SloSet,
    /// The file's text.
    pub text: String,
    /// The format it is written in.
    pub format: slo::definition::Format,
}

impl SloFile {
    /// The file given on the command line, else the built-in set.
    pub fn given(path: Option<&Path>) -> Self {
        path.map_or(SloFile::BuiltIn, |p| SloFile::Path(p.to_path_buf()))
    }

    /// Reads and checks the set.
    pub fn load(&self) -> Result<LoadedSlo, FileError> {
        match self {
            SloFile::BuiltIn => {
                let set = slo::definition::parse(Path::new(BUILT_IN_PATH), BUILT_IN_TEXT)?;
                Ok(LoadedSlo {
                    set,
                    text: BUILT_IN_TEXT.to_string(),
                    format: slo::definition::Format::Toml,
                })
            }
            SloFile::Path(path) => {
                let (set, text) = slo::definition::load(path)?;
                let format = slo::definition::Format::detect(&text);
                Ok(LoadedSlo { set, text, format })
            }
        }
    }
}

impl fmt::Display for SloFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SloFile::BuiltIn => write!(f, "{BUILT_IN_PATH} (built in)"),
            SloFile::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_set_is_the_repository_file() {
        let built_in = SloFile::BuiltIn.load().unwrap();
        let file =
            SloFile::Path(concat!(env!("CARGO_MANIFEST_DIR"), "/../slo/athlete-ally.toml").into())
                .load()
                .unwrap();
        assert_eq!(built_in.text, file.text);
        assert_eq!(built_in.set.slos.len(), file.set.slos.len());
        assert_eq!(built_in.set.path, Path::new(BUILT_IN_PATH));
    }

    #[test]
    fn a_named_file_wins_over_the_built_in_set() {
        assert_eq!(SloFile::given(None), SloFile::BuiltIn);
        let named = SloFile::given(Some(Path::new("mine.toml")));
        assert_eq!(named, SloFile::Path("mine.toml".into()));
        let err = named.load().err().unwrap().to_string();
        assert!(err.contains("mine.toml"), "{err}");
    }
}
