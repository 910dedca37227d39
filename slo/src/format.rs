//! Numbers as verdicts and rules show them: `80%`, `2 s`, `1000 MB`, `p95`.

/// `0.95` -> `95`, `0.999` -> `99.9`.
pub fn quantile_name(q: f64) -> String {
    trim_float(q * 100.0)
}

/// A number with at most six decimals and no trailing zeros: `2`, `0.5`, `1e9` as
/// `1000000000`.
pub fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `0.8` -> `80%`.
pub fn percent(v: f64) -> String {
    format!("{}%", trim_float((v * 100.0 * 1000.0).round() / 1000.0))
}

/// A gauge value with its unit (`bytes` as MB, `cores` as %).
pub fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "bytes" => format!("{} MB", trim_float((v / 1e6 * 10.0).round() / 10.0)),
        "cores" => format!("{}% CPU", trim_float((v * 1000.0).round() / 10.0)),
        "" => trim_float(v),
        u => format!("{} {u}", trim_float(v)),
    }
}

/// Seconds as people read them: `0`, `250 ms`, `2 s`.
pub fn seconds(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v < 1.0 {
        format!("{} ms", trim_float(v * 1000.0))
    } else {
        format!("{} s", trim_float(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(percent(0.8), "80%");
        assert_eq!(percent(0.93506), "93.506%");
        assert_eq!(with_unit(1e9, "bytes"), "1000 MB");
        assert_eq!(with_unit(0.8, "cores"), "80% CPU");
        assert_eq!(quantile_name(0.999), "99.9");
        assert_eq!(seconds(0.25), "250 ms");
        assert_eq!(seconds(2.0), "2 s");
    }
}
