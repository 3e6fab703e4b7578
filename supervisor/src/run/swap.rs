//! Live swaps (docs/ARCHITECTURE.md §14): `plexus upgrade`, and the workers
//! `plexus apply` and `run --watch` change. A successor process is started
//! and set up beside the worker it replaces, which serves meanwhile; then the
//! worker hands over between two frames and the successor takes over where
//! it stopped, so that every consumer receives each frame once. Anything
//! that goes wrong before the successor serves leaves the worker serving as
//! it was: a successor that cannot start, set up or restore is killed, and
//! a worker that handed over is told to keep serving.

use std::time::Instant;

use anyhow::Result;
use ipc_schemas::{
    env, Command, ControlReply, EventKind, ExitStatus, Names, ProcessorState, Report, Role,
    WorkerConfig, PROTOCOL_VERSION,
};

use super::spawn;
use super::supervise::{RunPhase, Supervisor};
use super::worker::{Recipe, WorkerHandle, WorkerState};
use super::STEP_DEADLINE;

/// One swap under way.
pub(super) struct Swap {
    /// The worker being replaced.
    pub worker: String,
    /// The processor the request named, for events and replies.
    processor: String,
    /// What the successor runs, as `upgrade_started` says it.
    to: String,
    pub successor: WorkerHandle,
    stage: Stage,
    /// What the successor is configured with.
    config: WorkerConfig,
    reply_to: Option<String>,
    requested: Instant,
}

/// Where a swap stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The successor greets and sets up, under its own handshake deadlines.
    Preparing,
    /// The worker was told to hand over and owes `HandedOver` by then.
    HandingOver { deadline: Instant },
    /// The successor was told to take over from frame `seq` and owes
    /// `Running` by then.
    TakingOver { deadline: Instant, seq: u64 },
}

impl Stage {
    fn deadline(self) -> Option<Instant> {
        match self {
            Stage::Preparing => None,
            Stage::HandingOver { deadline } | Stage::TakingOver { deadline, .. } => Some(deadline),
        }
    }

    /// Whether the worker has handed over (or may have: it was told to),
    /// so that a failure must tell it to keep serving.
    fn handing_over(self) -> bool {
        !matches!(self, Stage::Preparing)
    }
}

/// What a swap is asked to do.
pub(super) struct SwapRequest {
    /// The processor named, hosted by the worker to swap.
    pub processor: String,
    /// The successor's processors; the worker's current ones when reloading.
    pub config: WorkerConfig,
    /// How the successor is started.
    pub recipe: Recipe,
    /// What it runs, for the events: `PACKAGE@VERSION`, or `reload`.
    pub to: String,
    /// Who waits for the outcome.
    pub reply_to: Option<String>,
}

impl Supervisor {
    /// `plexus upgrade PROC`: swaps the worker hosting `processor` for a
    /// process that reads its code again. Refused at once (`Some`), or
    /// answered when the swap is over (`None`).
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
        let (config, recipe, to) = match to {
            None => match self.workers[i].config.clone() {
                Some(config) => (config, self.workers[i].recipe.clone(), "reload".to_owned()),
                None => {
                    return refused(format!(
                        "worker `{}` is not configured yet",
                        self.workers[i].name
                    ))
                }
            },
            Some(to) => {
                return refused(format!(
                    "upgrading `{processor}` to {to}: not supported yet"
                ))
            }
        };
        let request = SwapRequest {
            processor: processor.to_owned(),
            config,
            recipe,
            to,
            reply_to: Some(reply_to),
        };
        self.begin_swap(i, request)
            .err()
            .map(|reason| ControlReply::Refused { reason })
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

    /// Starts the successor of worker `i`; it is set up while the worker
    /// serves, and the swap goes on as it reports.
    pub(super) fn begin_swap(&mut self, i: usize, request: SwapRequest) -> Result<(), String> {
        if let Some(reason) = self.unswappable(i) {
            return Err(reason);
        }
        self.swap_serial += 1;
        let worker = &self.workers[i];
        let channel = Names::successor_channel(&worker.name, self.swap_serial);
        let recipe = request.recipe.with_env(env::CONTROL, &channel);
        let started = WorkerHandle::open_channel(&self.bus, &channel).and_then(|channel| {
            let output = spawn::Output {
                sink: self.events.worker_log(&worker.name),
                generation: worker.generation + 1,
            };
            let child = spawn::spawn(
                recipe.command(),
                &self.runtime_id,
                &worker.name,
                &worker.dir,
                output,
            )?;
            worker.successor(recipe, child, channel)
        });
        let successor = started.map_err(|e| {
            format!(
                "the successor of worker `{}` could not start: {e:#}",
                worker.name
            )
        })?;
        self.events.emit(EventKind::UpgradeStarted {
            processor: request.processor.clone(),
            worker: worker.name.clone(),
            to: request.to.clone(),
        });
        self.events.emit(EventKind::WorkerSpawned {
            worker: worker.name.clone(),
            pid: successor.pid,
        });
        self.swaps.push(Swap {
            worker: worker.name.clone(),
            processor: request.processor,
            to: request.to,
            successor,
            stage: Stage::Preparing,
            config: WorkerConfig {
                role: Role::Successor,
                ..request.config
            },
            reply_to: request.reply_to,
            requested: Instant::now(),
        });
        Ok(())
    }

    /// Reads what every successor reported.
    pub(super) fn pump_swaps(&mut self) -> Result<()> {
        let mut k = 0;
        while k < self.swaps.len() {
            let before = self.swaps.len();
            while let Some(report) = self.swaps[k].successor.next_report()? {
                self.successor_reported(k, report);
                if self.swaps.len() < before {
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
                swap.stage = Stage::HandingOver {
                    deadline: Instant::now() + STEP_DEADLINE,
                };
                let name = swap.worker.clone();
                if let Some(worker) = self.workers.iter().find(|w| w.name == name) {
                    if let Err(e) = worker.send(&Command::HandOver) {
                        self.fail_swap(k, format!("{e:#}"));
                    }
                }
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
                tracing::warn!("successor of processor `{processor}`: {message}");
            }
            other => tracing::debug!("a successor reported {other:?} before it served"),
        }
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
            Err(reason) => return self.fail_swap_serving(k, reason),
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

    /// The successor of swap `k` serves: it becomes the worker's process,
    /// and the old process is told to leave.
    fn complete_swap(&mut self, k: usize, seq: u64) {
        let swap = self.swaps.remove(k);
        let Some(i) = self.workers.iter().position(|w| w.name == swap.worker) else {
            return;
        };
        let retired = self.workers[i].promote(swap.successor);
        retired.dismiss();
        self.retiring.push(retired);
        self.workers[i].config = Some(WorkerConfig {
            role: Role::Serving,
            ..swap.config
        });
        let elapsed_ms = swap.requested.elapsed().as_millis() as u64;
        let worker = &self.workers[i];
        self.events.emit(EventKind::WorkerReady {
            worker: worker.name.clone(),
        });
        self.events.emit(EventKind::UpgradeCompleted {
            processor: swap.processor.clone(),
            worker: worker.name.clone(),
            seq,
            elapsed_ms,
        });
        let message = format!(
            "processor `{}` upgraded ({}): worker `{}` serves as pid {} from frame {seq} on, {elapsed_ms} ms after the request; no frame lost",
            swap.processor, swap.to, worker.name, worker.pid
        );
        if let Some(reply_to) = swap.reply_to {
            self.answer(&reply_to, &ControlReply::Done { message });
        }
    }

    /// Ends swap `k` without its successor: the successor is killed and,
    /// if the worker was told to hand over, it is told to keep serving.
    pub(super) fn fail_swap(&mut self, k: usize, reason: String) {
        if self.swaps[k].stage.handing_over() {
            let name = &self.swaps[k].worker;
            if let Some(worker) = self.workers.iter().find(|w| &w.name == name) {
                if let Err(e) = worker.send(&Command::KeepServing) {
                    tracing::warn!("{e:#}");
                }
            }
        }
        self.fail_swap_serving(k, reason);
    }

    /// Ends swap `k` whose worker serves on by itself.
    fn fail_swap_serving(&mut self, k: usize, reason: String) {
        let mut swap = self.swaps.remove(k);
        swap.successor.kill();
        // Its ports go at once, so the next swap finds their slots free.
        self.bus.cleanup_dead_nodes();
        self.events.emit(EventKind::UpgradeFailed {
            processor: swap.processor.clone(),
            worker: swap.worker.clone(),
            reason: reason.clone(),
        });
        if let Some(reply_to) = swap.reply_to {
            let reason = format!(
                "upgrade of processor `{}` failed: {reason}; worker `{}` serves on as it was",
                swap.processor, swap.worker
            );
            self.answer(&reply_to, &ControlReply::Refused { reason });
        }
    }

    /// Worker `i`'s process ended: a swap of it cannot go on.
    pub(super) fn abandon_swap_of(&mut self, i: usize, status: ExitStatus) {
        let name = &self.workers[i].name;
        if let Some(k) = self.swaps.iter().position(|s| &s.worker == name) {
            let reason = format!("worker `{name}` ended ({status}) during the swap");
            self.fail_swap_serving(k, reason);
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
                "worker `{}`'s old process (pid {}) did not leave after handing over: killed",
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
        while !self.swaps.is_empty() {
            let reason = format!("runtime {} is stopping", self.runtime_id);
            self.fail_swap(0, reason);
        }
    }
}
