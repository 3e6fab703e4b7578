//! Checking real `--json` outputs against the JSON Schemas of `docs/json/`
//! (draft 2020-12), which may refer to one another by their `$id`.

use serde_json::Value;

use crate::workspace;

/// Asserts that `instance` matches `docs/json/<name>.schema.json`, naming
/// every mismatch and where it is.
pub fn assert_matches_schema(name: &str, instance: &Value) {
    let dir = workspace().join("docs/json");
    let read = |path: &std::path::Path| -> Value {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
    };
    let mut registry = jsonschema::Registry::new();
    for entry in std::fs::read_dir(&dir).expect("docs/json") {
        let path = entry.expect("docs/json").path();
        let schema = read(&path);
        let id = schema["$id"]
            .as_str()
            .unwrap_or_else(|| panic!("{path:?} has no $id"))
            .to_string();
        registry = registry.add(id, schema).expect("a schema");
    }
    let registry = registry.prepare().expect("the schemas of docs/json");
    let schema = read(&dir.join(format!("{name}.schema.json")));
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{instance:#}");
}
