//! The run journal: every run keeps its events, its workers' output and its
//! summary under `<data>/runs/<runtime>/`, so that `events`, `logs` and
//! `summary` work on a run that has ended as on a live one, and a detached
//! run's summary has somewhere to go (docs/ARCHITECTURE.md §7, *Run journal*).
//!
//! A run's directory holds `run.json` (what ran, where, since when),
//! `events.jsonl` (one `events --json` object per line),
//! `logs/<worker>.jsonl` (one line a worker printed per line) and, once the
//! run is over, `summary.json` (the `run --json` object). Each file is
//! bounded: past its cap it is renamed to `<name>.1`, replacing the older
//! one, and started afresh. Old runs are pruned when a new one starts.

pub mod files;
pub mod prune;
pub mod read;
mod write;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use write::{Journal, LogSink, Stream};

use crate::error::UserError;
use crate::package::store::data_dir;

/// What `run.json` says about a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub runtime: String,
    pub pipeline: String,
    /// The pipeline file, in full.
    pub file: PathBuf,
    /// The supervisor's pid.
    pub pid: u32,
    /// Wall-clock start, ns since the Unix epoch.
    pub start_time_ns: u64,
    pub workers: Vec<String>,
}

/// Where every run's journal is kept: `<data>/runs`.
pub fn runs_dir() -> Result<PathBuf, UserError> {
    Ok(data_dir()?.join("runs"))
}

/// The journal directory of run `runtime`, whose id is checked first so
/// that no name a user types can lead out of the runs directory.
pub fn run_dir(runtime: &str) -> Result<PathBuf, UserError> {
    if !is_runtime_id(runtime) {
        return Err(UserError::Plain(format!(
            "`{}` is not a runtime id (8 lowercase hex digits, as `plexus runs` lists them)",
            crate::error::excerpt(runtime)
        )));
    }
    Ok(runs_dir()?.join(runtime))
}

/// Eight lowercase hex digits, as `run::new_runtime_id` makes them.
pub fn is_runtime_id(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// The wall clock, ns since the Unix epoch, as events stamp it.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
