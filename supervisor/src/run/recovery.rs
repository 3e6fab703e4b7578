//! What happens after a worker ends unexpectedly (docs/ARCHITECTURE.md §5): its
//! downstream is told its inputs closed, and the worker comes back after its
//! backoff — or, past its budget, is given up, which stops the run when the
//! worker is critical. A restarted worker is taken through hello, configure
//! and start on its own while the rest of the pipeline keeps running; its
//! upstream never pauses (safe overflow drops what nobody reads).

use std::time::{Duration, Instant};

use ipc_schemas::{Command, EventKind, ExitStatus, WorkerConfig};

use super::spawn;
use super::supervise::{Halt, RunPhase, Supervisor};
use super::worker::{Ending, WorkerState};

/// What becomes of a worker whose process ended.
enum Verdict {
    /// A user asked: the next process starts at once, off the budget.
    Requested,
    /// It ended as it was meant to (drained, or ended while the run
    /// drains), or plexus already gave up on it: nothing more happens.
    Done,
    /// It crashed while frames flow and its policy allows another process.
    Restart { delay: Duration },
    /// It ended for good against its policy or past its budget.
    GiveUp(String),
}

impl Supervisor {
    /// Books the exit of worker `i`, which was in state `was` before.
    pub(super) fn handle_exit(&mut self, i: usize, status: ExitStatus, was: WorkerState) {
        let name = self.workers[i].name.clone();
        self.forget_pending_sets(i);
        self.abandon_swap_of(i, status);
        // A requested restart was told as `restart_requested`: its exit is
        // no crash to report.
        if self.workers[i].ending != Some(Ending::Requested) {
            self.events.emit(EventKind::WorkerExited {
                worker: name.clone(),
                exit: status,
            });
        }
        // Its ports go at once: a peer that opens one of its services later
        // (a worker still in setup, an observer) would otherwise find the
        // dead node there, and iceoryx2 would warn about it.
        self.bus.cleanup_dead_nodes();
        for watched in &self.workers[i].watched {
            watched.forget();
        }
        if was >= WorkerState::Stopped {
            return;
        }
        for processor in &self.workers[i].processors {
            self.live.retire(processor);
        }
        for (processor, input) in self.downstream.get(&name).cloned().unwrap_or_default() {
            self.events
                .emit(EventKind::InputClosed { processor, input });
        }
        self.workers[i].settle();
        match self.verdict(i, status) {
            Verdict::Done => {}
            Verdict::Requested => self.workers[i].back_off_until(Instant::now()),
            Verdict::Restart { delay } => {
                let worker = &mut self.workers[i];
                worker.back_off_until(Instant::now() + delay);
                let attempt = worker.budget.attempts();
                self.events.emit(EventKind::WorkerRestarting {
                    worker: name,
                    attempt,
                    delay_ms: delay.as_millis() as u64,
                });
            }
            Verdict::GiveUp(reason) => self.give_up(i, reason),
        }
    }

    /// Decides, from the run's phase, the worker's policy and budget and why
    /// its process ended, what happens next; spends budget on a restart.
    fn verdict(&mut self, i: usize, status: ExitStatus) -> Verdict {
        let phase = self.phase;
        let worker = &mut self.workers[i];
        let ending = worker.ending.take();
        if ending == Some(Ending::Requested) {
            return Verdict::Requested;
        }
        if worker.failure().is_some() {
            return Verdict::Done;
        }
        let crashed = ending.is_some() || status != ExitStatus::Code(0);
        let reason = match ending {
            Some(Ending::Fault(reason)) => reason,
            _ => format!("worker `{}` died ({status})", worker.name),
        };
        let spec = worker.restart;
        let restartable = spec.applies(crashed);
        let budget = &mut worker.budget;
        let mut next = || budget.next(&spec, Instant::now());
        match phase {
            // A worker that dies while the run drains would have been
            // restarted only to be stopped: a user's stop is never its failure.
            RunPhase::Draining(_) if restartable && next().is_some() => Verdict::Done,
            // A crash while the workers start is a crash like any other.
            RunPhase::Starting | RunPhase::Flowing if restartable => match next() {
                Some(delay) => Verdict::Restart { delay },
                None => Verdict::GiveUp(format!(
                    "{reason}; gave up after {} restarts within {} s",
                    spec.max_restarts, spec.window_secs
                )),
            },
            _ => Verdict::GiveUp(reason),
        }
    }

    /// Gives up on every worker still waiting out its backoff as the run
    /// ends on its own: it was down at the end, so the run did not complete.
    pub(super) fn give_up_on_the_down(&mut self) {
        let now = Instant::now();
        for i in 0..self.workers.len() {
            if let Some(due) = self.workers[i].down_until() {
                let reason = format!(
                    "worker `{}` was still down when the run ended (its restart was due in {} ms)",
                    self.workers[i].name,
                    due.saturating_duration_since(now).as_millis()
                );
                self.give_up(i, reason);
            }
        }
    }

    pub(super) fn give_up(&mut self, i: usize, reason: String) {
        let worker = &mut self.workers[i];
        worker.fail(reason.clone());
        if worker.critical && !matches!(self.phase, RunPhase::Draining(_)) {
            self.halt.get_or_insert(Halt::CriticalFailure(format!(
                "critical worker `{}` failed: {reason}",
                worker.name
            )));
        }
        let name = worker.name.clone();
        self.events.emit(EventKind::WorkerFailed {
            worker: name,
            reason,
        });
    }

    /// Acts on whatever is due at `now`: restarts, missed handshake steps,
    /// the health watch.
    pub(super) fn tick(&mut self, now: Instant) {
        for i in 0..self.workers.len() {
            if self.workers[i].restart_due(now) {
                self.respawn(i);
            }
            if let Some(step) = self.workers[i].missed_step(now) {
                self.workers[i].settle();
                self.kill(i, step.stage);
            }
        }
        self.tick_swaps(now);
        self.watch(now);
    }

    /// The earliest moment [`Supervisor::tick`] has something to do.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.workers
            .iter()
            .filter_map(|w| w.next_due())
            .chain(self.watch_due())
            .chain(self.swaps_due())
            .min()
    }

    fn respawn(&mut self, i: usize) {
        // The dead process's ports must go before its successor opens the
        // same ones, or iceoryx2 counts both against the service's limits.
        self.bus.cleanup_dead_nodes();
        let worker = &mut self.workers[i];
        if let Err(e) = worker.forget_reports() {
            tracing::warn!("{e:#}");
        }
        let output = spawn::Output {
            sink: self.events.worker_log(&worker.name),
            generation: worker.generation + 1,
        };
        let result = spawn::spawn(
            &worker.recipe,
            &self.runtime_id,
            &worker.name,
            &worker.dir,
            output,
        )
        .and_then(|child| worker.replace_child(child));
        match result {
            Ok(()) => {
                let (name, pid) = (worker.name.clone(), worker.pid);
                self.events
                    .emit(EventKind::WorkerSpawned { worker: name, pid });
            }
            Err(e) => {
                let reason = format!("worker `{}` could not be restarted: {e:#}", worker.name);
                self.give_up(i, reason);
            }
        }
    }

    /// Takes a restarted worker one handshake step further once it reached
    /// `state`; the first generation is taken through the steps by the run
    /// itself, all workers together.
    pub(super) fn resume_handshake(&mut self, i: usize) {
        let worker = &mut self.workers[i];
        if worker.generation == 0 {
            if worker.state == WorkerState::Running {
                worker.settle();
            }
            return;
        }
        let (command, stage) = match worker.state {
            // Its processors come back as a user left them: paused or not.
            WorkerState::Greeted => match &worker.config {
                Some(config) => {
                    let config = WorkerConfig {
                        paused: self.pauses.among(&worker.processors),
                        ..config.clone()
                    };
                    (Command::Configure(config), "configure")
                }
                None => return,
            },
            WorkerState::Configured => (Command::Start, "start"),
            WorkerState::Running => {
                worker.settle();
                let (name, generation, pid) = (worker.name.clone(), worker.generation, worker.pid);
                self.events.emit(EventKind::WorkerRestarted {
                    worker: name.clone(),
                    generation,
                    pid,
                });
                for (processor, input) in self.downstream.get(&name).cloned().unwrap_or_default() {
                    self.events
                        .emit(EventKind::InputRecovered { processor, input });
                }
                return;
            }
            _ => return,
        };
        worker.ask(&command, stage);
    }
}
