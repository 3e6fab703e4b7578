//! Finds the built library of a Rust plugin package.
//!
//! A manifest names the library file (`entry: libfoo.so`). It is looked up in
//! the package (`<pkg>/<entry>`, `<pkg>/lib/<entry>`, as a packed archive
//! ships it) and then in the Cargo target directory the package builds into,
//! so a plugin under development runs straight after `cargo build`. A packed
//! or installed package is sealed: its library is looked for in it alone.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Returns the library path or one sentence saying where it was looked for;
/// `build_dirs` allows the Cargo target directory.
pub fn resolve(package_dir: &Path, entry: &str, build_dirs: bool) -> Result<PathBuf, String> {
    let mut candidates = vec![package_dir.join(entry), package_dir.join("lib").join(entry)];
    if let Some(target) = target_dir(package_dir).filter(|_| build_dirs) {
        candidates.push(target.join("release").join(entry));
        candidates.push(target.join("debug").join(entry));
    }
    // The freshest build wins, so a debug build after a release one is used.
    let found = candidates
        .iter()
        .filter_map(|p| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (p, m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
        })
        .max_by_key(|(_, modified)| *modified);
    match found {
        Some((path, _)) => path.canonicalize().map_err(|e| format!("cannot open `{}`: {e}", path.display())),
        None => Err(format!(
            "plugin library `{entry}` is not built (looked in {}); build it with `cargo build` in {}",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            package_dir.display()
        )),
    }
}

/// `$CARGO_TARGET_DIR`, or the `target/` of the nearest enclosing directory
/// that has one.
fn target_dir(package_dir: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(dir));
    }
    let start = package_dir.canonicalize().ok()?;
    start
        .ancestors()
        .map(|a| a.join("target"))
        .find(|t| t.is_dir())
}
