//! The standard MCAP readers, which no plexus code wrote: Foxglove's `mcap`
//! package with its protobuf support and the `foxglove.RawImage` schema, in
//! a Python environment of their own that the recording tests build once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::bin_dir;

/// The packages, pinned.
const PACKAGES: [&str; 3] = [
    "mcap==1.6.0",
    "mcap-protobuf-support==0.6.0",
    "foxglove-schemas-protobuf==0.4.0",
];

/// The environment's python, built on first use (into a staging directory
/// renamed into place, so a half-built one is never used).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let env = bin_dir().join("plexus-test-cache/mcap-readers");
        let python = env.join("bin/python");
        if python.is_file() {
            return python;
        }
        let staging = bin_dir().join(format!(
            "plexus-test-cache/mcap-readers.{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&staging)
            .status()
            .expect("running python3 -m venv");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(staging.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES)
            .status()
            .expect("running pip");
        assert!(installed.success(), "pip install {PACKAGES:?} failed");
        if std::fs::rename(&staging, &env).is_err() {
            // Another test binary placed it first.
            let _ = std::fs::remove_dir_all(&staging);
        }
        python
    })
}

/// Runs `script` with the readers on `args`; returns the JSON it prints.
pub fn read(script: &str, args: &[&str]) -> Value {
    let out = Command::new(python())
        .args(["-c", script])
        .args(args)
        .output()
        .expect("running the MCAP readers' python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}
