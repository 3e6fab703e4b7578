//! Every processor type a pipeline may use: the native worker's builtins and
//! the types of the packages the pipeline lists and of their dependencies,
//! each checked once; and the record schemas those packages define, each
//! defined by one package.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::UserError;
use crate::load::pipeline::Pipeline;
use crate::package;
use crate::package::manifest::schemas::SchemaLayout;
use crate::package::manifest::{self, Manifest, PanelDecl, ProcessorDecl};
use crate::package::resolve::Resolved;

/// The builtins' manifest, shipped with the native worker that implements them.
const BUILTINS: &str = include_str!("../../../worker-native/builtins.yaml");

#[derive(Debug, Clone)]
pub enum Origin {
    Builtin,
    /// A processor of another host that a host's part reads from
    /// (`remote:`, §16): only its outputs are known here.
    Remote {
        host: String,
    },
    Package {
        name: String,
        dir: PathBuf,
        manifest: PathBuf,
        /// Packed or installed: runs only what is inside `dir`.
        sealed: bool,
        version: semver::Version,
        /// The package's panels (`package::panels`).
        panels: Vec<PanelDecl>,
    },
}

/// The builtins' manifest.
pub fn builtins() -> Manifest {
    manifest::parse(Path::new("builtins.yaml"), BUILTINS).expect("the builtins' manifest is valid")
}

#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub decl: ProcessorDecl,
    pub origin: Origin,
}

impl TypeInfo {
    /// The name of the package that declares the type, `builtin` for builtins.
    pub fn package(&self) -> &str {
        match &self.origin {
            Origin::Builtin => "builtin",
            Origin::Remote { .. } => "remote",
            Origin::Package { name, .. } => name,
        }
    }

    /// The package's panels that serve this type.
    pub fn panels(&self) -> Vec<PanelDecl> {
        match &self.origin {
            Origin::Builtin | Origin::Remote { .. } => Vec::new(),
            Origin::Package { panels, .. } => manifest::panels::serving(panels, &self.decl.name),
        }
    }

    /// `name@version` of the declaring package, `builtin` for builtins.
    pub fn package_id(&self) -> String {
        match &self.origin {
            Origin::Builtin => "builtin".to_string(),
            Origin::Remote { host } => format!("remote ({host})"),
            Origin::Package { name, version, .. } => format!("{name}@{version}"),
        }
    }

    /// Where the type was declared, for messages.
    pub fn declared_in(&self) -> String {
        match &self.origin {
            Origin::Builtin => "the builtins".to_string(),
            Origin::Remote { host } => format!("the `remote:` section (host {host})"),
            Origin::Package { manifest, .. } => manifest.display().to_string(),
        }
    }
}

/// A package schema and the package that defines it.
#[derive(Debug, Clone)]
pub struct SchemaDef {
    pub layout: SchemaLayout,
    /// `name@version` of the defining package.
    pub package: String,
}

#[derive(Debug, Default)]
pub struct Catalog {
    types: BTreeMap<String, TypeInfo>,
    schemas: BTreeMap<String, SchemaDef>,
}

impl Catalog {
    /// The builtins plus every package `pipeline` lists, and their
    /// dependencies.
    pub fn for_pipeline(pipeline: &Pipeline) -> Result<Self, UserError> {
        let mut catalog = Self::of(&package::resolve::for_pipeline(pipeline)?)?;
        let remote = crate::load::hosts::remote_types(&pipeline.file)
            .map_err(|m| UserError::in_file(&pipeline.path, m))?;
        for info in remote {
            catalog.add(info)?;
        }
        Ok(catalog)
    }

    /// The builtins plus the types of every `resolved` package. A
    /// dependency's types are usable as a listed package's are: a package
    /// may need another's processors beside its own.
    pub fn of(resolved: &Resolved) -> Result<Self, UserError> {
        let mut catalog = Self::default();
        for decl in builtins().processors {
            catalog.add(TypeInfo {
                decl,
                origin: Origin::Builtin,
            })?;
        }
        for package in resolved.packages.iter().map(|r| &r.package) {
            for layout in package.manifest.schema_layouts() {
                catalog.add_schema(SchemaDef {
                    layout,
                    package: package.manifest.id(),
                })?;
            }
            for decl in package.manifest.processors.clone() {
                catalog.add(TypeInfo {
                    decl,
                    origin: Origin::Package {
                        name: package.manifest.package.name.clone(),
                        dir: package.dir.clone(),
                        manifest: package.manifest_path(),
                        sealed: package.sealed(),
                        version: package.manifest.version(),
                        panels: package.manifest.panels.clone(),
                    },
                })?;
            }
        }
        Ok(catalog)
    }

    fn add(&mut self, info: TypeInfo) -> Result<(), UserError> {
        if let Some(existing) = self.types.get(&info.decl.name) {
            return Err(UserError::Plain(format!(
                "processor type `{}` is declared twice: in {} and in {}",
                info.decl.name,
                existing.declared_in(),
                info.declared_in()
            )));
        }
        self.types.insert(info.decl.name.clone(), info);
        Ok(())
    }

    /// Adds a package's schema. The same definition from two packages (a
    /// copy at the same version, laid out alike) is one definition;
    /// anything else would leave the pipeline's bytes ambiguous.
    pub fn add_schema(&mut self, def: SchemaDef) -> Result<(), UserError> {
        if let Some(existing) = self.schemas.get(&def.layout.id.name) {
            if existing.layout.id == def.layout.id && existing.layout.same_bytes(&def.layout) {
                return Ok(());
            }
            let how = match existing.layout.id.version == def.layout.id.version {
                true => "with different layouts",
                false => "at different versions",
            };
            return Err(UserError::Plain(format!(
                "schema `{}` is defined by both {} ({}) and {} ({}) {how}; the packages of a pipeline may define a schema once",
                def.layout.id.name,
                existing.package,
                existing.layout.id,
                def.package,
                def.layout.id
            )));
        }
        self.schemas.insert(def.layout.id.name.clone(), def);
        Ok(())
    }

    /// The definition of the package schema `name`.
    pub fn schema(&self, name: &str) -> Option<&SchemaDef> {
        self.schemas.get(name)
    }

    /// Every package schema, by name.
    pub fn schemas(&self) -> impl Iterator<Item = &SchemaDef> {
        self.schemas.values()
    }

    pub fn get(&self, type_name: &str) -> Option<&TypeInfo> {
        self.types.get(type_name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_manifest_is_valid() {
        let m = manifest::parse(Path::new("builtins.yaml"), BUILTINS).unwrap();
        assert!(m
            .processors
            .iter()
            .any(|p| p.name == "builtin.test_pattern"));
    }
}
