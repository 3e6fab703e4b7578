//! Checks a processor's `config:` from the pipeline against the schema its
//! manifest declares, and fills in defaults, before anything starts.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::manifest::{ConfigField, ConfigType};

/// Returns the complete config, or one sentence about the first bad key.
pub fn apply(
    schema: &BTreeMap<String, ConfigField>,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    if let Some(key) = given.keys().find(|k| !schema.contains_key(*k)) {
        let known: Vec<&str> = schema.keys().map(String::as_str).collect();
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        return Err(format!("unknown config key `{key}` (known keys: {known})"));
    }
    let mut out = Map::new();
    for (key, field) in schema {
        match given.get(key).or(field.default.as_ref()) {
            Some(value) => {
                check(key, field, value)?;
                out.insert(key.clone(), value.clone());
            }
            None if field.required => return Err(format!("config key `{key}` is required")),
            None => {}
        }
    }
    Ok(out)
}

fn check(key: &str, field: &ConfigField, value: &Value) -> Result<(), String> {
    let type_ok = match field.kind {
        ConfigType::Integer => value.is_i64() || value.is_u64(),
        ConfigType::Number => value.is_number(),
        ConfigType::String => value.is_string(),
        ConfigType::Boolean => value.is_boolean(),
    };
    if !type_ok {
        let kind = format!("{:?}", field.kind).to_lowercase();
        return Err(format!(
            "config `{key}` must be of type {kind}, not `{value}`"
        ));
    }
    if let Some(n) = value.as_f64() {
        let below = field.min.is_some_and(|min| n < min);
        let above = field.max.is_some_and(|max| n > max);
        if below || above {
            let range = match (field.min, field.max) {
                (Some(a), Some(b)) => format!("between {a} and {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => unreachable!("a bound was crossed"),
            };
            return Err(format!("config `{key}` is {n}, it must be {range}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> BTreeMap<String, ConfigField> {
        serde_yaml_ng::from_str(
            "fps: { type: integer, default: 30, min: 1, max: 1000 }\ndir: { type: string, required: true }\n",
        )
        .unwrap()
    }

    fn given(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_are_filled_in() {
        let out = apply(&schema(), &given(json!({"dir": "/o"}))).unwrap();
        assert_eq!(out["fps"], 30);
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            (json!({"dir": "/o", "fsp": 3}), "unknown config key `fsp`"),
            (
                json!({"dir": "/o", "fps": "fast"}),
                "must be of type integer",
            ),
            (json!({"dir": "/o", "fps": 0}), "between 1 and 1000"),
            (json!({}), "`dir` is required"),
        ];
        for (value, expected) in cases {
            let err = apply(&schema(), &given(value)).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
