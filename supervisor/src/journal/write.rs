//! Writing a run's journal as the run goes: its description first, each
//! event as it is emitted, each line a worker prints as it comes, and the
//! summary last. The run never waits on or fails for its journal: a write
//! that fails (a full disk) is warned about once per file and the run goes on.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::files::Rotating;
use super::{now_ns, RunInfo};

/// The most an events file holds before it rotates.
const EVENTS_CAP: u64 = 16 << 20;
/// The most a worker's log file holds before it rotates.
const LOG_CAP: u64 = 4 << 20;

/// The journal of the run in progress.
pub struct Journal {
    dir: PathBuf,
    events: Mutex<Sink>,
    logs: Mutex<BTreeMap<String, LogSink>>,
}

/// A journal file and whether it still takes writes.
struct Sink {
    file: Rotating,
    what: String,
    broken: bool,
}

impl Sink {
    fn create(path: PathBuf, cap: u64, what: String) -> std::io::Result<Self> {
        Ok(Self {
            file: Rotating::create(path, cap)?,
            what,
            broken: false,
        })
    }

    fn append(&mut self, line: &str) {
        if self.broken {
            return;
        }
        if let Err(e) = self.file.append(line) {
            self.broken = true;
            tracing::warn!(
                "the run journal stopped keeping {}: {e}; the run goes on",
                self.what
            );
        }
    }
}

impl Journal {
    /// Creates `<runs>/<runtime>/` with its `run.json`, private to the user.
    pub fn create(runs: &Path, info: &RunInfo) -> Result<Self> {
        let dir = runs.join(&info.runtime);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join("logs"))
            .with_context(|| format!("creating the run journal {}", dir.display()))?;
        write_whole(&dir.join("run.json"), &serde_json::to_value(info)?)?;
        let events = Sink::create(dir.join("events.jsonl"), EVENTS_CAP, "events".into())
            .with_context(|| format!("creating the run journal {}", dir.display()))?;
        Ok(Self {
            dir,
            events: Mutex::new(events),
            logs: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run goes on with the pipeline in `file` and these workers
    /// (`plexus apply`): `run.json` says so from now on, so that `graph
    /// --runtime` draws what runs.
    pub fn runs_now(&self, file: &Path, workers: &[String]) {
        let path = self.dir.join("run.json");
        let updated = std::fs::read_to_string(&path)
            .map_err(anyhow::Error::from)
            .and_then(|text| Ok(serde_json::from_str::<Value>(&text)?))
            .and_then(|mut info| {
                info["file"] = Value::from(file.to_string_lossy().into_owned());
                info["workers"] = Value::from(workers.to_vec());
                write_whole(&path, &info)
            });
        if let Err(e) = updated {
            tracing::warn!("the run journal keeps the pipeline file it started with: {e:#}");
        }
    }

    /// Keeps one event, as `events --json` prints it.
    pub fn event(&self, event: &Value) {
        lock(&self.events).append(&event.to_string());
    }

    /// Where worker `worker`'s lines go, each process of it in turn.
    pub fn worker_log(&self, worker: &str) -> LogSink {
        let mut logs = lock(&self.logs);
        if let Some(sink) = logs.get(worker) {
            return sink.clone();
        }
        let path = self.dir.join("logs").join(format!("{worker}.jsonl"));
        let sink = match Sink::create(path, LOG_CAP, format!("worker {worker}'s log")) {
            Ok(sink) => LogSink(Some(Arc::new(Mutex::new(sink)))),
            Err(e) => {
                tracing::warn!("the run journal cannot keep worker {worker}'s log: {e}");
                LogSink(None)
            }
        };
        logs.insert(worker.to_string(), sink.clone());
        sink
    }

    /// Writes the summary, whole or not at all: a reader never sees half.
    pub fn finish(&self, summary: &Value) {
        if let Err(e) = write_whole(&self.dir.join("summary.json"), summary) {
            tracing::warn!("the run journal could not keep the summary: {e:#}");
        }
    }
}

/// Where one worker's output lines go; shared by its stdout and stderr.
#[derive(Clone)]
pub struct LogSink(Option<Arc<Mutex<Sink>>>);

/// Which of a worker's streams a line came from.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
    /// A processor error the worker reported, as its event tells it.
    Error,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Error => "error",
        }
    }
}

impl LogSink {
    /// A sink that keeps nothing, for processes outside any run.
    pub fn none() -> Self {
        LogSink(None)
    }

    /// Keeps one line that process `generation` of `worker` printed.
    pub fn line(&self, worker: &str, generation: u32, stream: Stream, line: &str) {
        if let Some(sink) = &self.0 {
            let record = json!({
                "time_ns": now_ns(),
                "worker": worker,
                "generation": generation,
                "stream": stream.name(),
                "line": line,
            });
            lock(sink).append(&record.to_string());
        }
    }
}

/// A poisoned lock only means a writer panicked mid-line; the file is fine.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `value` to a hidden sibling and renames it into place.
fn write_whole(path: &Path, value: &Value) -> Result<()> {
    let name = path.file_name().expect("a file name").to_string_lossy();
    let staged = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&staged, format!("{value:#}\n"))
        .and_then(|()| std::fs::rename(&staged, path))
        .with_context(|| format!("writing {}", path.display()))
}
