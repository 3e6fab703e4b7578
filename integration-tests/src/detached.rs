//! A data directory (and so a run journal and a package store) of the
//! test's own, and runs started in the background in it (`run -d`), killed
//! if the test ends before they did.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::process::{spawn_plexus_with, PlexusRun, Running};

/// A data directory of the test's own: `PLEXUS_DATA_DIR` of every `plexus`
/// it starts. Removed when dropped.
pub struct Data(tempfile::TempDir);

impl Default for Data {
    fn default() -> Self {
        Self::new()
    }
}

impl Data {
    pub fn new() -> Self {
        Data(tempfile::tempdir().unwrap())
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn spawn(&self, args: &[&str], cwd: &Path) -> Running {
        spawn_plexus_with(args, cwd, &[("PLEXUS_DATA_DIR", self.path())])
    }

    pub fn plexus(&self, args: &[&str], cwd: &Path) -> PlexusRun {
        self.spawn(args, cwd).finish()
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.path().join("runs").join(id)
    }
}

/// A detached run, killed with its workers if the test ends before it did.
pub struct Detached<'a> {
    pub id: String,
    pub data: &'a Data,
}

impl Drop for Detached<'_> {
    fn drop(&mut self) {
        let info = std::fs::read_to_string(self.data.run_dir(&self.id).join("run.json"));
        let pid = info
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["pid"].as_u64());
        if let Some(pid) = pid {
            if !self.data.run_dir(&self.id).join("summary.json").exists() {
                // Its workers die of their death signal; its reaper cleans up.
                // SAFETY: a plain kill(2) of the run's supervisor.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// `plexus run -d PATH EXTRA…` in `data`; returns the run once its workers run.
pub fn start_detached<'a>(data: &'a Data, path: &Path, cwd: &Path, extra: &[&str]) -> Detached<'a> {
    let mut args = vec!["run", "-d", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let started = data.plexus(&args, cwd);
    assert_eq!(started.code, Some(0), "run -d: {}", started.stderr);
    let id = started.stdout.trim().to_string();
    assert_eq!(id.len(), 8, "run -d prints the runtime id: {started:?}");
    assert!(
        started.stderr.contains(&format!("plexus wait {id}")),
        "{}",
        started.stderr
    );
    Detached { id, data }
}
