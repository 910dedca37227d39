//! Reading a `/metrics` page (Prometheus text 0.0.4 or OpenMetrics 1.0 text) into
//! samples, for the embedded source. Comments, `# EOF` and exemplars are skipped.

use std::collections::BTreeMap;

use crate::error::Error;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' metric name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Parses every sample of a page; the error names the first bad line.
pub fn parse(text: &str) -> Result<Vec<Sample>, Error> {
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(parse_line(line).map_err(|message| Error::Exposition {
            line: n + 1,
            message,
            text: line.to_string(),
        })?);
    }
    Ok(samples)
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse().map_err(|_| format!("{v:?} is not a number")),
    }
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut s = body;
        loop {
            s = s.trim_start_matches([' ', ',']);
            if let Some(after) = s.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = s.find('=').ok_or("label without =")?;
            let key = s[..eq].trim().to_string();
            let after = s[eq + 1..]
                .trim_start()
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, other)) => value.push(other),
                        None => return Err("dangling escape".into()),
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    other => value.push(other),
                }
            }
            let end = end.ok_or("unterminated label value")?;
            labels.insert(key, value);
            s = &after[end + 1..];
        }
    }
    // Value, then an optional timestamp, then an optional exemplar after " # ".
    let rest = rest.split(" # ").next().unwrap_or("").trim();
    let value = rest.split_whitespace().next().ok_or("no value")?;
    Ok(Sample {
        name,
        labels,
        value: parse_value(value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openmetrics_with_exemplars() {
        let text = r#"# HELP api_requests HTTP API requests.
# TYPE api_requests counter
api_requests_total{route="/api/health",method="GET",status_class="2xx"} 42
api_response_time_seconds_bucket{route="/x",method="GET",le="2.0"} 7 # {trace_id="abc"} 1.5 1700000000.1
api_response_time_seconds_bucket{route="/x",method="GET",le="+Inf"} 8
process_resident_memory_bytes 1.2e7
weird{v="a \"quoted\" \\ value"} 1 1700000000
# EOF
"#;
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 5);
        assert_eq!(samples[0].name, "api_requests_total");
        assert_eq!(samples[0].labels["status_class"], "2xx");
        assert_eq!(samples[0].value, 42.0);
        assert_eq!(samples[1].labels["le"], "2.0");
        assert_eq!(samples[1].value, 7.0);
        assert!(samples[2].labels["le"] == "+Inf");
        assert_eq!(samples[3].value, 1.2e7);
        assert_eq!(samples[4].labels["v"], "a \"quoted\" \\ value");
    }

    #[test]
    fn bad_lines_are_named() {
        let e = parse("ok 1\nbroken{a=b} 2\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
