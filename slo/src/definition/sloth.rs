//! Sloth files (`version: "prometheus/v1"`): a `service` and its `slos`, each with
//! an `objective` in percent and `sli.events` (`error_query` over `total_query`,
//! PromQL with `[{{.window}}]` ranges). Sloth's raw error-ratio and plugin SLIs
//! carry no event counts, so they are refused with the fix.
//!
//! Sloth has no period, severity or client field: loadgen's settings ride in
//! `loadgen_<setting>` labels ([`super::Extra`]), which `crate::convert` writes.
//! Sloth cannot hold a gauge SLO; the writer leaves them out and names them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::file::{DefaultsFile, SetFile, SloFile};
use super::import::{self, Events, event_slo};
use super::yaml::{YamlFile, documents, line};
use super::{SloKind, SloSet};
use crate::toml_file::FileError;

/// The spec version read and written.
pub const VERSION: &str = "prometheus/v1";
/// The prefix of loadgen's labels.
pub(crate) const PREFIX: &str = "loadgen_";

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    version: Spanned<String>,
    service: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    slos: Vec<Spanned<SloDoc>>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SloDoc {
    name: String,
    objective: Spanned<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    sli: Spanned<SliDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alerting: Option<Alerting>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SliDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) events: Option<EventsDoc>,
    #[serde(default, skip_serializing)]
    pub(crate) raw: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub(crate) plugin: Option<IgnoredAny>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsDoc {
    pub(crate) error_query: String,
    pub(crate) total_query: String,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct Alerting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    /// Read past: loadgen writes its own page and ticket alerts (`loadgen rules`).
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    page_alert: Option<IgnoredAny>,
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    ticket_alert: Option<IgnoredAny>,
}

/// Whether a text is a Sloth file.
pub fn is_sloth(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("version:") && l.contains("prometheus/"))
}

/// Reads and checks a Sloth file.
pub fn parse(path: &Path, text: &str) -> Result<SloSet, FileError> {
    let mut f = YamlFile::new(path);
    let docs = documents(text);
    let [doc] = &docs[..] else {
        return Err(FileError::whole(
            path,
            format!("{} YAML documents", docs.len()),
            Some("keep one Sloth service per file".into()),
        ));
    };
    let spec: SpecFile = f.parse(doc)?;
    let version_at = line(doc, &spec.version);
    if spec.version.value != VERSION {
        return Err(f.error(
            "version",
            version_at,
            format!("{:?} is not {VERSION}", spec.version.value),
            format!("write version: \"{VERSION}\" (Kubernetes PrometheusServiceLevel objects: take their spec)"),
        ));
    }
    for key in ["name", "services", "defaults", "slo"] {
        f.map(key, "service", version_at);
    }
    let mut set = SetFile {
        name: spec.service.clone(),
        description: spec
            .labels
            .get("loadgen_description")
            .cloned()
            .unwrap_or_default(),
        services: spec
            .labels
            .get("loadgen_services")
            .map(|s| {
                s.split(',')
                    .map(|j| j.trim().to_string())
                    .filter(|j| !j.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        defaults: DefaultsFile::default(),
        slo: Vec::new(),
    };
    if let Some(t) = spec.labels.get("loadgen_source_tolerance") {
        set.defaults.source_tolerance = Some(t.parse().map_err(|_| {
            f.error(
                "labels.loadgen_source_tolerance",
                version_at,
                format!("{t:?} is not a number"),
                "write a share such as 0.5",
            )
        })?);
    }
    for (i, s) in spec.slos.iter().enumerate() {
        let slo = slo(&mut f, doc, i, s)?;
        set.slo.push(slo);
    }
    let checker = crate::schema::Checker::translated(path, text, &f.locations);
    super::check::check(&checker, set)
}

/// One entry of `slos`.
fn slo(
    f: &mut YamlFile,
    doc: &super::yaml::Document,
    i: usize,
    s: &Spanned<SloDoc>,
) -> Result<SloFile, FileError> {
    let at = line(doc, s);
    let s = &s.value;
    let key = |k: &str| format!("slos[{i}].{k}");
    f.map(format!("slo[{i}]"), key("name"), at);
    let objective_at = line(doc, &s.objective);
    let sli_at = line(doc, &s.sli);
    map_keys(f, i, at, objective_at, sli_at);
    let percent = s.objective.value;
    if !(percent > 0.0 && percent < 100.0) {
        return Err(f.error(
            &key("objective"),
            objective_at,
            format!("{percent} is not a percentage"),
            "write the share of good events in percent, such as 99.9",
        ));
    }
    let (bad, total) = events(f, doc, i, &s.sli)?;
    let mut out = SloFile::new(s.name.replace(['-', '.'], "_"), SloKind::Ratio);
    out.description = s.description.clone();
    event_slo(
        &mut out,
        bad,
        true,
        total,
        import::round(percent / 100.0),
        None,
    );
    if let Some(runbook) = s.alerting.as_ref().and_then(|a| {
        a.annotations
            .get("runbook")
            .or(a.annotations.get("runbook_url"))
    }) {
        out.runbook = Some(runbook.clone());
    }
    let extras = import::extras(&s.labels, PREFIX).map_err(|k| {
        f.error(
            &key(&format!("labels.{k}")),
            at,
            "not a loadgen setting",
            import::extras_fix(PREFIX),
        )
    })?;
    for (extra, value) in extras {
        import::apply_extra(&mut out, extra, value)
            .map_err(|(m, fix)| f.error(&key(&format!("labels.{PREFIX}{extra}")), at, m, fix))?;
    }
    Ok(out)
}

/// Where our keys of SLO `i` are in the Sloth file, for the checker's errors.
fn map_keys(f: &mut YamlFile, i: usize, at: usize, objective_at: usize, sli_at: usize) {
    let key = |k: &str| format!("slos[{i}].{k}");
    let ours = |k: &str| format!("slo[{i}].{k}");
    for k in ["objective", "quantile"] {
        f.map(ours(k), key("objective"), objective_at);
    }
    for k in import::EVENT_KEYS {
        f.map(ours(k), key("sli.events"), sli_at);
    }
    for k in [
        "client",
        "min_samples",
        "confidence",
        "severity",
        "alert_window",
        "alert_for",
        "period",
        "runbook",
        "area",
        "name",
    ] {
        f.map(ours(k), key("labels"), at);
    }
}

/// An SLI's bad events and all events.
fn events(
    f: &YamlFile,
    doc: &super::yaml::Document,
    i: usize,
    sli: &Spanned<SliDoc>,
) -> Result<(Events, Events), FileError> {
    let key = |k: &str| format!("slos[{i}].{k}");
    let sli_at = line(doc, sli);
    let Some(events) = &sli.value.events else {
        let what = if sli.value.raw.is_some() {
            "a raw error ratio"
        } else if sli.value.plugin.is_some() {
            "a plugin"
        } else {
            "nothing"
        };
        return Err(f.error(&key("sli"), sli_at, format!("the SLI is {what}, not events"), "write sli.events with error_query and total_query: a raw error ratio or a plugin gives no event counts to judge on confidence bounds"));
    };
    let read = |q: &str, k: &str| {
        import::events(q, false).map_err(|why| {
            f.error(
                &key(&format!("sli.events.{k}")),
                sli_at,
                why,
                import::EVENTS_FIX,
            )
        })
    };
    Ok((
        read(&events.error_query, "error_query")?,
        read(&events.total_query, "total_query")?,
    ))
}
