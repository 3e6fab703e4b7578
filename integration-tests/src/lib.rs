//! Helpers shared by the end-to-end tests: find the built binaries, run
//! `plexus` with a deadline, prove that a run left nothing behind, and
//! recompute frames independently of the code under test.

pub mod expect;
pub mod process;
pub mod residue;

use std::path::PathBuf;

pub use process::{plexus, spawn_plexus, spawn_plexus_with, PlexusRun, Running};
pub use residue::assert_no_residue;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests sits in the workspace")
        .to_path_buf()
}

/// Where cargo put the binaries of this build (the test's own profile).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // tests run from target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_path_buf()
}

/// A binary of the workspace, which must have been built first.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// Writes `yaml` as `pipeline.yaml` in a fresh temporary directory, which
/// is removed when the returned guard drops.
pub fn write_pipeline(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let path = tmp.path().join("pipeline.yaml");
    std::fs::write(&path, yaml).expect("writing the pipeline");
    (tmp, path)
}
