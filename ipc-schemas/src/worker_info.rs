//! The two contracts with workers that travel outside the bus, as JSON: what
//! `plexus-worker-python --python-info` prints for the supervisor, and what
//! the Deno bridge library tells `ts/host.ts` to create a processor. Both
//! ends are separate programs, so each message is defined once, here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Entry, Mode, ProcessorSpec, SchemaId};

/// The interpreter the Python worker embeds, as `--python-info` prints it on
/// one line. The supervisor creates package environments with `executable`,
/// so they match the interpreter that will import them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonInfo {
    /// The `python` executable of the same installation and version.
    pub executable: PathBuf,
    /// `sys.version`'s first word, e.g. `3.12.3`.
    pub version: String,
    /// The installation's `sys.base_prefix`.
    pub home: PathBuf,
}

/// The create event's JSON: which module and export to instantiate as
/// processor `index`, its config and ports, and the schema names by code
/// for the frames it will see. `ts/host.ts` reads it as `CreateSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenoCreate {
    /// The processor's number in this worker; later calls name it by this.
    pub index: u32,
    /// The processor's id in the pipeline.
    pub id: String,
    /// The processor type, e.g. `example.frame_counter_bar`.
    #[serde(rename = "type")]
    pub type_name: String,
    pub package_dir: String,
    /// The module to import.
    pub file: String,
    /// The class the module exports.
    pub export: String,
    /// `file` relative to `package_dir`, `#` and `export`: what messages
    /// about the processor call it.
    pub label: String,
    /// The processor's config; never absent, at least an empty object.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Input port names.
    pub inputs: Vec<String>,
    pub outputs: Vec<DenoOutput>,
    /// Every schema name by its code in the frame header.
    pub schemas: BTreeMap<u32, String>,
    /// What makes the processor run besides its inputs.
    pub drive: DenoDrive,
}

/// What host.ts expects a TypeScript processor to have, by its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenoDrive {
    /// Only its inputs: `process`.
    Reactive,
    /// The worker calls `produce` on an interval.
    Continuous,
    /// It produces on its own between `start` and `stop`.
    Manual,
}

/// One output port of a [`DenoCreate`] and the schema it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenoOutput {
    pub name: String,
    pub schema: String,
}

impl DenoCreate {
    /// Describes processor `index` of a worker to `host.ts`; `validate
    /// --deep` describes them alike to have `host.ts --check` load them.
    pub fn describe(index: u32, spec: &ProcessorSpec) -> Result<DenoCreate, String> {
        let Entry::Deno {
            package_dir,
            file,
            export,
        } = &spec.entry
        else {
            return Err(format!("the Deno worker cannot host {:?}", spec.entry));
        };
        let relative = Path::new(file)
            .strip_prefix(package_dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| file.clone());
        let create = DenoCreate {
            index,
            id: spec.id.clone(),
            type_name: spec.type_name.clone(),
            package_dir: package_dir.clone(),
            file: file.clone(),
            export: export.clone(),
            label: format!("{relative}#{export}"),
            config: config(&spec.config_json)?,
            inputs: spec.inputs.iter().map(|i| i.port.clone()).collect(),
            outputs: spec
                .outputs
                .iter()
                .map(|o| DenoOutput {
                    name: o.port.clone(),
                    schema: o.schema.name().to_string(),
                })
                .collect(),
            schemas: SchemaId::ALL
                .iter()
                .map(|s| (s.code(), s.name().to_string()))
                .collect(),
            drive: match spec.mode {
                Mode::Reactive => DenoDrive::Reactive,
                Mode::Continuous { .. } => DenoDrive::Continuous,
                Mode::Manual => DenoDrive::Manual,
            },
        };
        Ok(create)
    }
}

/// The processor's config; no config is an empty object.
fn config(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Null) => Ok(Map::new()),
        Ok(Value::Object(config)) => Ok(config),
        Ok(_) => Err("the processor's config is not a mapping".into()),
        Err(e) => Err(format!("the processor's config is not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_info_reads_the_line_the_worker_prints() {
        let line = r#"{"executable":"/py/bin/python3.12","version":"3.12.3","home":"/py"}"#;
        let info: PythonInfo = serde_json::from_str(line).unwrap();
        assert_eq!(info.executable, PathBuf::from("/py/bin/python3.12"));
        assert_eq!(info.version, "3.12.3");
        assert_eq!(info.home, PathBuf::from("/py"));
        let again: PythonInfo =
            serde_json::from_str(&serde_json::to_string(&info).unwrap()).unwrap();
        assert_eq!(again, info);
    }

    #[test]
    fn deno_create_names_the_type_field_as_javascript_reads_it() {
        let create = DenoCreate {
            index: 0,
            id: "bar".into(),
            type_name: "example.bar".into(),
            package_dir: "/pkg".into(),
            file: "/pkg/bar.ts".into(),
            export: "Bar".into(),
            label: "bar.ts#Bar".into(),
            config: serde_json::Map::new(),
            inputs: vec!["in".into()],
            outputs: vec![],
            schemas: BTreeMap::from([(1, "video/rgba8".into())]),
            drive: DenoDrive::Manual,
        };
        let value = serde_json::to_value(&create).unwrap();
        assert_eq!(value["type"], "example.bar");
        assert_eq!(value["schemas"]["1"], "video/rgba8");
        assert_eq!(value["drive"], "manual");
        assert_eq!(serde_json::from_value::<DenoCreate>(value).unwrap(), create);
    }
}
