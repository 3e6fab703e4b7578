//! Rust processors: plugins built as `cdylib`s against `plexus-plugin-sdk`,
//! loaded by `plexus-worker-native`, which also hosts the builtins.

mod library;
pub(crate) mod vendor;

use std::path::{Path, PathBuf};

use ipc_schemas::Entry;

use super::{
    relative_path, Declared, Hosted, Language, Launch, ProcessorFile, Template, WorkerBinary,
};
use crate::error::UserError;
use crate::provision;

pub struct Rust;

/// Rust keywords and the crates every Rust program sees, which a library
/// cannot be named.
const RESERVED_CRATE_NAMES: [&str; 42] = [
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
];

impl Language for Rust {
    fn name(&self) -> &'static str {
        "rust"
    }

    fn entry_fits(&self, entry: &str) -> bool {
        relative_path(entry)
    }

    fn entry_form(&self) -> &'static str {
        "the plugin library's path inside the package, e.g. `libfoo.so`"
    }

    fn resolve(&self, declared: &Declared) -> Result<Entry, String> {
        library::resolve(declared.dir, declared.entry, !declared.sealed).map(|p| Entry::Dylib {
            path: p.display().to_string(),
        })
    }

    fn provision(&self, _processors: &mut [Hosted]) -> anyhow::Result<Box<dyn Launch>> {
        Ok(Box::new(WorkerBinary(provision::beside_plexus(
            "plexus-worker-native",
        )?)))
    }

    fn packs(&self, _name: &str) -> bool {
        // Sources stay out: the archive carries the built library alone.
        false
    }

    fn built_file(&self, dir: &Path, entry: &str) -> Result<Option<(String, PathBuf)>, UserError> {
        let library = library::resolve(dir, entry, true).map_err(|_| not_built(dir, entry))?;
        Ok(Some((entry.to_string(), library)))
    }

    fn archive_holds(&self, dir: &Path, entry: &str) -> bool {
        library::resolve(dir, entry, false).is_ok()
    }

    fn template(&self) -> Template {
        Template {
            title: "Rust",
            entry: "{{library}}",
            build: Some("cargo build --release"),
            processor: ProcessorFile {
                path: "src/lib.rs",
                effect: include_str!("../../../templates/rust/lib.rs"),
                source: include_str!("../../../templates/rust/source.rs"),
            },
            files: &[
                (
                    "Cargo.toml",
                    include_str!("../../../templates/rust/Cargo.toml.in"),
                ),
                (
                    ".gitignore",
                    include_str!("../../../templates/rust/gitignore"),
                ),
            ],
            verbatim,
            reserved_names: &RESERVED_CRATE_NAMES,
        }
    }
}

/// The plugin SDK, vendored, and the lock file it is tested with, so a new
/// package builds outside this repository.
fn verbatim() -> Vec<(String, String)> {
    let mut files = vec![("Cargo.lock".to_string(), vendor::CARGO_LOCK.to_string())];
    files.extend(vendor::files());
    files
}

/// Says which crate to build, and how, when a plugin library is missing.
fn not_built(dir: &Path, entry: &str) -> UserError {
    let cargo_toml = dir.join("Cargo.toml");
    let crate_name = std::fs::read_to_string(&cargo_toml)
        .ok()
        .and_then(|text| package_name(&text));
    let how = match crate_name {
        Some(name) => format!("build crate `{name}` with `cargo build --release -p {name}`"),
        None => "build it with `cargo build --release`".to_string(),
    };
    UserError::in_file(
        dir,
        format!(
            "the plugin library `{entry}` is not built; {how} in {}, then pack again",
            dir.display()
        ),
    )
}

/// `name` of the `[package]` table of a Cargo.toml.
fn package_name(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if let Some(value) = in_package
            .then(|| line.strip_prefix("name"))
            .flatten()
            .and_then(|rest| rest.trim_start().strip_prefix('='))
        {
            return Some(value.trim().trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_name_is_found() {
        let toml = "[workspace]\nname = \"no\"\n[package]\nversion = \"1\"\nname = \"grayscale-rust\"\n[lib]\nname = \"x\"\n";
        assert_eq!(package_name(toml).as_deref(), Some("grayscale-rust"));
        assert_eq!(package_name("[lib]\nname = \"x\"\n"), None);
    }
}
