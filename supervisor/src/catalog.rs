//! Every processor type a pipeline may use: the native worker's builtins and
//! the types of the packages the pipeline lists, each checked once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipc_schemas::names::validate_id;
use ipc_schemas::{Accepts, SchemaId};

use crate::error::UserError;
use crate::manifest::{self, Package, ProcessorDecl};
use crate::pipeline::Pipeline;

/// The builtins' manifest, shipped with the native worker that implements them.
const BUILTINS: &str = include_str!("../../worker-native/builtins.yaml");

#[derive(Debug, Clone)]
pub enum Origin {
    Builtin,
    Package {
        name: String,
        dir: PathBuf,
        manifest: PathBuf,
    },
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
            Origin::Package { name, .. } => name,
        }
    }

    /// Where the type was declared, for messages.
    pub fn declared_in(&self) -> String {
        match &self.origin {
            Origin::Builtin => "the builtins".to_string(),
            Origin::Package { manifest, .. } => manifest.display().to_string(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    types: BTreeMap<String, TypeInfo>,
}

impl Catalog {
    /// The builtins plus every package `pipeline` lists.
    pub fn for_pipeline(pipeline: &Pipeline) -> Result<Self, UserError> {
        let mut catalog = Self::default();
        let builtins = manifest::parse(Path::new("builtins.yaml"), BUILTINS)?;
        for decl in builtins.processors {
            catalog.add(TypeInfo {
                decl,
                origin: Origin::Builtin,
            })?;
        }
        for entry in &pipeline.file.packages {
            let dir = pipeline.dir().join(entry);
            let package = Package::load_dir(&dir).map_err(|e| match e {
                UserError::InFile { message, .. } if message == "package directory not found" => {
                    UserError::in_file(
                        &pipeline.path,
                        format!("package `{entry}` not found (looked in {})", dir.display()),
                    )
                }
                other => other,
            })?;
            let manifest_path = dir.join(manifest::MANIFEST_FILE);
            for decl in package.manifest.processors.clone() {
                check_decl(&manifest_path, &decl)?;
                catalog.add(TypeInfo {
                    decl,
                    origin: Origin::Package {
                        name: package.manifest.package.name.clone(),
                        dir: package.dir.clone(),
                        manifest: manifest_path.clone(),
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

    pub fn get(&self, type_name: &str) -> Option<&TypeInfo> {
        self.types.get(type_name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }
}

/// Checks what a manifest says about one processor that parsing cannot.
fn check_decl(manifest: &Path, decl: &ProcessorDecl) -> Result<(), UserError> {
    let at =
        |what: String| UserError::in_file(manifest, format!("processor `{}`: {what}", decl.name));
    for port in decl.inputs.iter().chain(&decl.outputs) {
        validate_id(&port.name).map_err(|e| at(format!("port {e}")))?;
    }
    for port in &decl.inputs {
        if Accepts::parse(&port.schema).is_none() {
            return Err(at(format!(
                "input `{}` has unknown schema `{}`",
                port.name, port.schema
            )));
        }
    }
    for port in &decl.outputs {
        if SchemaId::from_name(&port.schema).is_none() {
            return Err(at(format!(
                "output `{}` has unknown schema `{}`",
                port.name, port.schema
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_manifest_is_valid() {
        let m = manifest::parse(Path::new("builtins.yaml"), BUILTINS).unwrap();
        for decl in &m.processors {
            check_decl(Path::new("builtins.yaml"), decl).unwrap();
        }
        assert!(m
            .processors
            .iter()
            .any(|p| p.name == "builtin.test_pattern"));
    }
}
