//! One function per parser. Each takes any bytes, must not panic, and checks what
//! must hold of whatever it accepts (a printed selector reads back the same, a
//! duration's PromQL form reads back the same, an error renders).

use std::path::Path;

/// A target: its name (the corpus directory) and its function.
pub struct Target {
    /// `fuzz/corpus/<name>/` holds its seeds.
    pub name: &'static str,
    /// Feeds it one input.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "scenario",
        run: scenario,
    },
    Target {
        name: "flow",
        run: flow,
    },
    Target {
        name: "slo_toml",
        run: slo_toml,
    },
    Target {
        name: "slo_yaml",
        run: slo_yaml,
    },
    Target {
        name: "exposition",
        run: exposition,
    },
    Target {
        name: "interval_log",
        run: interval_log,
    },
    Target {
        name: "histogram",
        run: histogram,
    },
    Target {
        name: "selector",
        run: selector,
    },
    Target {
        name: "query",
        run: query,
    },
    Target {
        name: "duration",
        run: duration,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A scenario file, checked as `loadgen check` does (its SLO set aside).
pub fn scenario(data: &[u8]) {
    if let Some(t) = text(data)
        && let Err(e) = loadgen::commands::check::scenario_text(Path::new("fuzz.toml"), t)
    {
        assert!(!e.is_empty());
    }
}

/// A flow file, checked as `loadgen check` does; what it accepts renders its
/// requests with any values: a path starting with `/`, a JSON body that parses.
pub fn flow(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let program = match loadgen::commands::check::flow_text(Path::new("fuzz.toml"), t) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.is_empty());
            return;
        }
    };
    let odd = serde_json::json!("a \"b\"/c\\\n{{x}}");
    for values in [
        vec![odd; program.slots],
        vec![serde_json::json!([1, {"k": null}]); program.slots],
    ] {
        for step in program.setup.iter().chain(&program.steps) {
            let loadgen::flow_file::Action::Request(r) = &step.action else {
                continue;
            };
            let path = r
                .path
                .render(&values, loadgen::flow_file::template::Escape::Path);
            assert!(path.starts_with('/'), "{t:?}: path {path:?}");
            if let Some(loadgen::flow_file::Body::Json(body)) = &r.body {
                let bytes = body.render(&values);
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|e| {
                    panic!("{t:?}: body {:?}: {e}", String::from_utf8_lossy(&bytes))
                });
            }
        }
    }
}

/// An SLO set in TOML.
pub fn slo_toml(data: &[u8]) {
    if let Some(t) = text(data) {
        slo_file(Path::new("fuzz.toml"), t);
    }
}

/// An SLO set in OpenSLO or Sloth YAML.
pub fn slo_yaml(data: &[u8]) {
    if let Some(t) = text(data) {
        slo_file(Path::new("fuzz.yaml"), t);
    }
}

fn slo_file(path: &Path, text: &str) {
    match slo::definition::parse(path, text) {
        Ok(set) => assert!(!set.slos.is_empty() || text.contains("slo")),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// A Prometheus or OpenMetrics text page, as a scrape reads it.
pub fn exposition(data: &[u8]) {
    if let Some(t) = text(data)
        && let Ok(samples) = slo::exposition::parse(t)
    {
        assert!(samples.len() <= t.lines().count());
    }
}

/// An HdrHistogram interval log, as `loadgen merge` and `loadgen report` read it.
pub fn interval_log(data: &[u8]) {
    let mut reader = reports::hdr::LogReader::from_bytes(data.to_vec(), Path::new("fuzz.hlog"));
    let lines = data.iter().filter(|b| **b == b'\n').count();
    let mut read = 0;
    while let Some(item) = reader.next_encoded() {
        read += 1;
        assert!(read <= lines, "more intervals than lines");
        if let Ok(encoded) = item {
            let mut h = reports::hdr::new_histogram();
            let _ = reports::hdr::add_encoded(&mut h, &encoded.bytes);
        }
    }
}

/// One V2 (deflate) encoded histogram of an interval log, decoded without being
/// built: a small input must not inflate into a huge allocation.
pub fn histogram(data: &[u8]) {
    let mut h = reports::hdr::new_histogram();
    let _ = reports::hdr::add_encoded(&mut h, data);
}

/// A series selector; what it accepts prints back to the same selector.
pub fn selector(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(s) = slo::selector::Selector::parse(t) {
        let printed = s.to_string();
        let again = slo::selector::Selector::parse(&printed)
            .unwrap_or_else(|e| panic!("{t:?} printed as {printed:?}, which does not parse: {e}"));
        assert_eq!(again, s, "{t:?} printed as {printed:?}");
    }
}

/// An event query (OpenSLO and Sloth) and an objective.
pub fn query(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Err(e) = slo::definition::EventQuery::parse(t) {
        assert!(!e.is_empty());
    }
    let _ = slo::definition::Objective::parse(t);
}

/// A duration; what it accepts has a PromQL form that reads back the same.
pub fn duration(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(d) = slo::duration::parse(t)
        && d.subsec_nanos() % 1_000_000 == 0
    {
        let promql = slo::duration::promql(d);
        assert_eq!(
            slo::duration::parse(&promql),
            Ok(d),
            "{t:?} as PromQL {promql:?}"
        );
    }
}
