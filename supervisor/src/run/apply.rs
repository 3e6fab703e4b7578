//! Requests to change the running graph (docs/ARCHITECTURE.md §14):
//! `plexus upgrade` swaps one worker, `plexus apply`
//! makes it a pipeline file's, and `plexus upgrade --to` runs another
//! version of one processor's package. The new plan is loaded, provisioned
//! and checked against the running runtime before anything starts; then
//! its changes happen as one batch of swaps (`swap.rs`, `handover.rs`), all set up before
//! any takes over, and removed workers stop last. Processors the change
//! does not touch run on without a gap.

use std::path::Path;

use ipc_schemas::{ControlReply, EventKind, WorkerConfig};

use super::launch::Launcher;
use super::supervise::{RunPhase, Supervisor};
use super::swap::{GraphChange, Replaces, SwapRequest};
use super::watched::Watched;
use super::worker::WorkerState;
use crate::error::UserError;
use crate::load::diff;
use crate::load::pipeline::{dir_of, Pipeline};
use crate::load::plan::Plan;
use crate::load::{load_plan, permissions, plan_pipeline};

impl Supervisor {
    /// `plexus upgrade PROC`: swaps the worker hosting `processor` for a
    /// process that reads its code again, or runs package version `to`.
    /// Refused at once (`Some`), or answered when the swap is over (`None`).
    pub(super) fn upgrade_on_request(
        &mut self,
        processor: &str,
        to: Option<&str>,
        reply_to: String,
    ) -> Option<ControlReply> {
        let refused = |reason: String| Some(ControlReply::Refused { reason });
        let Some(i) = self
            .workers
            .iter()
            .position(|w| w.processors.iter().any(|p| p == processor))
        else {
            return refused(self.unknown_processor(processor));
        };
        if let Some(reason) = self.unswappable(i) {
            return refused(reason);
        }
        let worker = &self.workers[i];
        let request = match to {
            None => match &worker.config {
                Some(config) => SwapRequest {
                    worker: worker.name.clone(),
                    processor: processor.to_owned(),
                    config: config.clone(),
                    recipe: worker.recipe.clone(),
                    to: "reload".to_owned(),
                    replaces: Replaces::Worker,
                },
                None => return refused(format!("worker `{}` is not configured yet", worker.name)),
            },
            Some(to) => match self.upgrade_to(processor, to) {
                Ok(request) => request,
                Err(reason) => return refused(reason),
            },
        };
        self.begin_batch(vec![request], None, Some(reply_to))
            .err()
            .map(|reason| ControlReply::Refused { reason })
    }

    /// "runtime X has no processor `p` (its processors: …)".
    pub(super) fn unknown_processor(&self, processor: &str) -> String {
        let known: Vec<&str> = self
            .workers
            .iter()
            .flat_map(|w| &w.processors)
            .map(String::as_str)
            .collect();
        format!(
            "runtime {} has no processor `{processor}` (its processors: {})",
            self.runtime_id,
            known.join(", ")
        )
    }

    /// Why worker `i` cannot be swapped now, if it cannot.
    pub(super) fn unswappable(&self, i: usize) -> Option<String> {
        let worker = &self.workers[i];
        if self.phase != RunPhase::Flowing {
            return Some(format!(
                "runtime {} is starting or stopping",
                self.runtime_id
            ));
        }
        if self.swaps.iter().any(|s| s.worker == worker.name) {
            return Some(format!("worker `{}` is already being swapped", worker.name));
        }
        if self.live_config.busy(i) {
            return Some(format!(
                "worker `{}` is still taking a config change",
                worker.name
            ));
        }
        if !worker.alive() || worker.state != WorkerState::Running {
            return Some(format!(
                "worker `{}` is not running (it is {}); a swap needs a running worker to take over from",
                worker.name,
                worker.state_name()
            ));
        }
        None
    }

    /// `plexus apply FILE`: refused at once (`Some`), or answered once the
    /// change is made (`None`). A dry run only says what would change.
    pub(super) fn apply_on_request(
        &mut self,
        file: &str,
        dry_run: bool,
        reply_to: String,
    ) -> Option<ControlReply> {
        match self.plan_change(file, dry_run) {
            Ok(Planned::Answer(message)) => Some(ControlReply::Done { message }),
            Ok(Planned::Change(requests, change)) => self
                .begin_batch(requests, Some(*change), Some(reply_to))
                .err()
                .map(|reason| ControlReply::Refused { reason }),
            Err(reason) => Some(ControlReply::Refused { reason }),
        }
    }

    /// Loads, provisions and checks the pipeline in `file` against the
    /// running one.
    fn plan_change(&self, file: &str, dry_run: bool) -> Result<Planned, String> {
        if self.phase != RunPhase::Flowing {
            return Err(format!(
                "runtime {} is starting or stopping",
                self.runtime_id
            ));
        }
        if !self.batches.is_empty() {
            return Err(format!(
                "runtime {} is making another change; apply again once it is over",
                self.runtime_id
            ));
        }
        if (0..self.workers.len()).any(|i| self.live_config.busy(i)) {
            return Err(format!(
                "runtime {} is still taking a config change; apply again once it answered",
                self.runtime_id
            ));
        }
        let path = Path::new(file);
        let mut plan = load_plan(path).map_err(|e| e.to_string())?;
        let launcher = Launcher::prepare(&mut plan).map_err(|e| format!("{e:#}"))?;
        let diff = diff::diff(&self.plan, &mut plan)
            .map_err(|message| UserError::in_file(path, message).to_string())?;
        if diff.is_empty() {
            return Ok(Planned::Answer(format!(
                "nothing to change: runtime {} runs {} as it is",
                self.runtime_id,
                path.display()
            )));
        }
        let lines = diff.lines(&plan).join("\n");
        if dry_run {
            return Ok(Planned::Answer(format!(
                "would change runtime {}:\n{lines}",
                self.runtime_id
            )));
        }
        permissions::write_dirs::make_write_dirs(&plan).map_err(|e| e.to_string())?;
        for name in &diff.workers.swapped {
            if let Some(i) = self.workers.iter().position(|w| &w.name == name) {
                if let Some(reason) = self.unswappable(i) {
                    return Err(reason);
                }
            }
        }
        let mut requests = Vec::new();
        for (name, added) in diff
            .workers
            .added
            .iter()
            .map(|w| (w, true))
            .chain(diff.workers.swapped.iter().map(|w| (w, false)))
        {
            let replaces = match added {
                true => Replaces::Nothing {
                    watched: plan
                        .processors
                        .iter()
                        .filter(|p| &p.worker == name)
                        .map(|p| {
                            let watched = Watched::open(self.bus.names(), p)?;
                            watched.start_over();
                            Ok(watched)
                        })
                        .collect::<anyhow::Result<_>>()
                        .map_err(|e| format!("{e:#}"))?,
                },
                false => Replaces::Worker,
            };
            requests.push(request_for(&plan, &launcher, name, "apply", replaces)?);
        }
        Ok(Planned::Change(
            requests,
            Box::new(GraphChange { plan, diff }),
        ))
    }

    /// `plexus upgrade PROC --to PACKAGE@VERSION`: the worker of `processor`
    /// as the running pipeline would plan it with that version of its
    /// package, checked against the pipeline's connections.
    pub(super) fn upgrade_to(&self, processor: &str, to: &str) -> Result<SwapRequest, String> {
        let Some((name, _)) = to.split_once('@') else {
            return Err(format!(
                "`--to {to}` is not PACKAGE@VERSION (an installed package and its version)"
            ));
        };
        let current = self
            .plan
            .processors
            .iter()
            .find(|p| p.spec.id == processor)
            .ok_or_else(|| self.unknown_processor(processor))?;
        if current.package != name {
            return Err(format!(
                "processor `{processor}` is a {} of package `{}`, not of `{name}`",
                current.spec.type_name, current.package
            ));
        }
        let mut pipeline = Pipeline::load(&self.plan.path).map_err(|e| e.to_string())?;
        let base = dir_of(&self.plan.path).to_path_buf();
        let origin = match &current.origin {
            crate::load::catalog::Origin::Package { dir, .. } => dir.canonicalize().ok(),
            crate::load::catalog::Origin::Builtin | crate::load::catalog::Origin::Remote { .. } => {
                None
            }
        };
        pipeline.file.packages.retain(|entry| {
            let named = entry == name || entry.starts_with(&format!("{name}@"));
            let here = origin.is_some() && base.join(entry).canonicalize().ok() == origin;
            !(named || here)
        });
        pipeline.file.packages.push(to.to_owned());
        let mut plan = plan_pipeline(&pipeline).map_err(|e| e.to_string())?;
        permissions::write_dirs::make_write_dirs(&plan).map_err(|e| e.to_string())?;
        let launcher = Launcher::prepare(&mut plan).map_err(|e| format!("{e:#}"))?;
        diff::diff(&self.plan, &mut plan)
            .map_err(|message| UserError::in_file(&self.plan.path, message).to_string())?;
        request_for(&plan, &launcher, &current.worker, to, Replaces::Worker).map(|mut r| {
            r.processor = processor.to_owned();
            r
        })
    }

    /// Makes an applied change the runtime's own once its swaps are over:
    /// removed workers stop, and the runtime's picture of itself (what
    /// `ps`, `graph` and the summary show, what `set` checks) becomes the
    /// new plan. Returns what it says about it.
    pub(super) fn install(&mut self, change: GraphChange) -> Vec<String> {
        let GraphChange { plan, diff } = change;
        let mut said = vec![format!(
            "runtime {} runs {} now:",
            self.runtime_id,
            plan.path.display()
        )];
        said.extend(diff.lines(&plan));
        for name in &diff.workers.removed {
            let Some(i) = self.workers.iter().position(|w| &w.name == name) else {
                continue;
            };
            let worker = self.workers.remove(i);
            for processor in &worker.processors {
                self.live.retire(processor);
                self.events.emit(EventKind::ProcessorStopped {
                    processor: processor.clone(),
                });
            }
            self.retiring.push(worker.retire());
        }
        let workers: Vec<String> = plan.workers.iter().map(|w| w.name.clone()).collect();
        let file = std::path::absolute(&plan.path).unwrap_or_else(|_| plan.path.clone());
        self.events.runs_now(&file, &workers);
        self.events.emit(EventKind::GraphChanged {
            diff: serde_json::to_string(&diff).unwrap_or_default(),
        });
        self.plan = plan;
        self.picture_plan();
        said
    }
}

/// What a request to change the graph comes to.
enum Planned {
    /// Nothing to do but answer (nothing changes, or a dry run).
    Answer(String),
    /// These swaps, then this change.
    Change(Vec<SwapRequest>, Box<GraphChange>),
}

/// The swap that gives worker `name` its processors as `plan` plans them.
fn request_for(
    plan: &Plan,
    launcher: &Launcher,
    name: &str,
    to: &str,
    replaces: Replaces,
) -> Result<SwapRequest, String> {
    let planned = plan
        .workers
        .iter()
        .find(|w| w.name == name)
        .ok_or_else(|| format!("worker `{name}` is not in the new plan"))?;
    let recipe = launcher
        .recipe(plan, planned)
        .map_err(|e| format!("{e:#}"))?;
    Ok(SwapRequest {
        worker: name.to_owned(),
        processor: planned.processors[0].clone(),
        config: WorkerConfig {
            processors: plan
                .processors
                .iter()
                .filter(|p| p.worker == name)
                .map(|p| p.spec.clone())
                .collect(),
            paused: Vec::new(),
            role: ipc_schemas::Role::Serving,
            latency: plan.latency_of(name),
        },
        recipe,
        to: to.to_owned(),
        replaces,
    })
}
