//! `plexus set PROC key=value…`: changes config keys of a running
//! processor. The runtime checks them against the processor's schema and
//! answers once they are in effect (docs/ARCHITECTURE.md §4, live config).

use ipc_schemas::ControlRequest;
use serde_json::{Map, Value};

use crate::error::UserError;

/// The processor and the changes `plexus set` was given, as the request
/// that carries them; a malformed assignment is one sentence.
pub fn request(
    processor: String,
    assignments: &[String],
) -> Result<impl FnOnce(String) -> ControlRequest, UserError> {
    let changes = changes_of(assignments).map_err(UserError::Plain)?;
    let changes_json = Value::Object(changes).to_string();
    Ok(move |reply_to| ControlRequest::SetConfig {
        processor,
        changes_json,
        reply_to,
    })
}

/// `key=value` pairs as a JSON object: each value is read as a YAML scalar
/// (`0.5`, `true`, `hello`, `"0.5"` for the text), or, when it is no valid
/// YAML, taken as text. One sentence when an argument is not an assignment
/// or names a key twice.
pub fn changes_of(assignments: &[String]) -> Result<Map<String, Value>, String> {
    let mut changes = Map::new();
    for assignment in assignments {
        let Some((key, text)) = assignment.split_once('=') else {
            return Err(format!("`{assignment}` is not of the form key=value"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("`{assignment}` names no key before `=`"));
        }
        let value = match serde_yaml_ng::from_str::<Value>(text) {
            // An empty value is the empty text, not YAML's null.
            Ok(Value::Null) if text.trim().is_empty() => Value::String(String::new()),
            Ok(value) => value,
            Err(_) => Value::String(text.to_string()),
        };
        if changes.insert(key.to_string(), value).is_some() {
            return Err(format!("key `{key}` is given twice"));
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(args: &[&str]) -> Result<Value, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        changes_of(&args).map(Value::Object)
    }

    #[test]
    fn values_are_yaml_scalars() {
        assert_eq!(
            parsed(&[
                "amount=0.5",
                "label=hello",
                "enabled=true",
                "n=3",
                "quoted=\"0.5\"",
                "empty="
            ]),
            Ok(
                json!({"amount": 0.5, "label": "hello", "enabled": true, "n": 3, "quoted": "0.5", "empty": ""})
            )
        );
        assert_eq!(parsed(&["text=a: b: c"]), Ok(json!({"text": "a: b: c"})));
        assert_eq!(parsed(&["eq=a=b"]), Ok(json!({"eq": "a=b"})));
    }

    #[test]
    fn mistakes_are_one_sentence() {
        assert_eq!(
            parsed(&["amount"]),
            Err("`amount` is not of the form key=value".into())
        );
        assert_eq!(parsed(&["=3"]), Err("`=3` names no key before `=`".into()));
        assert_eq!(
            parsed(&["a=1", "a=2"]),
            Err("key `a` is given twice".into())
        );
    }
}
