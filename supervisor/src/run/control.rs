//! What the runtime does for other `plexus` processes: `restart`, `stop`,
//! `pause`, `resume`, `set`, `ps` and `events` ask through its control
//! channel (`requests.rs`), and each request is answered here (the pauses
//! themselves are kept in `pause.rs`; the config schemas and the `set`
//! changes waiting for their worker's answer in `live_config.rs`).

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::Result;
use ipc_schemas::{
    Command, ConfigApplied, ConfigOutcome, ControlReply, ControlRequest, EventKind,
    ProcessorStatus, RuntimeStatus, Selection, WorkerStatus,
};
use serde_json::Value;

use super::live_config::PendingSet;
use super::pause::{told, Steer};
use super::supervise::{RunPhase, StopCause, Supervisor};
use super::worker::{Ending, WorkerHandle, WorkerState};

impl Supervisor {
    /// Answers every waiting request.
    pub(super) fn pump_control(&mut self) -> Result<()> {
        while let Some(request) = self.control.next_request()? {
            let (reply_to, reply) = match request {
                ControlRequest::RestartWorker { worker, reply_to } => {
                    let reply = self.restart_on_request(&worker);
                    (reply_to, reply)
                }
                ControlRequest::Stop { reply_to } => {
                    // Asked while starting, the run drains as soon as it has.
                    if !matches!(self.phase, RunPhase::Draining(_)) {
                        self.phase = RunPhase::Draining(StopCause::Requested);
                    }
                    let message = format!("stopping runtime {}", self.runtime_id);
                    (reply_to, ControlReply::Done { message })
                }
                ControlRequest::Status { reply_to } => {
                    (reply_to, ControlReply::Status(self.status()))
                }
                ControlRequest::Watch { reply_to } => {
                    self.events.welcome_watchers()?;
                    let next_seq = self.events.next_seq();
                    (reply_to, ControlReply::Watching { next_seq })
                }
                ControlRequest::Pause {
                    processors,
                    reply_to,
                } => (reply_to, self.steer_on_request(Steer::Pause, &processors)),
                ControlRequest::Resume {
                    processors,
                    reply_to,
                } => (reply_to, self.steer_on_request(Steer::Resume, &processors)),
                ControlRequest::SetConfig {
                    processor,
                    changes_json,
                    reply_to,
                } => match self.set_on_request(&processor, &changes_json, reply_to.clone()) {
                    Some(refusal) => (reply_to, refusal),
                    // Answered once the worker took it.
                    None => continue,
                },
                ControlRequest::Upgrade {
                    processor,
                    to,
                    reply_to,
                } => match self.upgrade_on_request(&processor, to.as_deref(), reply_to.clone()) {
                    Some(refusal) => (reply_to, refusal),
                    // Answered once the successor serves or the swap failed.
                    None => continue,
                },
                ControlRequest::Apply {
                    file,
                    dry_run,
                    reply_to,
                } => match self.apply_on_request(&file, dry_run, reply_to.clone()) {
                    Some(answer) => (reply_to, answer),
                    // Answered once the change is made.
                    None => continue,
                },
            };
            self.control.answer(&self.bus, &reply_to, &reply);
        }
        Ok(())
    }

    /// The runtime as `plexus ps` and `plexus top` show it.
    pub(super) fn status(&self) -> RuntimeStatus {
        let now = Instant::now();
        let workers = self
            .workers
            .iter()
            .map(|w| {
                let processors: Vec<ProcessorStatus> = w
                    .processors
                    .iter()
                    .filter_map(|p| self.live.status(p, self.pauses.is_paused(p)))
                    .collect();
                let state = match w.state_name() {
                    "running" if !processors.is_empty() && processors.iter().all(|p| p.paused) => {
                        "paused"
                    }
                    state => state,
                };
                let alive = w.alive();
                WorkerStatus {
                    worker: w.name.clone(),
                    host: ipc_schemas::link::LOCAL_HOST.to_string(),
                    language: w.language.name().to_string(),
                    pid: if alive { w.pid } else { 0 },
                    state: state.to_string(),
                    restarts: w.restarts,
                    uptime_ms: if alive {
                        now.duration_since(w.spawned_at).as_millis() as u64
                    } else {
                        0
                    },
                    cpu_percent: if alive { w.usage.cpu_percent } else { 0.0 },
                    rss_bytes: if alive { w.usage.rss_bytes } else { 0 },
                    cpu_ms: w.usage.cpu_ms(),
                    exit: w.last_exit,
                    processors,
                }
            })
            .collect();
        let mut workers: Vec<WorkerStatus> = workers;
        workers.extend(self.remote_workers().cloned());
        RuntimeStatus {
            runtime: self.runtime_id.clone(),
            pid: std::process::id(),
            pipeline: self.pipeline.clone(),
            uptime_ms: now.duration_since(self.started).as_millis() as u64,
            workers,
            links: self.link_statuses(),
        }
    }

    /// Restarts `name` because a user asked: told as `restart_requested`,
    /// never a failure, and off the crash budget.
    fn restart_on_request(&mut self, name: &str) -> ControlReply {
        let Some(i) = self.workers.iter().position(|w| w.name == name) else {
            if let Some(reply) = self.restart_elsewhere(name) {
                return reply;
            }
            let known: Vec<&str> = self.workers.iter().map(|w| w.name.as_str()).collect();
            return ControlReply::Refused {
                reason: format!(
                    "runtime {} has no worker `{name}` (its workers: {})",
                    self.runtime_id,
                    known.join(", ")
                ),
            };
        };
        if self.phase != RunPhase::Flowing {
            return ControlReply::Refused {
                reason: format!("runtime {} is starting or stopping", self.runtime_id),
            };
        }
        if self.swaps.iter().any(|s| s.worker == name) {
            return ControlReply::Refused {
                reason: format!("worker `{name}` is being swapped; restart it once that is over"),
            };
        }
        let worker = &mut self.workers[i];
        if !worker.alive() {
            return ControlReply::Refused {
                reason: format!(
                    "worker `{name}` is not running (it is {})",
                    worker.state_name()
                ),
            };
        }
        let pid = self.restart_requested(i);
        ControlReply::Done {
            message: format!(
                "restarting worker `{name}` of runtime {} (was pid {pid}); not a crash: its restart budget is untouched",
                self.runtime_id
            ),
        }
    }

    /// Ends the process of running worker `i` and brings the worker back at
    /// once, with its current configuration: told as `restart_requested`,
    /// never a failure, and off the crash budget. Returns the ended pid.
    pub(super) fn restart_requested(&mut self, i: usize) -> u32 {
        let worker = &mut self.workers[i];
        worker.ending = Some(Ending::Requested);
        let (pid, was) = (worker.pid, worker.state);
        self.events.emit(EventKind::RestartRequested {
            worker: worker.name.clone(),
            pid,
        });
        if let Some(status) = self.workers[i].kill() {
            self.handle_exit(i, status, was);
        }
        pid
    }

    /// Answers a request whose answer had to wait (a `set`); a requester
    /// that gave up waiting gets none, which is only logged.
    pub(super) fn answer(&mut self, reply_to: &str, reply: &ControlReply) {
        self.control.answer(&self.bus, reply_to, reply);
    }

    /// Pauses or resumes the processors `selection` names, because a user
    /// asked. Each is told to its worker now if the worker's process was
    /// configured; otherwise the configuration it is sent carries it.
    fn steer_on_request(&mut self, steer: Steer, selection: &Selection) -> ControlReply {
        if self.phase != RunPhase::Flowing {
            return ControlReply::Refused {
                reason: format!("runtime {} is starting or stopping", self.runtime_id),
            };
        }
        let known = processor_ids(&self.workers);
        let named: Vec<&str> = match selection {
            Selection::All => known.clone(),
            Selection::Named(names) => {
                if let Some(unknown) = names.iter().find(|n| !known.contains(&n.as_str())) {
                    return ControlReply::Refused {
                        reason: format!(
                            "runtime {} has no processor `{unknown}` (its processors: {})",
                            self.runtime_id,
                            known.join(", ")
                        ),
                    };
                }
                let mut seen = BTreeSet::new();
                names
                    .iter()
                    .map(String::as_str)
                    .filter(|n| seen.insert(*n))
                    .collect()
            }
        };
        let now = Instant::now();
        let (mut changed, mut unchanged) = (Vec::new(), Vec::new());
        for processor in named {
            let done = match steer {
                Steer::Pause => self.pauses.pause(processor, now),
                Steer::Resume => self.pauses.resume(processor, now),
            };
            if done {
                self.tell_worker(processor, steer);
                changed.push(processor.to_string());
            } else {
                unchanged.push(processor.to_string());
            }
        }
        ControlReply::Done {
            message: told(&self.runtime_id, steer, &changed, &unchanged),
        }
    }

    /// Sends `steer` for `processor` to the process of its worker, if that
    /// process reads commands in order from its configuration on; a process
    /// still to be configured, or to come back, gets it in its configuration.
    fn tell_worker(&self, processor: &str, steer: Steer) {
        let worker = self
            .workers
            .iter()
            .find(|w| w.processors.iter().any(|p| p == processor));
        if let Some(worker) = worker.filter(|w| w.alive() && w.configured()) {
            // A process that cannot be told is ending; its successor is
            // configured with the pause.
            if let Err(e) = worker.send(&steer.command(processor)) {
                tracing::warn!("{e:#}");
            }
        }
    }
}

/// `plexus set` (live config): the changes themselves are kept in
/// `live_config.rs`.
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
            let known = processor_ids(&self.workers);
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
        let config_json = match self.live_config.check(processor, current, &changes) {
            Ok(config) => config,
            Err(sentence) => return refused(sentence),
        };
        let worker = &self.workers[i];
        if !worker.alive() || worker.state != WorkerState::Running {
            return refused(format!(
                "worker `{}` of processor `{processor}` is not running (it is {}); set it again once it is",
                worker.name,
                worker.state_name()
            ));
        }
        if self.live_config.busy(i) || self.swaps.iter().any(|s| s.worker == worker.name) {
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
        self.live_config.wait(PendingSet {
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
        let Some(pending) = self.live_config.answered(i, &processor) else {
            tracing::warn!("worker reported a config change to `{processor}` nobody asked for");
            return;
        };
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
            // A run that began to stop meanwhile restarts nothing.
            ConfigOutcome::NoHook if self.phase != RunPhase::Flowing => ControlReply::Refused {
                reason: format!(
                    "processor `{processor}` has no on_config and runtime {} is stopping: its worker is not restarted, its config is unchanged",
                    self.runtime_id
                ),
            },
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
        for pending in self.live_config.abandoned(i) {
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

/// Every processor of the run, worker by worker.
fn processor_ids(workers: &[WorkerHandle]) -> Vec<&str> {
    workers
        .iter()
        .flat_map(|w| &w.processors)
        .map(String::as_str)
        .collect()
}
