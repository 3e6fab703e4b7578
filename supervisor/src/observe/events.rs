//! `plexus events`: the runtime's event stream, from its history and, with
//! `--follow`, live until the runtime stops, as lines for people or JSON
//! objects for scripts.

use std::io::Write;

use anyhow::{bail, Result};
use bus::discovery::wait_for_runtime;
use bus::events::EventWatcher;
use ipc_schemas::{ControlReply, ControlRequest, EventKind, RuntimeEvent};

use super::waiting::{Waiter, Woken};
use crate::observe::client::{self, Client, LiveRuntime};

pub struct WatchOptions {
    pub runtime: Option<String>,
    pub follow: bool,
    pub json: bool,
}

/// Prints the events; returns the exit code.
pub fn watch(options: &WatchOptions) -> Result<i32> {
    if let Some(id) = &options.runtime {
        let journal = crate::journal::runs_dir()
            .ok()
            .and_then(|runs| crate::journal::read::Run::open(&runs, id).ok());
        match journal {
            // Neither running nor kept: told as for a runtime not running.
            Some(run) if !client::live_runtimes().iter().any(|l| &l.id == id) => {
                return past(&run, options.json)
            }
            _ => {}
        }
    }
    let runtime = pick(options)?;
    let client = Client::connect(&runtime.id)?;
    let watcher = EventWatcher::open(client.bus())?;
    // The request makes the runtime hand us its history now. A runtime that
    // is not reading requests yet is starting, and all its events are ahead.
    match client.try_request(|reply_to| ControlRequest::Watch { reply_to })? {
        Some(ControlReply::Watching { .. }) | None => {}
        Some(other) => bail!("runtime {} answered out of turn: {other:?}", runtime.id),
    }
    let (code, runtime_ended) = print(&runtime, &watcher, options)?;
    if runtime_ended {
        client::leave_ending_runtime((watcher, client));
    }
    Ok(code)
}

/// Prints until the end; returns the exit code and whether the runtime ended.
fn print(
    runtime: &LiveRuntime,
    watcher: &EventWatcher,
    options: &WatchOptions,
) -> Result<(i32, bool)> {
    let mut printer = Printer::new(options.json);
    match printer.drain(watcher)? {
        Drained::RuntimeStopped => return Ok((0, true)),
        Drained::OutputClosed => return Ok((0, false)),
        Drained::Open if !options.follow => return Ok((0, false)),
        Drained::Open => {}
    }
    let waiter = Waiter::new(runtime.pid)?;
    tracing::info!("following runtime {} (Ctrl-C to stop)", runtime.id);
    loop {
        let woken = waiter.wait(watcher.wake())?;
        watcher.wake().drain()?;
        match printer.drain(watcher)? {
            Drained::RuntimeStopped => return Ok((0, true)),
            Drained::OutputClosed => return Ok((0, false)),
            Drained::Open => {}
        }
        match woken {
            Woken::News => {}
            Woken::Interrupted => return Ok((0, false)),
            Woken::SupervisorGone => {
                eprintln!(
                    "plexus: runtime {}'s supervisor (pid {}) ended without stopping the runtime",
                    runtime.id, runtime.pid
                );
                return Ok((1, true));
            }
        }
    }
}

/// Prints the events of a run that is over, from its journal.
fn past(run: &crate::journal::read::Run, json: bool) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    for record in run.events()? {
        let line = match (json, RuntimeEvent::from_json(&record)) {
            (true, _) => record.to_string(),
            (false, Some(event)) => human_line(&event),
            // An event of another plexus version: told as it was kept.
            (false, None) => record.to_string(),
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(0)
}

/// The runtime named, the only one running, or — when following and none
/// runs — the next one to start.
fn pick(options: &WatchOptions) -> Result<LiveRuntime> {
    if options.follow && options.runtime.is_none() && client::live_runtimes().is_empty() {
        eprintln!(
            "plexus: no runtime is running yet; waiting for one to start (Ctrl-C to give up)"
        );
        let (id, pid) = wait_for_runtime(&[])?;
        return Ok(LiveRuntime { id, pid });
    }
    Ok(client::choose_runtime(options.runtime.as_deref())?)
}

/// What printing the waiting events came to.
enum Drained {
    Open,
    RuntimeStopped,
    /// Nobody reads our output any more (`| head`).
    OutputClosed,
}

/// Prints each event once, in sequence order, and says when some were missed.
struct Printer {
    json: bool,
    next_seq: u64,
}

impl Printer {
    fn new(json: bool) -> Self {
        Self { json, next_seq: 0 }
    }

    /// Prints every event waiting, up to the runtime's last.
    fn drain(&mut self, watcher: &EventWatcher) -> Result<Drained> {
        let mut out = std::io::stdout().lock();
        while let Some(event) = watcher.try_next()? {
            if event.seq < self.next_seq {
                continue;
            }
            if event.seq > self.next_seq && self.next_seq > 0 {
                eprintln!(
                    "plexus: {} events were missed (reading too slowly)",
                    event.seq - self.next_seq
                );
            }
            self.next_seq = event.seq + 1;
            let line = if self.json {
                event.to_json().to_string()
            } else {
                human_line(&event)
            };
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                return Ok(Drained::OutputClosed);
            }
            if matches!(event.kind, EventKind::RuntimeStopped { .. }) {
                return Ok(Drained::RuntimeStopped);
            }
        }
        Ok(Drained::Open)
    }
}

/// `HH:MM:SS.mmm` of a wall-clock time, in UTC.
pub fn clock(time_ns: u64) -> String {
    let ms = time_ns / 1_000_000;
    let (h, m, s) = ((ms / 3_600_000) % 24, (ms / 60_000) % 60, (ms / 1000) % 60);
    format!("{h:02}:{m:02}:{s:02}.{:03}", ms % 1000)
}

/// `HH:MM:SS.mmm  seq  kind  what happened`, in UTC.
pub fn human_line(event: &RuntimeEvent) -> String {
    let host = match &event.host {
        Some(host) => format!("[{host}] "),
        None => String::new(),
    };
    format!(
        "{}  {:>5}  {:<19}  {host}{}",
        clock(event.time_ns),
        event.seq,
        event.kind.name(),
        event.kind
    )
}
