//! The JsonLogic that gadget event filters are written in, as far as Amazon's examples use it:
//! `var` (a dotted path into the event: `header.namespace`, `header.name`,
//! `endpoint.endpointId`, `payload.…`), `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `and`, `or`,
//! `!`. Anything else is an unknown operation, which the sim reports rather than guesses at.

use serde_json::Value;

/// Why a filter could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event filter cannot be applied: {0}")]
pub struct FilterError(pub String);

/// Whether `event` passes `filter`.
pub fn matches(filter: &Value, event: &Value) -> Result<bool, FilterError> {
    Ok(truthy(&eval(filter, event, 0)?))
}

const MAX_DEPTH: usize = 32;

fn eval(rule: &Value, data: &Value, depth: usize) -> Result<Value, FilterError> {
    if depth > MAX_DEPTH {
        return Err(FilterError(format!("nested deeper than {MAX_DEPTH}")));
    }
    let Value::Object(map) = rule else {
        return Ok(rule.clone());
    };
    let mut ops = map.iter();
    let (Some((op, args)), None) = (ops.next(), ops.next()) else {
        return Err(FilterError("an operation is an object with one key".into()));
    };
    let args: Vec<&Value> = match args {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    let arg = |i: usize| -> Result<Value, FilterError> {
        match args.get(i) {
            Some(a) => eval(a, data, depth + 1),
            None => Ok(Value::Null),
        }
    };
    let compare = |f: fn(f64, f64) -> bool| -> Result<Value, FilterError> {
        let (a, b) = (arg(0)?, arg(1)?);
        Ok(Value::Bool(match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => f(a, b),
            _ => false,
        }))
    };
    match op.as_str() {
        "var" => {
            let path = arg(0)?;
            let path = path.as_str().unwrap_or_default();
            let mut at = data;
            for key in path.split('.').filter(|k| !k.is_empty()) {
                at = match at {
                    Value::Object(m) => m.get(key).unwrap_or(&Value::Null),
                    Value::Array(a) => key
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| a.get(i))
                        .unwrap_or(&Value::Null),
                    _ => &Value::Null,
                };
            }
            Ok(at.clone())
        }
        "==" | "===" => Ok(Value::Bool(loose_eq(&arg(0)?, &arg(1)?))),
        "!=" | "!==" => Ok(Value::Bool(!loose_eq(&arg(0)?, &arg(1)?))),
        "<" => compare(|a, b| a < b),
        "<=" => compare(|a, b| a <= b),
        ">" => compare(|a, b| a > b),
        ">=" => compare(|a, b| a >= b),
        "!" => Ok(Value::Bool(!truthy(&arg(0)?))),
        "and" => {
            let mut last = Value::Bool(true);
            for i in 0..args.len() {
                last = arg(i)?;
                if !truthy(&last) {
                    return Ok(last);
                }
            }
            Ok(last)
        }
        "or" => {
            let mut last = Value::Bool(false);
            for i in 0..args.len() {
                last = arg(i)?;
                if truthy(&last) {
                    return Ok(last);
                }
            }
            Ok(last)
        }
        "in" => {
            let (needle, hay) = (arg(0)?, arg(1)?);
            Ok(Value::Bool(match (&needle, &hay) {
                (_, Value::Array(items)) => items.iter().any(|i| loose_eq(i, &needle)),
                (Value::String(n), Value::String(h)) => h.contains(n.as_str()),
                _ => false,
            }))
        }
        other => Err(FilterError(format!(
            "the sim does not know the operation {:?}",
            rask_model::limits::cut_to(other, 40)
        ))),
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({"header": {"namespace": "Custom.Robot", "name": "Spun"},
               "endpoint": {"endpointId": "amzn1.ask.endpoint.R1"}, "payload": {"turns": 3}})
    }

    #[test]
    fn the_filters_of_amazons_examples() {
        let pass = |f: Value| matches(&f, &event()).unwrap();
        assert!(pass(json!({"and": [
            {"==": [{"var": "header.namespace"}, "Custom.Robot"]},
            {"==": [{"var": "header.name"}, "Spun"]}
        ]})));
        assert!(!pass(json!({"==": [{"var": "header.name"}, "Stopped"]})));
        assert!(pass(json!({"or": [
            {"==": [{"var": "endpoint.endpointId"}, "amzn1.ask.endpoint.X"]},
            {">=": [{"var": "payload.turns"}, 3]}
        ]})));
        assert!(pass(json!({"in": [{"var": "header.name"}, ["Spun", "Stopped"]]})));
        assert!(pass(json!({"!": {"==": [{"var": "payload.missing"}, 1]}})));
        assert!(pass(json!(true)));
    }

    #[test]
    fn what_it_does_not_know_is_an_error_not_a_guess() {
        assert!(matches(&json!({"reduce": [[], {}, 0]}), &event()).is_err());
        assert!(matches(&json!({"==": [1, 1], "!=": [1, 2]}), &event()).is_err());
        let mut deep = json!(true);
        for _ in 0..100 {
            deep = json!({"!": deep});
        }
        assert!(matches(&deep, &event()).is_err());
    }
}
