//! A processor's config while it runs: `plexus set` changes keys of it, and
//! each change is checked against the processor type's schema exactly as
//! the pipeline's `config:` is when the plan is made, with the same
//! sentences.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::package::manifest::config::{self as config_schema, ConfigField};

/// The config keys a processor type declares.
#[derive(Debug, Clone, Default)]
pub struct ConfigSchema(BTreeMap<String, ConfigField>);

impl ConfigSchema {
    pub fn new(fields: BTreeMap<String, ConfigField>) -> Self {
        Self(fields)
    }

    /// The whole config of `processor` after `changes` to `current` (JSON
    /// text, as a `ProcessorSpec` holds it), as JSON text; or one sentence
    /// naming the processor and the first bad key.
    pub fn change(
        &self,
        processor: &str,
        current: &str,
        changes: &Map<String, Value>,
    ) -> Result<String, String> {
        let mut config = match serde_json::from_str(current) {
            Ok(Value::Object(config)) => config,
            // The plan wrote it; anything else is no config at all.
            _ => Map::new(),
        };
        config.extend(changes.iter().map(|(k, v)| (k.clone(), v.clone())));
        config_schema::apply(&self.0, &config)
            .map(|config| Value::Object(config).to_string())
            .map_err(|m| format!("processor `{processor}`: {m}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> ConfigSchema {
        ConfigSchema::new(
            serde_yaml_ng::from_str(
                "amount: { type: number, default: 0.2, min: 0, max: 1 }\nlabel: { type: string, default: hi }\n",
            )
            .unwrap(),
        )
    }

    fn changes(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_change_keeps_the_other_keys() {
        let after = schema()
            .change(
                "fx",
                r#"{"amount":0.2,"label":"x"}"#,
                &changes(json!({"amount": 0.5})),
            )
            .unwrap();
        let after: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(after, json!({"amount": 0.5, "label": "x"}));
    }

    #[test]
    fn a_bad_change_is_named_as_the_pipeline_load_names_it() {
        let current = r#"{"amount":0.2,"label":"x"}"#;
        let cases = [
            (
                json!({"amont": 0.5}),
                "processor `fx`: unknown config key `amont` (known keys: amount, label)",
            ),
            (
                json!({"amount": 2}),
                "processor `fx`: config `amount` is 2, it must be between 0 and 1",
            ),
            (
                json!({"label": 3}),
                "processor `fx`: config `label` must be of type string, not `3`",
            ),
        ];
        for (given, expected) in cases {
            assert_eq!(
                schema().change("fx", current, &changes(given)).unwrap_err(),
                expected
            );
        }
    }
}
