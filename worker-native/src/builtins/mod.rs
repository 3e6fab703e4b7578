//! The processors compiled into the native worker, so that a pipeline can
//! capture and inspect frames without building or installing any package.
//! `builtins.yaml` next to this crate's manifest describes the same processors
//! to the supervisor, which validates pipelines without starting a worker.

mod image;
mod png_sink;
mod replay;
mod sine;
mod stats_sink;
mod test_pattern;
mod v4l2_camera;

use ipc_schemas::ProcessorSpec;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use worker_lifecycle::{check_video, Processor};

/// Every builtin type name, in the order error messages list them.
const TYPES: [&str; 7] = [
    "builtin.test_pattern",
    "builtin.test_audio",
    "builtin.test_samples",
    "builtin.v4l2_camera",
    "builtin.replay",
    "builtin.stats_sink",
    "builtin.png_sink",
];

/// Instantiates the builtin named by `spec.type_name` with its parsed config.
/// The error is one sentence naming the processor and, for config mistakes,
/// the key at fault.
pub fn create(spec: &ProcessorSpec) -> Result<Box<dyn Processor>, String> {
    match spec.type_name.as_str() {
        "builtin.test_pattern" => Ok(Box::new(test_pattern::TestPattern::new(spec)?)),
        "builtin.test_audio" => Ok(Box::new(sine::Sine::new(spec, sine::Kind::Audio)?)),
        "builtin.test_samples" => Ok(Box::new(sine::Sine::new(spec, sine::Kind::Samples)?)),
        "builtin.stats_sink" => Ok(Box::new(stats_sink::StatsSink::new(spec)?)),
        "builtin.png_sink" => Ok(Box::new(png_sink::PngSink::new(spec)?)),
        "builtin.v4l2_camera" => Ok(Box::new(v4l2_camera::V4l2Camera::new(spec)?)),
        "builtin.replay" => Ok(Box::new(replay::Replay::new(spec)?)),
        other => Err(format!(
            "processor `{}`: unknown builtin type `{other}` (known: {})",
            spec.id,
            TYPES.join(", ")
        )),
    }
}

/// Parses `spec.config_json` into a builtin's config struct. An absent or
/// `null` config means "all defaults". Every field deserializer in the config
/// structs names its own key, so together with the rewording of serde's
/// unknown/missing field messages every error names the key at fault.
fn parse_config<T: DeserializeOwned>(spec: &ProcessorSpec) -> Result<T, String> {
    let id = &spec.id;
    let value = if spec.config_json.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&spec.config_json)
            .map_err(|e| format!("processor `{id}`: config is not valid JSON ({e})"))?
    };
    let value = match value {
        Value::Null => Value::Object(Map::new()),
        map @ Value::Object(_) => map,
        _ => {
            return Err(format!(
                "processor `{id}`: config must be a map of settings"
            ))
        }
    };
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        if let Some(rest) = message.strip_prefix("unknown field ") {
            let rest = rest.replace(", there are no fields", " (it takes no settings)");
            format!("processor `{id}`: config has unknown key {rest}")
        } else if let Some(rest) = message.strip_prefix("missing field ") {
            format!("processor `{id}`: config is missing required key {rest}")
        } else {
            format!("processor `{id}`: config {message}")
        }
    })
}

/// The picture's size and rate, which the sources are configured with
/// alike: the defaults and bounds of `builtins.yaml`.
mod picture {
    use serde::Deserializer;

    pub fn default_width() -> u32 {
        640
    }

    pub fn default_height() -> u32 {
        480
    }

    pub fn default_fps() -> u32 {
        30
    }

    // The casts cannot truncate: the bounds are below `u32::MAX`.
    pub fn width<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        super::integer(d, "width", 1, 7680).map(|v| v as u32)
    }

    pub fn height<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        super::integer(d, "height", 1, 4320).map(|v| v as u32)
    }

    pub fn fps<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        super::integer(d, "fps", 1, 1000).map(|v| v as u32)
    }
}

/// Reads a whole number in `min..=max` for config `key`.
fn integer<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
    min: u64,
    max: u64,
) -> Result<u64, D::Error> {
    Value::deserialize(d)?
        .as_u64()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| {
            D::Error::custom(if max == u64::MAX {
                format!("`{key}` must be a whole number of at least {min}")
            } else {
                format!("`{key}` must be a number between {min} and {max}")
            })
        })
}

/// Reads a non-empty string for config `key`.
fn string<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Ok(s),
        _ => Err(D::Error::custom(format!(
            "`{key}` must be a non-empty string"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schemas::{Entry, OutputSpec, SchemaId};

    pub(super) fn spec(type_name: &str, config_json: &str) -> ProcessorSpec {
        ProcessorSpec {
            id: "cam".into(),
            type_name: type_name.into(),
            entry: Entry::Builtin,
            config_json: config_json.into(),
            inputs: Vec::new(),
            outputs: vec![OutputSpec {
                port: "out".into(),
                schema: SchemaId::VideoRgba8,
                subscribers: 3,
            }],
            frame_limit: None,
            mode: ipc_schemas::Mode::Reactive,
            sync: ipc_schemas::SyncPolicy::Any,
        }
    }

    fn error_of(type_name: &str, config_json: &str) -> String {
        match create(&spec(type_name, config_json)) {
            Ok(_) => panic!("{type_name} accepted {config_json}"),
            Err(e) => e,
        }
    }

    #[test]
    fn unknown_type_is_refused_by_name() {
        let e = error_of("builtin.nope", "{}");
        assert!(
            e.starts_with("processor `cam`: unknown builtin type `builtin.nope`"),
            "{e}"
        );
    }

    #[test]
    fn config_errors_name_processor_and_key() {
        let cases = [
            (
                "builtin.test_pattern",
                r#"{"fps": 0}"#,
                "config `fps` must be a number between 1 and 1000",
            ),
            ("builtin.test_pattern", r#"{"fps": 1001}"#, "`fps`"),
            ("builtin.test_pattern", r#"{"fps": "fast"}"#, "`fps`"),
            ("builtin.test_pattern", r#"{"width": 2.5}"#, "`width`"),
            ("builtin.test_pattern", r#"{"height": -1}"#, "`height`"),
            (
                "builtin.test_pattern",
                r#"{"colour": 1}"#,
                "config has unknown key `colour`",
            ),
            ("builtin.test_pattern", "[1]", "config must be a map"),
            ("builtin.test_pattern", "{", "config is not valid JSON"),
            (
                "builtin.stats_sink",
                r#"{"x": 1}"#,
                "unknown key `x` (it takes no settings)",
            ),
            (
                "builtin.png_sink",
                "{}",
                "config is missing required key `dir`",
            ),
            (
                "builtin.png_sink",
                r#"{"dir": 3}"#,
                "config `dir` must be a non-empty string",
            ),
            (
                "builtin.png_sink",
                r#"{"dir": "/tmp", "every": 0}"#,
                "config `every` must be a whole number of at least 1",
            ),
            (
                "builtin.png_sink",
                r#"{"dir": "/tmp", "prefix": "a/b"}"#,
                "`prefix`",
            ),
        ];
        for (type_name, json, expected) in cases {
            let e = error_of(type_name, json);
            assert!(e.starts_with("processor `cam`: "), "{e}");
            assert!(e.contains(expected), "{json}: {e}");
        }
    }

    #[test]
    fn absent_config_means_defaults() {
        for json in ["", "null", "{}"] {
            let p = create(&spec("builtin.test_pattern", json)).unwrap();
            assert_eq!(p.interval(), Some(std::time::Duration::from_secs(1) / 30));
            assert!(create(&spec("builtin.stats_sink", json)).is_ok());
        }
    }
}
