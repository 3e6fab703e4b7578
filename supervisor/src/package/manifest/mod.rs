//! Package manifests (`plexus.yaml`, docs/ARCHITECTURE.md §7): which processor types
//! a package offers, in which language, with which ports and config. A
//! manifest is checked completely when it is read, so everything after
//! (pipelines, pack, the store) can rely on it.

mod check;
pub mod config;
pub mod dependencies;
pub mod panels;
pub mod permissions;
pub mod schemas;
pub mod sync;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::error::{excerpt, UserError};
use crate::language::{self, Lang};
use crate::yaml;
pub use check::is_package_name;
pub use config::{ConfigField, ConfigType};
pub use dependencies::Dependency;
pub use panels::PanelDecl;
pub use permissions::PermissionsDecl;
pub use sync::SyncDecl;

pub const MANIFEST_FILE: &str = "plexus.yaml";

/// The version of this plexus, which manifests' `plexus:` ranges must admit.
pub const PLEXUS_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub package: PackageInfo,
    #[serde(default)]
    pub processors: Vec<ProcessorDecl>,
    /// Other packages this one needs installed beside it (`dependencies`).
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    /// Record schemas the package defines (`schemas`).
    #[serde(default)]
    pub schemas: Vec<schemas::SchemaDecl>,
    /// Browser views for the dashboard (`panels`).
    #[serde(default)]
    pub panels: Vec<PanelDecl>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageInfo {
    pub name: String,
    /// A semver version; YAML may read `1` or `1.0` as numbers, which are
    /// taken as text so the semver check can name them.
    #[serde(deserialize_with = "text")]
    pub version: String,
    /// Required plexus version range, e.g. `>=0.1`.
    pub plexus: Option<String>,
    pub description: Option<String>,
}

impl Manifest {
    /// The package's version; valid, as every loaded manifest was checked.
    pub fn version(&self) -> semver::Version {
        semver::Version::parse(&self.package.version).expect("checked when the manifest was read")
    }

    /// The layouts of the schemas the package defines; valid, as every
    /// loaded manifest was checked.
    pub fn schema_layouts(&self) -> Vec<schemas::SchemaLayout> {
        schemas::check(&self.schemas).expect("checked when the manifest was read")
    }

    /// `name@version`, as users name an installed package.
    pub fn id(&self) -> String {
        format!("{}@{}", self.package.name, self.version())
    }
}

/// When a processor's `process` is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// On every frame that arrives.
    Reactive,
    /// On its own clock (every `interval_ms`, or paced by the processor).
    Continuous,
    /// Only when asked.
    Manual,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Reactive => "reactive",
            Mode::Continuous => "continuous",
            Mode::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorDecl {
    pub name: String,
    #[serde(deserialize_with = "language")]
    pub language: Lang,
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
    /// How it is called when it has several inputs, unless a pipeline says
    /// otherwise (`package::manifest::sync`).
    #[serde(default)]
    pub sync: Option<SyncDecl>,
    /// What it may do beyond what its worker needs (`permissions`).
    #[serde(default)]
    pub permissions: PermissionsDecl,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortDecl {
    pub name: String,
    pub schema: String,
}

/// A manifest and the package directory it describes.
#[derive(Debug, Clone)]
pub struct Package {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Where `dir` came from.
    pub source: Source,
}

/// Where a package's directory came from, which says how it is sealed and
/// what its sha256 (in a lockfile) is taken of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A plain directory, as its author works on it.
    Dir,
    /// A `.plexpkg` file, extracted into the cache; `sha256` is the
    /// archive's.
    Archive { sha256: String },
    /// Installed in the package store.
    Store,
}

impl Package {
    /// Packed or installed: everything it runs is inside `dir`, so nothing
    /// (a plugin library above all) is looked for in a build directory.
    pub fn sealed(&self) -> bool {
        self.source != Source::Dir
    }
}

impl Package {
    /// Reads and checks the manifest of the package directory `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, UserError> {
        if !dir.is_dir() {
            return Err(UserError::in_file(dir, "package directory not found"));
        }
        let path = dir.join(MANIFEST_FILE);
        let manifest = parse(&path, &yaml::read(&path, "package manifest")?)?;
        // What the manifest names on disk is checked where the disk is.
        for (index, panel) in manifest.panels.iter().enumerate() {
            panels::read_module(dir, &panel.module)
                .map_err(|m| UserError::in_file(&path, format!("panels[{index}].module {m}")))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            source: Source::Dir,
        })
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }
}

/// Parses and checks a manifest; `path` names it in messages.
pub fn parse(path: &Path, text: &str) -> Result<Manifest, UserError> {
    let manifest: Manifest = yaml::parse(path, text)?;
    check::manifest(&manifest)
        .and_then(|()| dependencies::check(&manifest.package.name, &manifest.dependencies))
        .map_err(|m| UserError::in_file(path, m))?;
    Ok(manifest)
}

/// A language of the registry, by name.
fn language<'de, D: Deserializer<'de>>(d: D) -> Result<Lang, D::Error> {
    let name = String::deserialize(d)?;
    language::by_name(&name).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown language `{}` (plexus runs {})",
            excerpt(&name),
            language::names().join(", ")
        ))
    })
}

pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        S(String),
        U(u64),
        F(f64),
    }
    Ok(match Text::deserialize(d)? {
        Text::S(s) => s,
        Text::U(n) => n.to_string(),
        Text::F(n) => format!("{n:?}"),
    })
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
    language: python
    entry: blur:Blur
    mode: reactive
    inputs:  [{ name: in,  schema: video/rgba8 }]
    outputs: [{ name: out, schema: video/rgba8 }]
    config:
      radius: { type: integer, default: 3, min: 1, max: 32 }
"#;
        let m = parse(Path::new("plexus.yaml"), text).unwrap();
        assert_eq!(m.processors[0].language.name(), "python");
        assert_eq!(m.processors[0].config["radius"].max, Some(32.0));
        assert_eq!(m.id(), "example.effects@1.2.0");
    }

    #[test]
    fn an_unknown_language_is_named() {
        let text = "package: { name: a, version: 1.0.0 }\nprocessors:\n  - { name: a.b, language: cobol, entry: x, mode: reactive }\n";
        let err = parse(Path::new("plexus.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cobol") && err.contains("plexus.yaml"),
            "{err}"
        );
    }

    /// Every manifest the repository ships is valid.
    #[test]
    fn shipped_manifests_are_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut seen = 0;
        for parent in ["examples/packages", "integration-tests/fixtures"] {
            for dir in std::fs::read_dir(root.join(parent)).unwrap() {
                let dir = dir.unwrap().path();
                if dir.join(MANIFEST_FILE).is_file() {
                    Package::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
                    seen += 1;
                }
            }
        }
        assert!(seen >= 3, "found only {seen} manifests");
    }
}
