//! Live swaps as the supervisor takes them through (docs/ARCHITECTURE.md
//! §14): `plexus upgrade`, and the workers `plexus apply` and `run --watch`
//! change. A successor process is started and set up beside the worker it
//! replaces, which serves meanwhile; then the worker hands over between two
//! frames and the successor takes over where it stopped, so that every
//! consumer receives each frame once. Anything that goes wrong before the
//! successor serves leaves the worker serving as it was: a successor that
//! cannot start, set up or restore is killed, and a worker that handed over
//! is told to keep serving.

use std::time::Instant;

use anyhow::Result;
use ipc_schemas::{
    env, Command, ControlReply, EventKind, ExitStatus, Names, ProcessorState, Report, Role,
    WorkerConfig, PROTOCOL_VERSION,
};

use super::spawn;
use super::supervise::Supervisor;
use super::swap::{Batch, BatchState, GraphChange, Replaces, Stage, Swap, SwapRequest};
use super::worker::{WorkerHandle, WorkerState};
use super::STEP_DEADLINE;
use crate::load::plan::Plan;

impl Supervisor {
    /// Starts every successor of a batch; they set up while the workers
    /// serve, and the batch goes on as they report. If one cannot start,
    /// none of them stays.
    pub(super) fn begin_batch(
        &mut self,
        requests: Vec<SwapRequest>,
        change: Option<GraphChange>,
        reply_to: Option<String>,
    ) -> Result<(), String> {
        self.swap_serial += 1;
        let id = self.swap_serial;
        self.batches.push(Batch {
            id,
            reply_to,
            requested: Instant::now(),
            state: BatchState::Preparing,
            change,
            done: Vec::new(),
            failed: Vec::new(),
        });
        for request in requests {
            if let Err(reason) = self.begin_swap(id, request) {
                self.fail_batch(id, reason.clone(), false);
                return Err(reason);
            }
        }
        // A batch of nothing but removals commits at once.
        self.commit_if_ready(id);
        Ok(())
    }

    /// Starts one successor.
    fn begin_swap(&mut self, batch: u32, request: SwapRequest) -> Result<(), String> {
        self.swap_serial += 1;
        let channel = Names::successor_channel(&request.worker, self.swap_serial);
        let recipe = request.recipe.with_env(env::CONTROL, &channel);
        let predecessor = self.workers.iter().find(|w| w.name == request.worker);
        let (dir, generation) = match predecessor {
            Some(w) => (w.dir.clone(), w.generation + 1),
            None => (self.plan.dir(), 0),
        };
        let output = spawn::Output {
            sink: self.events.worker_log(&request.worker),
            generation,
        };
        let started = WorkerHandle::open_channel(&self.bus, &channel).and_then(|channel| {
            let child = spawn::spawn(&recipe, &self.runtime_id, &request.worker, &dir, output)?;
            let planned = self
                .plan_of_batch(batch)
                .workers
                .iter()
                .find(|w| w.name == request.worker)
                .ok_or_else(|| anyhow::anyhow!("worker `{}` is in no plan", request.worker))?;
            match predecessor {
                Some(worker) => worker.successor(planned, recipe, child, channel),
                None => WorkerHandle::new(planned, recipe, dir, child, channel, Vec::new()),
            }
        });
        let successor = started.map_err(|e| {
            format!(
                "a new process for worker `{}` could not start: {e:#}",
                request.worker
            )
        })?;
        if matches!(request.replaces, Replaces::Worker) {
            self.events.emit(EventKind::UpgradeStarted {
                processor: request.processor.clone(),
                worker: request.worker.clone(),
                to: request.to.clone(),
            });
        }
        self.events.emit(EventKind::WorkerSpawned {
            worker: request.worker.clone(),
            pid: successor.pid,
        });
        self.swaps.push(Swap {
            worker: request.worker,
            processor: request.processor,
            to: request.to,
            successor,
            replaces: request.replaces,
            stage: Stage::Preparing,
            config: WorkerConfig {
                role: Role::Successor,
                ..request.config
            },
            batch,
        });
        Ok(())
    }

    /// The plan a batch's new workers come from: its own, or the run's.
    fn plan_of_batch(&self, batch: u32) -> &Plan {
        self.batches
            .iter()
            .find(|b| b.id == batch)
            .and_then(|b| b.change.as_ref())
            .map_or(&self.plan, |c| &c.plan)
    }

    /// Reads what every successor reported.
    pub(super) fn pump_swaps(&mut self) -> Result<()> {
        let mut k = 0;
        while k < self.swaps.len() {
            let before = self.swaps.len();
            while let Some(report) = self.swaps[k].successor.next_report()? {
                self.successor_reported(k, report);
                if self.swaps.len() != before {
                    break;
                }
            }
            if self.swaps.len() == before {
                k += 1;
            }
        }
        Ok(())
    }

    /// Books one report of swap `k`'s successor.
    fn successor_reported(&mut self, k: usize, report: Report) {
        let swap = &mut self.swaps[k];
        match report {
            Report::Hello { protocol, pid } => {
                if protocol != PROTOCOL_VERSION || pid != swap.successor.pid {
                    let reason = format!(
                        "the new process greeted with protocol {protocol} and pid {pid}, expected {PROTOCOL_VERSION} and {}",
                        swap.successor.pid
                    );
                    return self.fail_swap(k, reason);
                }
                swap.successor.advance(WorkerState::Greeted);
                let config = WorkerConfig {
                    paused: self.pauses.among(&swap.successor.processors),
                    ..swap.config.clone()
                };
                swap.successor.ask(&Command::Configure(config), "configure");
            }
            Report::Configured => {
                swap.successor.advance(WorkerState::Configured);
                swap.successor.settle();
                swap.stage = Stage::Ready;
                let batch = swap.batch;
                self.commit_if_ready(batch);
            }
            Report::ConfigureFailed { processor, message } => {
                let reason = format!(
                    "the new version could not set up: {}",
                    super::check::named(&processor, &message)
                );
                self.fail_swap(k, reason);
            }
            Report::TakeOverFailed { processor, message } => {
                let reason = format!("processor `{processor}` could not take over: {message}");
                self.fail_swap(k, reason);
            }
            Report::Running => {
                swap.successor.advance(WorkerState::Running);
                if let Stage::TakingOver { seq, .. } = swap.stage {
                    self.complete_swap(k, seq);
                }
            }
            Report::ProcessorError { processor, message } => {
                tracing::warn!("the new process of processor `{processor}`: {message}");
            }
            other => tracing::debug!("a new process reported {other:?} before it served"),
        }
    }

    /// Once every successor of batch `id` is set up, lets them take over
    /// together: replaced workers are told to hand over, added ones to run.
    fn commit_if_ready(&mut self, id: u32) {
        let Some(b) = self.batches.iter_mut().find(|b| b.id == id) else {
            return;
        };
        let mut members = self.swaps.iter().filter(|s| s.batch == id);
        if b.state != BatchState::Preparing || !members.all(|s| s.stage == Stage::Ready) {
            return;
        }
        b.state = BatchState::Committed;
        let deadline = Instant::now() + STEP_DEADLINE;
        let mut unsent = Vec::new();
        for (k, swap) in self
            .swaps
            .iter_mut()
            .enumerate()
            .filter(|(_, s)| s.batch == id)
        {
            let sent = match swap.replaces {
                Replaces::Worker => {
                    swap.stage = Stage::HandingOver { deadline };
                    let worker = self.workers.iter().find(|w| w.name == swap.worker);
                    worker.map(|w| w.send(&Command::HandOver))
                }
                Replaces::Nothing { .. } => {
                    swap.stage = Stage::TakingOver { deadline, seq: 0 };
                    Some(
                        swap.successor
                            .send(&Command::TakeOver { states: Vec::new() }),
                    )
                }
            };
            if let Some(Err(e)) = sent {
                unsent.push((k, format!("{e:#}")));
            }
        }
        for (k, reason) in unsent.into_iter().rev() {
            self.fail_swap(k, reason);
        }
        self.finish_if_done(id);
    }

    /// Worker `i` answered `HandOver`: its successor takes over with the
    /// states it gave, or the worker serves on because a snapshot failed.
    pub(super) fn handed_over(&mut self, i: usize, report: Result<Vec<ProcessorState>, String>) {
        let name = &self.workers[i].name;
        let waiting = |s: &Swap| &s.worker == name && matches!(s.stage, Stage::HandingOver { .. });
        let Some(k) = self.swaps.iter().position(waiting) else {
            // The swap failed meanwhile: the worker was told to keep serving.
            return;
        };
        let states = match report {
            Ok(states) => states,
            Err(reason) => {
                // It serves on by itself: nothing to tell it.
                self.swaps[k].stage = Stage::Ready;
                return self.fail_swap(k, reason);
            }
        };
        let swap = &mut self.swaps[k];
        let seq = states
            .iter()
            .find(|s| s.processor == swap.processor)
            .map_or(0, |s| s.seq);
        swap.stage = Stage::TakingOver {
            deadline: Instant::now() + STEP_DEADLINE,
            seq,
        };
        if let Err(e) = swap.successor.send(&Command::TakeOver { states }) {
            self.fail_swap(k, format!("{e:#}"));
        }
    }

    /// The successor of swap `k` serves: it becomes the worker's process
    /// (the old one is told to leave), or a worker of the run.
    fn complete_swap(&mut self, k: usize, seq: u64) {
        let swap = self.swaps.remove(k);
        let config = WorkerConfig {
            role: Role::Serving,
            ..swap.config
        };
        let mut successor = swap.successor;
        let message = match swap.replaces {
            Replaces::Worker => {
                let Some(i) = self.workers.iter().position(|w| w.name == swap.worker) else {
                    return;
                };
                let retired = self.workers[i].promote(successor);
                retired.dismiss();
                self.retiring.push(retired);
                self.workers[i].config = Some(config);
                let batch = self.batches.iter().find(|b| b.id == swap.batch);
                let elapsed_ms = batch.map_or(0, |b| b.requested.elapsed().as_millis() as u64);
                let worker = &self.workers[i];
                self.events.emit(EventKind::WorkerReady {
                    worker: worker.name.clone(),
                });
                self.events.emit(EventKind::UpgradeCompleted {
                    processor: swap.processor.clone(),
                    worker: worker.name.clone(),
                    from_seq: seq,
                    elapsed_ms,
                });
                format!(
                    "processor `{}` upgraded ({}): worker `{}` serves as pid {} from frame {seq} on, {elapsed_ms} ms after the request; no frame lost",
                    swap.processor, swap.to, worker.name, worker.pid
                )
            }
            Replaces::Nothing { watched } => {
                successor.watched = watched;
                successor.config = Some(config);
                let (name, pid) = (successor.name.clone(), successor.pid);
                let processors = successor.processors.clone();
                self.workers.push(successor);
                self.events.emit(EventKind::WorkerReady {
                    worker: name.clone(),
                });
                for processor in processors {
                    self.events.emit(EventKind::ProcessorStarted { processor });
                }
                format!("worker `{name}` started as pid {pid}")
            }
        };
        if let Some(b) = self.batches.iter_mut().find(|b| b.id == swap.batch) {
            b.done.push(message);
        }
        self.finish_if_done(swap.batch);
    }

    /// Ends swap `k` without its successor. Before its batch committed,
    /// that ends the whole batch, so that nothing changes; after, only this
    /// swap: its worker keeps serving (told so if it was handing over).
    pub(super) fn fail_swap(&mut self, k: usize, reason: String) {
        let batch = self.swaps[k].batch;
        let committed = self
            .batches
            .iter()
            .any(|b| b.id == batch && b.state == BatchState::Committed);
        if !committed {
            return self.fail_batch(batch, reason, true);
        }
        let message = self.end_swap(k, &reason);
        if let Some(b) = self.batches.iter_mut().find(|b| b.id == batch) {
            b.failed.push(message);
        }
        self.finish_if_done(batch);
    }

    /// Ends every swap of batch `id` before it committed: nothing changed.
    fn fail_batch(&mut self, id: u32, reason: String, tell: bool) {
        let mut failed = Vec::new();
        while let Some(k) = self.swaps.iter().position(|s| s.batch == id) {
            failed.push(self.end_swap(k, &reason));
        }
        let Some(at) = self.batches.iter().position(|b| b.id == id) else {
            return;
        };
        let batch = self.batches.remove(at);
        if let (true, Some(reply_to)) = (tell, batch.reply_to) {
            let reason = match failed.as_slice() {
                [one] => one.clone(),
                _ => format!("{reason}; nothing changed"),
            };
            self.answer(&reply_to, &ControlReply::Refused { reason });
        }
    }

    /// Kills swap `k`'s successor and tells why; returns the sentence.
    fn end_swap(&mut self, k: usize, reason: &str) -> String {
        let mut swap = self.swaps.remove(k);
        if swap.stage.handing_over() {
            if let Some(worker) = self.workers.iter().find(|w| w.name == swap.worker) {
                if let Err(e) = worker.send(&Command::KeepServing) {
                    tracing::warn!("{e:#}");
                }
            }
        }
        swap.successor.kill();
        // Its ports go at once, so the next swap finds their slots free.
        self.bus.cleanup_dead_nodes();
        match swap.replaces {
            Replaces::Worker => {
                self.events.emit(EventKind::UpgradeFailed {
                    processor: swap.processor.clone(),
                    worker: swap.worker.clone(),
                    reason: reason.to_owned(),
                });
                format!(
                    "upgrade of processor `{}` failed: {reason}; worker `{}` serves on as it was",
                    swap.processor, swap.worker
                )
            }
            Replaces::Nothing { .. } => {
                format!("worker `{}` could not start: {reason}", swap.worker)
            }
        }
    }

    /// Once batch `id` has no swap left, installs its change and answers.
    fn finish_if_done(&mut self, id: u32) {
        if self.swaps.iter().any(|s| s.batch == id) {
            return;
        }
        let Some(at) = self.batches.iter().position(|b| b.id == id) else {
            return;
        };
        if self.batches[at].state != BatchState::Committed {
            return;
        }
        let mut batch = self.batches.remove(at);
        if let Some(change) = batch.change.take() {
            batch.done.extend(self.install(change));
        }
        let reply = match (batch.failed.is_empty(), batch.done.len()) {
            (true, _) => ControlReply::Done {
                message: batch.done.join("\n"),
            },
            (false, 0) => ControlReply::Refused {
                reason: batch.failed.join("\n"),
            },
            (false, _) => ControlReply::Refused {
                reason: format!(
                    "{}\nthe rest was done:\n{}",
                    batch.failed.join("\n"),
                    batch.done.join("\n")
                ),
            },
        };
        if let Some(reply_to) = batch.reply_to {
            self.answer(&reply_to, &reply);
        }
    }

    /// Worker `i`'s process ended: a swap of it cannot go on.
    pub(super) fn abandon_swap_of(&mut self, i: usize, status: ExitStatus) {
        let name = &self.workers[i].name;
        if let Some(k) = self.swaps.iter().position(|s| &s.worker == name) {
            let reason = format!("worker `{name}` ended ({status}) during the swap");
            // It cannot be told to keep serving: it is gone.
            self.swaps[k].stage = Stage::Ready;
            self.fail_swap(k, reason);
        }
    }

    /// Successors that died, and retired processes that left.
    pub(super) fn reap_swaps(&mut self) {
        let mut k = 0;
        while k < self.swaps.len() {
            match self.swaps[k].successor.reap() {
                Some(status) => {
                    let reason = format!("the new process ended ({status}) before it served");
                    self.fail_swap(k, reason);
                }
                None => k += 1,
            }
        }
        self.retiring.retain_mut(|r| !r.gone());
    }

    /// Fails swaps past a deadline and kills retired processes that did
    /// not leave in time.
    pub(super) fn tick_swaps(&mut self, now: Instant) {
        let mut k = 0;
        while k < self.swaps.len() {
            let swap = &self.swaps[k];
            let missed = match (swap.successor.missed_step(now), swap.stage.deadline()) {
                (Some(step), _) => Some(format!(
                    "the new process missed its {} deadline",
                    step.stage
                )),
                (None, Some(deadline)) if deadline <= now => Some(match swap.stage {
                    Stage::HandingOver { .. } => {
                        format!("worker `{}` did not hand over in time", swap.worker)
                    }
                    _ => "the new process did not take over in time".to_owned(),
                }),
                _ => None,
            };
            match missed {
                Some(reason) => self.fail_swap(k, reason),
                None => k += 1,
            }
        }
        for retired in self.retiring.iter_mut().filter(|r| r.deadline <= now) {
            tracing::warn!(
                "worker `{}`'s old process (pid {}) did not leave in time: killed",
                retired.name,
                retired.pid
            );
            retired.kill();
        }
        self.retiring.retain(|r| r.deadline > now);
    }

    /// The earliest deadline of a swap or a retired process.
    pub(super) fn swaps_due(&self) -> Option<Instant> {
        self.swaps
            .iter()
            .flat_map(|s| [s.stage.deadline(), s.successor.next_due()])
            .flatten()
            .chain(self.retiring.iter().map(|r| r.deadline))
            .min()
    }

    /// The run is stopping: swaps under way end, their workers serving on
    /// so that they drain as every worker does.
    pub(super) fn abort_swaps(&mut self) {
        let reason = format!("runtime {} is stopping", self.runtime_id);
        while !self.swaps.is_empty() {
            self.fail_swap(0, reason.clone());
        }
    }
}
