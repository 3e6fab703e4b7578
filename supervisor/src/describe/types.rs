//! `plexus types` and `plexus describe TYPE`: every processor type a
//! pipeline can use (the builtins, the installed packages and, with
//! `--pipeline`, the packages a pipeline lists), with its ports and config
//! keys, so a user learns them without reading manifests or error messages.

use std::path::Path;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::error::{excerpt, UserError};
use crate::load::catalog::{builtins, Catalog};
use crate::load::pipeline::Pipeline;
use crate::package::commands::{panel_json, panel_text, processor_json, processor_text};
use crate::package::manifest::{panels, Manifest, PanelDecl, ProcessorDecl};
use crate::package::store::Store;
use crate::table::render;

/// A processor type and the package that declares it.
struct Known {
    /// `builtin`, `name@version` for an installed package, or the name of
    /// a package the pipeline lists.
    package: String,
    decl: ProcessorDecl,
    /// The package's panels that serve this type.
    panels: Vec<PanelDecl>,
}

impl Known {
    /// The types `manifest` declares, as package `package` offers them.
    fn all_of(manifest: &Manifest, package: &str) -> Vec<Known> {
        manifest
            .processors
            .iter()
            .map(|decl| Known {
                package: package.to_string(),
                decl: decl.clone(),
                panels: panels::serving(&manifest.panels, &decl.name),
            })
            .collect()
    }

    fn json(&self) -> Value {
        let mut description = processor_json(&self.decl);
        description["package"] = json!(self.package);
        description["panels"] = self.panels.iter().map(panel_json).collect();
        description
    }
}

/// Every type there is: builtins first, then installed packages, then
/// those `pipeline` lists; a type is listed once per package.
fn known(pipeline: Option<&Path>) -> Result<Vec<Known>> {
    let mut all = Known::all_of(&builtins(), "builtin");
    for installed in Store::open()?.installed() {
        match installed.load() {
            Ok(package) => all.extend(Known::all_of(&package.manifest, &package.manifest.id())),
            Err(e) => tracing::warn!("an installed package is left out: {e}"),
        }
    }
    if let Some(path) = pipeline {
        let catalog = Catalog::for_pipeline(&Pipeline::load(path)?)?;
        for name in catalog.names() {
            let info = catalog.get(name).expect("a name the catalog gave");
            let listed = info.package().to_string();
            let seen = all
                .iter()
                .any(|k| k.decl.name == name && k.package.split('@').next() == Some(&listed));
            if !seen {
                all.push(Known {
                    package: listed,
                    decl: info.decl.clone(),
                    panels: info.panels(),
                });
            }
        }
    }
    Ok(all)
}

/// `plexus types`: one row per type.
pub fn types(pipeline: Option<&Path>, json: bool) -> Result<i32> {
    let all = known(pipeline)?;
    if json {
        let list: Vec<Value> = all.iter().map(Known::json).collect();
        println!("{}", json!({ "types": list }));
        return Ok(0);
    }
    let ports = |ports: &[crate::package::manifest::PortDecl]| {
        let names: Vec<String> = ports
            .iter()
            .map(|p| format!("{}:{}", p.name, p.schema))
            .collect();
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(" ")
        }
    };
    let mut rows = vec![["TYPE", "PACKAGE", "LANGUAGE", "MODE", "INPUTS", "OUTPUTS"]
        .map(String::from)
        .to_vec()];
    for k in &all {
        rows.push(vec![
            k.decl.name.clone(),
            k.package.clone(),
            k.decl.language.name().to_string(),
            k.decl.mode.name().to_string(),
            ports(&k.decl.inputs),
            ports(&k.decl.outputs),
        ]);
    }
    print!("{}", render(&rows));
    Ok(0)
}

/// `plexus describe TYPE`: the type as each package that has it declares it.
pub fn describe(type_name: &str, pipeline: Option<&Path>, json: bool) -> Result<i32> {
    let matching: Vec<Known> = known(pipeline)?
        .into_iter()
        .filter(|k| k.decl.name == type_name)
        .collect();
    if matching.is_empty() {
        let searched = match pipeline {
            Some(path) => format!(
                "the builtins, the installed packages and those {} lists",
                path.display()
            ),
            None => "the builtins and the installed packages".to_string(),
        };
        bail!(UserError::Plain(format!(
            "no processor type `{}` in {searched}; `plexus types` lists them",
            excerpt(type_name)
        )));
    }
    for k in &matching {
        let description = k.json();
        if json {
            println!("{description}");
        } else {
            print!("from {}: {}", k.package, processor_text(&description));
            for panel in description["panels"].as_array().into_iter().flatten() {
                print!("    {}", panel_text(panel));
            }
        }
    }
    Ok(0)
}
