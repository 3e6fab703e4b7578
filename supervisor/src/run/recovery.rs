//! What happens after a worker ends unexpectedly (ARCHITECTURE §5): its
//! downstream is told its inputs closed, and the worker comes back after its
//! backoff — or, past its budget, is given up, which stops the run when the
//! worker is critical. A restarted worker is taken through hello, configure
//! and start on its own while the rest of the pipeline keeps running; its
//! upstream never pauses (safe overflow drops what nobody reads).

use std::time::Instant;

use ipc_schemas::{Command, EventKind, ExitStatus};

use super::supervise::Supervisor;
use super::worker::{Step, WorkerState};
use super::{spawn, STEP_DEADLINE};

impl Supervisor {
    /// Books the exit of worker `i`, which was in state `was` before.
    pub(super) fn handle_exit(&mut self, i: usize, status: ExitStatus, was: WorkerState) {
        let name = self.workers[i].name.clone();
        self.events.emit(EventKind::WorkerExited {
            worker: name.clone(),
            status,
        });
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
        let worker = &mut self.workers[i];
        worker.step = None;
        if worker.requested_restart {
            worker.requested_restart = false;
            worker.crash = None;
            worker.restart_at = Some(Instant::now());
            let attempt = worker.restarts + 1;
            self.events.emit(EventKind::WorkerRestarting {
                worker: name,
                attempt,
                delay_ms: 0,
            });
            return;
        }
        let crashed = worker.crash.is_some() || status != ExitStatus::Code(0);
        let mut reason = worker
            .crash
            .take()
            .unwrap_or_else(|| format!("worker `{name}` died ({status})"));
        if worker.failure.is_some() {
            return;
        }
        // A worker that dies while the run drains would have been restarted
        // only to be stopped: a user's stop is never its failure.
        if self.stopping
            && worker.restart.applies(crashed)
            && worker
                .budget
                .next(&worker.restart, Instant::now())
                .is_some()
        {
            return;
        }
        if self.frames_flowing && worker.restart.applies(crashed) {
            let now = Instant::now();
            if let Some(delay) = worker.budget.next(&worker.restart, now) {
                worker.restart_at = Some(now + delay);
                let attempt = worker.restarts + 1;
                self.events.emit(EventKind::WorkerRestarting {
                    worker: name,
                    attempt,
                    delay_ms: delay.as_millis() as u64,
                });
                return;
            }
            reason = format!(
                "{reason}; gave up after {} restarts within {} s",
                worker.restart.max_restarts, worker.restart.window_secs
            );
        }
        self.give_up(i, reason);
    }

    fn give_up(&mut self, i: usize, reason: String) {
        let worker = &mut self.workers[i];
        worker.restart_at = None;
        worker.failure = Some(reason.clone());
        if worker.critical && self.frames_flowing {
            self.critical_failure = Some(format!(
                "critical worker `{}` failed: {reason}",
                worker.name
            ));
        }
        let name = worker.name.clone();
        self.events.emit(EventKind::WorkerFailed {
            worker: name,
            reason,
        });
    }

    /// Acts on whatever is due at `now`: restarts, missed handshake steps,
    /// heartbeats.
    pub(super) fn tick(&mut self, now: Instant) {
        for i in 0..self.workers.len() {
            if self.workers[i].restart_at.is_some_and(|at| at <= now) {
                self.respawn(i);
            }
            if let Some(step) = self.workers[i].step.filter(|s| s.deadline <= now) {
                self.workers[i].step = None;
                self.kill(i, step.stage);
            }
        }
        self.heartbeat(now);
    }

    /// The earliest moment [`Supervisor::tick`] has something to do.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.workers
            .iter()
            .flat_map(|w| [w.restart_at, w.step.map(|s| s.deadline)])
            .flatten()
            .chain(self.heartbeat_due())
            .min()
    }

    fn respawn(&mut self, i: usize) {
        // The dead process's ports must go before its successor opens the
        // same ones, or iceoryx2 counts both against the service's limits.
        self.bus.cleanup_dead_nodes();
        let worker = &mut self.workers[i];
        let result = spawn::spawn(
            worker.recipe.command(),
            &self.runtime_id,
            &worker.name,
            &worker.dir,
        )
        .and_then(|child| worker.replace_child(child));
        match result {
            Ok(()) => {
                worker.step = Some(Step {
                    stage: "hello",
                    deadline: Instant::now() + STEP_DEADLINE,
                });
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
    /// `state`; the first generation is started by the run itself.
    pub(super) fn resume_handshake(&mut self, i: usize) {
        let worker = &mut self.workers[i];
        if worker.generation == 0 {
            return;
        }
        let now = Instant::now();
        let (command, stage) = match worker.state {
            WorkerState::Greeted => match worker.config.clone() {
                Some(config) => (Command::Configure(config), "configure"),
                None => return,
            },
            WorkerState::Configured => (Command::Start, "start"),
            WorkerState::Running => {
                worker.step = None;
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
        worker.step = Some(Step {
            stage,
            deadline: now + STEP_DEADLINE,
        });
        if let Err(e) = worker.send(&command) {
            // The step deadline will end the attempt.
            tracing::warn!("{e:#}");
        }
    }
}
