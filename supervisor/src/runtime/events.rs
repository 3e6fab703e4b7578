//! The runtime's events: every happening gets a sequence number and
//! timestamps and goes to the log. This is the one place events are emitted,
//! so publishing them on the bus for watchers attaches here.

use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{EventKind, RuntimeEvent};

#[derive(Default)]
pub struct EventLog {
    next_seq: u64,
}

impl EventLog {
    /// Records `kind` with the next sequence number and the current time.
    pub fn emit(&mut self, kind: EventKind) {
        let time_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let event = RuntimeEvent {
            seq: self.next_seq,
            time_ns,
            mono_ns: monotonic_ns(),
            kind,
        };
        self.next_seq += 1;
        let line = describe(&event.kind);
        match &event.kind {
            EventKind::ProcessorError { .. }
            | EventKind::WorkerFailed { .. }
            | EventKind::WorkerUnresponsive { .. } => {
                tracing::warn!(seq = event.seq, "{line}")
            }
            _ => tracing::info!(seq = event.seq, "{line}"),
        }
    }
}

/// One human line per event.
pub fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::RuntimeStarted { runtime, pipeline } => {
            format!("runtime {runtime} started: {pipeline}")
        }
        EventKind::RuntimeStopping { reason } => format!("runtime stopping: {reason}"),
        EventKind::RuntimeStopped { outcome } => format!("runtime stopped: {outcome}"),
        EventKind::WorkerSpawned { worker, pid } => format!("worker {worker} spawned (pid {pid})"),
        EventKind::WorkerReady { worker } => format!("worker {worker} ready"),
        EventKind::WorkerExited { worker, status } => format!("worker {worker} exited ({status})"),
        EventKind::WorkerUnresponsive { worker, stage } => {
            format!("worker {worker} missed its {stage} deadline")
        }
        EventKind::WorkerFailed { worker, reason } => format!("worker {worker} failed: {reason}"),
        EventKind::ProcessorStarted { processor } => format!("processor {processor} started"),
        EventKind::ProcessorStopped { processor } => format!("processor {processor} stopped"),
        EventKind::WorkerRestarting {
            worker,
            attempt,
            delay_ms,
        } => {
            format!("worker {worker} restarting (attempt {attempt}, in {delay_ms} ms)")
        }
        EventKind::WorkerRestarted {
            worker,
            generation,
            pid,
        } => {
            format!("worker {worker} restarted (generation {generation}, pid {pid})")
        }
        EventKind::InputClosed { processor, input } => format!("input {processor}.{input} closed"),
        EventKind::InputRecovered { processor, input } => {
            format!("input {processor}.{input} recovered")
        }
        EventKind::ProcessorError { processor, message } => {
            format!("processor {processor} error: {message}")
        }
    }
}
