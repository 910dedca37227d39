//! Variables (`[vars]`): each a value drawn for every iteration, or once per user
//! with `per = "user"`:
//!
//! ```toml
//! [vars]
//! athlete = "lg-{{run.nonce}}-u{{user.id}}-i{{user.iteration}}"   # text
//! purpose = { one_of = ["sport_performance", "endurance"] }      # one at random
//! equipment = { some_of = ["mat", "rower", "bench"], count = 2 } # a list
//! days = { range = [2, 5] }                                      # a whole number
//! request_id = { unique = true }                                 # 32 hex digits
//! home = { value = "gym-{{user.id}}", per = "user" }
//! ```
//!
//! Text may use other variables; they are drawn in the order they need.

use std::collections::BTreeMap;

use serde_json::Value;
use slo::toml_file::FileError;

use super::Source;
use super::params::json_of;
use super::scope::{Place, Scope};
use crate::flow_file::template::{self, Template};
use crate::flow_file::{Draw, Var};

/// The keys a variable's table may have.
const FORMS: [&str; 5] = ["value", "one_of", "some_of", "range", "unique"];

/// Whether a variable is drawn once per user.
pub fn per_user(value: &toml::Value) -> bool {
    value
        .as_table()
        .and_then(|t| t.get("per"))
        .and_then(|v| v.as_str())
        == Some("user")
}

/// The variables drawn per user and per iteration, each in drawing order.
pub fn check(
    src: Source<'_>,
    vars: &BTreeMap<String, toml::Value>,
    scope: &mut Scope<'_>,
) -> Result<(Vec<Var>, Vec<Var>), FileError> {
    let mut user = Vec::new();
    let mut iteration = Vec::new();
    for (name, value) in vars {
        let key = format!("vars.{name}");
        let place = if per_user(value) {
            Place::UserVar
        } else {
            Place::IterVar
        };
        let draw = draw(src, &key, value, scope, place)?;
        let var = (
            name.clone(),
            Var {
                slot: scope.slot(name),
                draw,
            },
        );
        match place {
            Place::UserVar => user.push(var),
            _ => iteration.push(var),
        }
    }
    Ok((order(src, user)?, order(src, iteration)?))
}

/// How variable `key` is drawn.
fn draw(
    src: Source<'_>,
    key: &str,
    value: &toml::Value,
    scope: &Scope<'_>,
    place: Place,
) -> Result<Draw, FileError> {
    let Some(table) = value.as_table() else {
        return plain(src, key, value, scope, place);
    };
    if let Some(k) = table
        .keys()
        .find(|k| !FORMS.contains(&k.as_str()) && !["per", "count"].contains(&k.as_str()))
    {
        return Err(src.error(
            &format!("{key}.{k}"),
            format!("unknown key {k:?}"),
            "use one of value, one_of, some_of (with count), range or unique, and per",
        ));
    }
    if let Some(per) = table.get("per")
        && !matches!(per.as_str(), Some("user" | "iteration"))
    {
        return Err(src.error(
            &format!("{key}.per"),
            format!("{per} is not user or iteration"),
            "write per = \"user\" (drawn once per user) or per = \"iteration\" (the default)",
        ));
    }
    let forms: Vec<&str> = FORMS
        .into_iter()
        .filter(|f| table.contains_key(*f))
        .collect();
    let [form] = forms.as_slice() else {
        return Err(src.error(
            key,
            format!("{} ways to draw it", forms.len()),
            "give exactly one of value, one_of, some_of, range or unique",
        ));
    };
    let k = format!("{key}.{form}");
    let v = &table[*form];
    match *form {
        "value" => plain(src, &k, v, scope, place),
        "one_of" => Ok(Draw::OneOf(choices(src, &k, v)?)),
        "some_of" => some_of(src, key, v, table.get("count")),
        "range" => range(src, &k, v),
        _ if v.as_bool() == Some(true) => Ok(Draw::Unique),
        _ => Err(src.error(&k, "unique takes true", "write unique = true")),
    }
}

/// A value as written: text with placeholders, or a fixed value.
fn plain(
    src: Source<'_>,
    key: &str,
    value: &toml::Value,
    scope: &Scope<'_>,
    place: Place,
) -> Result<Draw, FileError> {
    let Some(text) = value.as_str() else {
        return Ok(Draw::Value(json_of(value)));
    };
    let pieces = template::parse(text).map_err(|m| src.error(key, m, "write {{name}}"))?;
    let t = Template::compile(&pieces, |p| scope.resolve(src, key, p, place))?;
    Ok(match t.as_literal() {
        Some(lit) => Draw::Value(Value::String(lit)),
        None => Draw::Text(t),
    })
}

/// A non-empty list of fixed values.
fn choices(src: Source<'_>, key: &str, v: &toml::Value) -> Result<Vec<Value>, FileError> {
    match v.as_array() {
        Some(items) if !items.is_empty() => {
            if items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| s.contains("{{")))
            {
                return Err(src.error(
                    key,
                    "a choice holds a placeholder",
                    "choices are written as they are: draw text with a variable of its own",
                ));
            }
            Ok(items.iter().map(json_of).collect())
        }
        _ => Err(src.error(key, "not a list of choices", "write [\"a\", \"b\"]")),
    }
}

fn some_of(
    src: Source<'_>,
    key: &str,
    v: &toml::Value,
    count: Option<&toml::Value>,
) -> Result<Draw, FileError> {
    let items = choices(src, &format!("{key}.some_of"), v)?;
    let count = count.and_then(|c| c.as_integer()).ok_or_else(|| {
        src.error(
            key,
            "some_of needs a count",
            "add count = 2 (how many to draw)",
        )
    })?;
    if count < 1 || count as usize > items.len() {
        return Err(src.error(
            &format!("{key}.count"),
            format!("{count} of {} choices", items.len()),
            format!("use 1 to {}", items.len()),
        ));
    }
    Ok(Draw::SomeOf(items, count as usize))
}

fn range(src: Source<'_>, key: &str, v: &toml::Value) -> Result<Draw, FileError> {
    let bounds: Option<Vec<i64>> = v
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_integer()).collect());
    match bounds.as_deref() {
        Some(&[lo, hi]) if lo <= hi && v.as_array().is_some_and(|a| a.len() == 2) => {
            Ok(Draw::Range(lo, hi))
        }
        _ => Err(src.error(
            key,
            format!("{v} is not a range"),
            "write [least, most], two whole numbers, such as [2, 5]",
        )),
    }
}

/// The variables in an order where each comes after those its text uses.
fn order(src: Source<'_>, mut left: Vec<(String, Var)>) -> Result<Vec<Var>, FileError> {
    let mut out: Vec<Var> = Vec::new();
    while !left.is_empty() {
        let pending: Vec<usize> = left.iter().map(|(_, v)| v.slot).collect();
        let ready = left.iter().position(|(_, v)| match &v.draw {
            Draw::Text(t) => t.slots().all(|s| !pending.contains(&s)),
            _ => true,
        });
        let Some(i) = ready else {
            let names: Vec<String> = left.iter().map(|(n, _)| format!("vars.{n}")).collect();
            let message = match names.as_slice() {
                [one] => format!("{one} uses itself"),
                many => format!("{} use each other", many.join(" and ")),
            };
            return Err(src.error(
                &names[0],
                message,
                "break the circle: a variable cannot need its own value",
            ));
        };
        out.push(left.remove(i).1);
    }
    Ok(out)
}
