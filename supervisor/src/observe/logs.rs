//! `plexus logs` and `plexus attach`: what a run's workers printed and
//! what happened to it, read from its journal, so that they work the same
//! on a live run (following it as it goes) and on one long over.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use ipc_schemas::RuntimeEvent;
use serde_json::Value;

use super::events::{clock, human_line};
use crate::error::UserError;
use crate::journal::files::Tail;
use crate::journal::read::{parsed, Run, RunState};
use crate::journal::{now_ns, runs_dir};
use crate::observe::client;

/// How often a follower looks for new lines in the journal.
const POLL: Duration = Duration::from_millis(100);

pub struct LogsOptions {
    pub worker: String,
    pub runtime: Option<String>,
    pub follow: bool,
    /// Only lines printed this long ago or later.
    pub since: Option<Duration>,
    pub json: bool,
}

/// Prints one worker's output, every process of it; returns the exit code.
pub fn logs(options: &LogsOptions) -> Result<i32> {
    let mut run = pick_run(options.runtime.as_deref())?;
    let mut tails = [Tail::new(run.log_path(&options.worker)?)];
    let since_ns = options
        .since
        .map_or(0, |d| now_ns().saturating_sub(d.as_nanos() as u64));
    follow(&mut run, &mut tails, options.follow, |record| {
        if time_of(record) < since_ns {
            return None;
        }
        Some(match options.json {
            true => record.to_string(),
            false => log_line(record),
        })
    })?;
    Ok(0)
}

/// Follows a running run's events and its workers' output as they come,
/// then prints its summary; returns the run's exit code. Ctrl-C leaves the
/// run running.
pub fn attach(runtime: &str) -> Result<i32> {
    let mut run = Run::open(&runs_dir()?, runtime)?;
    if run.state != RunState::Running {
        return Err(UserError::Plain(format!(
            "run {runtime} is not running (it is {}): `plexus summary {runtime}` and `plexus events --runtime {runtime}` show it",
            run.state.name()
        ))
        .into());
    }
    let mut tails: Vec<Tail> = std::iter::once(run.events_path())
        .chain(run.info.workers.iter().filter_map(|w| run.log_path(w).ok()))
        .map(Tail::new)
        .collect();
    eprintln!("plexus: attached to run {runtime} (Ctrl-C detaches; the run goes on)");
    let followed = follow(&mut run, &mut tails, true, |record| {
        Some(match RuntimeEvent::from_json(record) {
            Some(event) => human_line(&event),
            None => format!(
                "{:<12}  {}",
                record["worker"].as_str().unwrap_or("?"),
                log_line(record)
            ),
        })
    })?;
    match followed {
        Followed::OutputClosed => Ok(0),
        Followed::Read => super::runs::summary(runtime, false),
    }
}

/// How following a run's journal ended.
enum Followed {
    /// Everything there was to read, up to the run's end when following.
    Read,
    /// Nobody reads our output any more (`| head`).
    OutputClosed,
}

/// Prints, in time order, each record of `tails` that `line` makes a line
/// of; with `keep_going`, again every [`POLL`] until the run ends.
fn follow(
    run: &mut Run,
    tails: &mut [Tail],
    keep_going: bool,
    mut line: impl FnMut(&Value) -> Option<String>,
) -> Result<Followed> {
    let mut out = std::io::stdout().lock();
    loop {
        // Looked at before reading, so lines written as it ended are read.
        let ended = run.state != RunState::Running;
        let mut batch: Vec<Value> = Vec::new();
        for tail in tails.iter_mut() {
            batch.extend(parsed(tail.read_new()?));
        }
        // Several files are merged by time; one is printed as it was written.
        if tails.len() > 1 {
            batch.sort_by_key(time_of);
        }
        for text in batch.iter().filter_map(&mut line) {
            if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
                return Ok(Followed::OutputClosed);
            }
        }
        if !keep_going || ended {
            return Ok(Followed::Read);
        }
        std::thread::sleep(POLL);
        run.refresh();
    }
}

fn time_of(record: &Value) -> u64 {
    record["time_ns"].as_u64().unwrap_or(0)
}

/// The run `--runtime` names (live or not), or the only one running.
pub fn pick_run(runtime: Option<&str>) -> Result<Run> {
    let runs = runs_dir()?;
    if let Some(id) = runtime {
        return Ok(Run::open(&runs, id)?);
    }
    match client::choose_runtime(None) {
        Ok(live) => Ok(Run::open(&runs, &live.id)?),
        Err(e) => Err(UserError::Plain(format!(
            "{e}; name a finished run with --runtime (`plexus runs` lists them)"
        ))
        .into()),
    }
}

/// `12:00:01.123  gen 1  the line`, in UTC.
fn log_line(record: &Value) -> String {
    format!(
        "{}  gen {}  {}",
        clock(time_of(record)),
        record["generation"].as_u64().unwrap_or(0),
        record["line"].as_str().unwrap_or("")
    )
}
