//! The plugin SDK as a generated Rust package carries it, so the package
//! builds outside this repository: the sources of `plexus-plugin-sdk` and
//! the `ipc-schemas` it depends on, embedded from the repository when plexus
//! is built (one source of truth, never a copy), their Cargo.toml files made
//! standalone, and the workspace's Cargo.lock, so the package builds with
//! the dependency versions plexus is tested with, offline when cargo has
//! them cached.

/// Where the vendored crates go inside a generated package.
pub const VENDOR_DIR: &str = "vendor";

/// The workspace's lock file, written as the package's `Cargo.lock`; cargo
/// drops the entries the package does not use on its first build.
pub const CARGO_LOCK: &str = include_str!("../../../Cargo.lock");

const WORKSPACE_TOML: &str = include_str!("../../../Cargo.toml");

/// One crate of the workspace, embedded.
struct Embedded {
    /// Its directory in the workspace; the last part names it under `vendor/`.
    dir: &'static str,
    cargo_toml: &'static str,
    /// Files of `src/`, by name.
    sources: &'static [(&'static str, &'static str)],
}

macro_rules! sources {
    ($dir:literal: $($file:literal),+) => {
        &[$(($file, include_str!(concat!("../../../", $dir, "/src/", $file)))),+]
    };
}

const CRATES: [Embedded; 2] = [
    Embedded {
        dir: "ipc-schemas",
        cargo_toml: include_str!("../../../ipc-schemas/Cargo.toml"),
        sources: sources!("ipc-schemas": "lib.rs", "control.rs", "event.rs", "frame.rs", "names.rs", "schema.rs", "wire.rs", "worker_info.rs"),
    },
    Embedded {
        dir: "worker-native/plugin-sdk",
        cargo_toml: include_str!("../../../worker-native/plugin-sdk/Cargo.toml"),
        sources: sources!("worker-native/plugin-sdk": "lib.rs", "abi.rs", "export.rs", "frames.rs"),
    },
];

impl Embedded {
    fn vendor_name(&self) -> &'static str {
        last_part(self.dir)
    }
}

/// The vendored files, by path inside the package.
pub fn files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for krate in &CRATES {
        let root = format!("{VENDOR_DIR}/{}", krate.vendor_name());
        out.push((
            format!("{root}/Cargo.toml"),
            standalone(krate.cargo_toml, WORKSPACE_TOML),
        ));
        for (name, text) in krate.sources {
            out.push((format!("{root}/src/{name}"), text.to_string()));
        }
    }
    out
}

/// Replaces each `key.workspace = true` of a member's Cargo.toml with the
/// workspace's own line for `key`; path dependencies then point at the
/// sibling directory under `vendor/`.
fn standalone(cargo_toml: &str, workspace: &str) -> String {
    let mut section = "";
    let mut out = String::new();
    for line in cargo_toml.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed;
        }
        let inherited = trimmed
            .strip_suffix(".workspace = true")
            .filter(|key| !key.contains(' '));
        let line = match inherited {
            Some(key) => {
                let from = if section == "[package]" {
                    "[workspace.package]"
                } else {
                    "[workspace.dependencies]"
                };
                let value = lookup(workspace, from, key)
                    .unwrap_or_else(|| panic!("the workspace's {from} has no `{key}`"));
                format!("{key} = {}", relocate(value))
            }
            None => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The value of `key = value` in `section` of a TOML file whose values
/// each fit on one line, as the workspace's do.
fn lookup<'a>(toml: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let mut inside = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == section;
        } else if inside {
            let value = line
                .strip_prefix(key)
                .and_then(|rest| rest.trim_start().strip_prefix('='));
            if let Some(value) = value {
                return Some(value.trim());
            }
        }
    }
    None
}

/// `{ path = "a/b" }` becomes `{ path = "../b" }`: vendored crates are
/// siblings.
fn relocate(value: &str) -> String {
    match value.split_once("path = \"") {
        Some((before, rest)) => {
            let (path, after) = rest.split_once('"').expect("a quoted path");
            format!("{before}path = \"../{}\"{after}", last_part(path))
        }
        None => value.to_string(),
    }
}

fn last_part(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The path the package's Cargo.toml gives the SDK.
pub fn sdk_path() -> String {
    format!("{VENDOR_DIR}/{}", CRATES[1].vendor_name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A file added to either crate must be embedded too, or generated
    /// packages would not build.
    #[test]
    fn every_source_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for krate in &CRATES {
            let mut on_disk: Vec<String> = std::fs::read_dir(root.join(krate.dir).join("src"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            let mut embedded: Vec<String> =
                krate.sources.iter().map(|(n, _)| n.to_string()).collect();
            on_disk.sort();
            embedded.sort();
            assert_eq!(embedded, on_disk, "{}", krate.dir);
        }
    }

    #[test]
    fn vendored_manifests_inherit_nothing() {
        for (path, text) in files().iter().filter(|(p, _)| p.ends_with("Cargo.toml")) {
            assert!(!text.contains("workspace"), "{path}:\n{text}");
            assert!(text.contains("\nversion = \""), "{path}:\n{text}");
        }
        let sdk = standalone(CRATES[1].cargo_toml, WORKSPACE_TOML);
        assert!(
            sdk.contains("ipc-schemas = { path = \"../ipc-schemas\" }"),
            "{sdk}"
        );
        assert_eq!(sdk_path(), "vendor/plugin-sdk");
    }

    #[test]
    fn relocation_keeps_the_rest_of_the_table() {
        assert_eq!(
            relocate("{ path = \"worker-native/plugin-sdk\", default-features = false }"),
            "{ path = \"../plugin-sdk\", default-features = false }"
        );
        assert_eq!(relocate("\"1\""), "\"1\"");
    }
}
