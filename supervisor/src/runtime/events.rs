//! The runtime's events: every happening gets a sequence number and
//! timestamps, goes to the log and is published on the runtime's event
//! stream for watchers (`plexus events`). This is the one place events are
//! emitted.

use bus::events::{clip, EventPublisher};
use bus::Bus;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{EventKind, RuntimeEvent};

pub struct EventLog {
    next_seq: u64,
    stream: EventPublisher,
}

impl EventLog {
    pub fn open(bus: &Bus) -> anyhow::Result<Self> {
        Ok(Self {
            next_seq: 0,
            stream: EventPublisher::open(bus)?,
        })
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Hands the history to watchers that just subscribed.
    pub fn welcome_watchers(&self) -> anyhow::Result<()> {
        Ok(self.stream.welcome_watchers()?)
    }

    /// Records `kind` with the next sequence number and the current time.
    pub fn emit(&mut self, mut kind: EventKind) {
        if let EventKind::ProcessorError { message, .. } = &mut kind {
            clip(message);
        }
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
        if let Err(e) = self.stream.publish(&event) {
            tracing::warn!("could not publish event {}: {e}", event.seq);
        }
        if matches!(event.kind, EventKind::ProcessorStats { .. }) {
            tracing::debug!(seq = event.seq, "{}", describe(&event.kind));
            return;
        }
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
        EventKind::ProcessorStats {
            processor,
            ports,
            errors,
            latency_p50_us,
        } => {
            let mut line = format!("processor {processor}:");
            for p in ports {
                line += &format!(
                    " {} {} {} frames {:.1} fps",
                    p.direction, p.port, p.frames, p.fps
                );
                if p.drops > 0 {
                    line += &format!(" {} dropped", p.drops);
                }
                line.push(';');
            }
            line.pop();
            if *errors > 0 {
                line += &format!("; {errors} errors");
            }
            if let Some(us) = latency_p50_us {
                line += &format!("; latency p50 {us} µs");
            }
            line
        }
    }
}
