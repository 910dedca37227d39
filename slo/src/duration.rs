//! The one duration grammar of every file and flag: numbers with units, as
//! humantime reads them (`500ms`, `30s`, `2m`, `1h30m`, `1d`), and the PromQL form
//! of a duration (`5m`), for the rules this tool writes.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What to write instead of a bad duration.
pub const FIX: &str = "write a number and a unit, such as 500ms, 30s, 2m or 1h30m";

/// The longest duration read (100 years of 365.25 days, as humantime counts them): longer ones are typing mistakes, and
/// their millisecond count no longer reads back (found by the duration fuzz target).
pub const MAX: Duration = Duration::from_secs(36_525 * 86_400);

/// Reads `500ms`, `30s`, `2m`, `1h30m`; the error says what is wrong.
pub fn parse(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|_| format!("{text:?} is not a duration"))?;
    if d > MAX {
        return Err(format!("{text:?} is longer than 100 years"));
    }
    Ok(d)
}

/// The PromQL spelling of a duration: its largest unit that divides it exactly
/// (`5m`, `30s`, `1500ms`, `2h`, `1d`).
pub fn promql(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    for (unit, size) in [
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A duration as a file writes it: a string in the grammar above, checked while
/// the file is read (a bad one is an error at its key with the fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationField(pub Duration);

impl DurationField {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl<'de> Deserialize<'de> for DurationField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text)
            .map(DurationField)
            .map_err(|e| serde::de::Error::custom(crate::toml_file::with_fix(&e, FIX)))
    }
}

impl Serialize for DurationField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_reads_units_and_refuses_bare_numbers() {
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse("5").is_err());
        assert!(parse("five minutes").is_err());
    }

    #[test]
    fn every_duration_read_has_a_promql_form_that_reads_back() {
        let long = "5018446744073709s516160ms";
        assert!(parse(long).unwrap_err().contains("longer than 100 years"));
        for text in ["100y", "1h1m1s1ms", "36500d", "1500ms"] {
            let d = parse(text).unwrap();
            assert_eq!(parse(&promql(d)), Ok(d), "{text}");
        }
    }

    #[test]
    fn promql_uses_the_largest_exact_unit() {
        assert_eq!(promql(Duration::from_secs(300)), "5m");
        assert_eq!(promql(Duration::from_secs(1800)), "30m");
        assert_eq!(promql(Duration::from_secs(90)), "90s");
        assert_eq!(promql(Duration::from_millis(1500)), "1500ms");
        assert_eq!(promql(Duration::from_secs(3 * 86_400)), "3d");
    }
}
