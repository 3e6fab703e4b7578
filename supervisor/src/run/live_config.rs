//! `plexus set` (docs/ARCHITECTURE.md §4, live config): a user's changes to
//! the config of one running processor, checked against its type's schema,
//! handed to its worker between two frames, and answered once the
//! processor took them in place (its `on_config` hook) or, without a hook,
//! once its worker is restarted with them. Either way the worker's
//! `WorkerConfig` then holds the new config, so every later restart (a
//! crash, `plexus restart`) configures it with the current config, not the
//! pipeline file's.

use std::collections::BTreeMap;

use ipc_schemas::{Command, ConfigApplied, ConfigOutcome, ControlReply, EventKind};
use serde_json::Value;

use super::supervise::{RunPhase, Supervisor};
use super::worker::WorkerState;
use crate::load::live_config::ConfigSchema;

/// A change handed to a worker that has not yet said how it took it.
#[derive(Debug)]
pub(super) struct PendingSet {
    reply_to: String,
    /// The worker's index.
    worker: usize,
    processor: String,
    /// The changed keys, as the event tells them.
    changes_json: String,
    /// The processor's whole config once the change is in.
    config_json: String,
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
}

impl Supervisor {
    /// A `plexus set`: refused at once (`Some`), or handed to the worker of
    /// `processor` and answered when it reports (`None`).
    pub(super) fn set_on_request(
        &mut self,
        processor: &str,
        changes_json: &str,
        reply_to: String,
    ) -> Option<ControlReply> {
        let refused = |reason: String| Some(ControlReply::Refused { reason });
        if self.phase != RunPhase::Flowing {
            return refused(format!(
                "runtime {} is starting or stopping",
                self.runtime_id
            ));
        }
        let Some(i) = self
            .workers
            .iter()
            .position(|w| w.processors.iter().any(|p| p == processor))
        else {
            let known: Vec<&str> = self
                .workers
                .iter()
                .flat_map(|w| &w.processors)
                .map(String::as_str)
                .collect();
            return refused(format!(
                "runtime {} has no processor `{processor}` (its processors: {})",
                self.runtime_id,
                known.join(", ")
            ));
        };
        let changes = match serde_json::from_str::<Value>(changes_json) {
            Ok(Value::Object(changes)) if !changes.is_empty() => changes,
            _ => {
                return refused(format!(
                    "the changes to `{processor}` are not a JSON object of keys and values"
                ))
            }
        };
        let current = self.workers[i]
            .config
            .iter()
            .flat_map(|c| &c.processors)
            .find(|spec| spec.id == processor)
            .map(|spec| spec.config_json.as_str())
            .unwrap_or_default();
        let schema = self.live_config.schemas.get(processor);
        let config_json = match schema.map(|s| s.change(processor, current, &changes)) {
            Some(Ok(config)) => config,
            Some(Err(sentence)) => return refused(sentence),
            None => return refused(format!("processor `{processor}` has no config schema")),
        };
        let worker = &self.workers[i];
        if !worker.alive() || worker.state != WorkerState::Running {
            return refused(format!(
                "worker `{}` of processor `{processor}` is not running (it is {}); set it again once it is",
                worker.name,
                worker.state_name()
            ));
        }
        if self.live_config.pending.iter().any(|p| p.worker == i) {
            return refused(format!(
                "worker `{}` is still taking a change; set `{processor}` again once it answered",
                worker.name
            ));
        }
        let changes_json = Value::Object(changes).to_string();
        let command = Command::Reconfigure {
            processor: processor.to_string(),
            changes_json: changes_json.clone(),
        };
        if let Err(e) = worker.send(&command) {
            return refused(format!("{e:#}"));
        }
        self.live_config.pending.push(PendingSet {
            reply_to,
            worker: i,
            processor: processor.to_string(),
            changes_json,
            config_json,
        });
        None
    }

    /// Worker `i` says how `processor` took the change it was handed:
    /// the config is kept and told, or, without a hook, the worker is
    /// restarted with it; a refusal leaves everything as it was.
    pub(super) fn reconfigured(&mut self, i: usize, processor: String, outcome: ConfigOutcome) {
        let Some(k) = self
            .live_config
            .pending
            .iter()
            .position(|p| p.worker == i && p.processor == processor)
        else {
            tracing::warn!("worker reported a config change to `{processor}` nobody asked for");
            return;
        };
        let pending = self.live_config.pending.remove(k);
        let reply = match outcome {
            ConfigOutcome::Applied => {
                self.keep_config(&pending);
                self.events.emit(EventKind::ConfigChanged {
                    processor: processor.clone(),
                    changes: pending.changes_json.clone(),
                    applied: ConfigApplied::InPlace,
                });
                ControlReply::Done {
                    message: format!(
                        "processor `{processor}` took {} in place, from its next frame on",
                        pending.changes_json
                    ),
                }
            }
            ConfigOutcome::NoHook => {
                let type_name = self.keep_config(&pending);
                self.events.emit(EventKind::ConfigChanged {
                    processor: processor.clone(),
                    changes: pending.changes_json.clone(),
                    applied: ConfigApplied::Restart,
                });
                let name = self.workers[i].name.clone();
                let pid = self.restart_requested(i);
                ControlReply::Done {
                    message: format!(
                        "{type_name} has no on_config: worker `{name}` restarted with the new config (was pid {pid})"
                    ),
                }
            }
            ConfigOutcome::Failed { message } => ControlReply::Refused {
                reason: format!(
                    "processor `{processor}` refused {}: {message}; its config is unchanged",
                    pending.changes_json
                ),
            },
        };
        self.answer(&pending.reply_to, &reply);
    }

    /// Worker `i`'s process ended: a change it was handed and did not
    /// answer is not in effect, and its successor starts from the config
    /// before it.
    pub(super) fn forget_pending_sets(&mut self, i: usize) {
        let (gone, kept) = std::mem::take(&mut self.live_config.pending)
            .into_iter()
            .partition(|p| p.worker == i);
        self.live_config.pending = kept;
        for pending in gone {
            let reply = ControlReply::Refused {
                reason: format!(
                    "worker `{}` ended before processor `{}` took {}; its config is unchanged",
                    self.workers[i].name, pending.processor, pending.changes_json
                ),
            };
            self.answer(&pending.reply_to, &reply);
        }
    }

    /// Makes the change the current config of its processor, which every
    /// later configuration of the worker carries; returns its type name.
    fn keep_config(&mut self, pending: &PendingSet) -> String {
        let spec = self.workers[pending.worker]
            .config
            .iter_mut()
            .flat_map(|c| &mut c.processors)
            .find(|spec| spec.id == pending.processor);
        match spec {
            Some(spec) => {
                spec.config_json = pending.config_json.clone();
                spec.type_name.clone()
            }
            None => pending.processor.clone(),
        }
    }
}
