//! Parameters: settings of a flow that a scenario may change. A flow declares
//! each with its default (`poll_interval = "500ms"`), or with bounds
//! (`availability_days = { default = 3, min = 1, max = 7 }`, `complexity =
//! { default = "standard", one_of = ["basic", "standard", "advanced"] }`); a
//! scenario's value must have the default's type and keep the bounds. They are
//! known before the run, so `{{params.x}}` is written in when the flow is checked.

use std::collections::BTreeMap;

use serde_json::Value;
use slo::schema::Checker;
use slo::toml_file::FileError;

use super::Source;
use crate::flow_file::template::{self, Placeholder, Resolved, Template};

/// A flow's parameters as resolved, by name.
pub type Params = BTreeMap<String, Value>;

/// A parameter's value set by a scenario, at `key` of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The parameter.
    pub name: String,
    /// Its value.
    pub value: toml::Value,
    /// Where the scenario sets it (`flows[1].poll_interval`).
    pub key: String,
}

/// A declared parameter; bounds of a duration are in seconds.
struct Declared {
    default: toml::Value,
    min: Option<f64>,
    max: Option<f64>,
    one_of: Option<Vec<toml::Value>>,
}

/// A value as a number to compare with bounds: a number, or a duration's seconds.
fn magnitude(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::String(s) => slo::duration::parse(s).ok().map(|d| d.as_secs_f64()),
        _ => None,
    }
}

/// The parameters of flow `flow`: declared at `src`, set by the scenario.
pub fn check(
    src: Source<'_>,
    declared: &BTreeMap<String, toml::Value>,
    overrides: &[Override],
    scenario: &Checker<'_>,
    flow: &str,
) -> Result<Params, FileError> {
    let mut out = Params::new();
    for (name, value) in declared {
        let key = format!("params.{name}");
        if !template::valid_name(name) || name.contains('.') {
            return Err(src.error(
                &key,
                format!("{name:?} cannot name a parameter"),
                "use letters, digits and _",
            ));
        }
        let d = declare(src, &key, value)?;
        let set = overrides.iter().find(|o| &o.name == name);
        let chosen = match set {
            Some(o) => {
                same_type(&d.default, &o.value).map_err(|m| {
                    scenario.error(&o.key, m, "give it the type of the flow's default")
                })?;
                within(&d, &o.value).map_err(|(m, f)| scenario.error(&o.key, m, f))?;
                &o.value
            }
            None => {
                within(&d, &d.default).map_err(|(m, f)| src.error(&key, m, f))?;
                &d.default
            }
        };
        out.insert(name.clone(), json_of(chosen));
    }
    if let Some(o) = overrides.iter().find(|o| !declared.contains_key(&o.name)) {
        let names: Vec<&str> = declared.keys().map(String::as_str).collect();
        let fix = if names.is_empty() {
            format!("remove it: the flow {flow:?} has no parameters")
        } else {
            format!("use one of {}, or remove it", slo::schema::choices(&names))
        };
        return Err(scenario.error(
            &o.key,
            format!("{:?} is not a parameter of the flow {flow:?}", o.name),
            fix,
        ));
    }
    Ok(out)
}

/// A declaration: a plain default, or `{ default, min, max, one_of }`.
fn declare(src: Source<'_>, key: &str, value: &toml::Value) -> Result<Declared, FileError> {
    let Some(table) = value.as_table() else {
        return plain(src, key, value.clone());
    };
    let Some(default) = table.get("default") else {
        return Err(src.error(
            key,
            "a table without a default",
            "write name = value, or { default = value, min = .., max = .., one_of = [..] }",
        ));
    };
    if let Some(k) = table
        .keys()
        .find(|k| !["default", "min", "max", "one_of"].contains(&k.as_str()))
    {
        return Err(src.error(
            &format!("{key}.{k}"),
            format!("unknown key {k:?}"),
            "use default, min, max or one_of",
        ));
    }
    let bound = |k: &str| -> Result<Option<f64>, FileError> {
        match table.get(k) {
            None => Ok(None),
            Some(v) => magnitude(v).map(Some).ok_or_else(|| {
                src.error(
                    &format!("{key}.{k}"),
                    "not a number or a duration",
                    "write a number, or a duration such as \"10ms\" for a duration parameter",
                )
            }),
        }
    };
    let one_of = match table.get("one_of") {
        None => None,
        Some(toml::Value::Array(a)) if !a.is_empty() => Some(a.clone()),
        Some(_) => {
            return Err(src.error(
                &format!("{key}.one_of"),
                "not a list of values",
                "write one_of = [\"a\", \"b\"]",
            ));
        }
    };
    let mut d = plain(src, key, default.clone())?;
    d.min = bound("min")?;
    d.max = bound("max")?;
    d.one_of = one_of;
    Ok(d)
}

fn plain(src: Source<'_>, key: &str, default: toml::Value) -> Result<Declared, FileError> {
    match default {
        toml::Value::String(_)
        | toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_) => Ok(Declared {
            default,
            min: None,
            max: None,
            one_of: None,
        }),
        _ => Err(src.error(
            key,
            "a parameter is a string, a number or a boolean",
            "write name = \"text\", 3, 0.5 or true",
        )),
    }
}

/// Whether `value` can stand for `default`: the same type (a whole number for a
/// fractional one too).
fn same_type(default: &toml::Value, value: &toml::Value) -> Result<(), String> {
    use toml::Value::*;
    match (default, value) {
        (String(_), String(_)) | (Integer(_), Integer(_)) | (Float(_), Float(_) | Integer(_)) => {
            Ok(())
        }
        (Boolean(_), Boolean(_)) => Ok(()),
        _ => Err(format!(
            "{} where the flow's default is {} ({default})",
            value.type_str(),
            default.type_str()
        )),
    }
}

/// Whether `value` keeps the declaration's bounds; else the message and the fix.
fn within(d: &Declared, value: &toml::Value) -> Result<(), (String, String)> {
    if (d.min.is_some() || d.max.is_some()) && magnitude(value).is_none() {
        return Err((
            format!("{value} is neither a number nor a duration"),
            "write a number, or a duration such as \"500ms\"".to_string(),
        ));
    }
    let number = magnitude(value);
    let shown = |b: f64| match value {
        toml::Value::String(_) => {
            humantime::format_duration(std::time::Duration::from_secs_f64(b)).to_string()
        }
        _ => b.to_string(),
    };
    if let (Some(n), Some(min)) = (number, d.min)
        && n < min
    {
        return Err((
            format!("{value} is below the least, {}", shown(min)),
            format!("use {} or more", shown(min)),
        ));
    }
    if let (Some(n), Some(max)) = (number, d.max)
        && n > max
    {
        return Err((
            format!("{value} is above the most, {}", shown(max)),
            format!("use {} or less", shown(max)),
        ));
    }
    if let Some(list) = &d.one_of
        && !list.contains(value)
    {
        let names: Vec<String> = list.iter().map(|v| v.to_string()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        return Err((
            format!("{value} is not allowed"),
            format!("use {}", slo::schema::choices(&names)),
        ));
    }
    Ok(())
}

/// A TOML value as JSON.
pub fn json_of(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Text that may only use parameters (it is read once, when the flow is
/// checked): written out.
pub fn text(src: Source<'_>, key: &str, text: &str, params: &Params) -> Result<String, FileError> {
    let pieces = template::parse(text).map_err(|m| src.error(key, m, "write {{params.name}}"))?;
    let t = Template::compile(&pieces, |p| resolve(src, key, p, params))?;
    Ok(t.as_literal().unwrap_or_default())
}

/// A placeholder that may only be a parameter.
fn resolve(
    src: Source<'_>,
    key: &str,
    p: &Placeholder,
    params: &Params,
) -> Result<Resolved, FileError> {
    let value = p
        .name
        .strip_prefix("params.")
        .and_then(|n| params.get(n))
        .ok_or_else(|| {
            src.error(
                key,
                format!("{{{{{}}}}} cannot be used here", p.name),
                "this value is read once, when the flow is checked: use a number, or {{params.name}} of a declared parameter",
            )
        })?;
    Ok(Resolved::Value(value.clone()))
}

/// A number, or text that only uses parameters and reads as one.
pub fn number(
    src: Source<'_>,
    key: &str,
    value: &toml::Value,
    params: &Params,
) -> Result<f64, FileError> {
    match value {
        toml::Value::Float(f) => Ok(*f),
        toml::Value::Integer(i) => Ok(*i as f64),
        toml::Value::String(s) => {
            let written = text(src, key, s, params)?;
            written.trim().parse().map_err(|_| {
                src.error(
                    key,
                    format!("{written:?} is not a number"),
                    "write a number such as 0.1",
                )
            })
        }
        _ => Err(src.error(
            key,
            "not a number",
            "write a number such as 0.1, or \"{{params.name}}\"",
        )),
    }
}

/// A duration, written out with parameters first.
pub fn duration(
    src: Source<'_>,
    key: &str,
    value: &str,
    params: &Params,
) -> Result<std::time::Duration, FileError> {
    let written = text(src, key, value, params)?;
    slo::duration::parse(&written).map_err(|m| src.error(key, m, slo::duration::FIX))
}
