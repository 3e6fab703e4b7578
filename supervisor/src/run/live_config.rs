//! `plexus set` (docs/ARCHITECTURE.md §4, live config): a user's changes to
//! the config of one running processor, checked against its type's schema,
//! handed to its worker between two frames, and answered once the
//! processor took them in place (its `on_config` hook) or, without a hook,
//! once its worker is restarted with them. Either way the worker's
//! `WorkerConfig` then holds the new config, so every later restart (a
//! crash, `plexus restart`) configures it with the current config, not the
//! pipeline file's. The requests are answered in `control.rs`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::load::live_config::ConfigSchema;

/// A change handed to a worker that has not yet said how it took it.
#[derive(Debug)]
pub(super) struct PendingSet {
    pub reply_to: String,
    /// The worker's index.
    pub worker: usize,
    pub processor: String,
    /// The changed keys, as the event tells them.
    pub changes_json: String,
    /// The processor's whole config once the change is in.
    pub config_json: String,
}

/// Per processor its type's config keys, and the changes under way: at most
/// one per worker, so each is checked against the config the one before
/// left.
#[derive(Debug, Default)]
pub(super) struct LiveConfig {
    schemas: BTreeMap<String, ConfigSchema>,
    pending: Vec<PendingSet>,
}

impl LiveConfig {
    pub fn new(schemas: BTreeMap<String, ConfigSchema>) -> Self {
        Self {
            schemas,
            pending: Vec::new(),
        }
    }

    /// The whole config of `processor` after `changes` to `current`, or
    /// the sentence that refuses them.
    pub fn check(
        &self,
        processor: &str,
        current: &str,
        changes: &Map<String, Value>,
    ) -> Result<String, String> {
        match self.schemas.get(processor) {
            Some(schema) => schema.change(processor, current, changes),
            None => Err(format!("processor `{processor}` has no config schema")),
        }
    }

    /// Whether worker `worker` still owes the answer to a change.
    pub fn busy(&self, worker: usize) -> bool {
        self.pending.iter().any(|p| p.worker == worker)
    }

    /// Keeps `pending` until its worker answers.
    pub fn wait(&mut self, pending: PendingSet) {
        self.pending.push(pending);
    }

    /// The change to `processor` worker `worker` answers for.
    pub fn answered(&mut self, worker: usize, processor: &str) -> Option<PendingSet> {
        let k = self
            .pending
            .iter()
            .position(|p| p.worker == worker && p.processor == processor)?;
        Some(self.pending.remove(k))
    }

    /// Every change worker `worker` will never answer for now.
    pub fn abandoned(&mut self, worker: usize) -> Vec<PendingSet> {
        let (gone, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.worker == worker);
        self.pending = kept;
        gone
    }
}
