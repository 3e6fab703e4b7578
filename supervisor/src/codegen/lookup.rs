//! Where the schemas packages define are found, for `plexus schemas
//! list|describe|codegen`: in package directories given on the command
//! line, a pipeline's packages and the installed packages.

use std::path::{Path, PathBuf};

use crate::error::{excerpt, UserError};
use crate::load::catalog::{Catalog, SchemaDef};
use crate::load::pipeline::Pipeline;
use crate::package::manifest::schemas::SchemaRef;
use crate::package::manifest::Package;
use crate::package::store::Store;

/// Every package schema to be found: those of the package directories
/// `packages`, of the packages `pipeline` lists, and of the installed
/// packages, in that order (one definition may appear more than once).
pub fn known(packages: &[PathBuf], pipeline: Option<&Path>) -> Result<Vec<SchemaDef>, UserError> {
    let mut all = Vec::new();
    let defined_by = |package: &Package| -> Vec<SchemaDef> {
        let id = package.manifest.id();
        package
            .manifest
            .schema_layouts()
            .into_iter()
            .map(|layout| SchemaDef {
                layout,
                package: id.clone(),
            })
            .collect()
    };
    for dir in packages {
        all.extend(defined_by(&Package::load_dir(dir)?));
    }
    if let Some(path) = pipeline {
        all.extend(
            Catalog::for_pipeline(&Pipeline::load(path)?)?
                .schemas()
                .cloned(),
        );
    }
    for installed in Store::open()?.installed() {
        match installed.load() {
            Ok(package) => all.extend(defined_by(&package)),
            Err(e) => tracing::warn!("an installed package is left out: {e}"),
        }
    }
    Ok(all)
}

/// The definition of `wanted` at exactly its version, or one sentence
/// saying which versions there are.
pub fn find<'a>(known: &'a [SchemaDef], wanted: &SchemaRef) -> Result<&'a SchemaDef, UserError> {
    if let Some(def) = known.iter().find(|d| d.layout.id == *wanted) {
        return Ok(def);
    }
    let others: Vec<String> = known
        .iter()
        .filter(|d| d.layout.id.name == wanted.name)
        .map(|d| format!("{} in {}", d.layout.id, d.package))
        .collect();
    let found = match others.is_empty() {
        true => "no package found defines it (give its package with --package DIR, or install it)"
            .to_string(),
        false => format!("found only {}", others.join(", ")),
    };
    Err(UserError::Plain(format!(
        "schema `{}` is not defined at that version: {found}",
        excerpt(&wanted.to_string())
    )))
}
