//! A processor's config schema: what a manifest declares for each key, the
//! check of the schema itself when the manifest is read, and the check of a
//! pipeline's `config:` against it (with defaults filled in) before anything
//! starts.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::excerpt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    Integer,
    Number,
    String,
    Boolean,
}

impl ConfigType {
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Integer => "integer",
            ConfigType::Number => "number",
            ConfigType::String => "string",
            ConfigType::Boolean => "boolean",
        }
    }

    fn admits(self, value: &Value) -> bool {
        match self {
            ConfigType::Integer => value.is_i64() || value.is_u64(),
            ConfigType::Number => value.is_number(),
            ConfigType::String => value.is_string(),
            ConfigType::Boolean => value.is_boolean(),
        }
    }
}

/// One key of a processor's config schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    #[serde(rename = "type")]
    pub kind: ConfigType,
    pub default: Option<Value>,
    #[serde(default)]
    pub required: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The only values allowed, when given.
    #[serde(rename = "enum")]
    pub choices: Option<Vec<Value>>,
    pub description: Option<String>,
}

/// Checks the schema of one key as a manifest declares it.
pub fn check_field(key: &str, field: &ConfigField) -> Result<(), String> {
    let numeric = matches!(field.kind, ConfigType::Integer | ConfigType::Number);
    if !numeric && (field.min.is_some() || field.max.is_some()) {
        return Err(format!(
            "config `{key}`: min and max apply to numbers, not to a {}",
            field.kind.name()
        ));
    }
    if let (Some(min), Some(max)) = (field.min, field.max) {
        if min > max {
            return Err(format!("config `{key}`: min {min} is above max {max}"));
        }
    }
    if field.required && field.default.is_some() {
        return Err(format!(
            "config `{key}` is required and has a default; it can be one or the other"
        ));
    }
    if let Some(choices) = &field.choices {
        if choices.is_empty() {
            return Err(format!("config `{key}`: enum lists no values"));
        }
        for choice in choices {
            check_type_and_range(key, field, choice).map_err(|m| format!("enum value: {m}"))?;
        }
    }
    if let Some(default) = &field.default {
        check_value(key, field, default).map_err(|m| format!("default: {m}"))?;
    }
    Ok(())
}

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
        return Err(format!(
            "unknown config key `{}` (known keys: {known})",
            excerpt(key)
        ));
    }
    let mut out = Map::new();
    for (key, field) in schema {
        match given.get(key).or(field.default.as_ref()) {
            Some(value) => {
                check_value(key, field, value)?;
                out.insert(key.clone(), value.clone());
            }
            None if field.required => return Err(format!("config key `{key}` is required")),
            None => {}
        }
    }
    Ok(out)
}

fn check_value(key: &str, field: &ConfigField, value: &Value) -> Result<(), String> {
    check_type_and_range(key, field, value)?;
    match &field.choices {
        Some(choices) if !choices.iter().any(|c| same(c, value)) => {
            let list: Vec<String> = choices.iter().map(Value::to_string).collect();
            Err(format!(
                "config `{key}` is {}, it must be one of {}",
                excerpt(&value.to_string()),
                list.join(", ")
            ))
        }
        _ => Ok(()),
    }
}

fn check_type_and_range(key: &str, field: &ConfigField, value: &Value) -> Result<(), String> {
    if !field.kind.admits(value) {
        return Err(format!(
            "config `{key}` must be of type {}, not `{}`",
            field.kind.name(),
            excerpt(&value.to_string())
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

/// Equal values, where numbers compare by value (`2` and `2.0` are equal).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> BTreeMap<String, ConfigField> {
        serde_yaml_ng::from_str(
            "fps: { type: integer, default: 30, min: 1, max: 1000 }\ndir: { type: string, required: true }\nmode: { type: string, enum: [fast, slow], default: fast }\n",
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
        assert_eq!(out["mode"], "fast");
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
            (
                json!({"dir": "/o", "mode": "medium"}),
                "`mode` is \"medium\", it must be one of \"fast\", \"slow\"",
            ),
        ];
        for (value, expected) in cases {
            let err = apply(&schema(), &given(value)).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_schema_that_contradicts_itself_is_refused() {
        let cases = [
            (
                "{ type: integer, default: 0, min: 1 }",
                "default: config `k` is 0",
            ),
            ("{ type: string, min: 1 }", "min and max apply to numbers"),
            ("{ type: number, min: 5, max: 1 }", "min 5 is above max 1"),
            (
                "{ type: string, required: true, default: x }",
                "one or the other",
            ),
            (
                "{ type: integer, enum: [1, two] }",
                "enum value: config `k` must be of type integer",
            ),
            (
                "{ type: string, enum: [a, b], default: c }",
                "must be one of",
            ),
            ("{ type: string, enum: [] }", "enum lists no values"),
        ];
        for (yaml, expected) in cases {
            let field: ConfigField = serde_yaml_ng::from_str(yaml).unwrap();
            let err = check_field("k", &field).unwrap_err();
            assert!(err.contains(expected), "{yaml}: {err}");
        }
        for field in schema().values() {
            check_field("k", field).unwrap();
        }
    }
}
