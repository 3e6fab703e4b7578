//! `plexus pack` and `plexus pkg …`: what each prints and writes.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use super::archive::Archive;
use super::fetch;
use super::locate::ARCHIVE_EXTENSION;
use super::pack::pack;
use super::store::{Spec, Store, ARCHIVE_SHA256_FILE};
use crate::error::UserError;
use crate::package::manifest::permissions::asks_for;
use crate::package::manifest::{Manifest, Package, PanelDecl, PermissionsDecl, ProcessorDecl};
use crate::table::render;

#[derive(Debug, Subcommand)]
pub enum PkgCommand {
    /// Install a package (a .plexpkg file or URL, a package directory,
    /// packed on the fly, or a name from an index) into the store, after
    /// verifying every file's checksum and the archive's signature.
    Install(fetch::InstallArgs),
    /// Write index.json for the .plexpkg archives in a directory.
    Index {
        /// The directory of archives (and their .minisig signatures).
        dir: PathBuf,
    },
    /// Search a package index.
    Search(fetch::SearchArgs),
    /// Trust a minisign public key for package signatures, list the
    /// trusted keys or remove one.
    Trust(fetch::TrustArgs),
    /// List the installed packages.
    List {
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show what an installed package or a .plexpkg file holds.
    Inspect {
        /// NAME, NAME@VERSION or a .plexpkg file.
        package: String,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed package.
    Remove {
        /// NAME (when one version is installed) or NAME@VERSION.
        package: String,
    },
}

/// `plexus pack DIR [-o FILE]`.
pub fn pack_command(dir: &Path, output: Option<&Path>) -> Result<i32> {
    let packed = pack(dir)?;
    for file in &packed.regenerated {
        println!("regenerated {} from the manifest's schemas", file.display());
    }
    let output = output.map_or_else(|| PathBuf::from(packed.file_name()), Path::to_path_buf);
    // Written beside the target and renamed, so a reader never sees half.
    let partial = output.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, &packed.bytes)
        .and_then(|()| std::fs::rename(&partial, &output))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            UserError::in_file(&output, format!("cannot write the archive: {e}"))
        })?;
    println!(
        "packed {} ({} files, {} bytes) into {}",
        packed.manifest.id(),
        packed.files,
        packed.bytes.len(),
        output.display()
    );
    Ok(0)
}

pub fn run(command: PkgCommand) -> Result<i32> {
    let store = Store::open()?;
    match command {
        PkgCommand::Install(args) => {
            let installed = fetch::install(&store, args)?;
            println!(
                "installed {}@{} into {}",
                installed.name,
                installed.version,
                installed.dir.display()
            );
            // Installed all the same: what it needs may be installed next.
            if let Err(missing) = super::resolve::for_package(installed.load()?, &store) {
                eprintln!(
                    "plexus: warning: {missing}; install it before a pipeline uses this package"
                );
            }
        }
        PkgCommand::Index { dir } => fetch::index_command(&dir)?,
        PkgCommand::Search(args) => fetch::search(args)?,
        PkgCommand::Trust(args) => fetch::trust(args)?,
        PkgCommand::List { json } => {
            let packages: Vec<(Package, String)> = store
                .installed()
                .iter()
                .filter_map(|i| match i.load() {
                    Ok(p) => Some((p, i.dir.display().to_string())),
                    Err(e) => {
                        tracing::warn!("skipping {}@{}: {e}", i.name, i.version);
                        None
                    }
                })
                .collect();
            if json {
                let list: Vec<Value> = packages
                    .iter()
                    .map(|(p, dir)| describe(&p.manifest, dir))
                    .collect();
                println!("{}", json!({ "store": store.root(), "packages": list }));
            } else if packages.is_empty() {
                println!("no packages installed (in {})", store.root().display());
            } else {
                let mut rows = vec![["NAME", "VERSION", "PROCESSORS"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()];
                for (p, _) in &packages {
                    let m = &p.manifest;
                    let types: Vec<&str> = m.processors.iter().map(|d| d.name.as_str()).collect();
                    rows.push(vec![
                        m.package.name.clone(),
                        m.version().to_string(),
                        types.join(", "),
                    ]);
                }
                print!("{}", render(&rows));
            }
        }
        PkgCommand::Inspect { package, json } => {
            let description = inspect(&store, &package)?;
            if json {
                println!("{description}");
            } else {
                print!("{}", as_text(&description));
            }
        }
        PkgCommand::Remove { package } => {
            let spec = Spec::parse(&package).map_err(UserError::Plain)?;
            let removed = store.remove(&spec)?;
            println!("removed {}@{}", removed.name, removed.version);
        }
    }
    Ok(0)
}

fn open_archive(path: &Path) -> Result<Archive<BufReader<File>>> {
    let file = File::open(path)
        .map_err(|e| UserError::in_file(path, format!("cannot read the package archive: {e}")))?;
    Ok(Archive::open(BufReader::new(file), path)?)
}

/// An archive (verified whole) or an installed package, described with its
/// files and their sizes.
fn inspect(store: &Store, package: &str) -> Result<Value> {
    let path = Path::new(package);
    if path.is_file() || path.extension().is_some_and(|e| e == ARCHIVE_EXTENSION) {
        return Ok(describe_archive(&mut open_archive(path)?, path)?);
    }
    let spec = Spec::parse(package).map_err(UserError::Plain)?;
    let installed = store.find(&spec).map_err(UserError::Plain)?;
    let loaded = installed.load()?;
    let mut files = Vec::new();
    list_files(&installed.dir, &installed.dir, &mut files)
        .with_context(|| format!("listing {}", installed.dir.display()))?;
    files.sort();
    Ok(with_files(
        describe(&loaded.manifest, &installed.dir.display().to_string()),
        files,
    ))
}

/// `pkg inspect FILE --json`: an archive, verified whole, described with
/// its files; `location` is where it came from.
pub fn describe_archive<R: Read + Seek>(
    archive: &mut Archive<R>,
    location: &Path,
) -> Result<Value, UserError> {
    let manifest = archive.manifest()?;
    archive.verify()?;
    let files = archive
        .files()
        .iter()
        .map(|f| (f.name.clone(), f.size))
        .collect();
    Ok(with_files(
        describe(&manifest, &location.display().to_string()),
        files,
    ))
}

fn with_files(mut description: Value, files: Vec<(String, u64)>) -> Value {
    description["files"] = files
        .into_iter()
        .map(|(path, bytes)| json!({ "path": path, "bytes": bytes }))
        .collect();
    description
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            list_files(root, &entry.path(), out)?;
        } else if entry.file_name() != ARCHIVE_SHA256_FILE {
            let name = entry
                .path()
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            out.push((name, meta.len()));
        }
    }
    Ok(())
}

/// The JSON shape of a processor type, in `pkg inspect --json`, `types
/// --json` and `describe --json`.
pub fn processor_json(d: &ProcessorDecl) -> Value {
    let ports = |ports: &[crate::package::manifest::PortDecl]| -> Vec<Value> {
        ports
            .iter()
            .map(|p| json!({ "name": p.name, "schema": p.schema }))
            .collect()
    };
    let config: serde_json::Map<String, Value> = d
        .config
        .iter()
        .map(|(k, f)| {
            (k.clone(), json!({ "type": f.kind.name(), "default": f.default, "required": f.required, "min": f.min, "max": f.max, "enum": f.choices, "description": f.description }))
        })
        .collect();
    json!({
        "name": d.name, "language": d.language.name(), "entry": d.entry,
        "mode": d.mode.name(), "interval_ms": d.interval_ms,
        "inputs": ports(&d.inputs), "outputs": ports(&d.outputs), "config": config,
        "permissions": d.permissions.json(),
    })
}

/// The JSON shape of a panel (docs/json/panel.schema.json), in `pkg
/// inspect --json` and with the types it serves in `describe --json`.
pub fn panel_json(p: &PanelDecl) -> Value {
    json!({ "module": p.module, "types": p.types, "ports": p.ports, "title": p.title })
}

/// A panel of [`panel_json`] for people, one line.
pub fn panel_text(p: &Value) -> String {
    let list = |key: &str| -> String {
        let names: Vec<&str> = p[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        names.join(", ")
    };
    let title = p["title"]
        .as_str()
        .map(|t| format!(" \"{t}\""))
        .unwrap_or_default();
    format!(
        "panel {}{title}: types {}, ports {}\n",
        p["module"].as_str().unwrap_or_default(),
        list("types"),
        list("ports")
    )
}

/// The JSON shape of a package in `list --json` and `inspect --json`.
fn describe(m: &Manifest, location: &str) -> Value {
    let processors: Vec<Value> = m.processors.iter().map(processor_json).collect();
    let panels: Vec<Value> = m.panels.iter().map(panel_json).collect();
    let dependencies: Vec<Value> = m
        .dependencies
        .iter()
        .map(|d| json!({ "name": d.name, "version": d.version }))
        .collect();
    json!({
        "name": m.package.name, "version": m.version().to_string(),
        "plexus": m.package.plexus, "description": m.package.description,
        "location": location, "dependencies": dependencies,
        "processors": processors, "panels": panels,
    })
}

/// A processor type of [`processor_json`] for people: its language, entry
/// and mode, its ports, and one line per config key.
pub fn processor_text(p: &Value) -> String {
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    let ports = |key: &str| {
        let list: Vec<String> = p[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|port| format!("{} ({})", s(&port["name"]), s(&port["schema"])))
            .collect();
        if list.is_empty() {
            "-".to_string()
        } else {
            list.join(", ")
        }
    };
    let mut out = format!(
        "processor {}: {} `{}`, {}\n    inputs:  {}\n    outputs: {}\n",
        s(&p["name"]),
        s(&p["language"]),
        s(&p["entry"]),
        s(&p["mode"]),
        ports("inputs"),
        ports("outputs")
    );
    // The JSON shape is the manifest's, so it reads back as a declaration.
    let permissions: PermissionsDecl =
        serde_json::from_value(p["permissions"].clone()).unwrap_or_default();
    out += &format!("    permissions: {}\n", asks_for(&permissions.items()));
    for (key, field) in p["config"].as_object().into_iter().flatten() {
        let extras: Vec<String> = ["default", "min", "max", "enum"]
            .iter()
            .filter(|k| !field[**k].is_null())
            .map(|k| format!("{k} {}", field[*k]))
            .chain(
                field["required"]
                    .as_bool()
                    .filter(|r| *r)
                    .map(|_| "required".to_string()),
            )
            .collect();
        let line = format!(
            "    config {key}: {} {}",
            s(&field["type"]),
            extras.join(", ")
        );
        out += line.trim_end();
        out.push('\n');
        if let Some(text) = field["description"].as_str() {
            out += &format!("        {text}\n");
        }
    }
    out
}

/// `inspect` for people.
fn as_text(d: &Value) -> String {
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    let mut out = format!("{}@{}\n", s(&d["name"]), s(&d["version"]));
    if let Some(text) = d["description"].as_str() {
        out += &format!("  {text}\n");
    }
    out += &format!("  plexus:   {}\n", d["plexus"].as_str().unwrap_or("any"));
    out += &format!("  location: {}\n", s(&d["location"]));
    for dep in d["dependencies"].as_array().into_iter().flatten() {
        out += &format!("  needs:    {} {}\n", s(&dep["name"]), s(&dep["version"]));
    }
    for p in d["processors"].as_array().into_iter().flatten() {
        out += &processor_text(p);
    }
    for p in d["panels"].as_array().into_iter().flatten() {
        out += &panel_text(p);
    }
    out += "files:\n";
    for f in d["files"].as_array().into_iter().flatten() {
        out += &format!(
            "  {:>10}  {}\n",
            f["bytes"].as_u64().unwrap_or(0),
            s(&f["path"])
        );
    }
    out
}
