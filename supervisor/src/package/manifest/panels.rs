//! A manifest's `panels:` (docs/panels.md): the browser views a package ships
//! for the dashboard, one ES module under `ui/` each. A panel's module runs
//! in a sandboxed frame, but its file is still read by plexus, so its path,
//! kind, size and encoding are checked before anything reads it, and the
//! types and ports it names must be this package's own.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path};

use serde::Deserialize;

use crate::error::excerpt;

use super::Manifest;

/// Where panel modules live in a package.
pub const UI_DIR: &str = "ui";
/// The largest panel module plexus reads.
pub const MAX_MODULE_BYTES: u64 = 256 << 10;
/// The longest `title:`, in characters: a line above the panel.
const MAX_TITLE_CHARS: usize = 80;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelDecl {
    /// The module, relative to the package directory, under `ui/`.
    pub module: String,
    /// The processor types of this package it is mounted beside.
    pub types: Vec<String>,
    /// The ports (inputs or outputs) of those types it reads.
    pub ports: Vec<String>,
    pub title: Option<String>,
}

/// The panels of `panels` that serve processor type `type_name`.
pub fn serving(panels: &[PanelDecl], type_name: &str) -> Vec<PanelDecl> {
    panels
        .iter()
        .filter(|p| p.types.iter().any(|t| t == type_name))
        .cloned()
        .collect()
}

/// Checks what the manifest alone tells of each panel; each failure is one
/// sentence naming the field, the caller adds the file.
pub fn check(m: &Manifest) -> Result<(), String> {
    for (index, panel) in m.panels.iter().enumerate() {
        let field = |name: &str| format!("panels[{index}].{name}");
        module_path(&panel.module).map_err(|m| format!("{} {m}", field("module")))?;
        if panel.types.is_empty() {
            return Err(format!(
                "{} must name at least one processor type of this package",
                field("types")
            ));
        }
        if panel.ports.is_empty() {
            return Err(format!(
                "{} must name at least one port of its types",
                field("ports")
            ));
        }
        for type_name in &panel.types {
            let Some(decl) = m.processors.iter().find(|d| &d.name == type_name) else {
                let declared: Vec<&str> = m.processors.iter().map(|d| d.name.as_str()).collect();
                return Err(format!(
                    "{} names `{}`, which this package does not declare (it declares {})",
                    field("types"),
                    excerpt(type_name),
                    declared.join(", ")
                ));
            };
            let ports: Vec<&str> = decl
                .inputs
                .iter()
                .chain(&decl.outputs)
                .map(|p| p.name.as_str())
                .collect();
            if let Some(missing) = panel.ports.iter().find(|p| !ports.contains(&p.as_str())) {
                return Err(format!(
                    "{} names `{}`, which processor type `{type_name}` does not have (its ports: {})",
                    field("ports"),
                    excerpt(missing),
                    ports.join(", ")
                ));
            }
        }
        let mut seen = BTreeSet::new();
        if let Some(twice) = panel.ports.iter().find(|p| !seen.insert(p.as_str())) {
            return Err(format!("{} names `{twice}` twice", field("ports")));
        }
        if let Some(title) = &panel.title {
            let chars = title.chars().count();
            if chars == 0 || chars > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
                return Err(format!(
                    "{} `{}` must be one line of 1 to {MAX_TITLE_CHARS} characters",
                    field("title"),
                    excerpt(title)
                ));
            }
        }
    }
    Ok(())
}

/// The form of a module path: relative, under `ui/`, no `.`, `..` or empty
/// parts, a `.js` or `.mjs` file. The error completes "panels[i].module".
fn module_path(module: &str) -> Result<(), String> {
    let quoted = excerpt(module);
    if module.starts_with('/') {
        return Err(format!(
            "`{quoted}` must be relative to the package directory, e.g. ui/view.js"
        ));
    }
    let parts: Vec<&str> = module.split('/').collect();
    if parts.contains(&"..") {
        return Err(format!(
            "`{quoted}` must not contain `..`: a panel module stays inside the package's ui/ directory"
        ));
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || p.contains(['\\', '\0']))
    {
        return Err(format!(
            "`{quoted}` must be a plain path of `/`-separated names, e.g. ui/view.js"
        ));
    }
    if parts.len() < 2 || parts[0] != UI_DIR {
        return Err(format!(
            "`{quoted}` must be under the package's ui/ directory, e.g. ui/view.js"
        ));
    }
    if !(module.ends_with(".js") || module.ends_with(".mjs")) {
        return Err(format!(
            "`{quoted}` must be a JavaScript module ending in .js or .mjs"
        ));
    }
    Ok(())
}

/// Reads the panel module `module` of the package in `dir`: every part of
/// its path a real directory or, last, a regular file (no symbolic links
/// anywhere), at most [`MAX_MODULE_BYTES`] read, UTF-8 text. The error
/// completes "panels[i].module".
pub fn read_module(dir: &Path, module: &str) -> Result<String, String> {
    module_path(module)?;
    let quoted = excerpt(module);
    let mut path = dir.to_path_buf();
    let parts: Vec<Component> = Path::new(module).components().collect();
    for (at, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("`{quoted}` does not exist in the package"))
            }
            Err(e) => return Err(format!("`{quoted}` cannot be read: {e}")),
        };
        let last = at + 1 == parts.len();
        if meta.file_type().is_symlink() {
            return Err(format!(
                "`{quoted}` is or lies under a symbolic link; a panel module must be a regular file inside the package"
            ));
        }
        if (last && !meta.is_file()) || (!last && !meta.is_dir()) {
            return Err(format!("`{quoted}` is not a regular file"));
        }
    }
    let too_large = |bytes: u64| {
        format!("`{quoted}` has {bytes} bytes, more than the {MAX_MODULE_BYTES} a panel module may have")
    };
    // Opened without following a link, in case one appeared since the check.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| format!("`{quoted}` cannot be read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_MODULE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("`{quoted}` cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_MODULE_BYTES {
        let size = std::fs::metadata(&path).map_or(bytes.len() as u64, |m| m.len());
        return Err(too_large(size));
    }
    String::from_utf8(bytes).map_err(|_| format!("`{quoted}` is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn refusal(panel: &str) -> String {
        let text = format!(
            "package: {{ name: acme.fx, version: 1.0.0 }}\nprocessors:\n  - {{ name: acme.blur, language: python, entry: m:C, mode: reactive, inputs: [{{ name: in, schema: any }}], outputs: [{{ name: out, schema: video/rgba8 }}] }}\npanels:\n  - {{ {panel} }}\n"
        );
        super::super::parse(Path::new("plexus.yaml"), &text)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn a_good_panel_passes() {
        assert_eq!(
            refusal("module: ui/view.js, types: [acme.blur], ports: [in, out], title: View"),
            ""
        );
        assert_eq!(
            refusal("module: ui/sub/view.mjs, types: [acme.blur], ports: [out]"),
            ""
        );
    }

    #[test]
    fn each_mistake_names_its_field() {
        let cases = [
            ("module: ../x.js, types: [acme.blur], ports: [in]", "panels[0].module `../x.js` must not contain `..`"),
            ("module: ui/../../x.js, types: [acme.blur], ports: [in]", "must not contain `..`"),
            ("module: /ui/x.js, types: [acme.blur], ports: [in]", "panels[0].module `/ui/x.js` must be relative"),
            ("module: x.js, types: [acme.blur], ports: [in]", "panels[0].module `x.js` must be under the package's ui/ directory"),
            ("module: ui/x.ts, types: [acme.blur], ports: [in]", "panels[0].module `ui/x.ts` must be a JavaScript module ending in .js or .mjs"),
            ("module: ui//x.js, types: [acme.blur], ports: [in]", "must be a plain path"),
            ("module: ui/x.js, types: [], ports: [in]", "panels[0].types must name at least one processor type"),
            ("module: ui/x.js, types: [acme.sharpen], ports: [in]", "panels[0].types names `acme.sharpen`, which this package does not declare (it declares acme.blur)"),
            ("module: ui/x.js, types: [acme.blur], ports: []", "panels[0].ports must name at least one port"),
            ("module: ui/x.js, types: [acme.blur], ports: [mask]", "panels[0].ports names `mask`, which processor type `acme.blur` does not have (its ports: in, out)"),
            ("module: ui/x.js, types: [acme.blur], ports: [in, in]", "panels[0].ports names `in` twice"),
            ("module: ui/x.js, types: [acme.blur], ports: [in], title: \"\"", "panels[0].title `` must be one line"),
            ("module: ui/x.js, types: [acme.blur], ports: [in], width: 3", "unknown field `width`"),
        ];
        for (panel, expected) in cases {
            let err = refusal(panel);
            assert!(
                err.starts_with("plexus.yaml: ") && err.contains(expected),
                "{panel}: {err}"
            );
        }
    }

    #[test]
    fn module_files_are_read_only_when_safe() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir(dir.join("ui")).unwrap();
        std::fs::write(dir.join("ui/ok.js"), "export default () => {};\n").unwrap();
        std::fs::write(dir.join("ui/bad.js"), [0xff, 0xfe]).unwrap();
        std::fs::write(
            dir.join("ui/big.js"),
            vec![b' '; MAX_MODULE_BYTES as usize + 1],
        )
        .unwrap();
        std::fs::create_dir(dir.join("ui/dir.js")).unwrap();
        std::os::unix::fs::symlink(dir.join("ui/ok.js"), dir.join("ui/link.js")).unwrap();
        std::fs::create_dir(dir.join("elsewhere")).unwrap();
        std::fs::write(dir.join("elsewhere/x.js"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("ui/linked")).unwrap();

        assert_eq!(
            read_module(dir, "ui/ok.js").unwrap(),
            "export default () => {};\n"
        );
        let cases = [
            ("ui/missing.js", "does not exist in the package"),
            ("ui/bad.js", "is not UTF-8 text"),
            ("ui/big.js", "has 262145 bytes, more than the 262144"),
            ("ui/dir.js", "is not a regular file"),
            ("ui/link.js", "symbolic link"),
            ("ui/linked/x.js", "symbolic link"),
            ("ui/../ui/ok.js", "must not contain `..`"),
        ];
        for (module, expected) in cases {
            let err = read_module(dir, module).unwrap_err();
            assert!(err.contains(expected), "{module}: {err}");
        }
    }
}
