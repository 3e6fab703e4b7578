//! What the benchmarks share: where the release binaries they measure are,
//! a scratch directory, and publishing a report.

use std::path::PathBuf;

use crate::workspace;

/// `target/release` of this workspace, where `cargo build --release` puts
/// the binaries the benchmarks run.
fn release_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace().join(dir).join("release"),
        None => workspace().join("target").join("release"),
    }
}

/// The release directory, once every file in `needed` is there; otherwise
/// one sentence naming what is missing and how to build it.
pub fn require_release(needed: &[&str]) -> Result<PathBuf, String> {
    let release = release_dir();
    let missing: Vec<String> = needed
        .iter()
        .map(|name| release.join(name))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        Ok(release)
    } else {
        Err(format!(
            "missing release binaries {}: run `cargo build --release --workspace` first",
            missing.join(", ")
        ))
    }
}

/// A private temporary directory for pipeline files, removed at the end.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(bench: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("plexus-{bench}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `bench-results/` of the workspace (gitignored), created if need be.
pub fn results_dir() -> Result<PathBuf, String> {
    let dir = workspace().join("bench-results");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Prints `report` and writes it to `bench-results/<bench>.md`.
pub fn publish(bench: &str, report: &str) -> Result<(), String> {
    print!("{report}");
    let out = results_dir()?.join(format!("{bench}.md"));
    std::fs::write(&out, report).map_err(|e| format!("writing {}: {e}", out.display()))?;
    eprintln!("{bench}: table written to {}", out.display());
    Ok(())
}
