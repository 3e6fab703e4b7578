//! The runtime's events: every happening gets a sequence number and
//! timestamps, goes to the log and is published on the runtime's event
//! stream for watchers (`plexus events`). This is the one place events are
//! emitted, and where the run journal gets them.

use std::sync::Arc;

use bus::events::{clip, EventPublisher};
use bus::Bus;
use ipc_schemas::frame::monotonic_ns;
use ipc_schemas::{EventKind, RuntimeEvent};

use crate::journal::{Journal, LogSink};

pub struct EventLog {
    next_seq: u64,
    stream: EventPublisher,
    journal: Option<Arc<Journal>>,
}

impl EventLog {
    pub fn open(bus: &Bus) -> anyhow::Result<Self> {
        Ok(Self {
            next_seq: 0,
            stream: EventPublisher::open(bus)?,
            journal: None,
        })
    }

    /// Tells the journal, if the run keeps one, which file and workers the
    /// run goes on with (`plexus apply`).
    pub fn runs_now(&self, file: &std::path::Path, workers: &[String]) {
        if let Some(journal) = &self.journal {
            journal.runs_now(file, workers);
        }
    }

    /// Keeps every event from now on in `journal` too.
    pub fn keep_in(&mut self, journal: Arc<Journal>) {
        self.journal = Some(journal);
    }

    /// Where worker `worker`'s output lines are kept.
    pub fn worker_log(&self, worker: &str) -> LogSink {
        self.journal
            .as_ref()
            .map_or_else(LogSink::none, |j| j.worker_log(worker))
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
    pub fn emit(&mut self, kind: EventKind) {
        self.emit_on(None, kind);
    }

    /// Records `kind`, which happened on `host` (another host's, §16, when
    /// `Some`), in this runtime's history.
    pub fn emit_on(&mut self, host: Option<String>, mut kind: EventKind) {
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
            host,
            kind,
        };
        self.next_seq += 1;
        if let Some(journal) = &self.journal {
            journal.event(&event.to_json());
        }
        if let Err(e) = self.stream.publish(&event) {
            tracing::warn!("could not publish event {}: {e}", event.seq);
        }
        if matches!(event.kind, EventKind::ProcessorStats { .. }) {
            tracing::debug!(seq = event.seq, "{}", event.kind);
            return;
        }
        let line = match &event.host {
            Some(host) => format!("[{host}] {}", event.kind),
            None => event.kind.to_string(),
        };
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
