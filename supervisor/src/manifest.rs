//! Package manifests (`plexus.yaml`, ARCHITECTURE §7): which processor types
//! a package offers, in which runtime, with which ports and config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::UserError;

pub const MANIFEST_FILE: &str = "plexus.yaml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub package: PackageInfo,
    pub processors: Vec<ProcessorDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    /// Required plexus version range.
    pub plexus: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Rust,
    Python,
    Deno,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Rust => "rust",
            Runtime::Python => "python",
            Runtime::Deno => "deno",
        }
    }

    /// The worker binary that hosts this runtime.
    pub fn worker_binary(self) -> &'static str {
        match self {
            Runtime::Rust => "plexus-worker-native",
            Runtime::Python => "plexus-worker-python",
            Runtime::Deno => "plexus-worker-deno",
        }
    }

    /// The worker kind that hosts this runtime, as reported in summaries.
    pub fn worker_kind(self) -> &'static str {
        match self {
            Runtime::Rust => "native",
            Runtime::Python => "python",
            Runtime::Deno => "deno",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Reactive,
    Continuous,
    Manual,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorDecl {
    pub name: String,
    pub runtime: Runtime,
    pub entry: String,
    pub mode: Mode,
    #[serde(default)]
    pub interval_ms: Option<u64>,
    #[serde(default)]
    pub inputs: Vec<PortDecl>,
    #[serde(default)]
    pub outputs: Vec<PortDecl>,
    #[serde(default)]
    pub config: BTreeMap<String, ConfigField>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortDecl {
    pub name: String,
    pub schema: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    Integer,
    Number,
    String,
    Boolean,
}

/// One key of a processor's config schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    #[serde(rename = "type")]
    pub kind: ConfigType,
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub required: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// A manifest and the package directory it describes.
#[derive(Debug)]
pub struct Package {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Package {
    pub fn load_dir(dir: &Path) -> Result<Self, UserError> {
        if !dir.is_dir() {
            return Err(UserError::in_file(dir, "package directory not found"));
        }
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            UserError::in_file(&path, format!("cannot read the package manifest: {e}"))
        })?;
        let manifest = parse(&path, &text)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }
}

pub fn parse(path: &Path, text: &str) -> Result<Manifest, UserError> {
    serde_yaml_ng::from_str(text).map_err(|e| UserError::yaml(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_architecture_example_parses() {
        let text = r#"
package: { name: example.effects, version: 1.2.0, plexus: ">=0.1" }
processors:
  - name: example.blur
    runtime: python
    entry: blur:Blur
    mode: reactive
    inputs:  [{ name: in,  schema: video/rgba8 }]
    outputs: [{ name: out, schema: video/rgba8 }]
    config:
      radius: { type: integer, default: 3, min: 1, max: 32 }
"#;
        let m = parse(Path::new("plexus.yaml"), text).unwrap();
        assert_eq!(m.processors[0].runtime, Runtime::Python);
        assert_eq!(m.processors[0].config["radius"].max, Some(32.0));
    }

    #[test]
    fn an_unknown_runtime_is_named() {
        let text = "package: { name: a, version: 1.0.0 }\nprocessors:\n  - { name: a.b, runtime: cobol, entry: x, mode: reactive }\n";
        let err = parse(Path::new("plexus.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cobol") && err.contains("plexus.yaml"),
            "{err}"
        );
    }
}
