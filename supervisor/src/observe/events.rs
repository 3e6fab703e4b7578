//! `plexus events`: the runtime's event stream, from its history and, with
//! `--follow`, live until the runtime stops, as lines for people or JSON
//! objects for scripts.

use std::io::Write;

use anyhow::{bail, Result};
use bus::discovery::wait_for_runtime;
use bus::events::EventWatcher;
use ipc_schemas::{ControlReply, ControlRequest, EventKind, RuntimeEvent};
use serde_json::{Map, Value};

use super::waiting::{Waiter, Woken};
use crate::observe::client::{self, Client, LiveRuntime};

pub struct WatchOptions {
    pub runtime: Option<String>,
    pub follow: bool,
    pub json: bool,
}

/// Prints the events; returns the exit code.
pub fn watch(options: &WatchOptions) -> Result<i32> {
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
                event_json(&event).to_string()
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

/// `{"seq", "time_ns", "mono_ns", "kind", ...the event's own fields}`.
pub fn event_json(event: &RuntimeEvent) -> Value {
    let mut object = Map::new();
    object.insert("seq".into(), event.seq.into());
    object.insert("time_ns".into(), event.time_ns.into());
    object.insert("mono_ns".into(), event.mono_ns.into());
    object.insert("kind".into(), event.kind.name().into());
    if let Ok(Value::Object(outer)) = serde_json::to_value(&event.kind) {
        for (_, inner) in outer {
            if let Value::Object(fields) = inner {
                object.extend(fields);
            }
        }
    }
    Value::Object(object)
}

/// `HH:MM:SS.mmm  seq  kind  what happened`, in UTC.
fn human_line(event: &RuntimeEvent) -> String {
    let ms = event.time_ns / 1_000_000;
    let (h, m, s) = ((ms / 3_600_000) % 24, (ms / 60_000) % 60, (ms / 1000) % 60);
    format!(
        "{h:02}:{m:02}:{s:02}.{:03}  {:>5}  {:<19}  {}",
        ms % 1000,
        event.seq,
        event.kind.name(),
        event.kind
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_schemas::ExitStatus;

    #[test]
    fn json_flattens_the_event_fields_next_to_its_kind() {
        let event = RuntimeEvent {
            seq: 7,
            time_ns: 1,
            mono_ns: 2,
            kind: EventKind::WorkerExited {
                worker: "gray".into(),
                status: ExitStatus::Signal(9),
            },
        };
        let json = event_json(&event);
        assert_eq!(json["seq"], 7);
        assert_eq!(json["kind"], "worker_exited");
        assert_eq!(json["worker"], "gray");
        assert_eq!(json["status"]["signal"], 9);
        assert!(human_line(&event).contains("worker gray exited (signal 9)"));
    }
}
