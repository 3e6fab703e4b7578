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
            tracing::debug!(seq = event.seq, "{}", event.kind);
            return;
        }
        let line = &event.kind;
        match &event.kind {
            EventKind::ProcessorError { .. }
            | EventKind::SlowFrame { .. }
            | EventKind::SourceSilent { .. }
            | EventKind::WorkerFailed { .. }
            | EventKind::WorkerUnresponsive { .. } => {
                tracing::warn!(seq = event.seq, "{line}")
            }
            _ => tracing::info!(seq = event.seq, "{line}"),
        }
    }
}
