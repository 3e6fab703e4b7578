//! Reading runs back from the journal: which runs there are and how each
//! ended, and a run's events, worker logs and summary, whether the run is
//! still going or long over.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::files;
use super::{is_runtime_id, RunInfo};
use crate::error::UserError;

/// The most of `run.json` or `summary.json` that is read: they are small,
/// and a damaged one must not cost memory.
const SMALL_FILE_LIMIT: u64 = 1 << 20;

/// Where a run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Its supervisor is alive and has not written a summary.
    Running,
    /// It ended with this outcome (`completed`, `failed`, …).
    Ended(String),
    /// Its supervisor is gone and left no summary: it was killed.
    Unfinished,
}

impl RunState {
    pub fn name(&self) -> &str {
        match self {
            RunState::Running => "running",
            RunState::Ended(outcome) => outcome,
            RunState::Unfinished => "unfinished",
        }
    }
}

/// One run in the journal.
#[derive(Debug, Clone)]
pub struct Run {
    pub info: RunInfo,
    pub dir: PathBuf,
    pub state: RunState,
    pub summary: Option<Value>,
}

impl Run {
    /// Reads run `runtime` from the journal in `runs`.
    pub fn open(runs: &Path, runtime: &str) -> Result<Run, UserError> {
        let missing = || {
            UserError::Plain(format!(
                "the run journal ({}) has no run `{}`; `plexus runs` lists those it has",
                runs.display(),
                crate::error::excerpt(runtime)
            ))
        };
        if !is_runtime_id(runtime) {
            return Err(missing());
        }
        let live = bus::files::RuntimeFiles::live_runtimes();
        read_run(&runs.join(runtime), &live).ok_or_else(missing)
    }

    /// Reads the state again, as it may have moved on since.
    pub fn refresh(&mut self) {
        let live = bus::files::RuntimeFiles::live_runtimes();
        if let Some(run) = read_run(&self.dir, &live) {
            *self = run;
        }
    }

    /// Every event kept, oldest first, as `events --json` objects.
    pub fn events(&self) -> std::io::Result<Vec<Value>> {
        Ok(parsed(files::lines(&self.events_path())?))
    }

    pub fn events_path(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    /// The log file of worker `worker`, refusing a name the run never had.
    pub fn log_path(&self, worker: &str) -> Result<PathBuf, UserError> {
        if !self.info.workers.iter().any(|w| w == worker) {
            return Err(UserError::Plain(format!(
                "run {} has no worker `{}` (its workers: {})",
                self.info.runtime,
                crate::error::excerpt(worker),
                self.info.workers.join(", ")
            )));
        }
        Ok(self.dir.join("logs").join(format!("{worker}.jsonl")))
    }
}

/// Every run in the journal, newest first.
pub fn list(runs: &Path) -> Vec<Run> {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return Vec::new();
    };
    let live = bus::files::RuntimeFiles::live_runtimes();
    let mut all: Vec<Run> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_runtime_id))
        .filter_map(|e| read_run(&e.path(), &live))
        .collect();
    all.sort_by_key(|run| std::cmp::Reverse(run.info.start_time_ns));
    all
}

/// One run's directory, or `None` when it is not one (no `run.json`, a link).
fn read_run(dir: &Path, live: &[(String, u32)]) -> Option<Run> {
    if !std::fs::symlink_metadata(dir).ok()?.is_dir() {
        return None;
    }
    let info: RunInfo = serde_json::from_value(read_small(&dir.join("run.json"))?).ok()?;
    let summary = read_small(&dir.join("summary.json"));
    let state = match &summary {
        Some(summary) => {
            RunState::Ended(summary["outcome"].as_str().unwrap_or("unknown").to_string())
        }
        None if live
            .iter()
            .any(|(id, pid)| *id == info.runtime && *pid == info.pid) =>
        {
            RunState::Running
        }
        None => RunState::Unfinished,
    };
    Some(Run {
        info,
        dir: dir.to_path_buf(),
        state,
        summary,
    })
}

fn read_small(path: &Path) -> Option<Value> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(SMALL_FILE_LIMIT)
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// The lines that are JSON objects; a damaged line is skipped.
pub fn parsed(lines: Vec<String>) -> Vec<Value> {
    lines
        .into_iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .filter(Value::is_object)
        .collect()
}
