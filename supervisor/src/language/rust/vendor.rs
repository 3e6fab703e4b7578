//! The plugin SDK as a generated Rust package carries it, so the package
//! builds outside this repository: the sources of `plexus-plugin-sdk` and
//! of `plexus-frame`, the one part of the wire contract it depends on,
//! embedded from the repository when plexus is built (one source of truth,
//! never a copy), their Cargo.toml files made standalone, and the
//! workspace's Cargo.lock, so the package builds with the dependency
//! versions plexus is tested with, offline when cargo has them cached.

/// Where the vendored crates go inside a generated package.
pub const VENDOR_DIR: &str = "vendor";

/// The workspace's lock file, written as the package's `Cargo.lock`; cargo
/// drops the entries the package does not use on its first build.
pub const CARGO_LOCK: &str = include_str!("../../../../Cargo.lock");

const WORKSPACE_TOML: &str = include_str!("../../../../Cargo.toml");

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
        &[$(($file, include_str!(concat!("../../../../", $dir, "/src/", $file)))),+]
    };
}

const CRATES: [Embedded; 2] = [
    Embedded {
        dir: "ipc-schemas/frame",
        cargo_toml: include_str!("../../../../ipc-schemas/frame/Cargo.toml"),
        sources: sources!("ipc-schemas/frame": "lib.rs", "clock.rs", "frame.rs", "schema.rs"),
    },
    Embedded {
        dir: "worker-native/plugin-sdk",
        cargo_toml: include_str!("../../../../worker-native/plugin-sdk/Cargo.toml"),
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
/// workspace's own line for `key`, and each `key = { workspace = true, ... }`
/// with the workspace's value plus the member's additions (such as
/// `optional = true`), and drops its `[lints]`; path dependencies then point
/// at the sibling directory under `vendor/`.
fn standalone(cargo_toml: &str, workspace: &str) -> String {
    let mut section = "";
    let mut out = String::new();
    for line in cargo_toml.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed;
        }
        // The workspace's lints hold plexus's own sources to its rules; a
        // generated package is a workspace of its own, without them.
        if section == "[lints]" {
            continue;
        }
        let line = match inherits(trimmed) {
            Some((key, additions)) => {
                let from = if section == "[package]" {
                    "[workspace.package]"
                } else {
                    "[workspace.dependencies]"
                };
                let value = lookup(workspace, from, key)
                    .unwrap_or_else(|| panic!("the workspace's {from} has no `{key}`"));
                format!("{key} = {}", relocate(&extend(value, additions)))
            }
            None => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The key of a line that inherits from the workspace, and what the line
/// adds to the inherited value (`optional = true`, or nothing).
fn inherits(line: &str) -> Option<(&str, &str)> {
    if let Some(key) = line.strip_suffix(".workspace = true") {
        return (!key.contains(' ')).then_some((key, ""));
    }
    let (key, table) = line.split_once(" = { workspace = true")?;
    let additions = table.strip_suffix('}')?.trim();
    let additions = match additions.strip_prefix(',') {
        Some(rest) => rest.trim(),
        None if additions.is_empty() => additions,
        None => return None,
    };
    (!key.contains(' ')).then_some((key, additions))
}

/// The workspace's value for a dependency, a version or an inline table,
/// with the member's `additions` appended to the table.
fn extend(value: &str, additions: &str) -> String {
    if additions.is_empty() {
        return value.to_string();
    }
    match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        Some(table) => format!("{{ {}, {additions} }}", table.trim()),
        None => format!("{{ version = {value}, {additions} }}"),
    }
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
            sdk.contains("plexus-frame = { path = \"../frame\" }"),
            "{sdk}"
        );
        // The package's Cargo.toml names the SDK where it is vendored.
        let template = include_str!("../../../templates/rust/Cargo.toml.in");
        let sdk = format!("{VENDOR_DIR}/{}", CRATES[1].vendor_name());
        assert!(
            template.contains(&format!("path = \"{sdk}\"")),
            "{template}"
        );
    }

    /// The SDK carries the frame crate only: a package must not compile the
    /// control messages, runtime events or their serialisation.
    #[test]
    fn the_sdk_carries_only_the_frame_crate() {
        let vendored: Vec<_> = CRATES.iter().map(Embedded::vendor_name).collect();
        assert_eq!(vendored, ["frame", "plugin-sdk"]);
        for (path, text) in files().iter().filter(|(p, _)| p.ends_with("Cargo.toml")) {
            assert!(!text.contains("ipc-schemas ="), "{path}:\n{text}");
        }
    }

    #[test]
    fn inline_inheritance_keeps_the_member_additions() {
        let workspace = "[workspace.dependencies]\n\
                         a = \"=1.0\"\n\
                         b = { version = \"1\", features = [\"derive\"] }\n";
        let member = "[dependencies]\n\
                      a = { workspace = true, optional = true }\n\
                      b = { workspace = true }\n";
        assert_eq!(
            standalone(member, workspace),
            "[dependencies]\n\
             a = { version = \"=1.0\", optional = true }\n\
             b = { version = \"1\", features = [\"derive\"] }\n"
        );
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
