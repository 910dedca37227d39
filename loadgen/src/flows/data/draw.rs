//! Drawing a variable's value: the same draws for the same seed, user and
//! iteration (each iteration has its own random stream, see
//! [`crate::flows::iteration_rng`]).

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::Value;

use crate::flow_file::Draw;
use crate::flow_file::template::Escape;

/// A value of `draw`, with the current values of the other variables.
pub fn value(draw: &Draw, vars: &[Value], rng: &mut StdRng) -> Value {
    match draw {
        Draw::Value(v) => v.clone(),
        Draw::Text(t) => Value::String(t.render(vars, Escape::None)),
        Draw::OneOf(choices) => choices.choose(rng).cloned().unwrap_or(Value::Null),
        Draw::SomeOf(choices, n) => {
            Value::Array(choices.choose_multiple(rng, *n).cloned().collect())
        }
        Draw::Range(lo, hi) => Value::from(rng.random_range(*lo..=*hi)),
        Draw::Unique => Value::String(format!("{:032x}", rng.random::<u128>())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    #[test]
    fn draws_stay_inside_their_forms() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let d = value(&Draw::Range(2, 5), &[], &mut rng).as_i64().unwrap();
            assert!((2..=5).contains(&d));
            let pick = value(&Draw::OneOf(vec![json!("a"), json!("b")]), &[], &mut rng);
            assert!(pick == json!("a") || pick == json!("b"));
            let some = value(
                &Draw::SomeOf(vec![json!(1), json!(2), json!(3)], 2),
                &[],
                &mut rng,
            );
            let list = some.as_array().unwrap();
            assert_eq!(list.len(), 2);
            assert_ne!(list[0], list[1]);
        }
        let a = value(&Draw::Unique, &[], &mut rng);
        let b = value(&Draw::Unique, &[], &mut rng);
        assert_ne!(a, b);
        assert_eq!(a.as_str().unwrap().len(), 32);
    }
}
